// pullFromHub against a real local HTTP server that speaks the Hub's download routes
// (tests/support/fake_hub.py): the cache layout huggingface_hub writes, resuming with Range
// requests after a dropped connection and after a stop, gated repositories and missing things.
#include "FakeHub.h"

#include "io/Sha256.h"
#include "lorafa/HubDownload.h"
#include "lorafa/ModelLibrary.h"

#include <gtest/gtest.h>

using namespace lorafa;
using lorafa::testing::FakeHub;
using lorafa::testing::FakeHubOptions;
using lorafa::testing::readFile;
using lorafa::testing::TinyHubFixture;
namespace fs = std::filesystem;

namespace {

/// A fake hub with org/tiny (and whatever `options` gate), and pull options pointing at it.
struct Fixture : TinyHubFixture {
  explicit Fixture(const FakeHubOptions& options = {}) : TinyHubFixture("hub-pull", options) {}
  HubPullOptions options(const std::string& repo = "org/tiny") const {
    HubPullOptions o;
    o.repoId = repo;
    o.hub.cacheDir = (dir.path / "cache").string();
    o.hub.endpoint = hub.endpoint();
    return o;
  }
  fs::path repoDir(const std::string& folder = "models--org--tiny") const { return dir.path / "cache" / folder; }
};

struct Recorder : HubPullObserver {
  std::vector<HubPullProgress> progress;
  std::vector<std::string> notes;
  std::function<bool(const HubPullProgress&)> stopWhen;
  void onProgress(const HubPullProgress& p) override { progress.push_back(p); }
  void onNote(const std::string& message) override { notes.push_back(message); }
  bool shouldStop() override { return stopWhen && !progress.empty() && stopWhen(progress.back()); }
};

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

} // namespace

TEST(HubPull, WritesHuggingFaceHubCacheLayout) {
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(f.hub.start());
  Recorder recorder;
  const HubPullResult result = pullFromHub(f.options(), &recorder);
  EXPECT_FALSE(result.stopped);
  ASSERT_EQ(result.commit.size(), 40u);
  EXPECT_EQ(result.files, (std::vector<std::string>{"README.md", "config.json", "model.safetensors"}));
  EXPECT_EQ(result.skipped, std::vector<std::string>{"pytorch_model.bin"}) << "pickled weights are left out by default";
  EXPECT_EQ(readFile(f.repoDir() / "refs/main"), result.commit);
  const fs::path snapshot = f.repoDir() / "snapshots" / result.commit;
  EXPECT_EQ(fs::path(result.snapshotDir), snapshot);
  const std::string sha = Sha256::hexOfFile(f.files["model.safetensors"].string());
  for (const std::string& name : result.files) {
    ASSERT_TRUE(fs::is_symlink(snapshot / name)) << name;
    const fs::path target = fs::read_symlink(snapshot / name);
    EXPECT_TRUE(target.is_relative()) << target;
    EXPECT_EQ(target.parent_path(), fs::path("../../blobs")) << target;
    EXPECT_EQ(readFile(snapshot / name), readFile(f.files[name])) << name;
  }
  EXPECT_EQ(fs::read_symlink(snapshot / "model.safetensors").filename(), sha) << "an LFS blob is named by its sha256";
  for (const fs::directory_entry& blob : fs::directory_iterator(f.repoDir() / "blobs")) {
    EXPECT_EQ(blob.path().extension(), "") << "left behind: " << blob.path();
  }
  ASSERT_FALSE(recorder.progress.empty());
  const HubPullProgress& last = recorder.progress.back();
  EXPECT_EQ(last.bytesDone, last.bytesTotal);
  EXPECT_EQ(last.fileIndex, 3);
  EXPECT_EQ(result.bytesDownloaded, last.bytesTotal);

  // The library lists it, supported; a second pull downloads nothing.
  const std::vector<LibraryModel> models = scanModelLibrary(f.options().hub.cacheDir, {});
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].repoId, "org/tiny");
  EXPECT_EQ(models[0].revision, "main");
  EXPECT_TRUE(models[0].supported) << models[0].unsupportedReason;
  Recorder again;
  EXPECT_EQ(pullFromHub(f.options(), &again).bytesDownloaded, 0);
  EXPECT_NE(joined(again.notes).find("model.safetensors: already in the cache"), std::string::npos) << joined(again.notes);
}

