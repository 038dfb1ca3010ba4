#pragma once
// Shared by the model library tests (engine, CLI, studio): a local stand-in for the Hugging Face
// Hub (tests/support/fake_hub.py, a real HTTP server in its own process), repositories for it
// made from the test fixtures, a hub cache written by hand in huggingface_hub's layout, and
// child processes with a chosen environment. Free of LibTorch and Qt.
//
// Needs LORAFA_FAKE_HUB_SCRIPT and LORAFA_PYTHON (the project's venv Python; python3 otherwise).

#include "ChildProcess.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lorafa::testing {

namespace fs = std::filesystem;

/// The Python that runs helper scripts: the project's venv when CMake found one, else python3.
inline std::string pythonExecutable() {
#ifdef LORAFA_PYTHON
  if (fs::exists(LORAFA_PYTHON)) return LORAFA_PYTHON;
#endif
  return "/usr/bin/python3";
}

struct FakeHubOptions {
  bool dropOnce = false;          ///< drop the connection half way through the first LFS download
  bool busyOnce = false;          ///< answer the first LFS download with 503 (a busy CDN)
  double rateBytesPerSecond = 0;  ///< throttle bodies (0: unlimited)
  std::map<std::string, std::string> gated; ///< repo id -> the token that may read it
};

/// fake_hub.py serving `<root>/repos/ORG/NAME/...` on a free port of 127.0.0.1.
class FakeHub {
public:
  FakeHub(const fs::path& root, const FakeHubOptions& options = {}) : m_root(root) {
    fs::create_directories(reposDir());
    m_options = options;
  }
  ~FakeHub() { stop(); }
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;

  fs::path reposDir() const { return m_root / "repos"; }
  fs::path logPath() const { return m_root / "requests.jsonl"; }

  /// A repository made of copies of `files` (name in the repository -> file on disk).
  void addRepo(const std::string& repoId, const std::map<std::string, fs::path>& files) {
    for (const auto& [name, source] : files) {
      fs::create_directories((reposDir() / repoId / name).parent_path());
      fs::copy_file(source, reposDir() / repoId / name, fs::copy_options::overwrite_existing);
    }
  }

  /// Starts the server and waits until it listens.
  void start() {
    std::vector<std::string> argv{pythonExecutable(), LORAFA_FAKE_HUB_SCRIPT, "--repos", reposDir().string(),
                                  "--port-file", (m_root / "port").string(), "--log", logPath().string()};
    if (m_options.dropOnce) argv.push_back("--drop-once");
    if (m_options.busyOnce) argv.push_back("--busy-once");
    if (m_options.rateBytesPerSecond > 0) argv.insert(argv.end(), {"--rate", std::to_string(m_options.rateBytesPerSecond)});
    for (const auto& [repo, token] : m_options.gated) argv.insert(argv.end(), {"--gated", repo + "=" + token});
    m_server = std::make_unique<ChildProcess>(argv, std::map<std::string, std::string>{}, m_root);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!fs::exists(m_root / "port")) {
      int status = 0;
      if (::waitpid(m_server->pid(), &status, WNOHANG) == m_server->pid()) {
        FAIL() << "fake_hub.py exited at start: " << m_server->errorSoFar();
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "fake_hub.py did not start within 30 s";
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    m_endpoint = "http://127.0.0.1:" + readFile(m_root / "port");
  }
  void stop() { m_server.reset(); }

  /// http://127.0.0.1:PORT, for HF_ENDPOINT.
  const std::string& endpoint() const { return m_endpoint; }

  /// The requests served so far: {"method", "path", "range", "authorization"}.
  std::vector<nlohmann::json> requests() const {
    std::vector<nlohmann::json> list;
    std::istringstream lines(readFile(logPath()));
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) list.push_back(nlohmann::json::parse(line));
    }
    return list;
  }
  /// The Range headers of GET requests whose path starts with `prefix`.
  std::vector<std::string> rangesOf(const std::string& prefix) const {
    std::vector<std::string> ranges;
    for (const nlohmann::json& r : requests()) {
      if (r["method"] == "GET" && r["path"].get<std::string>().rfind(prefix, 0) == 0 && r["range"].is_string()) {
        ranges.push_back(r["range"].get<std::string>());
      }
    }
    return ranges;
  }

private:
  fs::path m_root;
  FakeHubOptions m_options;
  std::unique_ptr<ChildProcess> m_server;
  std::string m_endpoint;
};

/// A small supported model (the LLaMA fixture: config.json, model.safetensors of 82 KB) plus a
/// README and a pickled-weights stand-in the default pull leaves out.
inline std::map<std::string, fs::path> tinyLlamaRepoFiles(const fs::path& scratch) {
  writeFile(scratch / "README.md", "# tiny llama\nA test repository.\n");
  writeFile(scratch / "pytorch_model.bin", std::string(2048, 'p'));
  return {{"config.json", fs::path(LORAFA_FIXTURES_DIR) / "models/llama/config.json"},
          {"model.safetensors", fs::path(LORAFA_FIXTURES_DIR) / "models/llama/model.safetensors"},
          {"README.md", scratch / "README.md"},
          {"pytorch_model.bin", scratch / "pytorch_model.bin"}};
}

/// A temporary folder and a fake hub serving org/tiny and org/gated (the tiny Llama files; which
/// repos are gated is up to `options`), not started yet.
struct TinyHubFixture {
  TempDir dir;
  FakeHub hub;
  std::map<std::string, fs::path> files;
  TinyHubFixture(const std::string& name, const FakeHubOptions& options)
      : dir(name), hub(dir.path / "server", options) {
    files = tinyLlamaRepoFiles(dir.path / "scratch");
    hub.addRepo("org/tiny", files);
    hub.addRepo("org/gated", files);
  }
};

/// A snapshot in a hub cache written by hand, the way huggingface_hub lays it out: each file's
/// content in blobs/<name>, a relative symlink from snapshots/<commit>/<file>, refs/<ref>.
inline fs::path writeCachedSnapshot(const fs::path& cache, const std::string& repoId, const std::string& commit,
                                    const std::string& ref, const std::map<std::string, fs::path>& files) {
  std::string folder = "models--" + repoId;
  folder.replace(folder.find('/'), 1, "--");
  const fs::path repo = cache / folder;
  const fs::path snapshot = repo / "snapshots" / commit;
  int blobNumber = 0;
  for (const auto& [name, source] : files) {
    const fs::path blob = repo / "blobs" / (commit.substr(0, 8) + "blob" + std::to_string(++blobNumber));
    fs::create_directories(blob.parent_path());
    fs::copy_file(source, blob, fs::copy_options::overwrite_existing);
    fs::create_directories((snapshot / name).parent_path());
    fs::create_symlink(blob.lexically_relative((snapshot / name).parent_path()), snapshot / name);
  }
  if (!ref.empty()) writeFile(repo / "refs" / ref, commit);
  return snapshot;
}

} // namespace lorafa::testing
