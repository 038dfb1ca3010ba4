// One test per fuzzing finding, asserting the error a user now gets (the raw inputs are replayed
// from tests/fuzz/regressions by FuzzReplayTest), and the size bounds and tables the fuzz work
// relies on.
#include "export/PeftAdapterConfig.h"
#include "io/SafetensorsDtype.h"
#include "io/SafetensorsHeader.h"
#include "io/StrictJson.h"
#include "lorafa/DataError.h"
#include "lorafa/Dataset.h"
#include "lorafa/FormatError.h"
#include "lorafa/RunConfig.h"
#include "models/ModelConfig.h"
#include "tokenize/HfTokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

namespace {

// The message of the exception `run` throws as E, or a failure when it throws nothing.
template <typename E>
std::string errorOf(const std::function<void()>& run) {
  try {
    run();
  } catch (const E& error) {
    return error.what();
  }
  ADD_FAILURE() << "no exception";
  return {};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Finding 1: nlohmann's parser throws out_of_range (not parse_error) for a number beyond a double
// (1e400), which escaped every parser that caught parse_error only, and terminated the program.
TEST(FuzzFindings, NumberBeyondDoubleInStrictJsonIsAFormatError) {
  const std::string text = R"({"a": 1e400})";
  const std::string message = errorOf<lorafa::FormatError>(
      [&] { (void)lorafa::parseJsonStrictly(text.data(), text.data() + text.size(), "x.json", "header"); });
  EXPECT_TRUE(contains(message, "x.json: header cannot be read: number overflow parsing '1e400'")) << message;
}

TEST(FuzzFindings, NumberBeyondDoubleInConfigJsonIsAFormatError) {
  const std::string message = errorOf<lorafa::FormatError>(
      [] { (void)lorafa::ModelConfig::fromJson(R"({"model_type": "llama", "rope_theta": 1e400})", "config.json"); });
  EXPECT_TRUE(contains(message, "config.json: invalid JSON")) << message;
  EXPECT_TRUE(contains(message, "1e400")) << message;
}

TEST(FuzzFindings, NumberBeyondDoubleInTokenizerJsonIsAFormatError) {
  const std::string message = errorOf<lorafa::FormatError>(
      [] { (void)lorafa::HfTokenizer::fromJsonText(R"({"model": {"dropout": -1e999}})", "tokenizer.json"); });
  EXPECT_TRUE(contains(message, "tokenizer.json: invalid JSON")) << message;
}

// Finding 6 (the CI fuzz run of 99e26c7, tokenizer target, after 56,244 executions): a vocab id
// of 2666666666666 sized the id → token table from it, a 21 TB allocation. Ids are now bounded
// by the entry count (plus 2^20 of gaps) before anything is allocated.
TEST(FuzzFindings, VocabIdFarBeyondTheEntryCountIsAFormatError) {
  const std::string message = errorOf<lorafa::FormatError>([] {
    (void)lorafa::HfTokenizer::fromJsonText(
        R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2666666666666}, "merges": ["a b"]}})",
        "tokenizer.json");
  });
  EXPECT_TRUE(contains(message, "tokenizer.json")) << message;
  EXPECT_TRUE(contains(message, "the id of \"ab\" is 2666666666666")) << message;
  EXPECT_TRUE(contains(message, "ids must be below 1048579")) << message;
  // A vocabulary with a modest gap (ids 0, 1, 1000) still loads.
  EXPECT_NO_THROW((void)lorafa::HfTokenizer::fromJsonText(
      R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 1000}, "merges": ["a b"]}})", "tokenizer.json"));
}

TEST(FuzzFindings, NumberBeyondDoubleInSafetensorsHeaderIsAFormatError) {
  const std::string header = R"({"__metadata__": 1e400})";
  std::string file(8, '\0');
  file[0] = static_cast<char>(header.size());
  file += header;
  const std::string message = errorOf<lorafa::FormatError>([&] {
    (void)lorafa::parseSafetensorsHeader(reinterpret_cast<const unsigned char*>(file.data()), file.size(),
                                         "w.safetensors");
  });
  EXPECT_TRUE(contains(message, "w.safetensors: header cannot be read")) << message;
}

TEST(FuzzFindings, NumberBeyondDoubleInAJsonLinesRecordNamesTheLine) {
  const auto path = std::filesystem::temp_directory_path() / "lorafa-fuzz-finding.jsonl";
  {
    std::ofstream out(path);
    out << R"({"text": "ok", "label": 1})" << "\n" << R"({"text": "big", "label": 1e400})" << "\n";
  }
  lorafa::DatasetOptions options;
  options.format = lorafa::DatasetFormat::PlainText;
  const std::string message = errorOf<lorafa::DataError>([&] { (void)lorafa::loadDataset(path.string(), options); });
  std::filesystem::remove(path);
  EXPECT_TRUE(contains(message, "lorafa-fuzz-finding.jsonl:2:1: invalid JSON: number overflow")) << message;
}

// Finding 2: a YAML run config may hold any bytes in a string; one that was not UTF-8 parsed, and
// writing the config as JSON (the run store keeps it so) then threw nlohmann's type_error.316.
TEST(FuzzFindings, RunConfigThatIsNotUtf8IsRefusedNamingTheLine) {
  const std::string text = "name: demo\noutput_dir: runs/\x8F\xCD\n";
  const std::string message = errorOf<lorafa::ConfigError>([&] { (void)lorafa::parseRunConfig(text, "run.yaml"); });
  EXPECT_TRUE(contains(message, "run.yaml:2: invalid UTF-8 at byte 28")) << message;
}

