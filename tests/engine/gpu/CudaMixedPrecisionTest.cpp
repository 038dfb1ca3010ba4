// fp16 and bf16 training on a CUDA device: autocast with fp32 master weights, fp16's dynamic loss
// scaling carried through a checkpoint, and gradient checkpointing. Skipped without CUDA.
#include "train/Trainer.h"

#include "lorafa/Tokenizer.h"
#include "memory/CudaMemoryStats.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include <ATen/ops/equal.h>
#include <c10/core/GradMode.h>
#include <torch/cuda.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

namespace lorafa {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = LORAFA_FIXTURES_DIR;

class CudaMixedPrecision : public ::testing::Test {
protected:
  void SetUp() override {
    if (!cudaCompiledIn() || !torch::cuda::is_available()) GTEST_SKIP() << "no usable CUDA device";
    m_root = fs::temp_directory_path() / ("lorafa-cuda-precision-" + std::to_string(std::random_device{}()));
    fs::create_directories(m_root);
    const auto tokenizer = Tokenizer::load(kFixtures + "/tokenizers/gpt2");
    const std::string json = R"({"model_type": "gpt2", "vocab_size": )" + std::to_string(tokenizer->vocabSize()) +
                             R"(, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 128, "eos_token_id": 50256})";
    auto model = createModel(ModelConfig::fromJson(json, "<tiny gpt2>"), at::TensorOptions().dtype(at::kFloat));
    initializeRandom(*model, 3);
    {
      c10::NoGradGuard noGrad;
      model->named_parameters()["transformer.wte.weight"].mul_(10.0);
    }
    m_modelDir = (m_root / "model").string();
    saveModelCheckpoint(*model, m_modelDir);
  }
  void TearDown() override {
    if (!m_root.empty()) fs::remove_all(m_root);
  }

  RunConfig config(const std::string& name, Precision precision) const {
    RunConfig c;
    c.name = name;
    c.modelPath = m_modelDir;
    c.tokenizerPath = kFixtures + "/tokenizers/gpt2";
    c.dataset.path = kFixtures + "/data/alpaca.jsonl";
    c.dataset.validationFraction = 0.0;
    c.outputDir = (m_root / name).string();
    c.adapter.method = TrainMethod::LoraFa;
    c.adapter.rank = 4;
    c.adapter.alpha = 32;
    c.adapter.dropout = 0.1;
    c.targets = "c_attn,c_proj,c_fc";
    c.optim.learningRate = 3e-2;
    c.optim.schedule = LrSchedule::Constant;
    c.train.batchSize = 16;
    c.train.maxSeqLen = 96;
    c.train.maxSteps = 8;
    c.train.seed = 11;
    c.train.device = "cuda";
    c.train.precision = precision;
    return c;
  }

  fs::path m_root;
  std::string m_modelDir;
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
