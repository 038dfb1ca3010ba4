// Checkpoints on disk: save, load, and the errors a user meets when files and config disagree.
#include "io/SafetensorsFile.h"
#include "io/SafetensorsWriter.h"
#include "adapters/AdapterInjector.h"
#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/FormatError.h"
#include "lorafa/ModelInspector.h"
#include "models/ModelFactory.h"

#include "TensorAssertions.h"
#include "TinyModels.h"

#include <torch/version.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace lorafa;
using lorafa::test::allClose;

namespace {

class ModelLoading : public ::testing::Test {
protected:
  void SetUp() override {
    m_dir = std::filesystem::temp_directory_path() /
            ("lorafa-models-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(m_dir);
    std::filesystem::create_directories(m_dir);
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }
  std::string dir() const { return m_dir.string(); }

  // Rewrites model.safetensors with `edit` applied to the tensor list.
  void rewriteWeights(const std::function<void(std::vector<std::pair<std::string, at::Tensor>>&)>& edit) {
    const std::string path = dir() + "/model.safetensors";
    const auto file = SafetensorsFile::open(path);
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& info : file->tensors()) tensors.emplace_back(info.name, file->load(info.name));
    edit(tensors);
    writeSafetensors(path, tensors, {{"format", "pt"}});
  }

private:
  std::filesystem::path m_dir;
};

at::Tensor logitsOf(LanguageModel& model, const at::Tensor& ids) {
  torch::NoGradGuard noGrad;
  ModelInputs inputs;
  inputs.inputIds = ids;
  return model.forward(inputs);
}

} // namespace

TEST_F(ModelLoading, SaveThenLoadGivesTheSameModel) {
  for (const char* type : {"llama", "qwen2", "gpt2"}) {
    SCOPED_TRACE(type);
    auto model = test::tinyModel(type, 3);
    saveModelCheckpoint(*model, dir());
    LoadReport report;
    auto loaded = loadModel(dir(), torch::dtype(torch::kFloat), &report);
    EXPECT_TRUE(report.unusedTensors.empty());
    const at::Tensor ids = torch::randint(0, 61, {2, 9});
    EXPECT_TRUE(allClose(logitsOf(*loaded, ids), logitsOf(*model, ids), 0, 0)) << "not bit-identical";
  }
}

TEST_F(ModelLoading, HuggingFaceNamesAndLayoutsOnDisk) {
  saveModelCheckpoint(*test::tinyModel("gpt2"), dir());
  const auto file = SafetensorsFile::open(dir() + "/model.safetensors");
  EXPECT_EQ(file->info("transformer.h.0.attn.c_attn.weight").shape, (std::vector<std::int64_t>{32, 96})); // Conv1D [in, out]
  EXPECT_EQ(file->info("transformer.h.1.mlp.c_fc.weight").shape, (std::vector<std::int64_t>{32, 128}));
  EXPECT_TRUE(file->contains("transformer.wpe.weight"));
  EXPECT_FALSE(file->contains("lm_head.weight")) << "tied head must not be stored";
  EXPECT_EQ(file->metadata().at("format"), "pt");

  std::filesystem::remove_all(dir());
  saveModelCheckpoint(*test::tinyModel("qwen2"), dir());
  const auto qwen = SafetensorsFile::open(dir() + "/model.safetensors");
  EXPECT_EQ(qwen->info("model.layers.1.self_attn.k_proj.weight").shape, (std::vector<std::int64_t>{16, 32})); // GQA
  EXPECT_TRUE(qwen->contains("model.layers.0.self_attn.q_proj.bias"));
  EXPECT_FALSE(qwen->contains("model.layers.0.self_attn.o_proj.bias"));
  EXPECT_TRUE(qwen->contains("lm_head.weight"));
  EXPECT_TRUE(qwen->contains("model.norm.weight"));
}

TEST_F(ModelLoading, ShapeDisagreementNamesTheTensorAndBothShapes) {
  saveModelCheckpoint(*test::tinyModel("llama"), dir());
  rewriteWeights([](auto& tensors) {
    for (auto& [name, t] : tensors) {
      if (name == "model.layers.1.mlp.up_proj.weight") t = torch::zeros({40, 32});
    }
  });
  try {
    loadModel(dir(), torch::dtype(torch::kFloat));
    FAIL() << "loaded a checkpoint that disagrees with its config";
  } catch (const FormatError& error) {
    const std::string text = error.what();
    EXPECT_NE(text.find("model.layers.1.mlp.up_proj.weight"), std::string::npos) << text;
    EXPECT_NE(text.find("[40, 32]"), std::string::npos) << text;
    EXPECT_NE(text.find("[48, 32]"), std::string::npos) << text;
  }
}

TEST_F(ModelLoading, MissingTensorIsNamed) {
  saveModelCheckpoint(*test::tinyModel("llama"), dir());
  rewriteWeights([](auto& tensors) {
    tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                                 [](const auto& t) { return t.first == "model.layers.0.self_attn.v_proj.weight"; }),
                  tensors.end());
  });
  try {
    loadModel(dir(), torch::dtype(torch::kFloat));
    FAIL() << "loaded a checkpoint with a missing tensor";
  } catch (const FormatError& error) {
    EXPECT_NE(std::string(error.what()).find("lacks tensors the config needs: model.layers.0.self_attn.v_proj.weight"),
              std::string::npos)
        << error.what();
  }
}

