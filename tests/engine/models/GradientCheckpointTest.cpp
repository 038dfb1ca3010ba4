// Gradient checkpointing (BlockCheckpoint): the same gradients as keeping every activation, for
// each trainable family and method, dropout included; and a lower peak where activations dominate.
#include "adapters/AdapterInjector.h"
#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/ModelSummary.h"
#include "models/ModelConfig.h"
#include "models/Autocast.h"
#include "models/ModelFactory.h"

#include <ATen/Context.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <c10/core/GradMode.h>

#include <gtest/gtest.h>
#include <torch/csrc/autograd/function.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

namespace lorafa {
namespace {

const std::string kFixtures = LORAFA_FIXTURES_DIR;

std::shared_ptr<LanguageModel> buildModel(const std::string& family) {
  if (family == "bert_cls" || family == "roberta_cls" || family == "t5_v1_0" || family == "t5_v1_1") {
    return loadModel(kFixtures + "/models/" + family, at::TensorOptions().dtype(at::kFloat));
  }
  std::string json;
  if (family == "llama") {
    json = R"({"model_type": "llama", "vocab_size": 61, "hidden_size": 32, "intermediate_size": 48,
      "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64,
      "rms_norm_eps": 1e-6})";
  } else {
    json = R"({"model_type": "gpt2", "vocab_size": 61, "n_embd": 32, "n_layer": 3, "n_head": 4, "n_positions": 64})";
  }
  auto model = createModel(ModelConfig::fromJson(json, "<tiny " + family + ">"), at::TensorOptions().dtype(at::kFloat));
  initializeRandom(*model, 4);
  return model;
}

std::shared_ptr<LanguageModel> preparedModel(const std::string& family, TrainMethod method, double dropout,
                                             bool checkpointing) {
  auto model = buildModel(family);
  AdapterConfig adapter;
  adapter.method = method;
  adapter.rank = 4;
  adapter.alpha = 8;
  adapter.dropout = dropout;
  at::manual_seed(21); // A's draw
  prepareForTraining(*model, TargetSpec::parse("all-linear"), adapter);
  {
    // B starts at zero, which would leave A's gradient (LoRA) zero: give it values.
    c10::NoGradGuard noGrad;
    at::manual_seed(22);
    for (auto& item : model->named_parameters()) {
      const std::string& name = item.key();
      if (name.size() > 7 && name.compare(name.size() - 7, 7, ".lora_B") == 0) item.value().normal_(0.0, 0.1);
    }
  }
  model->train();
  model->setGradientCheckpointing(checkpointing);
  return model;
}

ModelInputs inputsFor(const std::string& family) {
  ModelInputs inputs;
  at::manual_seed(23);
  // 8 tokens: the RoBERTa fixture has 10 positions, the first two taken by its padding offset.
  inputs.inputIds = at::randint(3, 61, {2, 8}, at::TensorOptions().dtype(at::kLong));
  at::Tensor mask = at::ones({2, 8}, at::TensorOptions().dtype(at::kLong));
  mask.select(0, 1).slice(0, 6).zero_(); // the second row is padded: the masks must follow
  inputs.attentionMask = mask;
  if (family.rfind("t5", 0) == 0) inputs.decoderInputIds = at::randint(0, 61, {2, 5}, at::TensorOptions().dtype(at::kLong));
  return inputs;
}

struct Pass {
  std::map<std::string, at::Tensor> grads;
  at::Tensor drawnAfter; ///< the default generator's next draw after forward and backward
};

Pass forwardBackward(LanguageModel& model, const ModelInputs& inputs) {
  at::manual_seed(24); // the dropout draws
  const at::Tensor logits = model.forward(inputs);
  at::manual_seed(25);
  const at::Tensor weights = at::randn(logits.sizes());
  at::manual_seed(26);
  (logits * weights).sum().backward();
  Pass pass;
  for (const auto& item : model.named_parameters()) {
    if (item.value().requires_grad()) pass.grads[item.key()] = item.value().grad().clone();
  }
  pass.drawnAfter = at::randn({4});
  return pass;
}

struct Case {
  std::string family;
  TrainMethod method;
  double dropout;
};

class GradientCheckpoint : public ::testing::TestWithParam<Case> {};

