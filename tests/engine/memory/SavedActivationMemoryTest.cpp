// The point of LoRA-FA, measured with the tracking allocator: what one layer keeps alive between
// forward and backward. LoRA-FA keeps Z = x·Aᵀ (N·r floats); LoRA keeps x itself (N·in floats).
#include "lorafa/CpuMemoryTracker.h"

#include "adapters/LinearLayerFactory.h"

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
