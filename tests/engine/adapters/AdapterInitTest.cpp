// A initialisations against their definitions; B starts at zero so a fresh adapter is a no-op.
#include "adapters/LinearLayerFactory.h"
#include "adapters/LowRankAdapter.h"

#include "TensorAssertions.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <cmath>

using namespace lorafa;
using lorafa::test::allClose;

namespace {

LowRankAdapter makeAdapter(std::int64_t in, std::int64_t out, int rank, LoraInit init) {
  AdapterConfig config;
  config.rank = rank;
  config.init = init;
  return LowRankAdapter(in, out, config, torch::dtype(torch::kDouble));
}

} // namespace

TEST(AdapterInit, KaimingUniformMatchesPeftBounds) {
  torch::manual_seed(1);
  const std::int64_t in = 400;
  const LowRankAdapter adapter = makeAdapter(in, 50, 64, LoraInit::KaimingUniform);
  const double bound = 1.0 / std::sqrt(400.0); // kaiming_uniform_(a=√5): √(6/((1+5)·in))
  EXPECT_LE(adapter.a().abs().max().item<double>(), bound);
  // U(-c, c) has standard deviation c/√3; 25,600 samples put the estimate within ~1 %.
  EXPECT_NEAR(adapter.a().std().item<double>(), bound / std::sqrt(3.0), 0.03 * bound / std::sqrt(3.0));
  EXPECT_NEAR(adapter.a().mean().item<double>(), 0.0, 0.05 * bound);
  EXPECT_EQ(adapter.b().abs().max().item<double>(), 0.0);
  EXPECT_FALSE(adapter.a().requires_grad());
}

TEST(AdapterInit, GaussianHasStdOneOverRank) {
  torch::manual_seed(2);
  const LowRankAdapter adapter = makeAdapter(2000, 10, 16, LoraInit::Gaussian);
  EXPECT_NEAR(adapter.a().std().item<double>(), 1.0 / 16.0, 0.02 / 16.0);
  EXPECT_EQ(adapter.b().abs().max().item<double>(), 0.0);
}

TEST(AdapterInit, OrthogonalRowsAreOrthonormal) {
  torch::manual_seed(3);
  const LowRankAdapter adapter = makeAdapter(64, 10, 16, LoraInit::Orthogonal);
  EXPECT_TRUE(allClose(torch::mm(adapter.a(), adapter.a().t()), torch::eye(16, torch::kDouble), 1e-12, 1e-12));
  // rank above the input width: the columns are orthonormal instead.
  const LowRankAdapter wide = makeAdapter(8, 10, 12, LoraInit::Orthogonal);
  EXPECT_TRUE(allClose(torch::mm(wide.a().t(), wide.a()), torch::eye(8, torch::kDouble), 1e-12, 1e-12));
}

TEST(AdapterInit, FreshAdapterLeavesOutputUnchanged) {
  torch::manual_seed(4);
  for (TrainMethod method : {TrainMethod::LoraFa, TrainMethod::Lora}) {
    AdapterConfig config;
    config.method = method;
    config.alpha = 32.0;
    const at::Tensor w = torch::randn({7, 5});
    const at::Tensor b = torch::randn({7});
    auto layer = makeLinearLayer(w, b, config);
    const at::Tensor x = torch::randn({3, 5});
    EXPECT_TRUE(allClose(layer->forward(x), torch::mm(x, w.t()) + b, 1e-6, 1e-6)) << toString(method);
  }
}

TEST(AdapterInit, SameSeedSameAdapter) {
  torch::manual_seed(77);
  const LowRankAdapter first = makeAdapter(30, 20, 4, LoraInit::KaimingUniform);
  torch::manual_seed(77);
  const LowRankAdapter second = makeAdapter(30, 20, 4, LoraInit::KaimingUniform);
  EXPECT_TRUE(torch::equal(first.a(), second.a()));
}
