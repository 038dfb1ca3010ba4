// The memory planner against the tracking allocator: one training step (forward, the trainer's
// loss, backward, AdamW) measured on a small CPU grid of families × methods × batch × sequence
// × rank, each within ±10% of estimateMemory's peak; and the solver's answers fit, one more does not.
#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/MemoryEstimate.h"

#include "adapters/AdapterInjector.h"
#include "memory/ChunkedCrossEntropy.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

using namespace lorafa;

namespace {

std::string configJson(const std::string& family) {
  if (family == "llama") {
    return R"({"model_type": "llama", "vocab_size": 1000, "hidden_size": 128, "intermediate_size": 344,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512})";
  }
  return R"({"model_type": "gpt2", "vocab_size": 1000, "n_embd": 128, "n_layer": 2, "n_head": 4, "n_positions": 512})";
}

/// Peak bytes of a steady-state step (after one warm-up step allocated the optimizer state),
/// counted from before the model was created.
std::int64_t measuredPeak(const MemoryPlan& plan) {
  CpuMemoryTracker& tracker = CpuMemoryTracker::instance();
  const std::int64_t base = tracker.currentBytes();
  std::int64_t peak = 0;
  {
    auto model = createModel(ModelConfig::fromJson(plan.modelConfigJson, "test"), torch::dtype(torch::kFloat));
    initializeRandom(*model, 1);
    AdapterConfig adapter;
    adapter.method = plan.method;
    adapter.rank = plan.rank;
    adapter.alpha = plan.rank;
    prepareForTraining(*model, TargetSpec::parse(plan.targets), adapter);
    model->setGradientCheckpointing(plan.gradientCheckpointing);
    model->train();
    std::vector<torch::Tensor> trainable;
    for (const auto& p : model->parameters()) {
      if (p.requires_grad()) trainable.push_back(p);
    }
    torch::optim::AdamW optimizer(trainable, torch::optim::AdamWOptions(1e-4));
    torch::manual_seed(2);
    ModelInputs inputs;
    inputs.inputIds = torch::randint(0, 1000, {plan.batchSize, plan.sequenceLength}, torch::kLong);
    inputs.attentionMask = torch::ones({plan.batchSize, plan.sequenceLength}, torch::kLong); // as the trainer
    inputs.returnHidden = true;
    const OutputHead head = *model->outputHead();
    auto step = [&] {
      const torch::Tensor hidden = model->forward(inputs);
      const torch::Tensor loss = chunkedNextTokenLossSum(hidden, head.weight, inputs.inputIds, head.hiddenScale, -100);
      (loss / static_cast<double>(plan.batchSize * (plan.sequenceLength - 1))).backward();
      optimizer.step();
      for (auto& p : trainable) p.mutable_grad() = torch::Tensor(); // as the trainer: no gradient kept
    };
    step();
    tracker.resetPeak();
    step();
    peak = tracker.peakBytes() - base;
  }
  return peak;
}

} // namespace

TEST(MemoryEstimate, WithinTenPercentOfTheMeasuredPeakOnACpuGrid) {
  CpuMemoryTracker::instance().install();
  double worst = 0.0;
  for (const std::string family : {"llama", "gpt2"}) {
    for (const TrainMethod method : {TrainMethod::Full, TrainMethod::Lora, TrainMethod::LoraFa}) {
      for (const auto& [batch, length] : {std::pair<std::int64_t, std::int64_t>{2, 64}, {4, 128}, {2, 256}}) {
        for (const int rank : {4, 32}) {
          if (method == TrainMethod::Full && rank != 4) continue; // the rank means nothing there
          for (const bool checkpointing : {false, true}) {
            MemoryPlan plan;
            plan.modelConfigJson = configJson(family);
            plan.method = method;
            plan.rank = rank;
            plan.targets = "all-linear";
            plan.batchSize = batch;
            plan.sequenceLength = length;
            plan.gradientCheckpointing = checkpointing;
            const MemoryEstimate e = estimateMemory(plan);
            const std::int64_t measured = measuredPeak(plan);
            const double error = (static_cast<double>(e.peak) - measured) / static_cast<double>(measured);
            worst = std::max(worst, std::abs(error));
            std::printf("%-6s %-8s B %lld T %4lld r %2d ckpt %d: measured %9.3f MiB, predicted %9.3f MiB, error %+6.1f%%\n",
                        family.c_str(), toString(method), static_cast<long long>(batch), static_cast<long long>(length),
                        rank, checkpointing ? 1 : 0, measured / 1048576.0, e.peak / 1048576.0, 100.0 * error);
            EXPECT_LE(std::abs(error), 0.10) << family << " " << toString(method) << " B " << batch << " T " << length
                                             << " r " << rank << " checkpointing " << checkpointing;
          }
        }
      }
    }
  }
  ::testing::Test::RecordProperty("worst_error_percent", std::to_string(100.0 * worst));
}

