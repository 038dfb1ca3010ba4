// bf16 training on the CPU (LibTorch's CPU autocast), gradient checkpointing in the trainer, and
// the refusals around fp16 — on a tiny random GPT-2 whose vocabulary covers the GPT-2 tokenizer.
#include "train/Trainer.h"

#include "TinyGpt2Runs.h"

#include "lorafa/Tokenizer.h"
#include "models/Autocast.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include <ATen/ops/equal.h>
#include <ATen/ops/from_blob.h>
#include <c10/core/GradMode.h>
#include <torch/cuda.h>

#include <gtest/gtest.h>

#include <memory>

namespace lorafa {
namespace {

class MixedPrecisionTest : public ::testing::Test {
protected:
  void SetUp() override { m_folder = std::make_unique<test::TinyGpt2Folder>("lorafa-precision-"); }
  void TearDown() override { m_folder.reset(); }

  RunConfig config(const std::string& name, Precision precision) const {
    RunConfig c = m_folder->config(name);
    c.train.precision = precision;
    return c;
  }

  std::unique_ptr<test::TinyGpt2Folder> m_folder;
};

struct Steps : TrainerObserver {
  std::vector<StepMetrics> steps;
  std::vector<std::string> warnings;
  void onStep(const StepMetrics& m) override { steps.push_back(m); }
  void onLog(LogLevel level, const std::string& message) override {
    if (level == LogLevel::Warning) warnings.push_back(message);
  }
};

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TEST_F(MixedPrecisionTest, Bf16TrainsWithFp32MasterWeightsAndLowPrecisionFrozenBase) {
  RunConfig c = config("bf16", Precision::Bf16);
  // The loss-must-fall setting of TrainerTest: every row each step, no dropout, a large rate.
  c.adapter.dropout = 0.0;
  c.dataset.validationFraction = 0.0;
  c.train.batchSize = 16;
  c.train.gradAccumulation = 1;
  c.train.maxSteps = 8;
  c.adapter.alpha = 32;
  c.optim.learningRate = 3e-2;
  c.optim.schedule = LrSchedule::Constant;
  Steps steps;
  Trainer trainer(c, &steps);
  trainer.setup();
  const TrainResult result = trainer.run();
  ASSERT_EQ(result.state, TrainerState::Completed) << result.message;
  ASSERT_EQ(steps.steps.size(), 8u);
  EXPECT_LT(steps.steps.back().loss, steps.steps.front().loss - 0.3)
      << "first " << steps.steps.front().loss << ", last " << steps.steps.back().loss;
  EXPECT_TRUE(steps.warnings.empty()) << steps.warnings.front(); // bf16 needs no loss scaling

  ASSERT_FALSE(trainer.trainableParameters().empty());
  for (const auto& [name, p] : trainer.trainableParameters()) {
    EXPECT_EQ(p.scalar_type(), at::kFloat) << name;
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_EQ(p.grad().scalar_type(), at::kFloat) << name;
  }
  for (const auto& item : trainer.model().named_parameters()) {
    const std::string& name = item.key();
    const bool adapter = endsWith(name, ".lora_A") || endsWith(name, ".lora_B");
    EXPECT_EQ(item.value().scalar_type(), adapter ? at::kFloat : at::kBFloat16) << name;
  }
  // AdamW's moments and the saved weights, as the checkpoint holds them.
  const CheckpointData saved = readCheckpoint(result.lastCheckpoint);
  ASSERT_FALSE(saved.optimizerState.empty());
  for (const auto& [name, t] : saved.optimizerState) EXPECT_EQ(t.scalar_type(), at::kFloat) << name;
  for (const auto& [name, t] : saved.weights) EXPECT_EQ(t.scalar_type(), at::kFloat) << name;
  EXPECT_EQ(saved.lossScale, 0.0); // no scaler state without fp16
}

TEST_F(MixedPrecisionTest, Bf16LogitsAndLossStayCloseToFp32AtStepZero) {
  Trainer fp32(config("ref", Precision::Fp32));
  fp32.setup();
  Trainer bf16(config("low", Precision::Bf16));
  bf16.setup();
  // The same rows through both untrained models (the adapters start as no-ops, B = 0).
  const TokenizedExample& row = fp32.validationRows().rows.at(0);
  std::vector<std::int64_t> ids(row.inputIds.begin(), row.inputIds.end());
  ModelInputs inputs;
  inputs.inputIds =
      at::from_blob(ids.data(), {1, static_cast<std::int64_t>(ids.size())}, at::TensorOptions().dtype(at::kLong)).clone();
  c10::NoGradGuard noGrad;
  fp32.model().eval();
  bf16.model().eval();
  const at::Tensor expected = fp32.model().forward(inputs);
  at::Tensor actual;
  {
    AutocastScope autocast(c10::DeviceType::CPU, at::kBFloat16);
    actual = bf16.model().forward(inputs);
  }
  EXPECT_EQ(expected.scalar_type(), at::kFloat);
  // bf16 keeps 8 significant bits (relative error 2^-9 per rounding); over two blocks, stated
  // bound: 3% of the logits' range.
  const double range = expected.abs().max().item<double>();
  const double difference = (actual.to(at::kFloat) - expected).abs().max().item<double>();
  EXPECT_LT(difference, 0.03 * range) << "max |difference| " << difference << ", max |logit| " << range;
  // The validation loss (computed in fp32 from the bf16 logits) within 1%.
  const double lossFp32 = fp32.evaluate().loss;
  const double lossBf16 = bf16.evaluate().loss;
  EXPECT_NEAR(lossBf16, lossFp32, 0.01 * lossFp32);
}

TEST_F(MixedPrecisionTest, Bf16ResumingEqualsNeverStopping) {
  const std::int64_t k = 4;
  Trainer straight(config("straight", Precision::Bf16));
  straight.setup();
  ASSERT_EQ(straight.run().state, TrainerState::Completed);

  TrainerOptions stopEarly;
  stopEarly.stopAfterStep = k;
  Trainer first(config("resumed", Precision::Bf16), nullptr, stopEarly);
  first.setup();
  ASSERT_EQ(first.run().state, TrainerState::Stopped);
  const auto checkpoint = latestCheckpoint(config("resumed", Precision::Bf16).outputDir + "/checkpoints");
  ASSERT_TRUE(checkpoint);
  Trainer second(config("resumed", Precision::Bf16));
  second.setup();
  second.resumeFrom(*checkpoint);
  const TrainResult done = second.run();
  ASSERT_EQ(done.state, TrainerState::Completed) << done.message;

  const NamedTensors& a = straight.trainableParameters();
  const NamedTensors& b = second.trainableParameters();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].second.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first << " differs after resuming";
    EXPECT_GT(a[i].second.abs().max().item<double>(), 0.0) << a[i].first << " never moved";
  }
}

