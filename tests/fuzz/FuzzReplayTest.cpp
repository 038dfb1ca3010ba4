// Every seed and every saved finding of the fuzz targets, replayed through the same entry
// functions in the normal build: a finding that comes back fails here, without clang or libFuzzer.
#include "FuzzTargets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

using Entry = int (*)(const std::uint8_t*, std::size_t);

struct Target {
  const char* name;
  Entry entry;
};

const Target kTargets[] = {
    {"safetensors", lorafa::fuzz::safetensors},       {"model_config", lorafa::fuzz::modelConfig},
    {"tokenizer", lorafa::fuzz::tokenizer},           {"dataset_json", lorafa::fuzz::datasetJson},
    {"dataset_csv", lorafa::fuzz::datasetCsv},        {"adapter_config", lorafa::fuzz::adapterConfig},
    {"run_config", lorafa::fuzz::runConfig},
};

std::vector<fs::path> inputs(const std::string& kind, const std::string& target) {
  std::vector<fs::path> files;
  const fs::path dir = fs::path(LORAFA_FUZZ_DIR) / kind / target;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string readAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void replay(const Target& target, const fs::path& file) {
  SCOPED_TRACE(file.string());
  const std::string bytes = readAll(file);
  // The entry catches the parser's typed errors; anything else escaping is the bug.
  EXPECT_NO_THROW(EXPECT_EQ(target.entry(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), 0));
}

class FuzzReplay : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzReplay, SeedCorpus) {
  const auto files = inputs("corpus", GetParam().name);
  ASSERT_FALSE(files.empty()) << "no seeds in tests/fuzz/corpus/" << GetParam().name;
  for (const fs::path& file : files) replay(GetParam(), file);
}

TEST_P(FuzzReplay, Regressions) {
  for (const fs::path& file : inputs("regressions", GetParam().name)) replay(GetParam(), file);
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplay, ::testing::ValuesIn(kTargets),
                         [](const ::testing::TestParamInfo<Target>& info) { return std::string(info.param.name); });

} // namespace
