// Adapter dropout for LoRA-FA: a mask regenerated from a seed, never stored.
#include "adapters/DropoutMask.h"
#include "adapters/LoraFaFunction.h"
#include "adapters/LoraFaLinear.h"

#include "TensorAssertions.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <cmath>

using namespace lorafa;
using lorafa::test::allClose;

TEST(DropoutMask, EntriesAreZeroOrInverseKeepProbability) {
  const double p = 0.25;
  const at::Tensor mask = dropoutKeepScale(12345, {300, 700}, p, torch::dtype(torch::kDouble));
  EXPECT_EQ(mask.sizes(), (std::vector<std::int64_t>{300, 700}));
  const at::Tensor kept = mask.ne(0.0);
  EXPECT_TRUE(allClose(mask.masked_select(kept), torch::full({kept.sum().item<std::int64_t>()}, 1.0 / (1.0 - p), torch::kDouble), 1e-15, 0));
  // The dropped fraction of 210,000 Bernoulli(p) draws lies within 5 standard deviations of p.
  const double n = 210000.0;
  const double dropped = 1.0 - kept.to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(dropped, p, 5.0 * std::sqrt(p * (1.0 - p) / n));
  // Neighbouring entries are not correlated (a weak hash would show a pattern here).
  const at::Tensor k = kept.to(torch::kDouble).flatten();
  const double both = (k.slice(0, 0, -1) * k.slice(0, 1)).mean().item<double>();
  EXPECT_NEAR(both, (1 - p) * (1 - p), 5.0 * std::sqrt((1 - p) * (1 - p) / n));
}

TEST(DropoutMask, SameSeedSameMaskOtherSeedOtherMask) {
  const auto opts = torch::dtype(torch::kFloat);
  const at::Tensor a = dropoutKeepScale(99, {64, 64}, 0.5, opts);
  const at::Tensor b = dropoutKeepScale(99, {64, 64}, 0.5, opts);
  const at::Tensor c = dropoutKeepScale(100, {64, 64}, 0.5, opts);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_EQ(a.dtype(), torch::kFloat);
}

TEST(DropoutMask, LoraFaGradientsUseTheSameMaskAsForward) {
  torch::manual_seed(21);
  const auto opts = torch::dtype(torch::kDouble);
  const std::int64_t n = 37, in = 19, out = 11, r = 5;
  const double s = 1.7, p = 0.3;
  const std::int64_t seed = 424242;
  const at::Tensor w = torch::randn({out, in}, opts), b = torch::randn({out}, opts);
  const at::Tensor a = torch::randn({r, in}, opts);
  const at::Tensor bm = torch::randn({out, r}, opts).requires_grad_(true);
  const at::Tensor x = torch::randn({n, in}, opts).requires_grad_(true);
  const at::Tensor y = LoraFaFunction::apply(x, w, b, a, bm, s, p, seed);
  const at::Tensor dy = torch::randn_like(y);
  y.backward(dy);

  // Reference: plain autograd with the mask written into the graph explicitly.
  const at::Tensor mask = dropoutKeepScale(seed, {n, in}, p, opts);
  const at::Tensor xr = x.detach().clone().requires_grad_(true);
  const at::Tensor br = bm.detach().clone().requires_grad_(true);
  const at::Tensor yr = torch::matmul(xr, w.t()) + b + s * torch::matmul(torch::matmul(xr * mask, a.t()), br.t());
  yr.backward(dy);
  EXPECT_TRUE(allClose(y, yr, 1e-12, 1e-12));
  EXPECT_TRUE(allClose(x.grad(), xr.grad(), 1e-12, 1e-12));
  EXPECT_TRUE(allClose(bm.grad(), br.grad(), 1e-12, 1e-12));
}

TEST(DropoutMask, LayerDropsOnlyWhileTraining) {
  torch::manual_seed(31);
  AdapterConfig config;
  config.dropout = 0.5;
  LoraFaLinear layer(torch::randn({6, 10}), at::Tensor(), config);
  {
    torch::NoGradGuard noGrad;
    layer.named_parameters()["lora_B"].normal_();
  }
  const at::Tensor x = torch::randn({8, 10});
  layer.eval();
  const at::Tensor evalOut = layer.forward(x);
  EXPECT_TRUE(allClose(layer.forward(x), evalOut, 0, 0)) << "eval mode must be deterministic";
  layer.train();
  const at::Tensor trainOut = layer.forward(x);
  EXPECT_FALSE(torch::allclose(trainOut, evalOut)) << "training mode applied no dropout";
  const at::Tensor trainOut2 = layer.forward(x);
  EXPECT_FALSE(torch::equal(trainOut, trainOut2)) << "each step must draw a new mask";
}
