// fp16 and bf16 training on a CUDA device: autocast with fp32 master weights, fp16's dynamic loss
// scaling carried through a checkpoint, and gradient checkpointing. Skipped without CUDA.
#include "train/Trainer.h"

#include "../train/TinyGpt2Runs.h"

#include "lorafa/Tokenizer.h"
#include "memory/CudaMemoryStats.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include <ATen/ops/equal.h>
#include <c10/core/GradMode.h>
#include <torch/cuda.h>

#include <gtest/gtest.h>

#include <memory>

namespace lorafa {
namespace {

class CudaMixedPrecision : public ::testing::Test {
protected:
  void SetUp() override {
    if (!cudaCompiledIn() || !torch::cuda::is_available()) GTEST_SKIP() << "no usable CUDA device";
    m_folder = std::make_unique<test::TinyGpt2Folder>("lorafa-cuda-precision-");
  }
  void TearDown() override { m_folder.reset(); }

  /// Every row each step at a large constant rate, so the loss must fall in 8 steps.
  RunConfig config(const std::string& name, Precision precision) const {
    RunConfig c = m_folder->config(name);
    c.dataset.validationFraction = 0.0;
    c.adapter.alpha = 32;
    c.optim.learningRate = 3e-2;
    c.optim.weightDecay = 0.0;
    c.optim.schedule = LrSchedule::Constant;
    c.train.batchSize = 16;
    c.train.gradAccumulation = 1;
    c.train.maxSteps = 8;
    c.train.evalEvery = 0;
    c.train.device = "cuda";
    c.train.precision = precision;
    return c;
  }

  std::unique_ptr<test::TinyGpt2Folder> m_folder;
};

struct Steps : TrainerObserver {
  std::vector<StepMetrics> steps;
  void onStep(const StepMetrics& m) override { steps.push_back(m); }
};

TEST_F(CudaMixedPrecision, Fp16AndBf16TrainWithFp32MasterWeights) {
  for (const Precision precision : {Precision::Fp16, Precision::Bf16}) {
    RunConfig c = config(std::string("learn-") + toString(precision), precision);
    c.train.gradientCheckpointing = precision == Precision::Bf16;
    Steps steps;
    Trainer trainer(c, &steps);
    trainer.setup();
    const TrainResult result = trainer.run();
    ASSERT_EQ(result.state, TrainerState::Completed) << result.message;
    ASSERT_EQ(steps.steps.size(), 8u);
    EXPECT_LT(steps.steps.back().loss, steps.steps.front().loss - 0.3) << toString(precision);
    for (const auto& [name, p] : trainer.trainableParameters()) {
      EXPECT_EQ(p.scalar_type(), at::kFloat) << name;
      EXPECT_TRUE(p.is_cuda()) << name;
    }
    const CheckpointData saved = readCheckpoint(result.lastCheckpoint);
    for (const auto& [name, t] : saved.optimizerState) EXPECT_EQ(t.scalar_type(), at::kFloat) << name;
    if (precision == Precision::Fp16) {
      EXPECT_GT(saved.lossScale, 0.0);
    } else {
      EXPECT_EQ(saved.lossScale, 0.0);
    }
  }
}

TEST_F(CudaMixedPrecision, Fp16ResumingEqualsNeverStoppingWithTheLossScale) {
  Trainer straight(config("straight", Precision::Fp16));
  straight.setup();
  ASSERT_EQ(straight.run().state, TrainerState::Completed);
  TrainerOptions stopEarly;
  stopEarly.stopAfterStep = 4;
  Trainer first(config("resumed", Precision::Fp16), nullptr, stopEarly);
  first.setup();
  ASSERT_EQ(first.run().state, TrainerState::Stopped);
  const auto checkpoint = latestCheckpoint(config("resumed", Precision::Fp16).outputDir + "/checkpoints");
  ASSERT_TRUE(checkpoint);
  EXPECT_GT(readCheckpoint(*checkpoint).lossScale, 0.0);
  Trainer second(config("resumed", Precision::Fp16));
  second.setup();
  second.resumeFrom(*checkpoint);
  ASSERT_EQ(second.run().state, TrainerState::Completed);
  const NamedTensors& a = straight.trainableParameters();
  const NamedTensors& b = second.trainableParameters();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first << " differs after resuming";
  }
}

} // namespace
} // namespace lorafa
