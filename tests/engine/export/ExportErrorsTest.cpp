// Bad inputs give clear errors naming the file and key, and leave nothing half-written.
#include "ExportFixtures.h"

#include "export/PeftAdapter.h"
#include "io/SafetensorsFile.h"
#include "io/SafetensorsWriter.h"
#include "lorafa/AdapterImport.h"
#include "lorafa/Export.h"
#include "lorafa/FormatError.h"
#include "lorafa/TrainingSession.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <utility>

namespace fs = std::filesystem;

namespace lorafa {
namespace {

using test::TempDir;

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// One trained LoRA-FA run on the fixture Llama (q_proj, v_proj) and its exported adapter.
class ExportErrors : public ::testing::Test {
protected:
  void SetUp() override {
    m_config = test::fixtureRunConfig(test::fixtureModel("llama"), m_tmp / "run", "q_proj,v_proj");
    test::trainAndCheckpoint(m_config, ModelConfig::fromFile(m_config.modelPath + "/config.json"),
                             test::fixtureInputs("llama"), 1);
  }
  std::string exportAdapter(const std::string& name) {
    ExportOptions options;
    options.targetDir = m_tmp / name;
    options.verify = false;
    return exportRun(m_config, options).directory;
  }
  // The adapter's tensors with `edit` applied, written back in place.
  void rewriteTensors(const std::string& dir,
                      const std::function<void(std::vector<std::pair<std::string, at::Tensor>>&)>& edit) {
    const std::string path = dir + "/adapter_model.safetensors";
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    {
      const auto file = SafetensorsFile::open(path);
      for (const auto& info : file->tensors())
        tensors.emplace_back(info.name, file->load(info.name));
    }
    edit(tensors);
    writeSafetensors(path, tensors);
  }
  void rewriteConfig(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
    const std::string path = dir + "/adapter_config.json";
    std::ifstream in(path);
    nlohmann::json c = nlohmann::json::parse(in);
    edit(c);
    writeFile(path, c.dump(2));
  }
  // The message of the FormatError importing `dir` onto a fresh base throws.
  std::string importError(const std::string& dir) {
    auto base = loadModel(m_config.modelPath, at::TensorOptions().dtype(at::kFloat));
    try {
      applyPeftAdapter(*base, loadPeftAdapter(dir));
    } catch (const FormatError& e) {
      return e.what();
    }
    ADD_FAILURE() << "importing " << dir << " did not fail";
    return {};
  }

