// `lorafa models` as a user runs it: real processes, HF_HUB_CACHE / HF_ENDPOINT / HF_TOKEN in the
// environment, a local stand-in for the Hub (tests/support/fake_hub.py), and huggingface_hub
// itself (from the project's venv, when it has it) reading what `pull` wrote.
#include "FakeHub.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>

using lorafa::testing::ChildProcess;
using lorafa::testing::FakeHub;
using lorafa::testing::FakeHubOptions;
using lorafa::testing::ProcessResult;
using lorafa::testing::pythonExecutable;
using lorafa::testing::readFile;
using lorafa::testing::runProcess;
using lorafa::testing::TinyHubFixture;
namespace fs = std::filesystem;

namespace {

struct CliFixture : TinyHubFixture {
  explicit CliFixture(const FakeHubOptions& options = {}) : TinyHubFixture("models-cli", options) {}
  fs::path cache() const { return dir.path / "hf/hub"; }
  std::map<std::string, std::string> env(const std::string& token = "") const {
    return {{"HF_HUB_CACHE", cache().string()}, {"HF_ENDPOINT", hub.endpoint()}, {"HF_TOKEN", token},
            {"HF_HOME", (dir.path / "hf").string()}, {"XDG_DATA_HOME", (dir.path / "data").string()},
            {"HF_HUB_OFFLINE", ""}};
  }
  ProcessResult lorafa(const std::vector<std::string>& args, const std::string& token = "") const {
    std::vector<std::string> argv{LORAFA_CLI};
    argv.insert(argv.end(), args.begin(), args.end());
    return runProcess(argv, env(token), dir.path);
  }
};

bool hasHuggingFaceHub() {
  return runProcess({pythonExecutable(), "-c", "import huggingface_hub"}, {}, fs::temp_directory_path()).exitCode == 0;
}

} // namespace

