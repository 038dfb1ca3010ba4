// The memory planner against the tracking allocator: one training step (forward, the trainer's
// loss, backward, AdamW) measured on a small CPU grid of families × methods × batch × sequence
// × rank, each within ±10% of estimateMemory's peak; and the solver's answers fit, one more does not.
#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/MemoryEstimate.h"

#include "adapters/AdapterInjector.h"
#include "memory/ChunkedCrossEntropy.h"
#include "models/ModelConfig.h"
#include "models/Autocast.h"
#include "models/ModelFactory.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

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
    model->setRecomputeMlp(plan.recomputeMlp);
    model->train();
    const bool bf16 = plan.precision == Precision::Bf16;
    if (bf16) {
      // As Trainer::setup: frozen base weights in bf16; what trains and the adapters' A stay fp32.
      torch::NoGradGuard noGrad;
      for (auto& item : model->named_parameters()) {
        const std::string& name = item.key();
        const bool adapterMatrix = name.size() > 7 && (name.compare(name.size() - 7, 7, ".lora_A") == 0 ||
                                                       name.compare(name.size() - 7, 7, ".lora_B") == 0);
        torch::Tensor& p = item.value();
        if (!p.requires_grad() && !adapterMatrix) p.set_data(p.to(torch::kBFloat16));
      }
    }
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
      torch::Tensor loss, hidden; // as the trainer: the hidden states stay referenced through backward
      {
        AutocastScope autocast(c10::DeviceType::CPU,
                               bf16 ? std::optional<c10::ScalarType>(torch::kBFloat16) : std::nullopt);
        hidden = model->forward(inputs);
        loss = chunkedNextTokenLossSum(hidden, head.weight, inputs.inputIds, head.hiddenScale, -100);
      }
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
  // train.recompute_mlp and bf16 autocast (the trainer's mixed precision on the CPU), llama.
  for (const TrainMethod method : {TrainMethod::Full, TrainMethod::Lora, TrainMethod::LoraFa}) {
    for (const auto& [batch, length] : {std::pair<std::int64_t, std::int64_t>{2, 64}, {4, 128}, {2, 256}}) {
      for (const auto& [bf16, recompute] : {std::pair<bool, bool>{false, true}, {true, false}, {true, true}}) {
        MemoryPlan plan;
        plan.modelConfigJson = configJson("llama");
        plan.method = method;
        plan.rank = 4;
        plan.targets = "all-linear";
        plan.batchSize = batch;
        plan.sequenceLength = length;
        plan.precision = bf16 ? Precision::Bf16 : Precision::Fp32;
        plan.recomputeMlp = recompute;
        const MemoryEstimate e = estimateMemory(plan);
        const std::int64_t measured = measuredPeak(plan);
        const double error = (static_cast<double>(e.peak) - measured) / static_cast<double>(measured);
        worst = std::max(worst, std::abs(error));
        std::printf("llama  %-8s B %lld T %4lld r  4 %s%s: measured %9.3f MiB, predicted %9.3f MiB, error %+6.1f%%\n",
                    toString(method), static_cast<long long>(batch), static_cast<long long>(length),
                    bf16 ? "bf16" : "fp32", recompute ? " recompute_mlp" : "", measured / 1048576.0,
                    e.peak / 1048576.0, 100.0 * error);
        EXPECT_LE(std::abs(error), 0.10) << toString(method) << " B " << batch << " T " << length << " bf16 " << bf16
                                         << " recompute_mlp " << recompute;
      }
    }
  }
  ::testing::Test::RecordProperty("worst_error_percent", std::to_string(100.0 * worst));
}

// The decoder variants (issue 21): Qwen3's q/k norms, Gemma 3's extra norms, scaled embeddings,
// GeGLU and sliding layers, Phi-3's fused projections. Activation-heavy shapes, within ±5% (measured
// within 2%).
TEST(MemoryEstimate, NewDecoderFamiliesWithinFivePercent) {
  CpuMemoryTracker::instance().install();
  const std::string shape = R"("vocab_size": 1000, "hidden_size": 128, "intermediate_size": 344,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
      "max_position_embeddings": 1024)";
  const std::vector<std::pair<std::string, std::string>> families = {
      {"qwen3", R"({"model_type": "qwen3", )" + shape + "}"},
      {"gemma3_text", R"({"model_type": "gemma3_text", "sliding_window": 64, "query_pre_attn_scalar": 32, )" + shape + "}"},
      {"phi3", R"({"model_type": "phi3", )" + shape + "}"},
  };
  for (const auto& [family, json] : families) {
    for (const TrainMethod method : {TrainMethod::Full, TrainMethod::Lora, TrainMethod::LoraFa}) {
      MemoryPlan plan;
      plan.modelConfigJson = json;
      plan.method = method;
      plan.rank = 8;
      plan.targets = "all-linear";
      plan.batchSize = 4;
      plan.sequenceLength = 256;
      const MemoryEstimate e = estimateMemory(plan);
      const std::int64_t measured = measuredPeak(plan);
      const double error = (static_cast<double>(e.peak) - measured) / static_cast<double>(measured);
      std::printf("%-11s %-8s B 4 T 256 r 8: measured %9.3f MiB, predicted %9.3f MiB, error %+6.1f%%\n",
                  family.c_str(), toString(method), measured / 1048576.0, e.peak / 1048576.0, 100.0 * error);
      EXPECT_LE(std::abs(error), 0.05) << family << " " << toString(method);
    }
  }
}