  TempDir m_tmp{"lorafa-export-errors"};
  RunConfig m_config;
};

TEST_F(ExportErrors, MissingKeyIsNamedWithItsFile) {
  const std::string dir = exportAdapter("adapter");
  rewriteTensors(dir, [](auto& t) {
    t.erase(std::remove_if(t.begin(), t.end(),
                           [](const auto& p) {
                             return p.first ==
                                    "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight";
                           }),
            t.end());
  });
  const std::string message = importError(dir);
  EXPECT_NE(message.find("adapter_model.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("missing key \"base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight\""),
            std::string::npos)
      << message;
}

TEST_F(ExportErrors, WrongShapeIsNamedWithTheExpectedShape) {
  const std::string dir = exportAdapter("adapter");
  rewriteTensors(dir, [](auto& t) {
    for (auto& [name, value] : t) {
      if (name == "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
        value = at::zeros({4, 31});
    }
  });
  const std::string message = importError(dir);
  EXPECT_NE(
      message.find("\"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight\" has shape [4, 31]"),
      std::string::npos)
      << message;
  EXPECT_NE(message.find("expected [4, 32]"), std::string::npos) << message;
}

TEST_F(ExportErrors, RankMismatchWithTheConfigIsAnError) {
  const std::string dir = exportAdapter("adapter");
  rewriteConfig(dir, [](nlohmann::json& c) { c["r"] = 8; });
  const std::string message = importError(dir);
  EXPECT_NE(message.find("adapter_model.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("rank 4, but adapter_config.json gives r = 8"), std::string::npos) << message;
}

TEST_F(ExportErrors, UnknownTargetModuleIsAnError) {
  const std::string dir = exportAdapter("adapter");
  rewriteTensors(dir, [](auto& t) {
    for (auto& [name, value] : t) {
      const std::string from = "layers.1.self_attn.q_proj";
      const std::size_t at = name.find(from);
      if (at != std::string::npos) name.replace(at, from.size(), "layers.7.self_attn.q_proj");
    }
  });
  const std::string message = importError(dir);
  EXPECT_NE(message.find("model.layers.7.self_attn.q_proj"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown target"), std::string::npos) << message;

  const std::string dir2 = exportAdapter("adapter2");
  rewriteConfig(dir2, [](nlohmann::json& c) { c["target_modules"] = {"q_proj", "v_proj", "qkv_proj"}; });
  const std::string message2 = importError(dir2);
  EXPECT_NE(message2.find("adapter_config.json"), std::string::npos) << message2;
  EXPECT_NE(message2.find("\"qkv_proj\""), std::string::npos) << message2;
}

TEST_F(ExportErrors, UnsupportedOrForeignAdaptersAreRefusedByName) {
  const std::string dir = exportAdapter("adapter");
  rewriteConfig(dir, [](nlohmann::json& c) { c["bias"] = "all"; });
  EXPECT_THROW(loadPeftAdapter(dir), FormatError);
  rewriteConfig(dir, [](nlohmann::json& c) {
    c["bias"] = "none";
    c["peft_type"] = "IA3";
  });
  try {
    loadPeftAdapter(dir);
    ADD_FAILURE();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("adapter_config.json: \"peft_type\""), std::string::npos)
        << e.what();
  }
  fs::remove(dir + "/adapter_config.json");
  EXPECT_THROW(loadPeftAdapter(dir), FormatError);
  const std::string dir2 = exportAdapter("adapter2");
  fs::rename(dir2 + "/adapter_model.safetensors", dir2 + "/adapter_model.bin");
  try {
    loadPeftAdapter(dir2);
    ADD_FAILURE();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("pickled"), std::string::npos) << e.what();
  }
}

TEST_F(ExportErrors, NonEmptyTargetNeedsForceAndForceReplacesIt) {
  const fs::path target = m_tmp / "out";
  fs::create_directories(target);
  writeFile((target / "keep.txt").string(), "mine");
  ExportOptions options;
  options.targetDir = target.string();
  EXPECT_THROW(exportRun(m_config, options), ExportError);
  EXPECT_EQ(entries(target), std::vector<std::string>{"keep.txt"});
  // Nothing left beside it either (no staging folder).
  EXPECT_EQ(entries(m_tmp.path()), (std::vector<std::string>{"out", "run"}));

  options.force = true;
  const ExportResult result = exportRun(m_config, options);
  EXPECT_EQ(entries(target),
            (std::vector<std::string>{"README.md", "adapter_config.json", "adapter_model.safetensors"}));
  EXPECT_EQ(result.files, entries(target));
  EXPECT_EQ(entries(m_tmp.path()), (std::vector<std::string>{"out", "run"}));
  EXPECT_FALSE(needsForce(m_tmp / "nothing-here"));
  EXPECT_TRUE(needsForce(target.string()));

  // Force never empties a folder with subfolders (a home or project folder, not an export).
  fs::create_directories(target / "sub");
  EXPECT_THROW(exportRun(m_config, options), ExportError);
  EXPECT_TRUE(fs::exists(target / "sub"));
  EXPECT_TRUE(fs::exists(target / "adapter_config.json"));
}

TEST_F(ExportErrors, UnwritableTargetAndTheRunsOwnFoldersAreRefused) {
  writeFile(m_tmp / "a-file", "x");
  ExportOptions options;
  options.targetDir = m_tmp / "a-file/adapter"; // the parent is a file: nothing can be created there
  try {
    exportRun(m_config, options);
    ADD_FAILURE();
  } catch (const ExportError& e) {
    EXPECT_NE(std::string(e.what()).find("a-file"), std::string::npos) << e.what();
  }
  EXPECT_EQ(entries(m_tmp.path()), (std::vector<std::string>{"a-file", "run"}));
  // The target itself a file: not "not empty, use --force" (force cannot help), with or without force.
  options.targetDir = m_tmp / "a-file";
  for (const bool force : {false, true}) {
    options.force = force;
    try {
      exportRun(m_config, options);
      ADD_FAILURE() << "a file was accepted as the target";
    } catch (const ExportError& e) {
      EXPECT_NE(std::string(e.what()).find("is not a folder"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(entries(m_tmp.path()), (std::vector<std::string>{"a-file", "run"}));

  options.force = true;
  for (const std::string& guarded : {m_config.modelPath, (m_tmp / "run/checkpoints"), (m_tmp / "run")}) {
    options.targetDir = guarded;
    EXPECT_THROW(exportRun(m_config, options), ExportError) << guarded;
  }
  EXPECT_TRUE(fs::exists(m_config.modelPath + "/model.safetensors"));
  EXPECT_TRUE(latestCheckpointIn(m_config.outputDir).has_value());
  // Inside the run's output folder (beside checkpoints/) is fine.
  options.targetDir = m_tmp / "run/export";
  options.force = false;
  EXPECT_NO_THROW(exportRun(m_config, options));
}

// Calls `atVerify` once, when the export is in place and about to be re-loaded.
class BeforeVerification : public ExportObserver {
public:
  explicit BeforeVerification(std::function<void()> atVerify) : m_atVerify(std::move(atVerify)) {}
  void onProgress(const std::string& message, double) override {
    if (message.rfind("verifying", 0) == 0 && m_atVerify) std::exchange(m_atVerify, nullptr)();
  }

private:
  std::function<void()> m_atVerify;
};

// The files on disk are what is verified: an export whose weights turn to NaN, or that can no
// longer be read, between writing and re-loading fails its verification. It is reported as
// written (the folder is in place) and not to be trusted, never as "reproduces the model".
TEST_F(ExportErrors, AnExportBrokenBeforeItsReloadFailsVerification) {
  const std::string nanDir = m_tmp / "nan";
  BeforeVerification poison([&] {
    rewriteTensors(nanDir, [](std::vector<std::pair<std::string, at::Tensor>>& tensors) {
      for (auto& [name, value] : tensors) {
        if (name.find("lora_B") != std::string::npos) value = value.clone().fill_(std::nan(""));
      }
    });
  });
  ExportOptions options;
  options.targetDir = nanDir;
  const ExportResult nan = exportRun(m_config, options, &poison);
  EXPECT_TRUE(nan.verification.done);
  EXPECT_FALSE(nan.verification.withinTolerance) << nan.verification.note;
  EXPECT_FALSE(nan.verification.lowPrecisionRounding);
  EXPECT_TRUE(std::isnan(nan.verification.maxAbsLogitDiff)) << nan.verification.maxAbsLogitDiff;
  EXPECT_NE(nan.verification.note.find("NaN"), std::string::npos) << nan.verification.note;

  const std::string cutDir = m_tmp / "cut";
  BeforeVerification cut([&] { fs::resize_file(cutDir + "/adapter_model.safetensors", 16); });
  options.targetDir = cutDir;
  ExportResult truncated;
  ASSERT_NO_THROW(truncated = exportRun(m_config, options, &cut));
  EXPECT_EQ(truncated.files,
            (std::vector<std::string>{"README.md", "adapter_config.json", "adapter_model.safetensors"}));
  EXPECT_TRUE(truncated.verification.done);
  EXPECT_FALSE(truncated.verification.withinTolerance);
  EXPECT_NE(truncated.verification.note.find("was written, but re-loading"), std::string::npos)
      << truncated.verification.note;
  EXPECT_NE(truncated.verification.note.find("adapter_model.safetensors"), std::string::npos)
      << truncated.verification.note;
}

TEST(ExportErrorsNoCheckpoint, ARunWithoutCheckpointIsAnError) {
  TempDir tmp("lorafa-export-nockpt");
  const RunConfig config = test::fixtureRunConfig(test::fixtureModel("llama"), tmp / "run", "q_proj");
  ExportOptions options;
  options.targetDir = tmp / "adapter";
  try {
    exportRun(config, options);
    ADD_FAILURE();
  } catch (const ExportError& e) {
    EXPECT_NE(std::string(e.what()).find("no checkpoint"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp / "adapter"));
}

} // namespace
} // namespace lorafa
