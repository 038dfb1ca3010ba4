// Dataset packing in the trainer: packed rows keep each example to itself (attention and
// positions), so packing on and off give the same losses on the same examples.
#include "train/Trainer.h"

#include "TinyGpt2Runs.h"

#include "lorafa/DataError.h"
#include "lorafa/Dataset.h"
#include "lorafa/TokenizedDataset.h"
#include "lorafa/Tokenizer.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace lorafa {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = LORAFA_FIXTURES_DIR;

struct LossRecorder : TrainerObserver {
  std::vector<StepMetrics> steps;
  std::vector<EvalMetrics> evals;
  void onStep(const StepMetrics& m) override { steps.push_back(m); }
  void onEval(const EvalMetrics& m) override { evals.push_back(m); }
};

class PackingTrainerTest : public ::testing::Test {
protected:
  // n_positions large enough that all packed training examples fit in one row: no example is
  // cut at a row end, so packed and unpacked rows hold exactly the same tokens.
  void SetUp() override {
    m_folder = std::make_unique<test::TinyGpt2Folder>("lorafa-packing-", 1024, 5, 1.0);
    m_root = m_folder->root();
    m_modelDir = m_folder->modelDir();
  }
  void TearDown() override { m_folder.reset(); }

  RunConfig config(const std::string& name, bool packing) const {
    RunConfig c;
    c.name = name;
    c.modelPath = m_modelDir;
    c.tokenizerPath = kFixtures + "/tokenizers/gpt2";
    c.dataset.path = kFixtures + "/data/alpaca.jsonl";
    c.dataset.validationFraction = 0.25;
    c.dataset.packing = packing;
    c.outputDir = (m_root / name).string();
    c.adapter.method = TrainMethod::LoraFa;
    c.adapter.rank = 4;
    c.adapter.alpha = 8;
    c.adapter.dropout = 0.0;
    c.targets = "c_attn,c_proj,c_fc";
    c.train.batchSize = 16; // every training example in the first (only) step
    c.train.gradAccumulation = 1;
    c.train.maxSeqLen = 1024;
    c.train.maxSteps = 1;
    c.train.seed = 7;
    c.train.device = "cpu";
    return c;
  }

  LossRecorder train(const RunConfig& c) const {
    LossRecorder recorder;
    Trainer trainer(c, &recorder);
    trainer.setup();
    const TrainResult result = trainer.run();
    EXPECT_EQ(result.state, TrainerState::Completed) << result.message;
    return recorder;
  }

  std::unique_ptr<test::TinyGpt2Folder> m_folder;
  fs::path m_root;
  std::string m_modelDir;
};

TEST_F(PackingTrainerTest, PackingOnAndOffGiveTheSameFirstStepAndEvalLoss) {
  const LossRecorder unpacked = train(config("unpacked", false));
  const LossRecorder packed = train(config("packed", true));
  ASSERT_EQ(unpacked.steps.size(), 1u);
  ASSERT_EQ(packed.steps.size(), 1u);
  // The same tokens are read; packing only adds the EOS that separates examples when missing.
  EXPECT_GE(packed.steps[0].tokens, unpacked.steps[0].tokens);
  EXPECT_NEAR(packed.steps[0].loss, unpacked.steps[0].loss, 1e-5 * unpacked.steps[0].loss);
  // The same gradient, too (its norm, before clipping).
  EXPECT_NEAR(packed.steps[0].gradNorm, unpacked.steps[0].gradNorm, 1e-4 * unpacked.steps[0].gradNorm);
  // Evaluation of the untrained model (the baseline) and after the step, on packed validation rows.
  ASSERT_GE(unpacked.evals.size(), 1u);
  ASSERT_EQ(packed.evals.size(), unpacked.evals.size());
  for (std::size_t i = 0; i < unpacked.evals.size(); ++i) {
    EXPECT_NEAR(packed.evals[i].loss, unpacked.evals[i].loss, 1e-5 * unpacked.evals[i].loss) << "eval " << i;
  }
}

TEST(PackingRefused, ClassificationAndSeq2SeqRefusePackingClearly) {
  const auto tokenizer = Tokenizer::load(kFixtures + "/tokenizers/gpt2");
  ProcessingOptions o;
  o.maxLength = 64;
  o.packing = true;
  const Dataset spam = loadDataset(kFixtures + "/data/spam_ham.csv");
  try {
    tokenizeDataset(spam, *tokenizer, o);
    ADD_FAILURE() << "classification data was packed";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "packing applies to causal language modelling only, not to classification"),
              std::string::npos)
        << e.what();
  }
  const Dataset alpaca = loadDataset(kFixtures + "/data/alpaca.jsonl");
  o.task = TaskType::Seq2Seq;
  try {
    tokenizeDataset(alpaca, *tokenizer, o);
    ADD_FAILURE() << "sequence-to-sequence data was packed";
  } catch (const DataError& e) {
    EXPECT_NE(
        std::string(e.what()).find("not to sequence-to-sequence training: set dataset.packing to false"),
        std::string::npos)
        << e.what();
  }
  o.task = TaskType::CausalLm;
  EXPECT_TRUE(tokenizeDataset(alpaca, *tokenizer, o).packed);
}

} // namespace
} // namespace lorafa
