#include "lorafa/HubDownload.h"

#include "io/Sha256.h"
#include "lorafa/CpuMemoryTracker.h"
#include "library/HubCache.h"
#include "library/HubHttp.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>
#include <thread>

#include <fnmatch.h>
#include <unistd.h>

namespace lorafa {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

/// Weight formats the engine never loads (pickles, other frameworks): left out unless asked for.
const char* const kOtherWeightPatterns[] = {"*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack",
                                            "*.onnx", "*.onnx_data", "*.gguf", "*.ot", "*.tflite"};

bool matchesAny(const std::string& file, const std::vector<std::string>& patterns) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return ::fnmatch(p.c_str(), file.c_str(), 0) == 0; });
}

bool wanted(const std::string& file, const std::vector<std::string>& include) {
  if (!include.empty()) return matchesAny(file, include);
  for (const char* pattern : kOtherWeightPatterns) {
    if (::fnmatch(pattern, file.c_str(), 0) == 0) return false;
  }
  return true;
}

/// A repository path the cache can hold: relative, no "..", no empty or "." parts.
bool isSafeRepoPath(const std::string& file) {
  if (file.empty() || file.front() == '/' || file.find('\\') != std::string::npos || file.find('\0') != std::string::npos) {
    return false;
  }
  for (const fs::path& part : fs::path(file)) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

/// The HubError an HTTP error status means, with what to do about it.
[[noreturn]] void throwForStatus(const HttpReply& reply, const HubPullOptions& options, const std::string& what,
                                 const std::string& url) {
  const std::string code = reply.header("x-error-code");
  const std::string serverMessage = reply.header("x-error-message");
  const std::string status = "HTTP " + std::to_string(reply.status) + " from " + url;
  const std::string& repo = options.repoId;
  const std::string page = options.hub.endpoint + "/" + repo;
  const bool anonymous = options.hub.token.empty();
  const std::string tokenFrom = options.hub.tokenSource.empty() ? std::string("the token") : "the token from " + options.hub.tokenSource;
  if (reply.status == 401 || reply.status == 403) {
    const bool gated = code == "GatedRepo" || serverMessage.find("gated") != std::string::npos ||
                       reply.body.find("gated") != std::string::npos;
    if (gated && anonymous) {
      throw HubError(HubError::Kind::Unauthorized,
                     repo + " is gated: accept its licence on " + page +
                         " and set HF_TOKEN to an access token of that account (or log in with `hf auth login`) (" +
                         status + ")");
    }
    if (gated) {
      throw HubError(HubError::Kind::Unauthorized,
                     repo + " is gated and " + tokenFrom + " has no access to it yet: accept its licence on " + page +
                         " with the account of that token (" + status + ")");
    }
    if (code == "RepoNotFound" || anonymous) {
      throw HubError(HubError::Kind::Unauthorized,
                     repo + " was not found or needs authentication (private or gated)" +
                         (anonymous ? std::string(": check the name, or set HF_TOKEN to an access token with access to it")
                                    : ": check the name and that " + tokenFrom + " can read it") +
                         " (" + status + ")");
    }
    throw HubError(HubError::Kind::Unauthorized,
                   tokenFrom + " is not accepted for " + repo + ": check the token (HF_TOKEN) and your access to the repository (" +
                       status + ")");
  }
  if (reply.status == 404) {
    if (code == "RevisionNotFound") {
      throw HubError(HubError::Kind::NotFound, "revision \"" + options.revision + "\" not found in " + repo + " (" + status + ")");
    }
    if (code == "EntryNotFound") {
      throw HubError(HubError::Kind::NotFound, what + " not found in " + repo + " at revision " + options.revision + " (" + status + ")");
    }
    throw HubError(HubError::Kind::NotFound, (code == "RepoNotFound" || what.empty() ? "repository " + repo : what + " of " + repo) +
                                                 " not found on " + options.hub.endpoint + " (" + status + ")");
  }
  std::string detail = serverMessage.empty() ? reply.body.substr(0, 200) : serverMessage;
  throw HubError(HubError::Kind::Server, status + (detail.empty() ? std::string() : ": " + detail));
}

struct RemoteFile {
  std::string path; ///< in the repository
  std::string url;
  std::string etag; ///< the blob's name
  std::int64_t size = 0;
};

/// The file's blob name and size from a HEAD of its resolve URL, as huggingface_hub reads them.
/// Relative redirects (a renamed repository) are followed; the Hub's redirect of an LFS file to
/// its storage carries X-Linked-Etag and X-Linked-Size, so it is not followed.
RemoteFile fileMetadata(HubHttp& http, const HubPullOptions& options, const std::string& commit, const std::string& file) {
  RemoteFile remote;
  remote.path = file;
  remote.url = options.hub.endpoint + "/" + options.repoId + "/resolve/" + commit + "/" + urlEncode(file, true);
  std::string url = remote.url;
  HttpReply reply = http.head(url);
  for (int hops = 0; hops < 5 && reply.status >= 300 && reply.status < 400 && reply.header("x-linked-etag").empty() &&
                     !reply.header("location").empty() && reply.header("location").front() == '/';
       ++hops) {
    url = options.hub.endpoint + reply.header("location");
    reply = http.head(url);
  }
  if (reply.status >= 400) throwForStatus(reply, options, "file " + file, url);
  const bool redirect = reply.status >= 300 && reply.status < 400;
  const std::string etag = !reply.header("x-linked-etag").empty() ? reply.header("x-linked-etag") : reply.header("etag");
  const std::string size = !reply.header("x-linked-size").empty() ? reply.header("x-linked-size")
                                                                   : (redirect ? std::string() : reply.header("content-length"));
  remote.etag = hubcache::normalizeEtag(etag);
  if (remote.etag.empty() || remote.etag.find('/') != std::string::npos || remote.etag.find("..") != std::string::npos) {
    throw HubError(HubError::Kind::Server, url + ": the reply has no usable ETag or X-Linked-Etag header (found \"" + etag +
                                               "\"); is HF_ENDPOINT a Hugging Face Hub?");
  }
  try {
    std::size_t used = 0;
    remote.size = std::stoll(size, &used);
    if (used != size.size() || remote.size < 0) throw std::invalid_argument(size);
  } catch (const std::exception&) {
    throw HubError(HubError::Kind::Server, url + ": the reply has no file size (X-Linked-Size or Content-Length), found \"" +
                                               size + "\"");
  }
  const std::string replyCommit = reply.header("x-repo-commit");
  if (!replyCommit.empty() && replyCommit != commit) {
    throw HubError(HubError::Kind::Server, url + ": X-Repo-Commit is " + replyCommit + ", expected " + commit);
  }
  return remote;
}

/// Throughput and what is left, smoothed over the reports.
class RateMeter {
public:
  explicit RateMeter(Clock::time_point start) : m_last(start) {}
  void sample(std::int64_t receivedTotal, Clock::time_point now) {
    const double seconds = std::chrono::duration<double>(now - m_last).count();
    if (seconds < 0.05) return;
    const double rate = static_cast<double>(receivedTotal - m_lastReceived) / seconds;
    m_rate = m_samples == 0 ? rate : 0.7 * m_rate + 0.3 * rate;
    ++m_samples;
    m_last = now;
    m_lastReceived = receivedTotal;
  }
  double rate() const { return m_rate; }

private:
  Clock::time_point m_last;
  std::int64_t m_lastReceived = 0;
  double m_rate = 0.0;
  int m_samples = 0;
};

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

class Puller {
public:
  Puller(const HubPullOptions& options, HubPullObserver* observer)
      : m_options(options), m_observer(observer), m_http(options.hub.token), m_start(Clock::now()), m_meter(m_start) {}

  HubPullResult run();

private:
  bool stopRequested() { return m_observer != nullptr && m_observer->shouldStop(); }
  void note(const std::string& message) {
    if (m_observer != nullptr) m_observer->onNote(message);
  }
  void report(bool force);
  /// Downloads one file into its blob; false when stopped.
  bool fetch(const RemoteFile& file, const fs::path& blob);

  const HubPullOptions& m_options;
  HubPullObserver* m_observer;
  HubHttp m_http;
  HubPullProgress m_progress;
  HubPullResult m_result;
  std::int64_t m_bytesBeforeFile = 0; ///< bytesDone when the current file started
  Clock::time_point m_start;
  Clock::time_point m_lastReport{};
  RateMeter m_meter;
};

void Puller::report(bool force) {
  const Clock::time_point now = Clock::now();
  if (!force && now - m_lastReport < std::chrono::milliseconds(100)) return;
  m_lastReport = now;
  m_meter.sample(m_result.bytesDownloaded, now);
  m_progress.bytesPerSecond = m_meter.rate();
  m_progress.etaSeconds = m_progress.bytesPerSecond > 0
                              ? static_cast<double>(m_progress.bytesTotal - m_progress.bytesDone) / m_progress.bytesPerSecond
                              : -1.0;
  if (m_observer != nullptr) m_observer->onProgress(m_progress);
}

bool Puller::fetch(const RemoteFile& file, const fs::path& blob) {
  const fs::path incomplete = blob.string() + ".incomplete";
  std::error_code ec;
  std::int64_t have = fs::exists(incomplete, ec) ? static_cast<std::int64_t>(fs::file_size(incomplete, ec)) : 0;
  if (have > file.size) {
    fs::remove(incomplete, ec);
    have = 0;
  }
  if (have > 0) note("resuming " + file.path + " at byte " + std::to_string(have) + " of " + std::to_string(file.size));
  if (file.size == 0) { // an empty file (an __init__.py, a .gitkeep): nothing to download
    std::unique_ptr<std::FILE, FileCloser> out(std::fopen(incomplete.c_str(), "wb"));
    if (!out) throw HubError(HubError::Kind::Io, incomplete.string() + ": cannot write into the cache: " + std::strerror(errno));
  }
  for (int attempt = 1; have < file.size; ++attempt) {
    std::unique_ptr<std::FILE, FileCloser> out(std::fopen(incomplete.c_str(), "ab"));
    if (!out) throw HubError(HubError::Kind::Io, incomplete.string() + ": cannot write into the cache: " + std::strerror(errno));
    std::int64_t received = 0;
    const std::int64_t start = have;
    const HttpTransfer transfer = m_http.download(file.url, have, out.get(), [&](std::int64_t written) {
      m_result.bytesDownloaded += written - received;
      received = written;
      m_progress.fileBytesDone = start + written;
      m_progress.bytesDone = m_bytesBeforeFile + m_progress.fileBytesDone;
      report(false);
      return !stopRequested();
    });
    m_result.bytesDownloaded += transfer.bytesWritten - received;
    if (std::fflush(out.get()) != 0 || ::fsync(::fileno(out.get())) != 0) {
      throw HubError(HubError::Kind::Io, incomplete.string() + ": writing into the cache failed: " + std::strerror(errno));
    }
    out.reset();
    // A busy or failing server (429, 5xx) is retried like a dropped connection; other errors are
    // final. Only 200 and 206 bring the file: any other answer keeps what arrived and retries.
    const long status = transfer.reply.status;
    const bool busy = status == 429 || status >= 500;
    if (status >= 400 && !busy) throwForStatus(transfer.reply, m_options, "file " + file.path, file.url);
    if (transfer.aborted) return false;
    have = static_cast<std::int64_t>(fs::file_size(incomplete, ec));
    m_progress.fileBytesDone = have;
    m_progress.bytesDone = m_bytesBeforeFile + have;
    if (transfer.ok && (status == 200 || status == 206)) break;
    if (transfer.error == "writing the downloaded data failed") {
      throw HubError(HubError::Kind::Io, incomplete.string() + ": writing into the cache failed (disk full?)");
    }
    const std::string problem =
        !transfer.error.empty() ? transfer.error : "the server answered HTTP " + std::to_string(status);
    if (attempt >= m_options.maxAttemptsPerFile) {
      throw HubError(HubError::Kind::Network,
                     file.url + ": " + problem + " (after " + std::to_string(attempt) + " attempts; " +
                         std::to_string(have) + " of " + std::to_string(file.size) +
                         " bytes are kept in the cache, run the pull again to resume)");
    }
    note("connection to " + file.url + " lost at byte " + std::to_string(have) + " (" + problem +
         "); resuming, attempt " + std::to_string(attempt + 1) + " of " + std::to_string(m_options.maxAttemptsPerFile));
    for (int i = 0; i < attempt * 5; ++i) { // a short back-off that still answers a stop at once
      if (stopRequested()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  if (have != file.size) {
    fs::remove(incomplete, ec);
    throw HubError(HubError::Kind::Integrity, file.url + ": received " + std::to_string(have) + " bytes, the Hub announced " +
                                                  std::to_string(file.size) + "; the partial file was removed, pull again");
  }
  if (hubcache::isSha256Hex(file.etag)) {
    const std::string digest = Sha256::hexOfFile(incomplete.string());
    if (digest != file.etag) {
      fs::remove(incomplete, ec);
      throw HubError(HubError::Kind::Integrity, file.url + ": sha256 of the download is " + digest + ", the Hub's is " +
                                                    file.etag + "; the corrupt file was removed, pull again");
    }
  }
  fs::rename(incomplete, blob, ec);
  if (ec) throw HubError(HubError::Kind::Io, blob.string() + ": cannot move the finished download into place: " + ec.message());
  return true;
}

HubPullResult Puller::run() {
  checkRepoId(m_options.repoId);
  const std::string& revision = m_options.revision;
  if (revision.empty() || revision.find("..") != std::string::npos || revision.front() == '/') {
    throw HubError(HubError::Kind::BadRequest, "revision \"" + revision + "\" is not a branch, tag or commit name");
  }
  if (m_options.hub.cacheDir.empty()) throw HubError(HubError::Kind::BadRequest, "no hub cache folder (HF_HUB_CACHE or HF_HOME)");
  m_result.repoId = m_options.repoId;
  m_result.revision = revision;

  // The file list and the commit the revision names now.
  const std::string apiUrl = m_options.hub.endpoint + "/api/models/" + m_options.repoId + "/revision/" + urlEncode(revision, false);
  const HttpReply info = m_http.get(apiUrl);
  if (info.status != 200) throwForStatus(info, m_options, "", apiUrl);
  const nlohmann::json json = nlohmann::json::parse(info.body, nullptr, false);
  if (!json.is_object() || !json.contains("sha") || !json.at("sha").is_string() || !json.contains("siblings") ||
      !json.at("siblings").is_array()) {
    throw HubError(HubError::Kind::Server, apiUrl + ": expected a JSON object with \"sha\" and \"siblings\", found " +
                                               info.body.substr(0, 120));
  }
  const std::string commit = json.at("sha").get<std::string>();
  if (commit.size() != 40 || commit.find_first_not_of("0123456789abcdef") != std::string::npos) {
    throw HubError(HubError::Kind::Server, apiUrl + ": \"sha\" is \"" + commit + "\", expected a 40-digit commit hash");
  }
  m_result.commit = commit;
  std::vector<std::string> files;
  for (const nlohmann::json& sibling : json.at("siblings")) {
    if (!sibling.is_object() || !sibling.contains("rfilename") || !sibling.at("rfilename").is_string()) {
      throw HubError(HubError::Kind::Server, apiUrl + ": a sibling without \"rfilename\": " + sibling.dump());
    }
    const std::string file = sibling.at("rfilename").get<std::string>();
    if (!isSafeRepoPath(file)) throw HubError(HubError::Kind::Server, apiUrl + ": unsafe file name \"" + file + "\"");
    (wanted(file, m_options.includePatterns) ? files : m_result.skipped).push_back(file);
  }
  if (files.empty()) {
    std::string available;
    for (std::size_t i = 0; i < m_result.skipped.size() && i < 8; ++i) available += (i ? ", " : "") + m_result.skipped[i];
    throw HubError(HubError::Kind::BadRequest, "no file of " + m_options.repoId + " at " + revision +
                                                   " matches the include patterns" +
                                                   (available.empty() ? std::string(" (the repository is empty)") : "; it has " + available));
  }

  // Blob names and sizes first: the total for the progress, and nothing written for a file the
  // Hub refuses.
  std::vector<RemoteFile> remote;
  for (const std::string& file : files) {
    if (stopRequested()) {
      m_result.stopped = true;
      return m_result;
    }
    remote.push_back(fileMetadata(m_http, m_options, commit, file));
  }
  const fs::path repoDir = fs::path(m_options.hub.cacheDir) / hubcache::repoFolderName(m_options.repoId);
  const fs::path blobs = repoDir / "blobs";
  const fs::path snapshot = repoDir / "snapshots" / commit;
  std::error_code ec;
  fs::create_directories(blobs, ec);
  if (ec) throw HubError(HubError::Kind::Io, blobs.string() + ": cannot create the cache folder: " + ec.message());
  m_result.snapshotDir = snapshot.string();
  m_progress.fileCount = static_cast<int>(remote.size());
  for (const RemoteFile& file : remote) m_progress.bytesTotal += file.size;

  for (std::size_t i = 0; i < remote.size(); ++i) {
    const RemoteFile& file = remote[i];
    const fs::path blob = blobs / file.etag;
    m_progress.file = file.path;
    m_progress.fileIndex = static_cast<int>(i) + 1;
    m_progress.fileBytesTotal = file.size;
    m_progress.fileBytesDone = 0;
    m_bytesBeforeFile = m_progress.bytesDone;
    if (fs::exists(blob, ec) && static_cast<std::int64_t>(fs::file_size(blob, ec)) == file.size) {
      note(file.path + ": already in the cache");
    } else if (!fetch(file, blob)) {
      m_result.stopped = true;
      report(true);
      return m_result;
    }
    try {
      hubcache::linkSnapshotFile(blob.string(), (snapshot / file.path).string());
    } catch (const std::exception& e) {
      throw HubError(HubError::Kind::Io, e.what());
    }
    m_result.files.push_back(file.path);
    m_progress.fileBytesDone = file.size;
    m_progress.bytesDone = m_bytesBeforeFile + file.size;
    report(true);
  }
  if (revision != commit) {
    try {
      hubcache::writeTextFileAtomically((repoDir / "refs" / revision).string(), commit);
    } catch (const std::exception& e) {
      throw HubError(HubError::Kind::Io, e.what());
    }
  }
  return m_result;
}

} // namespace

std::string describeProgress(const HubPullProgress& p) {
  char text[160];
  const double percent = p.bytesTotal > 0 ? 100.0 * static_cast<double>(p.bytesDone) / static_cast<double>(p.bytesTotal) : 0.0;
  std::string eta = "ETA --";
  if (p.etaSeconds >= 0) {
    const auto s = static_cast<long long>(p.etaSeconds + 0.5);
    char e[32];
    if (s >= 3600) std::snprintf(e, sizeof e, "ETA %lldh%02lldm", s / 3600, s / 60 % 60);
    else std::snprintf(e, sizeof e, "ETA %lldm%02llds", s / 60, s % 60);
    eta = e;
  }
  std::snprintf(text, sizeof text, "%3.0f%% %s of %s, %s/s, %s", percent, formatBytes(p.bytesDone).c_str(),
                formatBytes(p.bytesTotal).c_str(), formatBytes(static_cast<std::int64_t>(p.bytesPerSecond)).c_str(), eta.c_str());
  return text;
}

void checkRepoId(const std::string& repoId) {
  const auto bad = [&](const std::string& why) {
    throw HubError(HubError::Kind::BadRequest, "\"" + repoId + "\" is not a Hub repository id (ORG/NAME): " + why);
  };
  if (repoId.empty()) bad("it is empty");
  if (std::count(repoId.begin(), repoId.end(), '/') > 1) bad("it has more than one '/'");
  if (repoId.front() == '/' || repoId.back() == '/') bad("a part is empty");
  for (const char c : repoId) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/')) {
      bad(std::string("the character '") + c + "' is not allowed");
    }
  }
  if (repoId.find("--") != std::string::npos || repoId.find("..") != std::string::npos) bad("\"--\" and \"..\" are not allowed");
}

HubPullResult pullFromHub(const HubPullOptions& options, HubPullObserver* observer) {
  return Puller(options, observer).run();
}

} // namespace lorafa