TEST_P(GradientCheckpoint, GradientsEqualKeepingEveryActivation) {
  const Case c = GetParam();
  auto plain = preparedModel(c.family, c.method, c.dropout, false);
  auto checkpointed = preparedModel(c.family, c.method, c.dropout, true);
  const ModelInputs inputs = inputsFor(c.family);
  const Pass expected = forwardBackward(*plain, inputs);
  const Pass actual = forwardBackward(*checkpointed, inputs);
  ASSERT_FALSE(expected.grads.empty());
  ASSERT_EQ(expected.grads.size(), actual.grads.size());
  int nonZero = 0;
  for (const auto& [name, grad] : expected.grads) {
    const at::Tensor& other = actual.grads.at(name);
    ASSERT_TRUE(grad.defined()) << name;
    ASSERT_TRUE(other.defined()) << name << ": no gradient with checkpointing";
    // 1e-6 relative to the gradient's largest entry (absolute below 1): the same operations,
    // except that a tensor feeding several recomputed blocks (T5's encoder output, read by every
    // decoder block's cross-attention) sums its gradient contributions in another order.
    const double largest = grad.abs().max().item<double>();
    const double difference = (grad - other).abs().max().item<double>();
    EXPECT_LE(difference, 1e-6 * std::max(1.0, largest)) << name << " (largest entry " << largest << ")";
    nonZero += largest > 0.0;
  }
  EXPECT_GT(nonZero, 0);
  // The recomputation replays the forward's random numbers and then puts the generator back.
  EXPECT_TRUE(at::equal(expected.drawnAfter, actual.drawnAfter)) << "checkpointing changed the random stream";
}

std::string caseName(const ::testing::TestParamInfo<Case>& info) {
  return info.param.family + "_" + (info.param.method == TrainMethod::LoraFa ? "lorafa"
                                    : info.param.method == TrainMethod::Lora ? "lora"
                                                                             : "full") +
         (info.param.dropout > 0 ? "_dropout" : "");
}

INSTANTIATE_TEST_SUITE_P(Families, GradientCheckpoint,
                         ::testing::Values(Case{"llama", TrainMethod::LoraFa, 0.1}, Case{"llama", TrainMethod::Lora, 0.1},
                                           Case{"llama", TrainMethod::Full, 0.0},
                                           Case{"gpt2", TrainMethod::LoraFa, 0.1}, Case{"gpt2", TrainMethod::Lora, 0.0},
                                           Case{"gpt2", TrainMethod::Full, 0.0},
                                           Case{"bert_cls", TrainMethod::LoraFa, 0.1},
                                           Case{"bert_cls", TrainMethod::Full, 0.0},
                                           Case{"roberta_cls", TrainMethod::LoraFa, 0.0},
                                           Case{"roberta_cls", TrainMethod::Lora, 0.1},
                                           Case{"t5_v1_0", TrainMethod::LoraFa, 0.1}, Case{"t5_v1_1", TrainMethod::Lora, 0.0},
                                           Case{"t5_v1_0", TrainMethod::Full, 0.0}),
                         caseName);

/// Whether the autograd graph behind `output` holds a block-checkpoint node.
bool graphHasCheckpoint(const at::Tensor& output) {
  std::vector<torch::autograd::Node*> stack;
  std::set<torch::autograd::Node*> seen;
  if (output.grad_fn()) stack.push_back(output.grad_fn().get());
  while (!stack.empty()) {
    torch::autograd::Node* node = stack.back();
    stack.pop_back();
    if (!seen.insert(node).second) continue;
    if (node->name().find("BlockCheckpoint") != std::string::npos) return true;
    for (const torch::autograd::Edge& edge : node->next_edges()) {
      if (edge.function) stack.push_back(edge.function.get());
    }
  }
  return false;
}

TEST(GradientCheckpointScope, NotUsedWithoutGradientsOrInEval) {
  auto model = preparedModel("llama", TrainMethod::LoraFa, 0.0, true);
  const ModelInputs inputs = inputsFor("llama");
  EXPECT_TRUE(graphHasCheckpoint(model->forward(inputs))) << "training: every block goes through a checkpoint";
  {
    c10::NoGradGuard noGrad;
    EXPECT_FALSE(model->forward(inputs).requires_grad());
  }
  model->eval();
  const at::Tensor logits = model->forward(inputs);
  EXPECT_TRUE(logits.requires_grad()); // plain autograd graph: eval keeps gradients usable
  EXPECT_FALSE(graphHasCheckpoint(logits)) << "eval: no recomputation";
  logits.sum().backward();
}