// Where activations dominate the weights (the tiny grid above is weight-heavy), as on the
// LLaMA-style shape: 6 layers, 1,024 tokens. Before issue 9 the planner was 6–13% low on such
// shapes for LoRA-FA (RMSNorm's float32 squares, which mean() kept for backward, and the SiLU node's
// incoming gradient), and the gap grew with layers. Within ±5%.
TEST(MemoryEstimate, WithinFivePercentWhereActivationsDominate) {
  CpuMemoryTracker::instance().install();
  const std::string json = R"({"model_type": "llama", "vocab_size": 1000, "hidden_size": 256, "intermediate_size": 704,
    "num_hidden_layers": 6, "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 512})";
  for (const TrainMethod method : {TrainMethod::Lora, TrainMethod::LoraFa}) {
    for (const bool recompute : {false, true}) {
      MemoryPlan plan;
      plan.modelConfigJson = json;
      plan.method = method;
      plan.rank = 16;
      plan.targets = "all-linear";
      plan.batchSize = 4;
      plan.sequenceLength = 256;
      plan.recomputeMlp = recompute;
      const MemoryEstimate e = estimateMemory(plan);
      const std::int64_t measured = measuredPeak(plan);
      const double error = (static_cast<double>(e.peak) - measured) / static_cast<double>(measured);
      std::printf("llama 6 layers %-8s B 4 T 256 r 16%s: measured %9.3f MiB, predicted %9.3f MiB, error %+6.1f%%\n",
                  toString(method), recompute ? " recompute_mlp" : "", measured / 1048576.0, e.peak / 1048576.0,
                  100.0 * error);
      EXPECT_LE(std::abs(error), 0.05) << toString(method) << " recompute_mlp " << recompute;
    }
  }
}

namespace {

/// Loss and every trainable gradient of one step of a tiny float64 Llama, with or without
/// train.recompute_mlp; B is given values so that LoRA's dA is not zero, dropout exercises the
/// replay of the forward's random draws.
struct StepResult {
  double loss = 0.0;
  std::map<std::string, torch::Tensor> grads;
};

StepResult tinyLlamaStep(TrainMethod method, bool recompute) {
  const std::string json = R"({"model_type": "llama", "vocab_size": 97, "hidden_size": 32, "intermediate_size": 88,
    "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64})";
  auto model = createModel(ModelConfig::fromJson(json, "tiny llama"), torch::dtype(torch::kDouble));
  initializeRandom(*model, 5);
  AdapterConfig adapter;
  adapter.method = method;
  adapter.rank = 4;
  adapter.alpha = 8;
  adapter.dropout = method == TrainMethod::Full ? 0.0 : 0.1;
  torch::manual_seed(31);
  prepareForTraining(*model, TargetSpec::parse("all-linear"), adapter);
  {
    torch::NoGradGuard noGrad;
    torch::manual_seed(32);
    for (auto& item : model->named_parameters()) {
      const std::string& name = item.key();
      if (name.size() > 7 && name.compare(name.size() - 7, 7, ".lora_B") == 0) item.value().normal_(0.0, 0.1);
    }
  }
  model->train();
  model->setRecomputeMlp(recompute);
  ModelInputs inputs;
  torch::manual_seed(33);
  inputs.inputIds = torch::randint(0, 97, {2, 12}, torch::kLong);
  inputs.attentionMask = torch::ones({2, 12}, torch::kLong);
  torch::manual_seed(34); // the dropout draws
  const torch::Tensor logits = model->forward(inputs);
  const torch::Tensor loss = torch::nn::functional::cross_entropy(
      logits.slice(1, 0, -1).reshape({-1, 97}), inputs.inputIds.slice(1, 1).reshape({-1}));
  loss.backward();
  StepResult result;
  result.loss = loss.item<double>();
  for (const auto& item : model->named_parameters()) {
    if (item.value().requires_grad()) result.grads[item.key()] = item.value().grad().clone();
  }
  return result;
}

/// What the model holds between forward and backward (float32, the output excluded).
std::int64_t heldAfterForward(const MemoryPlan& plan) {
  CpuMemoryTracker& tracker = CpuMemoryTracker::instance();
  auto model = createModel(ModelConfig::fromJson(plan.modelConfigJson, "test"), torch::dtype(torch::kFloat));
  initializeRandom(*model, 1);
  AdapterConfig adapter;
  adapter.method = plan.method;
  adapter.rank = plan.rank;
  adapter.alpha = plan.rank;
  prepareForTraining(*model, TargetSpec::parse(plan.targets), adapter);
  model->setRecomputeMlp(plan.recomputeMlp);
  model->train();
  ModelInputs inputs;
  torch::manual_seed(2);
  inputs.inputIds = torch::randint(0, 1000, {plan.batchSize, plan.sequenceLength}, torch::kLong);
  inputs.attentionMask = torch::ones({plan.batchSize, plan.sequenceLength}, torch::kLong);
  inputs.returnHidden = true;
  const std::int64_t before = tracker.currentBytes();
  const torch::Tensor hidden = model->forward(inputs);
  const std::int64_t held = tracker.currentBytes() - before - static_cast<std::int64_t>(hidden.nbytes());
  hidden.sum().backward(); // the graph must still be usable
  return held;
}

} // namespace

