// Hugging Face checkpoint directories: a single model.safetensors, or an index and its shards
// (the index JSON is written here by hand), and each way such a directory can be inconsistent.
#include "io/CheckpointReader.h"
#include "io/SafetensorsWriter.h"

#include "IoTestSupport.h"
#include "lorafa/FormatError.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/full.h>
#include <ATen/ops/zeros.h>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

using namespace lorafa;
using lorafa::test::writeBytes;

namespace {

class CheckpointReaderTest : public ::testing::Test {
protected:
  // Two shards: model-00001-of-00002 holds "model.embed.weight" and "model.layers.0.w",
  // model-00002-of-00002 holds "lm_head.weight".
  void writeTwoShards() {
    writeSafetensors(
        dir.file(kShard1),
        {{"model.layers.0.w", at::full({2, 2}, 3.0)},
         {"model.embed.weight", at::arange(6, at::TensorOptions().dtype(at::kFloat)).reshape({3, 2})}},
        {{"format", "pt"}});
    writeSafetensors(dir.file(kShard2), {{"lm_head.weight", at::full({3, 2}, -1.0).to(at::kBFloat16)}},
                     {{"format", "pt"}});
  }

  nlohmann::json twoShardIndex() const {
    return {{"metadata", {{"total_size", 6 * 4 + 4 * 4 + 6 * 2}}},
            {"weight_map",
             {{"lm_head.weight", kShard2}, {"model.embed.weight", kShard1}, {"model.layers.0.w", kShard1}}}};
  }

  void writeIndexText(const std::string& text) { writeBytes(dir.file("model.safetensors.index.json"), text); }
  void writeIndex(const nlohmann::json& index) { writeIndexText(index.dump(2)); }

  // Expects openDirectory() to throw a FormatError for `path` whose message contains `problem`.
  void expectRefused(const std::string& path, const std::string& problem) {
    try {
      CheckpointReader::openDirectory(dir.path().string());
      ADD_FAILURE() << "opened although: " << problem;
    } catch (const FormatError& e) {
      EXPECT_EQ(e.path(), path) << e.what();
      EXPECT_NE(std::string(e.what()).find(problem), std::string::npos) << e.what();
    }
  }

  std::string indexPath() const { return dir.file("model.safetensors.index.json"); }

  static constexpr const char* kShard1 = "model-00001-of-00002.safetensors";
  static constexpr const char* kShard2 = "model-00002-of-00002.safetensors";
  lorafa::test::TemporaryDirectory dir;
};

} // namespace

TEST_F(CheckpointReaderTest, SingleFile) {
  writeSafetensors(
      dir.file("model.safetensors"),
      {{"z.weight", at::full({2}, 5.0)}, {"a.bias", at::zeros({3}, at::TensorOptions().dtype(at::kHalf))}});
  const CheckpointReader reader = CheckpointReader::openDirectory(dir.path().string());
  EXPECT_EQ(reader.directory(), dir.path().string());
  EXPECT_EQ(reader.names(), (std::vector<std::string>{"a.bias", "z.weight"}));
  EXPECT_TRUE(reader.contains("z.weight"));
  EXPECT_FALSE(reader.contains("weight"));
  EXPECT_EQ(reader.shape("a.bias"), (std::vector<std::int64_t>{3}));
  EXPECT_EQ(reader.dtype("a.bias"), "F16");
  EXPECT_EQ(reader.load("z.weight")[1].item<float>(), 5.0f);
  EXPECT_EQ(reader.files(), std::vector<std::string>{dir.file("model.safetensors")});
}