// Peak CPU bytes of one forward + backward of a LoRA-FA Llama whose attention and MLP
// activations ([B, T, hidden] and [B, T, 4·hidden] per block; attention keeps no [B, H, T, T]
// since it recomputes its probabilities) dwarf the weights and the logits.
std::int64_t peakTrainingBytes(bool checkpointing) {
  const std::string json = R"({"model_type": "llama", "vocab_size": 61, "hidden_size": 64, "intermediate_size": 256,
      "num_hidden_layers": 12, "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 512,
      "rms_norm_eps": 1e-6})";
  auto model = createModel(ModelConfig::fromJson(json, "<activations llama>"), at::TensorOptions().dtype(at::kFloat));
  initializeRandom(*model, 5);
  AdapterConfig adapter;
  adapter.method = TrainMethod::LoraFa;
  adapter.rank = 4;
  prepareForTraining(*model, TargetSpec::parse("all-linear"), adapter);
  model->train();
  model->setGradientCheckpointing(checkpointing);
  ModelInputs inputs;
  inputs.inputIds = at::randint(3, 61, {2, 256}, at::TensorOptions().dtype(at::kLong));
  CpuMemoryTracker& tracker = CpuMemoryTracker::instance();
  const std::int64_t before = tracker.currentBytes();
  tracker.resetPeak();
  {
    const at::Tensor logits = model->forward(inputs);
    logits.sum().backward();
  }
  return tracker.peakBytes() - before;
}

TEST(GradientCheckpointMemory, PeakIsLowerWhereActivationsDominate) {
  CpuMemoryTracker::instance().install();
  at::manual_seed(30);
  const std::int64_t plain = peakTrainingBytes(false);
  at::manual_seed(30);
  const std::int64_t checkpointed = peakTrainingBytes(true);
  // Twelve blocks' activations against one block's (recomputed) plus twelve hidden states: at least a
  // halving here; the exact ratio depends on LibTorch's kernels.
  EXPECT_LT(checkpointed * 2, plain) << "plain " << formatBytes(plain) << ", checkpointed " << formatBytes(checkpointed);
}

} // namespace
} // namespace lorafa

namespace lorafa {
namespace {

// What precision: bf16 does to a model (Trainer::setup): frozen weights in bf16, adapters fp32,
// forward under CPU autocast. Every family must run it, with and without checkpointing, and
// give fp32 gradients to fp32 parameters.
class Bf16Autocast : public ::testing::TestWithParam<Case> {};

TEST_P(Bf16Autocast, ForwardAndBackwardRunWithFp32Gradients) {
  const Case c = GetParam();
  for (const bool checkpointing : {false, true}) {
    auto model = preparedModel(c.family, c.method, c.dropout, checkpointing);
    {
      c10::NoGradGuard noGrad;
      for (auto& item : model->named_parameters()) {
        const std::string& name = item.key();
        const bool adapter = name.find(".lora_") != std::string::npos;
        if (!item.value().requires_grad() && !adapter) item.value().set_data(item.value().to(at::kBFloat16));
      }
    }
    const ModelInputs inputs = inputsFor(c.family);
    at::Tensor logits;
    {
      AutocastScope autocast(c10::DeviceType::CPU, at::kBFloat16);
      logits = model->forward(inputs);
    }
    logits.to(at::kFloat).pow(2).mean().backward();
    int withGradient = 0;
    for (const auto& item : model->named_parameters()) {
      if (!item.value().requires_grad()) continue;
      EXPECT_EQ(item.value().scalar_type(), at::kFloat) << item.key();
      const at::Tensor& g = item.value().grad();
      if (!g.defined()) continue;
      ++withGradient;
      EXPECT_EQ(g.scalar_type(), at::kFloat) << item.key();
      EXPECT_TRUE(g.isfinite().all().item<bool>()) << item.key();
    }
    EXPECT_GT(withGradient, 0) << c.family << (checkpointing ? " checkpointed" : "");
  }
}

INSTANTIATE_TEST_SUITE_P(Families, Bf16Autocast,
                         ::testing::Values(Case{"llama", TrainMethod::LoraFa, 0.1}, Case{"llama", TrainMethod::Lora, 0.0},
                                           Case{"llama", TrainMethod::Full, 0.0}, Case{"gpt2", TrainMethod::LoraFa, 0.0},
                                           Case{"gpt2", TrainMethod::Full, 0.0}, Case{"bert_cls", TrainMethod::LoraFa, 0.0},
                                           Case{"roberta_cls", TrainMethod::Lora, 0.0},
                                           Case{"t5_v1_1", TrainMethod::LoraFa, 0.0}),
                         caseName);

} // namespace
} // namespace lorafa
