// LoRA-FA on a CUDA device: the same gradients as the float64 CPU reference, and the same
// saving measured with the CUDA caching allocator. Skipped where no CUDA device is usable.
#include "adapters/LinearLayerFactory.h"
#include "memory/CudaMemoryStats.h"

#include "TensorAssertions.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <gtest/gtest.h>

using namespace lorafa;
using lorafa::test::allClose;

namespace {

class CudaLoraFa : public ::testing::Test {
protected:
  void SetUp() override {
    if (!cudaCompiledIn() || !torch::cuda::is_available()) {
      GTEST_SKIP() << "no usable CUDA device";
    }
  }
};

std::int64_t allocatedBytes() { return queryCudaMemoryStats(0).value().allocatedBytes; }

std::int64_t heldOnCuda(TrainMethod method, std::int64_t tokens, std::int64_t in, int rank) {
  AdapterConfig config;
  config.method = method;
  config.rank = rank;
  const auto opts = torch::dtype(torch::kFloat).device(torch::kCUDA);
  auto layer = makeLinearLayer(torch::randn({256, in}, opts), torch::randn({256}, opts), config);
  const at::Tensor source = torch::randn({tokens, in}, opts);
  torch::cuda::synchronize();
  const std::int64_t before = allocatedBytes();
  at::Tensor y;
  {
    const at::Tensor x = source * 2.0;
    y = layer->forward(x);
  }
  torch::cuda::synchronize();
  const std::int64_t held = allocatedBytes() - before - static_cast<std::int64_t>(y.nbytes());
  y.backward(torch::ones_like(y));
  return held;
}

} // namespace

TEST_F(CudaLoraFa, GradientsMatchFloat64CpuReference) {
  torch::manual_seed(5);
  AdapterConfig config;
  config.rank = 8;
  config.alpha = 16.0;
  const at::Tensor w = torch::randn({48, 40}, torch::kDouble);
  const at::Tensor b = torch::randn({48}, torch::kDouble);
  auto layer = makeLinearLayer(w.to(torch::kCUDA, torch::kFloat), b.to(torch::kCUDA, torch::kFloat), config);
  at::Tensor bMat = layer->named_parameters()["lora_B"];
  {
    torch::NoGradGuard noGrad;
    bMat.normal_();
  }
  const at::Tensor a = layer->named_parameters()["lora_A"].to(torch::kCPU, torch::kDouble);
  const at::Tensor x0 = torch::randn({3, 17, 40}, torch::kDouble);
  const at::Tensor x = x0.to(torch::kCUDA, torch::kFloat).requires_grad_(true);
  const at::Tensor y = layer->forward(x);
  const at::Tensor dy = torch::randn({3, 17, 48}, torch::kDouble);
  y.backward(dy.to(torch::kCUDA, torch::kFloat));

  const at::Tensor xr = x0.clone().requires_grad_(true);
  const at::Tensor br = bMat.detach().to(torch::kCPU, torch::kDouble).requires_grad_(true);
  const at::Tensor yr = torch::matmul(xr, w.t()) + b + 2.0 * torch::matmul(torch::matmul(xr, a.t()), br.t());
  yr.backward(dy);
  // float32 on the GPU against float64: TF32 is off for matmuls by default; allow float32 error.
  EXPECT_TRUE(allClose(y.cpu(), yr, 1e-4, 1e-4));
  EXPECT_TRUE(allClose(x.grad().cpu(), xr.grad(), 1e-4, 1e-4));
  EXPECT_TRUE(allClose(bMat.grad().cpu(), br.grad(), 1e-4, 1e-4));
}

TEST_F(CudaLoraFa, HoldsOnlyRankSizedActivation) {
  // The caching allocator rounds each block up to 512 bytes.
  const std::int64_t tokens = 4096, in = 1024;
  const int rank = 16;
  const std::int64_t loraFa = heldOnCuda(TrainMethod::LoraFa, tokens, in, rank);
  EXPECT_GE(loraFa, tokens * rank * 4);
  EXPECT_LE(loraFa, tokens * rank * 4 + 2048);
  EXPECT_GE(heldOnCuda(TrainMethod::Lora, tokens, in, rank), tokens * in * 4);
}