TEST_F(ModelLoading, Gpt2WithoutTransformerPrefixAndWithBuffersLoads) {
  auto model = test::tinyModel("gpt2", 9);
  saveModelCheckpoint(*model, dir());
  rewriteWeights([](auto& tensors) {
    for (auto& [name, t] : tensors) {
      if (name.rfind("transformer.", 0) == 0) name = name.substr(12);
    }
    tensors.emplace_back("h.0.attn.bias", torch::ones({1, 1, 64, 64}).tril());
  });
  LoadReport report;
  auto loaded = loadModel(dir(), torch::dtype(torch::kFloat), &report);
  EXPECT_TRUE(report.unusedTensors.empty()) << report.unusedTensors.front();
  const at::Tensor ids = torch::randint(0, 61, {1, 7});
  EXPECT_TRUE(allClose(logitsOf(*loaded, ids), logitsOf(*model, ids), 0, 0));
}

TEST_F(ModelLoading, LoadsInBfloat16) {
  auto model = test::tinyModel("llama", 4);
  saveModelCheckpoint(*model, dir());
  auto half = loadModel(dir(), torch::dtype(torch::kBFloat16));
  const at::Tensor ids = torch::randint(0, 61, {1, 8});
  const at::Tensor low = logitsOf(*half, ids);
  EXPECT_EQ(low.scalar_type(), torch::kBFloat16);
  // bfloat16 keeps 8 bits of mantissa: logits agree to about 2 % of their spread.
  const at::Tensor full = logitsOf(*model, ids);
  const double spread = (full.max() - full.min()).item<double>();
  EXPECT_TRUE(allClose(low.to(torch::kFloat), full, 0.05, 0.05 * spread));
}

TEST_F(ModelLoading, MissingConfigIsAClearError) {
  try {
    loadModel(dir(), torch::dtype(torch::kFloat));
    FAIL();
  } catch (const FormatError& error) {
    EXPECT_NE(std::string(error.what()).find("config.json"), std::string::npos) << error.what();
  }
}

TEST_F(ModelLoading, InspectChecksShapesWithoutReadingWeights) {
  auto model = test::tinyModel("llama", 6);
  saveModelCheckpoint(*model, dir());
  CpuMemoryTracker::instance().install();
  const std::int64_t before = CpuMemoryTracker::instance().currentBytes();
  CpuMemoryTracker::instance().resetPeak();
  const ModelInspection inspection = inspectModelDirectory(dir());
  // The model's weights are 80 KB; inspecting must not allocate them (meta device).
  EXPECT_LT(CpuMemoryTracker::instance().peakBytes() - before, 8 * 1024);
  EXPECT_EQ(inspection.summary.architecture, "LlamaForCausalLM");
  EXPECT_EQ(inspection.summary.totalParameters, summarizeModel(*model).totalParameters);
  EXPECT_EQ(inspection.summary.linears.size(), 15u);

  rewriteWeights([](auto& tensors) {
    for (auto& [name, t] : tensors) {
      if (name == "model.embed_tokens.weight") t = torch::zeros({60, 32});
    }
  });
  try {
    inspectModelDirectory(dir());
    FAIL() << "inspection accepted a checkpoint that disagrees with its config";
  } catch (const FormatError& error) {
    EXPECT_NE(std::string(error.what()).find("\"model.embed_tokens.weight\" has shape [60, 32]"), std::string::npos)
        << error.what();
  }
}

TEST_F(ModelLoading, InspectReportsWeightFilesDtypesAndTaskHeads) {
  saveModelCheckpoint(*test::tinyModel("llama", 6), dir());
  // One tensor stored in bfloat16: the dtype count follows what the file holds.
  std::int64_t f32Elements = 0;
  std::int64_t bf16Elements = 0;
  rewriteWeights([&](auto& tensors) {
    for (auto& [name, t] : tensors) {
      if (name == "model.norm.weight") {
        t = t.to(torch::kBFloat16);
        bf16Elements += t.numel();
      } else {
        f32Elements += t.numel();
      }
    }
  });
  const ModelInspection inspection = inspectModelDirectory(dir());
  ASSERT_EQ(inspection.weightFiles.size(), 1u);
  EXPECT_EQ(std::filesystem::path(inspection.weightFiles[0]).filename(), "model.safetensors");
  EXPECT_EQ(inspection.weightBytes,
            static_cast<std::int64_t>(std::filesystem::file_size(dir() + "/model.safetensors")));
  EXPECT_EQ(inspection.elementsByDtype.size(), 2u);
  EXPECT_EQ(inspection.elementsByDtype.at("F32"), f32Elements);
  EXPECT_EQ(inspection.elementsByDtype.at("BF16"), bf16Elements);
  EXPECT_EQ(inspection.mainDtype(), "F32");
  EXPECT_TRUE(inspection.trainedHeadModules.empty());
  EXPECT_EQ(inspection.trainedHeadParameters, 0);

  // BERT classifier: hidden 32, 3 labels; its head "classifier" is a 32→3 linear with bias.
  const ModelInspection bert = inspectModelDirectory(LORAFA_FIXTURES_DIR "/models/bert_cls");
  EXPECT_EQ(bert.trainedHeadModules, std::vector<std::string>{"classifier"});
  EXPECT_EQ(bert.trainedHeadParameters, 32 * 3 + 3);
}

TEST_F(ModelLoading, Float16OnTheCpuIsAClearErrorWhereLibTorchLacksIt) {
#if TORCH_VERSION_MAJOR < 2
  try {
    createModel(test::tinyConfig("llama"), torch::dtype(torch::kHalf));
    FAIL() << "float16 on the CPU accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("use bfloat16 or float32"), std::string::npos) << error.what();
  }
#else
  GTEST_SKIP() << "LibTorch 2 runs float16 on the CPU";
#endif
}
