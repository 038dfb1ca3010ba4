// Round trips for every family: a run's adapter exported in PEFT's layout and imported onto a
// freshly loaded base gives the trained model's logits (1e-6); the merged checkpoint loaded as a
// plain model gives them too (1e-5, fp32).
#include "ExportFixtures.h"
#include "TensorAssertions.h"

#include "export/PeftAdapter.h"
#include "lorafa/AdapterImport.h"
#include "lorafa/Dataset.h"
#include "lorafa/Export.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

namespace lorafa {
namespace {

using test::TempDir;

struct FamilyCase {
  std::string fixture;
  std::string targets;
  TrainMethod method;
};

std::ostream& operator<<(std::ostream& out, const FamilyCase& c) {
  return out << c.fixture << " " << c.targets << " " << toString(c.method);
}

class ExportRoundTrip : public ::testing::TestWithParam<FamilyCase> {};

TEST_P(ExportRoundTrip, AdapterAndMergedReproduceTheTrainedModel) {
  const FamilyCase& fc = GetParam();
  TempDir tmp("lorafa-export-" + fc.fixture);
  const RunConfig config =
      test::fixtureRunConfig(test::fixtureModel(fc.fixture), tmp / "run", fc.targets, fc.method);
  const ModelInputs inputs = test::fixtureInputs(fc.fixture);
  const ModelConfig modelConfig = ModelConfig::fromFile(config.modelPath + "/config.json");
  auto trained = test::trainAndCheckpoint(config, modelConfig, inputs);
  const at::Tensor expected = test::logitsOf(*trained, inputs);
  auto base = loadModel(config.modelPath, at::TensorOptions().dtype(at::kFloat));
  const at::Tensor baseLogits = test::logitsOf(*base, inputs);
  // The training must have moved the logits far beyond the tolerances checked below.
  const double moved = (expected - baseLogits).abs().max().item<double>();
  ASSERT_GT(moved, 1e-3) << "the adapter changes too little for the test to mean anything";

  ExportOptions adapterOptions;
  adapterOptions.kind = ExportKind::Adapter;
  adapterOptions.targetDir = tmp / "adapter";
  const ExportResult adapter = exportRun(config, adapterOptions);
  EXPECT_TRUE(adapter.verification.done);
  EXPECT_TRUE(adapter.verification.withinTolerance) << adapter.verification.note;
  EXPECT_LE(adapter.verification.maxAbsLogitDiff, 1e-6) << adapter.verification.note;

  // Independently of exportRun's own check: a fresh base plus the files on disk.
  auto imported = loadModel(config.modelPath, at::TensorOptions().dtype(at::kFloat));
  const auto adapted = applyPeftAdapter(*imported, loadPeftAdapter(adapter.directory), fc.method);
  EXPECT_FALSE(adapted.empty());
  const at::Tensor importedLogits = test::logitsOf(*imported, inputs);
  EXPECT_TRUE(test::allClose(importedLogits, expected, 0.0, 1e-6));

  ExportOptions mergedOptions;
  mergedOptions.kind = ExportKind::Merged;
  mergedOptions.targetDir = tmp / "merged";
  const ExportResult merged = exportRun(config, mergedOptions);
  EXPECT_TRUE(merged.verification.withinTolerance) << merged.verification.note;
  auto plain = loadModel(merged.directory, at::TensorOptions().dtype(at::kFloat));
  const at::Tensor mergedLogits = test::logitsOf(*plain, inputs);
  EXPECT_TRUE(test::allClose(mergedLogits, expected, 0.0, 1e-5));
  for (const auto& item : plain->named_parameters()) {
    EXPECT_EQ(item.key().find("lora_"), std::string::npos) << item.key();
  }
  std::cout << "[ measured ] " << fc << ": adapter max|Δlogit| "
            << (importedLogits - expected).abs().max().item<double>() << " (export's own check "
            << adapter.verification.maxAbsLogitDiff << "), merged max|Δlogit| "
            << (mergedLogits - expected).abs().max().item<double>() << " (export's own check "
            << merged.verification.maxAbsLogitDiff << "), adapter effect " << moved << "\n";
}

INSTANTIATE_TEST_SUITE_P(
    Families, ExportRoundTrip,
    ::testing::Values(FamilyCase{"llama", "all-linear", TrainMethod::LoraFa},
                      FamilyCase{"llama", "q_proj,v_proj", TrainMethod::Lora},
                      FamilyCase{"qwen2", "all-linear", TrainMethod::LoraFa},
                      FamilyCase{"mistral", "q_proj,k_proj,v_proj,o_proj", TrainMethod::Lora},
                      FamilyCase{"gpt2", "c_attn,c_proj,c_fc", TrainMethod::LoraFa},
                      FamilyCase{"gpt2_noprefix", "c_attn", TrainMethod::Lora},
                      FamilyCase{"bert_cls", "query,value", TrainMethod::LoraFa},
                      FamilyCase{"roberta_cls", "query,key,value,dense", TrainMethod::Lora},
                      FamilyCase{"t5_v1_1", "q,k,v,o,wi_0,wi_1,wo", TrainMethod::LoraFa},
                      FamilyCase{"t5_v1_0", "q,v", TrainMethod::Lora}),
    [](const ::testing::TestParamInfo<FamilyCase>& info) {
      std::string name =
          info.param.fixture + "_" + (info.param.method == TrainMethod::Lora ? "lora" : "lorafa");
      return name;
    });

// Full fine-tuning has no adapter: the merged checkpoint is the trained weights.
TEST(ExportFullFineTuning, MergedIsTheTrainedWeightsAndAdapterIsRefused) {
  TempDir tmp("lorafa-export-full");
  const RunConfig config =
      test::fixtureRunConfig(test::fixtureModel("llama"), tmp / "run", "all-linear", TrainMethod::Full);
  const ModelInputs inputs = test::fixtureInputs("llama");
  auto trained =
      test::trainAndCheckpoint(config, ModelConfig::fromFile(config.modelPath + "/config.json"), inputs);
  const at::Tensor expected = test::logitsOf(*trained, inputs);

  ExportOptions options;
  options.kind = ExportKind::Adapter;
  options.targetDir = tmp / "adapter";
  try {
    exportRun(config, options);
    FAIL() << "a full fine-tuning run exported an adapter";
  } catch (const ExportError& e) {
    EXPECT_NE(std::string(e.what()).find("merged"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(tmp / "adapter"));

  options.kind = ExportKind::Merged;
  options.targetDir = tmp / "merged";
  const ExportResult merged = exportRun(config, options);
  EXPECT_TRUE(merged.verification.withinTolerance) << merged.verification.note;
  auto plain = loadModel(merged.directory, at::TensorOptions().dtype(at::kFloat));
  EXPECT_TRUE(test::allClose(test::logitsOf(*plain, inputs), expected, 0.0, 1e-5));
}

// A causal LM that classified: the adapter carries the new score head (modules_to_save), the
// merged checkpoint is a *ForSequenceClassification with the dataset's labels.
TEST(ExportLlamaClassifier, ScoreHeadTravelsAsModulesToSaveAndLabelsReachConfig) {
  TempDir tmp("lorafa-export-llama-cls");
  RunConfig config = test::fixtureRunConfig(test::fixtureModel("llama"), tmp / "run", "q_proj,v_proj");
  config.dataset.path = test::fixtures() + "/data/spam_ham.csv";
  config.dataset.format = DatasetFormat::Classification;
  const std::vector<std::string> labels = loadDataset(config.dataset.path, {}).labelNames;
  ASSERT_EQ(labels.size(), 2u);
  const ModelConfig modelConfig =
      ModelConfig::fromFile(config.modelPath + "/config.json").asSequenceClassifier(labels);
  const ModelInputs inputs = test::fixtureInputs("llama");
  auto trained = test::trainAndCheckpoint(config, modelConfig, inputs);
  const at::Tensor expected = test::logitsOf(*trained, inputs);
  ASSERT_EQ(expected.dim(), 2);

  ExportOptions options;
  options.targetDir = tmp / "adapter";
  const ExportResult adapter = exportRun(config, options);
  EXPECT_LE(adapter.verification.maxAbsLogitDiff, 1e-6) << adapter.verification.note;
  const PeftAdapterSummary summary = readPeftAdapter(adapter.directory);
  EXPECT_EQ(summary.taskType, "SEQ_CLS");
  EXPECT_EQ(summary.modulesToSave, std::vector<std::string>{"score"});
  const auto file = SafetensorsFile::open(adapter.directory + "/adapter_model.safetensors");
  ASSERT_TRUE(file->contains("base_model.model.score.weight"));
  EXPECT_EQ(file->info("base_model.model.score.weight").shape, (std::vector<std::int64_t>{2, 32}));

  options.kind = ExportKind::Merged;
  options.targetDir = tmp / "merged";
  const ExportResult merged = exportRun(config, options);
  const ModelConfig mergedConfig = ModelConfig::fromFile(merged.directory + "/config.json");
  EXPECT_EQ(mergedConfig.architecture, "LlamaForSequenceClassification");
  EXPECT_EQ(mergedConfig.labels, labels);
  auto plain = loadModel(merged.directory, at::TensorOptions().dtype(at::kFloat));
  EXPECT_TRUE(test::allClose(test::logitsOf(*plain, inputs), expected, 0.0, 1e-5));
}

} // namespace
} // namespace lorafa
