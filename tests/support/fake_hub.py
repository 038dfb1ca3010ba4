#!/usr/bin/env python3
"""A local stand-in for the Hugging Face Hub's download routes, for tests (no network needed).

Serves the repositories under --repos (REPOS/ORG/NAME/<files>) with the Hub's URL layout and
headers, as huggingface_hub and `lorafa models pull` use them:

  GET  /api/models/ORG/NAME/revision/REV      {"id", "sha", "siblings": [{"rfilename"}]}
  HEAD /ORG/NAME/resolve/REV/FILE             200 + ETag (git blob sha1) for small files;
  GET  /ORG/NAME/resolve/REV/FILE             302 to /cdn/<sha256> + X-Linked-Etag/X-Linked-Size
                                              for LFS files (*.safetensors, *.bin, > 64 KiB);
                                              X-Repo-Commit on both
  HEAD/GET /cdn/<sha256>                      the LFS blob, with Range requests (206)

REV is "main" or the repository's commit (a sha1 of its content). Errors carry X-Error-Code as the
Hub's do: 404 RepoNotFound / RevisionNotFound / EntryNotFound; a repository named in --gated
answers resolve requests with 401 GatedRepo without a token and 403 with another token.

--drop-once closes the connection half way through the first full GET of an LFS blob.
--busy-once answers the first GET of an LFS blob with 503 Service Unavailable (a busy CDN).
--rate limits every body to that many bytes per second (so progress can be watched).
Every request is appended to --log as a JSON line: method, path, range, authorization.
The chosen port is written to --port-file once the server listens.
"""
import argparse
import hashlib
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
LFS_MIN_BYTES = 64 * 1024


class Repo:
    def __init__(self, repo_id, folder):
        self.repo_id = repo_id
        self.files = {}
        for root, _, names in os.walk(folder):
            for name in names:
                path = os.path.join(root, name)
                rel = os.path.relpath(path, folder).replace(os.sep, "/")
                with open(path, "rb") as f:
                    self.files[rel] = f.read()
        digest = hashlib.sha1(repo_id.encode())
        for rel in sorted(self.files):
            digest.update(rel.encode() + b"\0" + self.files[rel])
        self.commit = digest.hexdigest()

    def is_lfs(self, rel):
        return rel.endswith(LFS_SUFFIXES) or len(self.files[rel]) > LFS_MIN_BYTES


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def load_repos(root):
    repos = {}
    for org in sorted(os.listdir(root)):
        for name in sorted(os.listdir(os.path.join(root, org))):
            folder = os.path.join(root, org, name)
            if os.path.isdir(folder):
                repos[f"{org}/{name}"] = Repo(f"{org}/{name}", folder)
    return repos


