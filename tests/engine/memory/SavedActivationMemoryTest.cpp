// The point of LoRA-FA, measured with the tracking allocator: what one layer keeps alive between
// forward and backward. LoRA-FA keeps Z = x·Aᵀ (N·r floats); LoRA keeps x itself (N·in floats).
#include "lorafa/CpuMemoryTracker.h"

#include "adapters/LinearLayerFactory.h"
#include "memory/GatedActivation.h"
#include "models/LanguageModel.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

using namespace lorafa;

namespace {

constexpr std::int64_t kFloat = 4;
// Anything the autograd graph holds besides the activations (none is expected on the CPU
// allocator: graph nodes are not tensors). Stated bound, independent of N, in and out.
constexpr std::int64_t kSmallConstantBytes = 1024;

// Bytes held by the layer's autograd graph after forward, once the caller has dropped its own
// reference to the input and not counting the output itself.
std::int64_t heldBetweenForwardAndBackward(LinearLayer& layer, std::int64_t tokens, bool inputRequiresGrad) {
  CpuMemoryTracker& tracker = CpuMemoryTracker::instance();
  const std::int64_t in = layer.weight().size(1);
  const at::Tensor source = torch::randn({tokens, in}).requires_grad_(inputRequiresGrad);
  const std::int64_t before = tracker.currentBytes();
  at::Tensor y;
  {
    const at::Tensor x = source * 2.0; // a fresh activation, as a previous layer would produce
    y = layer.forward(x);
  }
  const std::int64_t held = tracker.currentBytes() - before - static_cast<std::int64_t>(y.nbytes());
  y.backward(torch::ones_like(y)); // the graph must still be usable
  return held;
}

std::shared_ptr<LinearLayer> layerFor(TrainMethod method, std::int64_t in, std::int64_t out, int rank,
                                      double dropout = 0.0) {
  AdapterConfig config;
  config.method = method;
  config.rank = rank;
  config.dropout = dropout;
  auto layer = makeLinearLayer(torch::randn({out, in}), torch::randn({out}), config);
  layer->train();
  return layer;
}

class SavedActivationMemory : public ::testing::TestWithParam<bool> {
protected:
  void SetUp() override { CpuMemoryTracker::instance().install(); }
};

} // namespace

TEST_P(SavedActivationMemory, LoraFaHoldsOnlyRankSizedActivation) {
  const bool inputRequiresGrad = GetParam();
  for (std::int64_t in : {256, 1024}) {
    for (std::int64_t tokens : {128, 1000}) {
      for (int rank : {4, 16}) {
        auto layer = layerFor(TrainMethod::LoraFa, in, 192, rank);
        const std::int64_t held = heldBetweenForwardAndBackward(*layer, tokens, inputRequiresGrad);
        const std::int64_t expected = tokens * rank * kFloat;
        EXPECT_GE(held, expected) << "in " << in << " N " << tokens << " r " << rank;
        EXPECT_LE(held, expected + kSmallConstantBytes) << "in " << in << " N " << tokens << " r " << rank;
      }
    }
  }
}

TEST_P(SavedActivationMemory, LoraFaWithDropoutKeepsNoMask) {
  auto layer = layerFor(TrainMethod::LoraFa, 512, 128, 8, /*dropout=*/0.1);
  const std::int64_t held = heldBetweenForwardAndBackward(*layer, 640, GetParam());
  EXPECT_GE(held, 640 * 8 * kFloat);
  EXPECT_LE(held, 640 * 8 * kFloat + kSmallConstantBytes);
}

TEST_P(SavedActivationMemory, LoraHoldsTheFullInput) {
  for (std::int64_t in : {256, 1024}) {
    for (std::int64_t tokens : {128, 1000}) {
      auto layer = layerFor(TrainMethod::Lora, in, 192, 8);
      const std::int64_t held = heldBetweenForwardAndBackward(*layer, tokens, GetParam());
      EXPECT_GE(held, tokens * in * kFloat) << "in " << in << " N " << tokens;
    }
  }
}

TEST_P(SavedActivationMemory, FullFineTuningHoldsTheFullInput) {
  auto layer = layerFor(TrainMethod::Full, 512, 192, 8);
  EXPECT_GE(heldBetweenForwardAndBackward(*layer, 300, GetParam()), 300 * 512 * kFloat);
}

INSTANTIATE_TEST_SUITE_P(InputGrad, SavedActivationMemory, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("InputNeedsGrad") : std::string("InputNoGrad");
                         });

