#pragma once

#include "lorafa/ModelLibrary.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace lorafa {

/// What `pullFromHub` downloads.
struct HubPullOptions {
  std::string repoId;           ///< "ORG/NAME"
  std::string revision = "main"; ///< a branch, tag or commit
  /// Shell patterns (fnmatch, `*` also crosses `/`) a file must match one of; empty: every file
  /// except weights in other formats than safetensors (pickled .bin/.pt/.pth/.ckpt, .h5, .msgpack,
  /// .onnx, .gguf, .ot, .tflite), which the engine never loads.
  std::vector<std::string> includePatterns;
  HubSettings hub;
  int maxAttemptsPerFile = 4; ///< a dropped connection is resumed with a Range request this often
};

/// Progress of a pull, reported at most every 100 ms and at the end of each file.
struct HubPullProgress {
  std::string file;                ///< the file being downloaded now
  int fileIndex = 0;               ///< 1-based
  int fileCount = 0;
  std::int64_t fileBytesDone = 0;
  std::int64_t fileBytesTotal = 0;
  std::int64_t bytesDone = 0;      ///< over all files, those already cached included
  std::int64_t bytesTotal = 0;
  double bytesPerSecond = 0.0;     ///< received in this pull, smoothed
  double etaSeconds = -1.0;        ///< -1: unknown yet
};

/// "42% 120.00 MiB of 285.50 MiB, 12.30 MiB/s, ETA 0m13s": what the CLI and the studio show.
std::string describeProgress(const HubPullProgress& progress);

/// Progress and cancellation (CONVENTIONS 3): shouldStop() is polled during transfers; a stopped
/// pull leaves only `blobs/<etag>.incomplete` files, which the next pull resumes.
class HubPullObserver {
public:
  virtual ~HubPullObserver() = default;
  virtual void onProgress(const HubPullProgress& progress) { (void)progress; }
  /// A line worth showing: a skipped or already cached file, a resumed download, a retry.
  virtual void onNote(const std::string& message) { (void)message; }
  virtual bool shouldStop() { return false; }
};

struct HubPullResult {
  std::string repoId;
  std::string revision;
  std::string commit;
  std::string snapshotDir;          ///< <cache>/models--ORG--NAME/snapshots/<commit>
  std::vector<std::string> files;   ///< repository paths now in the snapshot
  std::vector<std::string> skipped; ///< repository paths left out by the patterns
  std::int64_t bytesDownloaded = 0; ///< received over the network in this pull
  bool stopped = false;             ///< shouldStop() ended it; nothing final was half-written
};

/// Why a pull failed. what() says what to do about it and names the URL or file.
class HubError : public std::runtime_error {
public:
  enum class Kind {
    Unauthorized, ///< 401/403: gated, private, or a token without access
    NotFound,     ///< 404: repository, revision or file
    Network,      ///< no connection, timeout, a dropped connection that kept failing
    Server,       ///< another HTTP status, or a reply without the headers the Hub sends
    Integrity,    ///< size or sha256 of a downloaded file differs from the Hub's
    Io,           ///< writing into the cache failed
    BadRequest,   ///< the repo id, revision or a pattern is malformed
  };
  HubError(Kind kind, const std::string& message) : std::runtime_error(message), m_kind(kind) {}
  Kind kind() const { return m_kind; }

private:
  Kind m_kind;
};

/// Downloads a Hub repository's files into the hub cache in huggingface_hub's layout, so that
/// transformers and huggingface_hub find them (and we find theirs): file list and commit from
/// `{endpoint}/api/models/{repo}/revision/{rev}`; per file a HEAD of
/// `{endpoint}/{repo}/resolve/{commit}/{file}` (X-Linked-Etag / ETag names the blob,
/// X-Linked-Size / Content-Length its size), then a GET following redirects into
/// `blobs/<etag>.incomplete`, resumed with `Range` after a dropped connection or an earlier
/// stopped pull, checked (size; sha256 when the etag is one), renamed to `blobs/<etag>`, linked
/// from `snapshots/<commit>/<file>` (relative symlink); finally `refs/<revision>` names the
/// commit. Blobs already cached are not downloaded again. Throws HubError.
HubPullResult pullFromHub(const HubPullOptions& options, HubPullObserver* observer = nullptr);

/// "ORG/NAME" (or "NAME") with the Hub's characters: letters, digits, '-', '_', '.'; no "--" or
/// "..". Throws HubError(BadRequest) naming what is wrong.
void checkRepoId(const std::string& repoId);

} // namespace lorafa
