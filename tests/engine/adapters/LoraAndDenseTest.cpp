// The baselines: LoRA (A and B trained), full fine-tuning and frozen layers, checked against the
// closed-form gradients written out here in float64.
#include "adapters/DenseLinear.h"
#include "adapters/LinearLayerFactory.h"
#include "adapters/LoraLinear.h"

#include "TensorAssertions.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <random>

using namespace lorafa;
using lorafa::test::allClose;

namespace {

at::Tensor param(torch::nn::Module& m, const char* name) { return m.named_parameters()[name]; }

std::vector<std::string> trainableNames(torch::nn::Module& m) {
  std::vector<std::string> names;
  for (const auto& p : m.named_parameters()) {
    if (p.value().requires_grad()) names.push_back(p.key());
  }
  return names;
}

constexpr double kTol = 1e-10; // float64 throughout: rounding only

} // namespace

TEST(LoraLinear, GradientsMatchClosedForms) {
  torch::manual_seed(5);
  std::mt19937 rng(5);
  const auto opts = torch::dtype(torch::kDouble);
  for (int trial = 0; trial < 20; ++trial) {
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    const std::int64_t in = pick(1, 40), out = pick(1, 40), rank = pick(1, 10), batch = pick(1, 4), seq = pick(1, 9);
    const bool rslora = pick(0, 1) == 1;
    const bool withBias = pick(0, 1) == 1;
    SCOPED_TRACE("trial " + std::to_string(trial));
    AdapterConfig config;
    config.method = TrainMethod::Lora;
    config.rank = static_cast<int>(rank);
    config.alpha = 2.0 * static_cast<double>(rank) + 1.0;
    config.useRslora = rslora;
    const double s = rslora ? config.alpha / std::sqrt(static_cast<double>(rank)) : config.alpha / rank;
    const at::Tensor w = torch::randn({out, in}, opts);
    const at::Tensor b = withBias ? torch::randn({out}, opts) : at::Tensor();
    LoraLinear layer(w, b, config);
    {
      torch::NoGradGuard noGrad;
      param(layer, "lora_B").normal_();
    }
    const at::Tensor a = param(layer, "lora_A");
    const at::Tensor bm = param(layer, "lora_B");
    const at::Tensor x = torch::randn({batch, seq, in}, opts).requires_grad_(true);
    const at::Tensor y = layer.forward(x);
    const at::Tensor dy = torch::randn_like(y);
    y.backward(dy);

    // Flattened over batch×sequence: X [N, in], G [N, out].
    const at::Tensor X = x.detach().reshape({-1, in});
    const at::Tensor G = dy.reshape({-1, out});
    at::Tensor expectedY = torch::mm(X, w.t()) + s * torch::mm(torch::mm(X, a.t().detach()), bm.t().detach());
    if (withBias) expectedY = expectedY + b;
    EXPECT_TRUE(allClose(y.reshape({-1, out}), expectedY, kTol, kTol)) << "y";
    EXPECT_TRUE(allClose(bm.grad(), s * torch::mm(G.t(), torch::mm(X, a.t().detach())), kTol, kTol)) << "dB";
    EXPECT_TRUE(allClose(a.grad(), s * torch::mm(torch::mm(G, bm.detach()).t(), X), kTol, kTol)) << "dA";
    const at::Tensor expectedDx = torch::mm(G, w) + s * torch::mm(torch::mm(G, bm.detach()), a.detach());
    EXPECT_TRUE(allClose(x.grad().reshape({-1, in}), expectedDx, kTol, kTol)) << "dx";
    EXPECT_FALSE(layer.weight().grad().defined()) << "W must stay frozen";
  }
}

