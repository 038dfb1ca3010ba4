// LoRA-FA's forward and backward against an independent reference: the same formula built from
// plain autograd ops (matmul, add, mul) in float64, differentiated by LibTorch's autograd.
#include "adapters/LoraFaLinear.h"

#include "TensorAssertions.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace lorafa;
using lorafa::test::allClose;

namespace {

struct Shape {
  std::int64_t in, out, rank;
  std::vector<std::int64_t> leading; // batch dims before `in`: [N] or [B, T]
  bool bias;
  bool rslora;
  double alpha;
};

Shape randomShape(std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Shape s;
  s.in = pick(1, 48);
  s.out = pick(1, 48);
  s.rank = pick(1, 12);
  s.leading = pick(0, 1) ? std::vector<std::int64_t>{pick(1, 40)} : std::vector<std::int64_t>{pick(1, 5), pick(1, 9)};
  s.bias = pick(0, 1) == 1;
  s.rslora = pick(0, 1) == 1;
  s.alpha = 0.5 * pick(1, 64);
  return s;
}

std::vector<std::int64_t> withLast(std::vector<std::int64_t> sizes, std::int64_t last) {
  sizes.push_back(last);
  return sizes;
}

struct Reference {
  at::Tensor y, dx, dW, db, dA, dB;
};

// y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ in float64, every operand a leaf that requires grad.
Reference referenceGrads(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const at::Tensor& a,
                         const at::Tensor& bMat, double s, const at::Tensor& dy) {
  auto leaf = [](const at::Tensor& t) { return t.detach().to(torch::kDouble).clone().requires_grad_(true); };
  at::Tensor xr = leaf(x), wr = leaf(w), ar = leaf(a), br = leaf(bMat);
  at::Tensor biasr = b.defined() ? leaf(b) : at::Tensor();
  at::Tensor y = torch::matmul(xr, wr.t()) + s * torch::matmul(torch::matmul(xr, ar.t()), br.t());
  if (biasr.defined()) y = y + biasr;
  y.backward(dy.to(torch::kDouble));
  return {y.detach(), xr.grad(), wr.grad(), biasr.defined() ? biasr.grad() : at::Tensor(), ar.grad(), br.grad()};
}

double expectedScaling(const Shape& s) {
  return s.rslora ? s.alpha / std::sqrt(static_cast<double>(s.rank)) : s.alpha / static_cast<double>(s.rank);
}

AdapterConfig configFor(const Shape& s, TrainMethod method) {
  AdapterConfig c;
  c.method = method;
  c.rank = static_cast<int>(s.rank);
  c.alpha = s.alpha;
  c.useRslora = s.rslora;
  return c;
}

at::Tensor param(torch::nn::Module& m, const char* name) { return m.named_parameters()[name]; }

void runAgainstReference(torch::Dtype dtype, double rtol, double atol, int trials, std::uint32_t seed) {
  torch::manual_seed(seed);
  std::mt19937 rng(seed);
  const auto opts = torch::dtype(dtype);
  for (int trial = 0; trial < trials; ++trial) {
    const Shape s = randomShape(rng);
    SCOPED_TRACE("trial " + std::to_string(trial) + ": in " + std::to_string(s.in) + " out " +
                 std::to_string(s.out) + " r " + std::to_string(s.rank) + (s.bias ? " bias" : "") +
                 (s.rslora ? " rslora" : "") + " leading dims " + std::to_string(s.leading.size()));
    const at::Tensor w = torch::randn({s.out, s.in}, opts);
    const at::Tensor b = s.bias ? torch::randn({s.out}, opts) : at::Tensor();
    LoraFaLinear layer(w, b, configFor(s, TrainMethod::LoraFa));
    {
      torch::NoGradGuard noGrad; // a trained-looking B, so the adapter path matters in dx
      param(layer, "lora_B").normal_();
    }
    const at::Tensor x0 = torch::randn(withLast(s.leading, s.in), opts);
    const at::Tensor x = x0.clone().requires_grad_(true);
    const at::Tensor y = layer.forward(x);
    const at::Tensor dy = torch::randn_like(y);
    y.backward(dy);

    const Reference ref = referenceGrads(x0, w, b, param(layer, "lora_A"), param(layer, "lora_B"),
                                         expectedScaling(s), dy);
    EXPECT_TRUE(allClose(y, ref.y, rtol, atol)) << "output";
    EXPECT_TRUE(allClose(x.grad(), ref.dx, rtol, atol)) << "dx";
    EXPECT_TRUE(allClose(param(layer, "lora_B").grad(), ref.dB, rtol, atol)) << "dB";
    EXPECT_FALSE(param(layer, "lora_A").grad().defined()) << "A must get no gradient";
    EXPECT_FALSE(layer.weight().grad().defined()) << "W must get no gradient";
    if (s.bias) {
      EXPECT_FALSE(layer.bias().grad().defined()) << "bias must get no gradient";
    }
  }
}

} // namespace

