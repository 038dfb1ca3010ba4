// A real training run (the Trainer on a tiny GPT-2 with the GPT-2 tokenizer and the Alpaca
// fixture) exported both ways, then its adapter trained further through adapter.init_from.
#include "../train/TinyGpt2Runs.h"

#include "export/PeftAdapter.h"
#include "lorafa/AdapterImport.h"
#include "lorafa/Export.h"
#include "lorafa/TrainingSession.h"
#include "train/Trainer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

namespace lorafa {
namespace {

RunConfig shortRun(const test::TinyGpt2Folder& folder, const std::string& name) {
  RunConfig c = folder.config(name);
  c.train.maxSteps = 2;
  c.train.evalEvery = 0;
  c.eval.generateMaxExamples = 0;
  return c;
}

class Progress : public ExportObserver {
public:
  void onProgress(const std::string& message, double fraction) override {
    EXPECT_GE(fraction, m_last) << message;
    m_last = fraction;
    ++m_count;
  }
  double m_last = 0.0;
  int m_count = 0;
};

TEST(ExportFromTrainer, TrainedRunExportsVerifiedAndItsAdapterKeepsTraining) {
  test::TinyGpt2Folder folder("lorafa-export-trainer-");
  const RunConfig config = shortRun(folder, "lorafa");
  {
    Trainer trainer(config);
    trainer.setup();
    ASSERT_EQ(trainer.run().state, TrainerState::Completed);
  }
  ExportOptions options;
  options.targetDir = (folder.root() / "adapter").string();
  options.runDetails = {{"run_id", "1"}};
  Progress progress;
  const ExportResult adapter = exportRun(config, options, &progress);
  EXPECT_GT(progress.m_count, 3);
  EXPECT_DOUBLE_EQ(progress.m_last, 1.0);
  EXPECT_TRUE(adapter.verification.done);
  EXPECT_GE(adapter.verification.prompts, 3);
  EXPECT_LE(adapter.verification.maxAbsLogitDiff, 1e-6) << adapter.verification.note;
  EXPECT_NE(adapter.checkpointDir.find("step-00000002"), std::string::npos) << adapter.checkpointDir;

  options.kind = ExportKind::Merged;
  options.targetDir = (folder.root() / "merged").string();
  const ExportResult merged = exportRun(config, options);
  EXPECT_TRUE(merged.verification.withinTolerance) << merged.verification.note;
  EXPECT_LE(merged.verification.maxAbsLogitDiff, 1e-5) << merged.verification.note;
  std::cout << "[ measured ] trainer gpt2 run: adapter " << adapter.verification.note
            << "\n[ measured ] merged " << merged.verification.note << "\n";
  // The tokenizer travels with the merged checkpoint.
  EXPECT_TRUE(std::filesystem::exists(merged.directory + "/tokenizer.json"));

  // adapter.init_from: a new run starts from the exported A and B.
  RunConfig continued = shortRun(folder, "continued");
  continued.adapterInitFrom = adapter.directory;
  const PeftAdapterFolder file = loadPeftAdapter(adapter.directory);
  {
    Trainer trainer(continued);
    trainer.setup();
    const auto params = trainer.model().named_parameters();
    for (const auto& [module, b] : file.b) {
      EXPECT_TRUE(params[module + ".lora_B"].to(at::kFloat).equal(b)) << module;
      EXPECT_TRUE(params[module + ".lora_A"].to(at::kFloat).equal(file.a.at(module))) << module;
    }
    // Evaluating the imported adapter gives what the run's own checkpoint gives.
    Trainer original(config);
    original.setup();
    original.resumeFrom(adapter.checkpointDir);
    const EvalMetrics imported = trainer.evaluate();
    const EvalMetrics own = original.evaluate();
    ASSERT_GT(own.rows, 0);
    EXPECT_NEAR(imported.loss, own.loss, 1e-6);
    EXPECT_EQ(trainer.run().state, TrainerState::Completed);
  }
  // Its r must agree with the run's.
  RunConfig wrongRank = shortRun(folder, "wrong-rank");
  wrongRank.adapterInitFrom = adapter.directory;
  wrongRank.adapter.rank = 2;
  Trainer trainer(wrongRank);
  try {
    trainer.setup();
    ADD_FAILURE() << "a rank mismatch was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("adapter.rank"), std::string::npos) << e.what();
  }
}

// An existing PEFT adapter folder merged onto its base (base_model_name_or_path).
TEST(ExportFromTrainer, ExistingPeftAdapterMergesOntoItsBase) {
  test::TinyGpt2Folder folder("lorafa-export-peftmerge-");
  RunConfig config = shortRun(folder, "lora");
  config.adapter.method = TrainMethod::Lora;
  {
    Trainer trainer(config);
    trainer.setup();
    ASSERT_EQ(trainer.run().state, TrainerState::Completed);
  }
  ExportOptions options;
  options.targetDir = (folder.root() / "adapter").string();
  const ExportResult adapter = exportRun(config, options);
  const PeftAdapterSummary summary = readPeftAdapter(adapter.directory);
  EXPECT_EQ(summary.baseModel, folder.modelDir());
  EXPECT_TRUE(summary.fanInFanOut);
  EXPECT_EQ(summary.rank, 4);
  EXPECT_EQ(summary.adaptedModules.size(), 8u); // c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj × 2 layers
  AdapterMergeOptions merge;
  merge.adapterDir = adapter.directory;
  merge.targetDir = (folder.root() / "merged-from-peft").string();
  const ExportResult merged = mergePeftAdapter(merge);
  EXPECT_LE(merged.verification.maxAbsLogitDiff, 1e-5) << merged.verification.note;
  EXPECT_TRUE(std::filesystem::exists(merged.directory + "/model.safetensors"));
}

} // namespace
} // namespace lorafa
