// The model library without a network: settings from the environment as huggingface_hub reads
// them, a hub cache written in its layout, added folders, and the list of added folders on disk.
#include "FakeHub.h"

#include "lorafa/FormatError.h"
#include "lorafa/ModelInspector.h"
#include "lorafa/ModelLibrary.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace lorafa;
using lorafa::testing::TempDir;
using lorafa::testing::writeCachedSnapshot;
using lorafa::testing::writeFile;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = LORAFA_FIXTURES_DIR;
const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

EnvironmentLookup lookupIn(std::map<std::string, std::string> env) {
  return [env](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

const LibraryModel* findModel(const std::vector<LibraryModel>& models, const std::string& repoId) {
  const auto it = std::find_if(models.begin(), models.end(), [&](const LibraryModel& m) { return m.repoId == repoId; });
  return it == models.end() ? nullptr : &*it;
}

std::int64_t fileBytes(const fs::path& dir, const std::vector<std::string>& names) {
  std::int64_t total = 0;
  for (const std::string& name : names) total += static_cast<std::int64_t>(fs::file_size(dir / name));
  return total;
}

} // namespace

TEST(HubSettings, CacheFollowsHuggingFaceHubPrecedence) {
  EXPECT_EQ(hubSettingsFromEnvironment(lookupIn({{"HOME", "/home/u"}})).cacheDir, "/home/u/.cache/huggingface/hub");
  EXPECT_EQ(hubSettingsFromEnvironment(lookupIn({{"HOME", "/home/u"}, {"XDG_CACHE_HOME", "/xdg"}})).cacheDir,
            "/xdg/huggingface/hub");
  EXPECT_EQ(hubSettingsFromEnvironment(lookupIn({{"HOME", "/home/u"}, {"HF_HOME", "~/hf"}})).cacheDir, "/home/u/hf/hub");
  EXPECT_EQ(hubSettingsFromEnvironment(lookupIn({{"HF_HOME", "/hf"}, {"HF_HUB_CACHE", "/cache"}})).cacheDir, "/cache");
  EXPECT_EQ(hubSettingsFromEnvironment(lookupIn({{"HUGGINGFACE_HUB_CACHE", "/old"}})).cacheDir, "/old");
  const HubSettings endpoint = hubSettingsFromEnvironment(lookupIn({{"HF_ENDPOINT", "http://mirror:8080/"}}));
  EXPECT_EQ(endpoint.endpoint, "http://mirror:8080");
  EXPECT_EQ(hubSettingsFromEnvironment(lookupIn({})).endpoint, "https://huggingface.co");
}

TEST(HubSettings, TokenFromVariableElseTokenFile) {
  TempDir dir("hub-token");
  writeFile(dir.path / "hf/token", "hf_fromfile\n");
  const std::string hfHome = (dir.path / "hf").string();
  const HubSettings fromFile = hubSettingsFromEnvironment(lookupIn({{"HF_HOME", hfHome}}));
  EXPECT_EQ(fromFile.token, "hf_fromfile");
  EXPECT_EQ(fromFile.tokenSource, hfHome + "/token");
  const HubSettings fromVariable = hubSettingsFromEnvironment(lookupIn({{"HF_HOME", hfHome}, {"HF_TOKEN", " hf_env "}}));
  EXPECT_EQ(fromVariable.token, "hf_env");
  EXPECT_EQ(fromVariable.tokenSource, "HF_TOKEN");
  EXPECT_EQ(hubSettingsFromEnvironment(lookupIn({{"HF_HOME", (dir.path / "none").string()}})).token, "");
}

TEST(ModelLibrary, ListsCachedSnapshotsWithWhatTheHeadersSay) {
  TempDir dir("library-cache");
  const fs::path llama = kFixtures / "models/llama";
  const fs::path snapshot = writeCachedSnapshot(dir.path / "hub", "org/tiny-llama", kCommit, "main",
                                                {{"config.json", llama / "config.json"},
                                                 {"model.safetensors", llama / "model.safetensors"}});
  const std::vector<LibraryModel> models = scanModelLibrary((dir.path / "hub").string(), {});
  ASSERT_EQ(models.size(), 1u);
  const LibraryModel& m = models.front();
  EXPECT_EQ(m.source, LibraryModel::Source::HubCache);
  EXPECT_EQ(m.repoId, "org/tiny-llama");
  EXPECT_EQ(m.revision, "main");
  EXPECT_EQ(m.commit, kCommit);
  EXPECT_EQ(fs::path(m.path), snapshot);
  EXPECT_EQ(m.family, "llama");
  EXPECT_TRUE(m.supported) << m.unsupportedReason;
  // Independent: the engine's model built on the meta device from config.json counts its parameters.
  EXPECT_EQ(m.parameters, inspectModelDirectory(m.path).summary.totalParameters);
  EXPECT_EQ(m.dtype, "F32");
  EXPECT_EQ(m.sizeBytes, fileBytes(llama, {"config.json", "model.safetensors"}));
}

TEST(ModelLibrary, SaysWhyAModelIsNotSupported) {
  TempDir dir("library-unsupported");
  const fs::path llama = kFixtures / "models/llama";
  std::string config = lorafa::testing::readFile(llama / "config.json");
  config.replace(config.find("\"llama\""), 7, "\"mamba_x\"");
  writeFile(dir.path / "mamba/config.json", config);
  writeCachedSnapshot(dir.path / "hub", "org/mamba", kCommit, "", {{"config.json", dir.path / "mamba/config.json"},
                                                                   {"model.safetensors", llama / "model.safetensors"}});
  writeCachedSnapshot(dir.path / "hub", "org/no-weights", kCommit, "main", {{"config.json", llama / "config.json"}});
  const std::vector<LibraryModel> models = scanModelLibrary((dir.path / "hub").string(), {});
  const LibraryModel* mamba = findModel(models, "org/mamba");
  ASSERT_NE(mamba, nullptr);
  EXPECT_FALSE(mamba->supported);
  EXPECT_EQ(mamba->family, "mamba_x");
  EXPECT_EQ(mamba->revision, kCommit) << "no ref names the snapshot";
  EXPECT_NE(mamba->unsupportedReason.find("config.json: model_type \"mamba_x\" is not supported"), std::string::npos)
      << mamba->unsupportedReason;
  EXPECT_GT(mamba->parameters, 0);
  const LibraryModel* noWeights = findModel(models, "org/no-weights");
  ASSERT_NE(noWeights, nullptr);
  EXPECT_FALSE(noWeights->supported);
  EXPECT_NE(noWeights->unsupportedReason.find("no model.safetensors or model.safetensors.index.json"), std::string::npos)
      << noWeights->unsupportedReason;
}

TEST(ModelLibrary, AddedFoldersHoldAModelOrModels) {
  TempDir dir("library-folders");
  const fs::path models = dir.path / "models";
  for (const char* name : {"gpt2", "qwen2"}) {
    fs::create_directories(models / name);
    for (const char* file : {"config.json", "model.safetensors"}) {
      fs::copy_file(kFixtures / "models" / name / file, models / name / file);
    }
  }
  const std::vector<LibraryModel> list = scanModelLibrary(
      "", {models.string(), (kFixtures / "models/t5_v1_1").string(), (dir.path / "gone").string()});
  ASSERT_EQ(list.size(), 4u);
  const LibraryModel* gpt2 = findModel(list, "gpt2");
  ASSERT_NE(gpt2, nullptr);
  EXPECT_EQ(gpt2->source, LibraryModel::Source::Folder);
  EXPECT_EQ(gpt2->addedFolder, models.string());
  EXPECT_EQ(gpt2->family, "gpt2");
  EXPECT_TRUE(gpt2->supported) << gpt2->unsupportedReason;
  EXPECT_EQ(gpt2->parameters, inspectModelDirectory(gpt2->path).summary.totalParameters);
  ASSERT_NE(findModel(list, "qwen2"), nullptr);
  EXPECT_EQ(findModel(list, "t5_v1_1")->family, "t5");
  const LibraryModel* gone = findModel(list, "gone");
  ASSERT_NE(gone, nullptr);
  EXPECT_FALSE(gone->supported);
  EXPECT_NE(gone->unsupportedReason.find("gone: the folder no longer exists"), std::string::npos);
}

TEST(ModelLibraryFolders, AddRemoveSaveLoad) {
  TempDir dir("library-list");
  const std::string path = (dir.path / "data/lorafa-studio/model-library.json").string();
  ModelLibraryFolders folders = ModelLibraryFolders::load(path);
  EXPECT_TRUE(folders.folders().empty());
  fs::create_directories(dir.path / "a");
  EXPECT_TRUE(folders.add((dir.path / "a/").string()));
  EXPECT_FALSE(folders.add((dir.path / "a/../a").string())) << "the same folder, written differently";
  EXPECT_THROW(folders.add((dir.path / "missing").string()), std::invalid_argument);
  folders.save();
  const ModelLibraryFolders again = ModelLibraryFolders::load(path);
  ASSERT_EQ(again.folders(), std::vector<std::string>{(dir.path / "a").string()});
  ModelLibraryFolders removing = again;
  EXPECT_TRUE(removing.remove((dir.path / "a").string()));
  EXPECT_FALSE(removing.remove((dir.path / "a").string()));
  EXPECT_EQ(defaultModelLibraryPath("/xdg", "/home/u"), "/xdg/lorafa-studio/model-library.json");
  EXPECT_EQ(defaultModelLibraryPath(nullptr, "/home/u"), "/home/u/.local/share/lorafa-studio/model-library.json");
}

TEST(ModelLibraryFolders, BadFilesAreNamed) {
  TempDir dir("library-bad");
  writeFile(dir.path / "broken.json", "{\"version\": 1, \"folders\": [");
  try {
    ModelLibraryFolders::load((dir.path / "broken.json").string());
    FAIL() << "accepted broken JSON";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.json: invalid JSON"), std::string::npos) << e.what();
  }
  writeFile(dir.path / "newer.json", "{\"version\": 9, \"folders\": []}");
  EXPECT_THROW(ModelLibraryFolders::load((dir.path / "newer.json").string()), FormatError);
  writeFile(dir.path / "numbers.json", "{\"version\": 1, \"folders\": [3]}");
  EXPECT_THROW(ModelLibraryFolders::load((dir.path / "numbers.json").string()), FormatError);
}