// float64 against float64: only rounding differs between the two formulas.
TEST(LoraFaGradient, MatchesFloat64ReferenceOnRandomShapes) {
  runAgainstReference(torch::kDouble, /*rtol=*/1e-10, /*atol=*/1e-10, /*trials=*/40, /*seed=*/20230806);
}

// float32 layer against the float64 reference: float32 rounding over sums of ≤ 48 terms.
TEST(LoraFaGradient, MatchesFloat64ReferenceInFloat32) {
  runAgainstReference(torch::kFloat, /*rtol=*/1e-4, /*atol=*/1e-4, /*trials=*/20, /*seed=*/7);
}

TEST(LoraFaGradient, InputWithoutGradStillTrainsB) {
  torch::manual_seed(3);
  const auto opts = torch::dtype(torch::kDouble);
  AdapterConfig config;
  config.rank = 3;
  config.alpha = 6.0;
  LoraFaLinear layer(torch::randn({5, 7}, opts), torch::randn({5}, opts), config);
  const at::Tensor x = torch::randn({4, 7}, opts); // e.g. the embeddings of the first layer
  const at::Tensor y = layer.forward(x);
  const at::Tensor dy = torch::randn_like(y);
  y.backward(dy);
  // dB = s·dyᵀ·(x·Aᵀ), written out directly.
  const at::Tensor expected = 2.0 * torch::mm(dy.t(), torch::mm(x, param(layer, "lora_A").t()));
  EXPECT_TRUE(allClose(param(layer, "lora_B").grad(), expected, 1e-12, 1e-12));
}

TEST(LoraFaGradient, OnlyBIsTrainable) {
  LoraFaLinear layer(torch::randn({6, 4}), torch::randn({6}), AdapterConfig{});
  std::vector<std::string> trainable;
  for (const auto& p : layer.named_parameters()) {
    if (p.value().requires_grad()) trainable.push_back(p.key());
  }
  EXPECT_EQ(trainable, std::vector<std::string>{"lora_B"});
  EXPECT_EQ(param(layer, "lora_A").sizes(), (std::vector<std::int64_t>{8, 4}));
  EXPECT_EQ(param(layer, "lora_B").sizes(), (std::vector<std::int64_t>{6, 8}));
}

TEST(LoraFaGradient, MergeThenUnmergeRestoresWeight) {
  torch::manual_seed(11);
  for (auto dtype : {torch::kDouble, torch::kFloat}) {
    const double tol = dtype == torch::kDouble ? 1e-12 : 1e-5;
    const auto opts = torch::dtype(dtype);
    AdapterConfig config;
    config.rank = 4;
    config.alpha = 12.0;
    const at::Tensor w0 = torch::randn({9, 13}, opts);
    LoraFaLinear layer(w0.clone(), torch::randn({9}, opts), config);
    {
      torch::NoGradGuard noGrad;
      param(layer, "lora_B").normal_();
    }
    const at::Tensor x = torch::randn({5, 13}, opts);
    const at::Tensor before = layer.forward(x).detach();

    layer.merge();
    EXPECT_TRUE(layer.isMerged());
    // W' = W + s·B·A with s = 12/4, computed here independently of the layer.
    const at::Tensor expectedMerged = w0 + 3.0 * torch::mm(param(layer, "lora_B"), param(layer, "lora_A"));
    EXPECT_TRUE(allClose(layer.weight(), expectedMerged, tol, tol));
    EXPECT_TRUE(allClose(layer.forward(x), before, tol, tol)) << "merged output differs";
    layer.merge(); // merging twice must not add the delta twice
    EXPECT_TRUE(allClose(layer.weight(), expectedMerged, tol, tol));

    layer.unmerge();
    EXPECT_FALSE(layer.isMerged());
    EXPECT_TRUE(allClose(layer.weight(), w0, tol, tol)) << "unmerge did not restore W";
    EXPECT_TRUE(allClose(layer.forward(x), before, tol, tol));
  }
}

TEST(LoraFaGradient, WrongInputWidthIsAClearError) {
  LoraFaLinear layer(torch::randn({3, 5}), at::Tensor(), AdapterConfig{});
  try {
    layer.forward(torch::randn({2, 4}));
    FAIL() << "accepted an input of the wrong width";
  } catch (const std::exception& error) {
    const std::string text = error.what();
    EXPECT_NE(text.find("[..., 5]"), std::string::npos) << text;
    EXPECT_NE(text.find("got last dimension 4"), std::string::npos) << text;
  }
}