class Handler(BaseHTTPRequestHandler):
    server_version = "FakeHub/1.0"

    def log_message(self, fmt, *args):  # quiet; requests go to --log
        pass

    def record(self):
        entry = {
            "method": self.command,
            "path": self.path,
            "range": self.headers.get("Range"),
            "authorization": self.headers.get("Authorization"),
        }
        with self.server.log_lock, open(self.server.args.log, "a") as log:
            log.write(json.dumps(entry) + "\n")

    def reply(self, status, headers=None, body=b"", send_body=True):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and body:
            self.write_body(body)

    def error(self, status, code, message, send_body=True):
        body = json.dumps({"error": message}).encode()
        self.reply(status, {"X-Error-Code": code, "X-Error-Message": message,
                            "Content-Type": "application/json"}, body, send_body)

    def write_body(self, data, drop_after=None):
        rate = self.server.args.rate
        chunk = 8192
        sent = 0
        while sent < len(data):
            if drop_after is not None and sent >= drop_after:
                self.wfile.flush()
                self.connection.shutdown(2)  # both directions: the client sees the connection end early
                self.close_connection = True
                return
            part = data[sent:sent + chunk]
            self.wfile.write(part)
            sent += len(part)
            if rate > 0:
                self.wfile.flush()
                time.sleep(len(part) / rate)

    def do_HEAD(self):
        self.handle_request(send_body=False)

    def do_GET(self):
        self.handle_request(send_body=True)

    def handle_request(self, send_body):
        self.record()
        path = urllib.parse.urlsplit(self.path).path
        parts = [urllib.parse.unquote(p) for p in path.split("/")[1:]]
        repos = self.server.repos
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
            repo = repos.get(f"{parts[2]}/{parts[3]}")
            if repo is None:
                return self.error(404, "RepoNotFound", "Repository not found", send_body)
            revision = "/".join(parts[5:])
            if revision not in ("main", repo.commit):
                return self.error(404, "RevisionNotFound", f"Invalid rev id: {revision}", send_body)
            body = json.dumps({"id": repo.repo_id, "sha": repo.commit,
                               "siblings": [{"rfilename": f} for f in sorted(repo.files)]}).encode()
            return self.reply(200, {"Content-Type": "application/json"}, body, send_body)
        if len(parts) >= 5 and parts[2] == "resolve":
            repo = repos.get(f"{parts[0]}/{parts[1]}")
            if repo is None:
                return self.error(404, "RepoNotFound", "Repository not found", send_body)
            gated_token = self.server.gated.get(repo.repo_id)
            if gated_token is not None:
                auth = self.headers.get("Authorization")
                if auth is None:
                    return self.error(401, "GatedRepo", "Access to model is restricted. You must be authenticated.", send_body)
                if auth != f"Bearer {gated_token}":
                    return self.error(403, "GatedRepo", "Access to model is restricted and you are not in the authorized list.", send_body)
            revision, rel = parts[3], "/".join(parts[4:])
            if revision not in ("main", repo.commit):
                return self.error(404, "RevisionNotFound", f"Invalid rev id: {revision}", send_body)
            if rel not in repo.files:
                return self.error(404, "EntryNotFound", f"{rel} does not exist", send_body)
            data = repo.files[rel]
            common = {"X-Repo-Commit": repo.commit}
            if repo.is_lfs(rel):
                sha = hashlib.sha256(data).hexdigest()
                self.server.blobs[sha] = data
                return self.reply(302, dict(common, **{"Location": f"/cdn/{sha}?repo={repo.repo_id}",
                                                      "ETag": f'"{sha}"', "X-Linked-Etag": f'"{sha}"',
                                                      "X-Linked-Size": str(len(data))}), b"", send_body)
            return self.reply(200, dict(common, **{"ETag": f'"{git_blob_sha1(data)}"'}), data, send_body)
        if len(parts) == 2 and parts[0] == "cdn":
            data = self.server.blobs.get(parts[1])
            if data is None:
                return self.error(404, "EntryNotFound", "no such blob", send_body)
            return self.serve_blob(data, send_body)
        return self.error(404, "RepoNotFound", f"no route {path}", send_body)

    def serve_blob(self, data, send_body):
        with self.server.drop_lock:
            busy = self.server.args.busy_once and send_body and not self.server.busied
            self.server.busied = self.server.busied or busy
        if busy:
            return self.reply(503, {"Retry-After": "1"}, b"busy", send_body)
        requested = self.headers.get("Range")
        start = 0
        if requested and requested.startswith("bytes="):
            first, _, last = requested[len("bytes="):].partition("-")
            start = int(first)
            end = int(last) if last else len(data) - 1
            if start >= len(data):
                return self.reply(416, {"Content-Range": f"bytes */{len(data)}"}, b"", send_body)
            body = data[start:end + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not send_body:
            return
        drop_after = None
        with self.server.drop_lock:
            if self.server.args.drop_once and not self.server.dropped and start == 0 and len(body) > 1024:
                self.server.dropped = True
                drop_after = len(body) // 2
        self.write_body(body, drop_after)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--drop-once", action="store_true")
    parser.add_argument("--busy-once", action="store_true")
    parser.add_argument("--rate", type=float, default=0.0, help="bytes per second per body (0: unlimited)")
    parser.add_argument("--gated", action="append", default=[], help="ORG/NAME=TOKEN")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.args = args
    server.repos = load_repos(args.repos)
    server.gated = dict(item.split("=", 1) for item in args.gated)
    server.blobs = {hashlib.sha256(data).hexdigest(): data
                    for repo in server.repos.values() for rel, data in repo.files.items() if repo.is_lfs(rel)}
    server.log_lock = threading.Lock()
    server.drop_lock = threading.Lock()
    server.dropped = False
    server.busied = False
    open(args.log, "a").close()
    temporary = args.port_file + ".tmp"
    with open(temporary, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(temporary, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