// Bounds: PEFT's r is bounded before anything is sized by it.
TEST(FuzzFindings, AdapterRankAboveTheLimitIsRefused) {
  const std::string message = errorOf<lorafa::FormatError>([] {
    (void)lorafa::parsePeftAdapterConfig(R"({"peft_type": "LORA", "r": 4294967297, "target_modules": ["q"]})",
                                         "adapter_config.json");
  });
  EXPECT_TRUE(contains(message, "\"r\" is 4294967297, more than the largest rank accepted (65536)")) << message;
  EXPECT_EQ(lorafa::parsePeftAdapterConfig(R"({"peft_type": "LORA", "r": 65536})", "a.json").summary.rank, 65536);
}

TEST(FuzzFindings, SafetensorsHeaderLengthIsBoundedBeforeAnythingIsRead) {
  std::string file(8, '\xFF'); // 2^64 - 1
  file += "{}";
  const std::string message = errorOf<lorafa::FormatError>([&] {
    (void)lorafa::parseSafetensorsHeader(reinterpret_cast<const unsigned char*>(file.data()), file.size(),
                                         "w.safetensors");
  });
  EXPECT_TRUE(contains(message, "exceeds the limit of 100000000 bytes")) << message;
}

// The LibTorch-free header parser and the LibTorch dtype table must agree on the format's dtypes.
TEST(FuzzFindings, HeaderDtypeWidthsMatchTheLibTorchTable) {
  std::stringstream names(lorafa::knownSafetensorsDtypes());
  std::string name;
  int count = 0;
  while (std::getline(names, name, ',')) {
    if (!name.empty() && name[0] == ' ') name.erase(0, 1);
    const lorafa::SafetensorsDtype* dtype = lorafa::findSafetensorsDtype(name);
    ASSERT_NE(dtype, nullptr) << name;
    EXPECT_EQ(lorafa::safetensorsDtypeBits(name), dtype->bits) << name;
    ++count;
  }
  EXPECT_GE(count, 20);
  EXPECT_EQ(lorafa::safetensorsDtypeBits("F33"), 0);
}

} // namespace

namespace {

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// Finding 3: a file nesting arrays 200,000 deep overflowed the stack when the value was quoted
// in an error message (safetensors header, adapter_config.json) or copied (a dataset record).
TEST(FuzzFindings, DeepNestingInSafetensorsHeaderIsAFormatError) {
  const std::string header = R"({"a":{"dtype":"F32","shape":[],"data_offsets":)" + nested(200000) + "}}";
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  file += header;
  const std::string message = errorOf<lorafa::FormatError>([&] {
    (void)lorafa::parseSafetensorsHeader(reinterpret_cast<const unsigned char*>(file.data()), file.size(),
                                         "w.safetensors");
  });
  EXPECT_TRUE(contains(message, "header nests arrays and objects deeper than 128 levels (at byte 180 of the file)"))
      << message;
}

TEST(FuzzFindings, DeepNestingInAdapterConfigIsAFormatError) {
  const std::string message = errorOf<lorafa::FormatError>(
      [] { (void)lorafa::parsePeftAdapterConfig(R"({"peft_type": )" + nested(200000) + "}", "adapter_config.json"); });
  EXPECT_TRUE(contains(message, "adapter_config.json: adapter config nests arrays and objects deeper than 128"))
      << message;
}

TEST(FuzzFindings, DeepNestingInConfigAndTokenizerJsonIsAFormatError) {
  EXPECT_TRUE(contains(errorOf<lorafa::FormatError>([] {
                         (void)lorafa::ModelConfig::fromJson(R"({"hidden_size": )" + nested(200000) + "}", "config.json");
                       }),
                       "config.json: arrays and objects nest deeper than 128 levels (at byte 143)"));
  EXPECT_TRUE(contains(errorOf<lorafa::FormatError>([] {
                         (void)lorafa::HfTokenizer::fromJsonText(R"({"model": )" + nested(200000) + "}", "tokenizer.json");
                       }),
                       "tokenizer.json: arrays and objects nest deeper than 128 levels"));
}

TEST(FuzzFindings, DeepNestingInADatasetRecordNamesTheLine) {
  const auto path = std::filesystem::temp_directory_path() / "lorafa-fuzz-deep.jsonl";
  {
    std::ofstream out(path);
    out << R"({"text": "a", "label": "x"})" << "\n" << R"({"text": )" << nested(200000) << R"(, "label": "y"})" << "\n";
  }
  lorafa::DatasetOptions options;
  options.onError = lorafa::OnError::Skip;
  options.format = lorafa::DatasetFormat::PlainText;
  const lorafa::Dataset dataset = lorafa::loadDataset(path.string(), options);
  std::filesystem::remove(path);
  EXPECT_EQ(dataset.examples.size(), 1u);
  ASSERT_EQ(dataset.skipped.count, 1u);
  EXPECT_TRUE(contains(dataset.skipped.firstErrors.at(0), "lorafa-fuzz-deep.jsonl:2:137: arrays and objects nest deeper than 128 levels"))
      << dataset.skipped.firstErrors.at(0);
}

} // namespace