TEST(LoraLinear, MergeThenUnmergeRestoresWeight) {
  torch::manual_seed(8);
  AdapterConfig config;
  config.method = TrainMethod::Lora;
  config.rank = 5;
  config.alpha = 10.0;
  const at::Tensor w0 = torch::randn({12, 7}, torch::kDouble);
  LoraLinear layer(w0.clone(), at::Tensor(), config);
  {
    torch::NoGradGuard noGrad;
    param(layer, "lora_B").normal_();
  }
  const at::Tensor x = torch::randn({3, 7}, torch::kDouble);
  const at::Tensor before = layer.forward(x).detach();
  layer.merge();
  EXPECT_TRUE(allClose(layer.weight(), w0 + 2.0 * torch::mm(param(layer, "lora_B"), param(layer, "lora_A")), kTol, kTol));
  EXPECT_TRUE(allClose(layer.forward(x), before, kTol, kTol));
  layer.unmerge();
  EXPECT_TRUE(allClose(layer.weight(), w0, 1e-12, 1e-12));
}

TEST(DenseLinear, FullFineTuningTrainsWeightAndBias) {
  torch::manual_seed(9);
  const auto opts = torch::dtype(torch::kDouble);
  const at::Tensor w = torch::randn({6, 4}, opts);
  const at::Tensor b = torch::randn({6}, opts);
  DenseLinear layer(w, b, TrainMethod::Full);
  const at::Tensor x = torch::randn({2, 3, 4}, opts).requires_grad_(true);
  const at::Tensor y = layer.forward(x);
  const at::Tensor dy = torch::randn_like(y);
  y.backward(dy);
  const at::Tensor X = x.detach().reshape({-1, 4});
  const at::Tensor G = dy.reshape({-1, 6});
  EXPECT_TRUE(allClose(layer.weight().grad(), torch::mm(G.t(), X), kTol, kTol)) << "dW";
  EXPECT_TRUE(allClose(layer.bias().grad(), G.sum(0), kTol, kTol)) << "db";
  EXPECT_TRUE(allClose(x.grad().reshape({-1, 4}), torch::mm(G, w), kTol, kTol)) << "dx";
}

TEST(DenseLinear, FrozenPassesGradientToInputOnly) {
  torch::manual_seed(10);
  const auto opts = torch::dtype(torch::kDouble);
  const at::Tensor w = torch::randn({5, 3}, opts);
  DenseLinear layer(w, torch::randn({5}, opts), TrainMethod::Frozen);
  const at::Tensor x = torch::randn({4, 3}, opts).requires_grad_(true);
  const at::Tensor y = layer.forward(x);
  const at::Tensor dy = torch::randn_like(y);
  y.backward(dy);
  EXPECT_TRUE(allClose(x.grad(), torch::mm(dy, w), kTol, kTol));
  EXPECT_FALSE(layer.weight().grad().defined());
  EXPECT_FALSE(layer.bias().grad().defined());
  EXPECT_TRUE(trainableNames(layer).empty());
}

TEST(LinearLayerFactory, EachMethodTrainsWhatItShould) {
  const at::Tensor w = torch::randn({6, 4});
  const at::Tensor b = torch::randn({6});
  const std::vector<std::pair<TrainMethod, std::vector<std::string>>> expected = {
      {TrainMethod::LoraFa, {"lora_B"}},
      {TrainMethod::Lora, {"lora_A", "lora_B"}},
      {TrainMethod::Full, {"weight", "bias"}},
      {TrainMethod::Frozen, {}},
  };
  for (const auto& [method, names] : expected) {
    AdapterConfig config;
    config.method = method;
    auto layer = makeLinearLayer(w, b, config);
    EXPECT_EQ(layer->method(), method);
    auto actual = trainableNames(*layer);
    std::sort(actual.begin(), actual.end());
    auto sorted = names;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(actual, sorted) << toString(method);
  }
}

TEST(LinearLayerFactory, RejectsBadShapesWithClearErrors) {
  AdapterConfig config;
  try {
    makeLinearLayer(torch::randn({6}), at::Tensor(), config);
    FAIL() << "1-D weight accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("2-D tensor [out, in], got 1-D"), std::string::npos) << error.what();
  }
  try {
    makeLinearLayer(torch::randn({6, 4}), torch::randn({5}), config);
    FAIL() << "bias of the wrong size accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("bias must be [6]"), std::string::npos) << error.what();
  }
  config.rank = 0;
  EXPECT_THROW(makeLinearLayer(torch::randn({6, 4}), at::Tensor(), config), std::invalid_argument);
}