TEST(HubPull, ResumesADroppedConnectionWithARangeRequest) {
  FakeHubOptions options;
  options.dropOnce = true;
  Fixture f(options);
  ASSERT_NO_FATAL_FAILURE(f.hub.start());
  HubPullOptions pull = f.options();
  pull.includePatterns = {"*.safetensors", "config.json"};
  Recorder recorder;
  const HubPullResult result = pullFromHub(pull, &recorder);
  const std::vector<std::string> ranges = f.hub.rangesOf("/cdn/");
  ASSERT_EQ(ranges.size(), 1u) << "one resumed request";
  const std::int64_t resumedAt = std::stoll(ranges[0].substr(std::string("bytes=").size()));
  const auto size = static_cast<std::int64_t>(fs::file_size(f.files["model.safetensors"]));
  EXPECT_GT(resumedAt, 0);
  EXPECT_LT(resumedAt, size);
  EXPECT_EQ(ranges[0], "bytes=" + std::to_string(resumedAt) + "-");
  EXPECT_NE(joined(recorder.notes).find("lost at byte " + std::to_string(resumedAt)), std::string::npos) << joined(recorder.notes);
  EXPECT_EQ(readFile(fs::path(result.snapshotDir) / "model.safetensors"), readFile(f.files["model.safetensors"]));
  EXPECT_EQ(result.bytesDownloaded, size + static_cast<std::int64_t>(fs::file_size(f.files["config.json"])))
      << "no byte downloaded twice";
}