TEST(ModelsCli, PullThenListAndHuggingFaceHubReadsTheCache) {
  CliFixture f;
  ASSERT_NO_FATAL_FAILURE(f.hub.start());
  const ProcessResult pull = f.lorafa({"models", "pull", "org/tiny"});
  ASSERT_EQ(pull.exitCode, 0) << pull.describe();
  EXPECT_NE(pull.out.find("pull 100% "), std::string::npos) << pull.out;
  EXPECT_NE(pull.out.find("/s, ETA"), std::string::npos) << "speed and ETA: " << pull.out;
  EXPECT_NE(pull.out.find("skipped 1 weight files in formats this build does not load (e.g. pytorch_model.bin)"),
            std::string::npos) << pull.out;

  const ProcessResult list = f.lorafa({"models", "list", "--json"});
  ASSERT_EQ(list.exitCode, 0) << list.describe();
  const nlohmann::json models = nlohmann::json::parse(list.out);
  ASSERT_EQ(models.size(), 1u) << list.out;
  EXPECT_EQ(models[0]["repo_id"], "org/tiny");
  EXPECT_EQ(models[0]["revision"], "main");
  EXPECT_EQ(models[0]["family"], "llama");
  EXPECT_EQ(models[0]["dtype"], "F32");
  EXPECT_EQ(models[0]["supported"], true);
  const std::string snapshot = models[0]["path"];
  const ProcessResult table = f.lorafa({"models", "list"});
  EXPECT_NE(table.out.find("hub cache: " + f.cache().string()), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("org/tiny"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("yes"), std::string::npos) << table.out;

  if (!hasHuggingFaceHub()) GTEST_SKIP() << "huggingface_hub is not installed in " << pythonExecutable();
  // huggingface_hub's own reader of the cache, and its offline download, find what we wrote.
  const std::string script =
      "import sys\n"
      "from huggingface_hub import scan_cache_dir, snapshot_download, hf_hub_download\n"
      "info = scan_cache_dir(sys.argv[1])\n"
      "assert not info.warnings, info.warnings\n"
      "(repo,) = info.repos\n"
      "(rev,) = repo.revisions\n"
      "print('repo', repo.repo_id, sorted(f.file_name for f in rev.files), sorted(rev.refs), rev.nb_files)\n"
      "print('snapshot', snapshot_download('org/tiny', cache_dir=sys.argv[1], local_files_only=True))\n"
      "print('config', hf_hub_download('org/tiny', 'config.json', cache_dir=sys.argv[1], local_files_only=True))\n";
  const ProcessResult python = runProcess({pythonExecutable(), "-c", script, f.cache().string()}, {{"HF_HUB_OFFLINE", "1"}}, f.dir.path);
  ASSERT_EQ(python.exitCode, 0) << python.describe();
  EXPECT_NE(python.out.find("repo org/tiny ['README.md', 'config.json', 'model.safetensors'] ['main'] 3"), std::string::npos)
      << python.out;
  EXPECT_NE(python.out.find("snapshot " + snapshot + "\n"), std::string::npos) << python.out;
  EXPECT_NE(python.out.find("config " + snapshot + "/config.json\n"), std::string::npos) << python.out;
}

TEST(ModelsCli, GatedRepositoryNeedsHfToken) {
  FakeHubOptions options;
  options.gated["org/gated"] = "hf_secret";
  CliFixture f(options);
  ASSERT_NO_FATAL_FAILURE(f.hub.start());
  const ProcessResult refused = f.lorafa({"models", "pull", "org/gated"});
  EXPECT_EQ(refused.exitCode, 2) << refused.describe();
  EXPECT_NE(refused.err.find("lorafa: error: org/gated is gated: accept its licence on " + f.hub.endpoint() +
                             "/org/gated and set HF_TOKEN"),
            std::string::npos) << refused.err;
  const ProcessResult pulled = f.lorafa({"models", "pull", "org/gated"}, "hf_secret");
  EXPECT_EQ(pulled.exitCode, 0) << pulled.describe();
  EXPECT_NE(pulled.out.find("(token from HF_TOKEN)"), std::string::npos) << pulled.out;
}

TEST(ModelsCli, DroppedConnectionIsResumed) {
  FakeHubOptions options;
  options.dropOnce = true;
  CliFixture f(options);
  ASSERT_NO_FATAL_FAILURE(f.hub.start());
  const ProcessResult pull = f.lorafa({"models", "pull", "org/tiny", "--include", "*.safetensors"});
  ASSERT_EQ(pull.exitCode, 0) << pull.describe();
  EXPECT_NE(pull.out.find("note: connection to " + f.hub.endpoint() + "/org/tiny/resolve/"), std::string::npos) << pull.out;
  ASSERT_EQ(f.hub.rangesOf("/cdn/").size(), 1u);
  const fs::path snapshot = fs::path(pull.out.substr(pull.out.find("snapshot: ") + 10, pull.out.find('\n', pull.out.find("snapshot: ")) - pull.out.find("snapshot: ") - 10));
  EXPECT_EQ(readFile(snapshot / "model.safetensors"), readFile(f.files["model.safetensors"]));
}

TEST(ModelsCli, CtrlCStopsAndTheNextPullResumes) {
  FakeHubOptions options;
  options.rateBytesPerSecond = 20'000; // about 4 s for the weights
  CliFixture f(options);
  ASSERT_NO_FATAL_FAILURE(f.hub.start());
  std::vector<std::string> argv{LORAFA_CLI, "models", "pull", "org/tiny", "--include", "model.safetensors"};
  {
    ChildProcess child(argv, f.env(), f.dir.path);
    // Wait until part of the weights arrived, then Ctrl-C.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    bool partial = false;
    while (!partial && std::chrono::steady_clock::now() < deadline) {
      std::error_code ec;
      for (fs::recursive_directory_iterator it(f.cache(), ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().extension() == ".incomplete" && fs::file_size(it->path()) > 10'000) partial = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(partial) << "no partial download appeared";
    child.signal(SIGINT);
    const ProcessResult stopped = child.wait();
    EXPECT_EQ(stopped.exitCode, 3) << stopped.describe();
    EXPECT_NE(stopped.err.find("run the same command again to resume"), std::string::npos) << stopped.err;
  }
  for (fs::recursive_directory_iterator it(f.cache()), end; it != end; ++it) {
    if (it->is_regular_file()) {
      EXPECT_EQ(it->path().extension(), ".incomplete") << "a final file after Ctrl-C: " << it->path();
    }
  }
  const ProcessResult resumed = runProcess(argv, f.env(), f.dir.path);
  ASSERT_EQ(resumed.exitCode, 0) << resumed.describe();
  EXPECT_NE(resumed.out.find("note: resuming model.safetensors at byte "), std::string::npos) << resumed.out;
  const std::vector<std::string> ranges = f.hub.rangesOf("/cdn/");
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_NE(ranges[0], "bytes=0-");
}

TEST(ModelsCli, AddListRemoveFolders) {
  CliFixture f;
  const fs::path models = f.dir.path / "my-models";
  fs::create_directories(models / "gpt2");
  for (const char* file : {"config.json", "model.safetensors"}) {
    fs::copy_file(fs::path(LORAFA_FIXTURES_DIR) / "models/gpt2" / file, models / "gpt2" / file);
  }
  const ProcessResult added = f.lorafa({"models", "add", models.string()});
  ASSERT_EQ(added.exitCode, 0) << added.describe();
  EXPECT_TRUE(fs::exists(f.dir.path / "data/lorafa-studio/model-library.json"));
  const nlohmann::json list = nlohmann::json::parse(f.lorafa({"models", "list", "--json"}).out);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["source"], "folder");
  EXPECT_EQ(list[0]["family"], "gpt2");
  EXPECT_EQ(list[0]["path"], (models / "gpt2").string());
  const ProcessResult missing = f.lorafa({"models", "add", (f.dir.path / "nowhere").string()});
  EXPECT_EQ(missing.exitCode, 2);
  EXPECT_NE(missing.err.find("nowhere: not a folder"), std::string::npos) << missing.err;
  EXPECT_EQ(f.lorafa({"models", "remove", models.string()}).exitCode, 0);
  EXPECT_EQ(nlohmann::json::parse(f.lorafa({"models", "list", "--json"}).out).size(), 0u);
  const ProcessResult again = f.lorafa({"models", "remove", models.string()});
  EXPECT_EQ(again.exitCode, 2);
  EXPECT_NE(again.err.find("is not in the library"), std::string::npos) << again.err;
}