TEST_F(CheckpointReaderTest, TwoShardsWithAnIndex) {
  writeTwoShards();
  writeIndex(twoShardIndex());
  const CheckpointReader reader = CheckpointReader::openDirectory(dir.path().string());
  EXPECT_EQ(reader.names(),
            (std::vector<std::string>{"lm_head.weight", "model.embed.weight", "model.layers.0.w"}));
  EXPECT_EQ(reader.dtype("lm_head.weight"), "BF16");
  EXPECT_EQ(reader.shape("model.embed.weight"), (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(reader.load("lm_head.weight")[2][1].item<float>(), -1.0f);
  EXPECT_EQ(reader.load("model.embed.weight")[2][1].item<float>(), 5.0f);
  EXPECT_EQ(reader.load("model.layers.0.w")[0][0].item<float>(), 3.0f);
  EXPECT_EQ(reader.files(), (std::vector<std::string>{dir.file(kShard1), dir.file(kShard2)}));
}

TEST_F(CheckpointReaderTest, UnknownTensorNamesTheDirectory) {
  writeTwoShards();
  writeIndex(twoShardIndex());
  const CheckpointReader reader = CheckpointReader::openDirectory(dir.path().string());
  try {
    reader.load("model.missing");
    ADD_FAILURE() << "loaded a tensor that does not exist";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.path(), dir.path().string());
    EXPECT_EQ(e.problem(), "no tensor named \"model.missing\" in the checkpoint");
  }
  EXPECT_THROW(reader.shape("model.missing"), FormatError);
  EXPECT_THROW(reader.dtype("model.missing"), FormatError);
}

TEST_F(CheckpointReaderTest, MissingShard) {
  writeTwoShards();
  std::filesystem::remove(dir.file(kShard2));
  writeIndex(twoShardIndex());
  expectRefused(indexPath(),
                "shard \"model-00002-of-00002.safetensors\" (listed for tensor \"lm_head.weight\") "
                "is missing from " +
                    dir.path().string());
}

TEST_F(CheckpointReaderTest, TensorListedInTheIndexButNotInItsShard) {
  writeTwoShards();
  nlohmann::json index = twoShardIndex();
  index["weight_map"]["model.norm.weight"] = kShard2;
  writeIndex(index);
  expectRefused(indexPath(),
                "tensor \"model.norm.weight\" is listed in shard \"model-00002-of-00002.safetensors\", "
                "but that file has no such tensor");
}

TEST_F(CheckpointReaderTest, TensorInAShardButNotInTheIndex) {
  writeTwoShards();
  nlohmann::json index = twoShardIndex();
  index["weight_map"].erase("model.layers.0.w");
  writeIndex(index);
  expectRefused(indexPath(), "shard \"model-00001-of-00002.safetensors\" holds tensor \"model.layers.0.w\", "
                             "which the index does not list");
}

TEST_F(CheckpointReaderTest, TensorInTwoShards) {
  writeTwoShards();
  writeSafetensors(dir.file(kShard2),
                   {{"lm_head.weight", at::zeros({1})}, {"model.layers.0.w", at::zeros({1})}});
  writeIndex(twoShardIndex());
  expectRefused(indexPath(),
                "tensor \"model.layers.0.w\" appears in both shard \"model-00001-of-00002.safetensors\" "
                "and shard \"model-00002-of-00002.safetensors\"");
}

TEST_F(CheckpointReaderTest, TensorTwiceInTheWeightMap) {
  writeTwoShards();
  writeIndexText("{\"metadata\": {}, \"weight_map\": {\"lm_head.weight\": \"" + std::string(kShard2) +
                 "\", \"model.embed.weight\": \"" + kShard1 + "\", \"model.layers.0.w\": \"" + kShard1 +
                 "\", \"lm_head.weight\": \"" + kShard1 + "\"}}");
  expectRefused(indexPath(), "the key \"lm_head.weight\" twice in the object of \"weight_map\"");
}

TEST_F(CheckpointReaderTest, MalformedIndex) {
  writeTwoShards();
  writeIndexText("{\"weight_map\": ");
  expectRefused(indexPath(), "index is not valid JSON");
  writeIndexText("[]");
  expectRefused(indexPath(), "index is a JSON array, expected an object");
  writeIndexText("{\"metadata\": {}}");
  expectRefused(indexPath(), "index has no \"weight_map\"");
  writeIndexText("{\"weight_map\": []}");
  expectRefused(indexPath(), "\"weight_map\" must be an object");
  writeIndexText("{\"weight_map\": {}}");
  expectRefused(indexPath(), "\"weight_map\" is empty");
  writeIndexText("{\"weight_map\": {\"lm_head.weight\": 2}}");
  expectRefused(indexPath(), "\"weight_map\" entry of \"lm_head.weight\" must be a file name, found integer");
  writeIndexText("{\"metadata\": 3, \"weight_map\": {\"lm_head.weight\": \"x\"}}");
  expectRefused(indexPath(), "\"metadata\" must be an object");
}

TEST_F(CheckpointReaderTest, ShardOutsideTheDirectoryIsRefused) {
  writeTwoShards();
  writeIndex(nlohmann::json{{"weight_map", {{"lm_head.weight", "../model-00002-of-00002.safetensors"}}}});
  expectRefused(indexPath(), "is not a file name inside the checkpoint directory");
  writeIndex(nlohmann::json{{"weight_map", {{"lm_head.weight", dir.file(kShard2)}}}});
  expectRefused(indexPath(), "is not a file name inside the checkpoint directory");
}

TEST_F(CheckpointReaderTest, CorruptShardNamesTheShard) {
  writeTwoShards();
  writeBytes(dir.file(kShard2), "not a safetensors file");
  writeIndex(twoShardIndex());
  expectRefused(dir.file(kShard2), "exceeds");
}

TEST_F(CheckpointReaderTest, NoWeightsInTheDirectory) {
  writeBytes(dir.file("config.json"), "{}");
  expectRefused(dir.path().string(),
                "no weights found: looked for model.safetensors and model.safetensors.index.json");
}

TEST_F(CheckpointReaderTest, PickledWeightsAreNotLoaded) {
  writeBytes(dir.file("pytorch_model.bin"), "PK\x03\x04 pickle");
  try {
    CheckpointReader::openDirectory(dir.path().string());
    ADD_FAILURE() << "a directory with only pytorch_model.bin was opened";
  } catch (const FormatError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(dir.path().string()), std::string::npos) << what;
    EXPECT_NE(what.find("model.safetensors"), std::string::npos) << what;
    EXPECT_NE(what.find("found pytorch_model.bin, which is not loaded"), std::string::npos) << what;
    EXPECT_NE(what.find("pickled .bin/.pt weights can run arbitrary code"), std::string::npos) << what;
  }
}

TEST_F(CheckpointReaderTest, NotADirectory) {
  const std::string missing = dir.file("nowhere");
  EXPECT_THROW(CheckpointReader::openDirectory(missing), FormatError);
  try {
    CheckpointReader::openDirectory(missing);
  } catch (const FormatError& e) {
    EXPECT_EQ(e.path(), missing);
    EXPECT_EQ(e.problem(), "no such directory");
  }
  writeBytes(dir.file("file"), "x");
  try {
    CheckpointReader::openDirectory(dir.file("file"));
    ADD_FAILURE() << "a plain file was opened as a directory";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.problem(), "not a directory");
  }
}

TEST_F(CheckpointReaderTest, SingleFileTakesPrecedenceOverAnIndex) {
  writeSafetensors(dir.file("model.safetensors"), {{"only", at::zeros({1})}});
  writeIndexText("not even JSON"); // ignored, as transformers ignores it when model.safetensors exists
  EXPECT_EQ(CheckpointReader::openDirectory(dir.path().string()).names(), std::vector<std::string>{"only"});
}