// RMSNorm (Llama, Mistral, Qwen2, T5) between forward and backward keeps its input, which the
// caller holds anyway (the residual stream), and one float per row (1/rms). Computed with
// mean(), LibTorch 1.13 also kept the squares [rows, hidden] float32 — two per block and the
// final norm, 1.5 GiB on the LLaMA-style shape at 12 × 1024 tokens (docs/PERFORMANCE.md).
TEST(RmsNormMemory, KeepsOneFloatPerRowBesidesItsInput) {
  CpuMemoryTracker& tracker = CpuMemoryTracker::instance();
  tracker.install();
  for (std::int64_t hidden : {256, 1024}) {
    for (std::int64_t rows : {100, 1000}) {
      RmsNorm norm(hidden, 1e-6, torch::TensorOptions().dtype(torch::kFloat));
      norm.weight.set_requires_grad(false); // frozen, as under LoRA and LoRA-FA
      const at::Tensor source = torch::randn({2, rows, hidden}).requires_grad_(true);
      const at::Tensor x = source * 2.0; // a fresh activation, held by the caller
      const std::int64_t before = tracker.currentBytes();
      at::Tensor y = norm.forward(x);
      const std::int64_t held = tracker.currentBytes() - before - static_cast<std::int64_t>(y.nbytes());
      EXPECT_GE(held, 2 * rows * kFloat) << "hidden " << hidden << " rows " << rows;
      EXPECT_LE(held, 2 * rows * kFloat + kSmallConstantBytes) << "hidden " << hidden << " rows " << rows;
      y.backward(torch::ones_like(y));
    }
  }
}

// The same values as Hugging Face's x · rsqrt(mean(x²) + eps) · w: the output and dx against
// that formula in float64 (1e-6 relative, float32 rounding), and bit for bit against it in
// float32 with mean() (on the CPU mean is a sum divided by n; both backwards give grad / n).
TEST(RmsNormMemory, SameOutputAndGradientAsTheMeanFormula) {
  const std::int64_t hidden = 384;
  RmsNorm norm(hidden, 1e-5, torch::TensorOptions().dtype(torch::kFloat));
  torch::manual_seed(3);
  norm.weight.set_data(torch::rand({hidden}) + 0.5);
  norm.weight.set_requires_grad(false);
  const at::Tensor input = torch::randn({3, 50, hidden}) * 3.0;
  const at::Tensor upstream = torch::randn({3, 50, hidden});

  const at::Tensor x = input.clone().requires_grad_(true);
  const at::Tensor y = norm.forward(x);
  y.backward(upstream);

  auto reference = [&](c10::ScalarType dtype) {
    const at::Tensor r = input.to(dtype).requires_grad_(true);
    const at::Tensor out = r * torch::rsqrt(r.pow(2).mean(-1, true) + 1e-5) * norm.weight.to(dtype);
    out.backward(upstream.to(dtype));
    return std::make_pair(out.detach(), r.grad());
  };
  const auto [out64, grad64] = reference(torch::kDouble);
  EXPECT_TRUE(torch::allclose(y.to(torch::kDouble), out64, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(x.grad().to(torch::kDouble), grad64, 1e-6, 1e-6));
  const auto [out32, grad32] = reference(torch::kFloat);
  EXPECT_EQ((y - out32).abs().max().item<float>(), 0.0f);
  EXPECT_LE((x.grad() - grad32).abs().max().item<float>(), 1e-6f * grad32.abs().max().item<float>());
}

// Gemma's GeGLU as one node (memory/GatedActivation): the same output and gradients as the plain
// ops gelu(gate, tanh) · up (autograd's own derivatives; float64, 1e-12), and it keeps gate and up
// only: one [rows, intermediate] tensor less than the plain ops keep.
TEST(GatedActivationMemory, TanhGeluNodeEqualsThePlainOpsAndKeepsTwoTensors) {
  torch::manual_seed(5);
  const at::Tensor gate0 = torch::randn({3, 40, 96}, torch::kDouble) * 2.0;
  const at::Tensor up0 = torch::randn({3, 40, 96}, torch::kDouble);
  const at::Tensor upstream = torch::randn({3, 40, 96}, torch::kDouble);
  const at::Tensor gate = gate0.clone().requires_grad_(true), up = up0.clone().requires_grad_(true);
  const at::Tensor y = gatedActivation("gelu_pytorch_tanh", gate, up);
  y.backward(upstream);
  const at::Tensor refGate = gate0.clone().requires_grad_(true), refUp = up0.clone().requires_grad_(true);
  const at::Tensor ref = torch::gelu(refGate, "tanh") * refUp;
  ref.backward(upstream);
  EXPECT_TRUE(torch::allclose(y, ref, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(gate.grad(), refGate.grad(), 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(up.grad(), refUp.grad(), 1e-12, 1e-12));

  CpuMemoryTracker& tracker = CpuMemoryTracker::instance();
  tracker.install();
  const std::int64_t rows = 1000, width = 512;
  const at::Tensor source = torch::randn({rows, width}).requires_grad_(true);
  auto held = [&](bool fused) {
    const at::Tensor g = source * 2.0, u = source * 3.0; // fresh activations, held by the caller
    const std::int64_t before = tracker.currentBytes();
    at::Tensor out = fused ? gatedActivation("gelu_pytorch_tanh", g, u) : torch::gelu(g, "tanh") * u;
    const std::int64_t bytes = tracker.currentBytes() - before - static_cast<std::int64_t>(out.nbytes());
    out.sum().backward();
    return bytes;
  };
  const std::int64_t plain = held(false), fused = held(true);
  EXPECT_LE(fused, kSmallConstantBytes) << "the node keeps gate and up, which the caller holds anyway";
  EXPECT_GE(plain - fused, rows * width * kFloat) << "plain " << plain << " fused " << fused;
}