TEST(MemoryEstimate, BreakdownAddsUpAndOrdersTheMethods) {
  MemoryPlan plan;
  plan.modelConfigJson = configJson("llama");
  plan.batchSize = 4;
  plan.sequenceLength = 256;
  std::map<TrainMethod, MemoryEstimate> estimates;
  for (const TrainMethod method : {TrainMethod::Full, TrainMethod::Lora, TrainMethod::LoraFa}) {
    plan.method = method;
    estimates[method] = estimateMemory(plan);
    const MemoryEstimate& e = estimates[method];
    std::int64_t sum = 0;
    for (const MemoryItem& item : e.activations) sum += item.bytes;
    EXPECT_EQ(sum, e.savedActivations);
    EXPECT_GE(e.peak, e.weights + e.optimizerState + e.savedActivations);
  }
  EXPECT_LT(estimates[TrainMethod::LoraFa].peak, estimates[TrainMethod::Lora].peak);
  EXPECT_LT(estimates[TrainMethod::Lora].peak, estimates[TrainMethod::Full].peak);
  EXPECT_LT(estimates[TrainMethod::LoraFa].trainableParameterCount, estimates[TrainMethod::Lora].trainableParameterCount);
  plan.method = TrainMethod::LoraFa;
  plan.gradientCheckpointing = true;
  EXPECT_LT(estimateMemory(plan).savedActivations, estimates[TrainMethod::LoraFa].savedActivations);
  const std::string table = formatMemoryTable({estimates[TrainMethod::Full], estimates[TrainMethod::Lora],
                                               estimates[TrainMethod::LoraFa]},
                                              estimates[TrainMethod::Lora].peak);
  EXPECT_NE(table.find("predicted peak"), std::string::npos) << table;
  EXPECT_NE(table.find("full does not fit"), std::string::npos) << table;
  EXPECT_NE(table.find("lora-fa fits"), std::string::npos) << table;
}

TEST(MemoryEstimate, SolverFindsTheLargestValueThatFits) {
  MemoryPlan plan;
  plan.modelConfigJson = configJson("llama");
  plan.sequenceLength = 256;
  plan.batchSize = 8;
  const std::int64_t capacity = estimateMemory(plan).peak + 1;
  for (const MemoryKnob knob : {MemoryKnob::BatchSize, MemoryKnob::SequenceLength, MemoryKnob::Rank}) {
    const auto best = largestThatFits(plan, knob, capacity, 4096);
    ASSERT_TRUE(best.has_value());
    MemoryPlan fits = plan, over = plan;
    auto set = [&](MemoryPlan& p, std::int64_t v) {
      if (knob == MemoryKnob::BatchSize) p.batchSize = v;
      if (knob == MemoryKnob::SequenceLength) p.sequenceLength = v;
      if (knob == MemoryKnob::Rank) p.rank = static_cast<int>(v);
    };
    set(fits, *best);
    set(over, *best + 1);
    EXPECT_LE(estimateMemory(fits).peak, capacity);
    if (*best < 4096) {
      EXPECT_GT(estimateMemory(over).peak, capacity);
    }
  }
  EXPECT_EQ(largestThatFits(plan, MemoryKnob::BatchSize, 1024), std::nullopt);
}