TEST(RecomputeMlp, LossAndGradientsEqualKeepingGateAndUp) {
  for (const TrainMethod method : {TrainMethod::Full, TrainMethod::Lora, TrainMethod::LoraFa}) {
    const StepResult plain = tinyLlamaStep(method, false);
    const StepResult recomputed = tinyLlamaStep(method, true);
    // float64: the same operations in the same order, so equal to rounding (1e-12 relative).
    EXPECT_NEAR(recomputed.loss, plain.loss, 1e-12 * std::abs(plain.loss)) << toString(method);
    ASSERT_FALSE(plain.grads.empty());
    ASSERT_EQ(plain.grads.size(), recomputed.grads.size()) << toString(method);
    int nonZero = 0, mlpGrads = 0;
    for (const auto& [name, grad] : plain.grads) {
      const torch::Tensor& other = recomputed.grads.at(name);
      ASSERT_TRUE(grad.defined()) << name;
      ASSERT_TRUE(other.defined()) << toString(method) << " " << name << ": no gradient with recompute_mlp";
      const double largest = grad.abs().max().item<double>();
      const double difference = (grad - other).abs().max().item<double>();
      EXPECT_LE(difference, 1e-12 * std::max(1.0, largest)) << toString(method) << " " << name;
      nonZero += largest > 0.0;
      mlpGrads += name.find("gate_proj") != std::string::npos || name.find("up_proj") != std::string::npos;
    }
    EXPECT_GT(nonZero, 0) << toString(method);
    EXPECT_GT(mlpGrads, 0) << toString(method) << ": gate/up train";
  }
}

TEST(RecomputeMlp, SavedBytesDropByThePredictedAmount) {
  CpuMemoryTracker::instance().install();
  for (const TrainMethod method : {TrainMethod::Full, TrainMethod::Lora, TrainMethod::LoraFa}) {
    MemoryPlan plan;
    plan.modelConfigJson = configJson("llama");
    plan.method = method;
    plan.rank = 8;
    plan.targets = "all-linear";
    plan.batchSize = 2;
    plan.sequenceLength = 128;
    const std::int64_t keptBefore = heldAfterForward(plan);
    const std::int64_t predictedBefore = estimateMemory(plan).savedActivations;
    plan.recomputeMlp = true;
    const std::int64_t keptAfter = heldAfterForward(plan);
    const std::int64_t predictedAfter = estimateMemory(plan).savedActivations;
    const std::int64_t saved = keptBefore - keptAfter, predicted = predictedBefore - predictedAfter;
    // Per layer and token: gate and up (2 × 344 floats) instead of the MLP's input (128), and for
    // LoRA-FA/LoRA the gate/up adapters' x·Aᵀ (2 × 8); LoRA and full kept that input anyway.
    const std::int64_t tokens = 2 * 128, layers = 2;
    const std::int64_t expected = layers * tokens * 4 *
        (method == TrainMethod::LoraFa ? 2 * 344 + 2 * 8 - 128 : method == TrainMethod::Lora ? 2 * 344 + 2 * 8 : 2 * 344);
    std::printf("%-8s kept %lld -> %lld B: saved %lld B, predicted %lld B, by hand %lld B\n", toString(method),
                static_cast<long long>(keptBefore), static_cast<long long>(keptAfter), static_cast<long long>(saved),
                static_cast<long long>(predicted), static_cast<long long>(expected));
    EXPECT_EQ(predicted, expected) << toString(method);
    // Each checkpoint also keeps the CPU generator's state (to replay dropout), one small tensor
    // per layer that the planner neglects; the graph's own bookkeeping is not tensors.
    const std::int64_t generatorState =
        static_cast<std::int64_t>(at::globalContext().defaultGenerator(c10::Device(c10::kCPU)).get_state().nbytes());
    EXPECT_NEAR(static_cast<double>(saved), static_cast<double>(expected - layers * generatorState), 1024.0)
        << toString(method) << " (generator state " << generatorState << " B per layer)";
  }
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