TEST(HubPull, AStoppedPullLeavesOnlyAnIncompleteBlobThatTheNextPullResumes) {
  FakeHubOptions options;
  options.rateBytesPerSecond = 200'000; // about 0.4 s for the weights: time to stop half way
  Fixture f(options);
  ASSERT_NO_FATAL_FAILURE(f.hub.start());
  HubPullOptions pull = f.options();
  pull.includePatterns = {"model.safetensors"};
  Recorder stopper;
  stopper.stopWhen = [](const HubPullProgress& p) { return p.fileBytesDone > 20'000; };
  const HubPullResult stopped = pullFromHub(pull, &stopper);
  ASSERT_TRUE(stopped.stopped);
  const std::string sha = Sha256::hexOfFile(f.files["model.safetensors"].string());
  const fs::path incomplete = f.repoDir() / "blobs" / (sha + ".incomplete");
  ASSERT_TRUE(fs::exists(incomplete));
  EXPECT_FALSE(fs::exists(f.repoDir() / "blobs" / sha)) << "no half-written final blob";
  EXPECT_FALSE(fs::exists(fs::path(stopped.snapshotDir) / "model.safetensors"));
  EXPECT_FALSE(fs::exists(f.repoDir() / "refs/main"));
  const auto kept = static_cast<std::int64_t>(fs::file_size(incomplete));
  EXPECT_GT(kept, 20'000);

  Recorder resumer;
  const HubPullResult done = pullFromHub(pull, &resumer);
  EXPECT_FALSE(done.stopped);
  EXPECT_EQ(f.hub.rangesOf("/cdn/"), std::vector<std::string>{"bytes=" + std::to_string(kept) + "-"});
  EXPECT_NE(joined(resumer.notes).find("resuming model.safetensors at byte " + std::to_string(kept)), std::string::npos);
  EXPECT_EQ(readFile(fs::path(done.snapshotDir) / "model.safetensors"), readFile(f.files["model.safetensors"]));
  EXPECT_FALSE(fs::exists(incomplete));
  EXPECT_EQ(done.bytesDownloaded, static_cast<std::int64_t>(fs::file_size(f.files["model.safetensors"])) - kept);
}

TEST(HubPull, AGatedRepositoryNeedsTheRightToken) {
  FakeHubOptions options;
  options.gated["org/gated"] = "hf_secret";
  Fixture f(options);
  ASSERT_NO_FATAL_FAILURE(f.hub.start());
  HubPullOptions pull = f.options("org/gated");
  try {
    pullFromHub(pull);
    FAIL() << "pulled a gated repository without a token";
  } catch (const HubError& e) {
    EXPECT_EQ(e.kind(), HubError::Kind::Unauthorized);
    const std::string message = e.what();
    EXPECT_NE(message.find("org/gated is gated: accept its licence on " + f.hub.endpoint() + "/org/gated"), std::string::npos) << message;
    EXPECT_NE(message.find("set HF_TOKEN"), std::string::npos) << message;
    EXPECT_NE(message.find("HTTP 401"), std::string::npos) << message;
  }
  pull.hub.token = "hf_wrong";
  pull.hub.tokenSource = "HF_TOKEN";
  try {
    pullFromHub(pull);
    FAIL() << "pulled a gated repository with the wrong token";
  } catch (const HubError& e) {
    EXPECT_NE(std::string(e.what()).find("the token from HF_TOKEN has no access to it yet"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(f.repoDir("models--org--gated") / "snapshots")) << "nothing written for a refused pull";
  pull.hub.token = "hf_secret";
  const HubPullResult result = pullFromHub(pull);
  EXPECT_EQ(result.files.size(), 3u);
  for (const nlohmann::json& request : f.hub.requests()) {
    if (request["path"].get<std::string>().find("/org/gated/resolve/") == 0 && request["authorization"] == "Bearer hf_secret") {
      SUCCEED();
      return;
    }
  }
  ADD_FAILURE() << "no request carried the token";
}

TEST(HubPull, MissingRepositoryRevisionOrFilesAreNamed) {
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(f.hub.start());
  const auto messageOf = [](const HubPullOptions& o, HubError::Kind expected) {
    try {
      pullFromHub(o);
    } catch (const HubError& e) {
      EXPECT_EQ(e.kind(), expected) << e.what();
      return std::string(e.what());
    }
    ADD_FAILURE() << "no error";
    return std::string();
  };
  EXPECT_NE(messageOf(f.options("org/missing"), HubError::Kind::NotFound).find("repository org/missing not found on " + f.hub.endpoint()),
            std::string::npos);
  HubPullOptions revision = f.options();
  revision.revision = "v9";
  EXPECT_NE(messageOf(revision, HubError::Kind::NotFound).find("revision \"v9\" not found in org/tiny"), std::string::npos);
  HubPullOptions patterns = f.options();
  patterns.includePatterns = {"*.gguf"};
  EXPECT_NE(messageOf(patterns, HubError::Kind::BadRequest).find("no file of org/tiny at main matches the include patterns"),
            std::string::npos);
  EXPECT_NE(messageOf(f.options("org/../x"), HubError::Kind::BadRequest).find("is not a Hub repository id"), std::string::npos);
  HubPullOptions offline = f.options();
  offline.hub.endpoint = "http://127.0.0.1:9"; // discard port: nothing listens
  EXPECT_NE(messageOf(offline, HubError::Kind::Network).find("cannot reach http://127.0.0.1:9/api/models/org/tiny/revision/main"),
            std::string::npos);
}

// An empty file (an __init__.py) is written as an empty blob, and a CDN that answers 503 once is
// retried like a dropped connection instead of failing the pull.
TEST(HubPull, AnEmptyFileAndABusyServerOnceAreHandled) {
  FakeHubOptions busy;
  busy.busyOnce = true;
  Fixture f(busy);
  const fs::path empty = f.dir.path / "scratch/empty/__init__.py";
  lorafa::testing::writeFile(empty, "");
  std::map<std::string, fs::path> files = f.files;
  files["__init__.py"] = empty;
  f.hub.addRepo("org/with-empty", files);
  ASSERT_NO_FATAL_FAILURE(f.hub.start());
  Recorder recorder;
  const HubPullResult result = pullFromHub(f.options("org/with-empty"), &recorder);
  const fs::path snapshot = f.repoDir("models--org--with-empty") / "snapshots" / result.commit;
  ASSERT_TRUE(fs::exists(snapshot / "__init__.py")) << joined(recorder.notes);
  EXPECT_EQ(fs::file_size(snapshot / "__init__.py"), 0u);
  EXPECT_EQ(readFile(snapshot / "model.safetensors"), readFile(f.files["model.safetensors"]));
  EXPECT_NE(joined(recorder.notes).find("HTTP 503"), std::string::npos) << joined(recorder.notes);
}