// Recomputing the blocks changes nothing the run computes: fp32 (to 1e-6) and bf16 (exactly the
// same low-precision operations).
TEST_F(MixedPrecisionTest, GradientCheckpointingTrainsTheSameWeights) {
  for (const Precision precision : {Precision::Fp32, Precision::Bf16}) {
    const std::string tag = toString(precision);
    RunConfig plainConfig = config("plain-" + tag, precision);
    plainConfig.train.maxSteps = 3;
    RunConfig checkpointedConfig = config("checkpointed-" + tag, precision);
    checkpointedConfig.train.maxSteps = 3;
    checkpointedConfig.train.gradientCheckpointing = true;
    Trainer plain(plainConfig);
    plain.setup();
    ASSERT_EQ(plain.run().state, TrainerState::Completed);
    Trainer checkpointed(checkpointedConfig);
    checkpointed.setup();
    const TrainResult result = checkpointed.run();
    ASSERT_EQ(result.state, TrainerState::Completed) << result.message;
    const NamedTensors& a = plain.trainableParameters();
    const NamedTensors& b = checkpointed.trainableParameters();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double difference = (a[i].second - b[i].second).abs().max().item<double>();
      EXPECT_LE(difference, 1e-6) << tag << " " << a[i].first;
    }
  }
}

TEST_F(MixedPrecisionTest, Fp16WithoutCudaIsRefusedWithAClearMessage) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is present: fp16 is allowed";
  RunConfig c = config("fp16", Precision::Fp16);
  c.train.device = "auto"; // RunConfig refuses fp16 with device cpu; auto resolves to cpu here
  Trainer trainer(c);
  try {
    trainer.setup();
    FAIL() << "setup accepted fp16 without CUDA";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("fp16 needs a CUDA device"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("use bf16 or fp32"), std::string::npos) << e.what();
  }
}

} // namespace
} // namespace lorafa
