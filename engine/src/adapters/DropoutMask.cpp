#include "DropoutMask.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/bitwise_right_shift.h>
#include <ATen/ops/randint.h>
#include <c10/core/GradMode.h>
#include <c10/util/irange.h>

namespace lorafa {
namespace {

// Logical right shift on int64 tensors (LibTorch's shift is arithmetic for signed types).
at::Tensor shiftRight(const at::Tensor& z, int bits) {
  return at::bitwise_right_shift(z, bits).bitwise_and_((std::int64_t{1} << (64 - bits)) - 1);
}

} // namespace

at::Tensor dropoutKeepScale(std::int64_t seed, at::IntArrayRef sizes, double p,
                            const c10::TensorOptions& options) {
  c10::NoGradGuard noGrad;
  std::int64_t count = 1;
  for (const std::int64_t size : sizes) count *= size;
  // SplitMix64 finaliser over (index · golden ratio + seed); int64 products wrap like uint64.
  at::Tensor z = at::arange(count, options.dtype(at::kLong).requires_grad(false));
  z.mul_(static_cast<std::int64_t>(0x9E3779B97F4A7C15ULL)).add_(seed);
  z.bitwise_xor_(shiftRight(z, 30)).mul_(static_cast<std::int64_t>(0xBF58476D1CE4E5B9ULL));
  z.bitwise_xor_(shiftRight(z, 27)).mul_(static_cast<std::int64_t>(0x94D049BB133111EBULL));
  z.bitwise_xor_(shiftRight(z, 31));
  // Top 24 bits → uniform in [0, 1); keep when u ≥ p.
  const at::Tensor uniform = shiftRight(z, 40).to(at::kFloat).mul_(1.0 / 16777216.0);
  return uniform.ge(p).to(options.dtype()).mul_(1.0 / (1.0 - p)).view(sizes);
}

std::int64_t drawDropoutSeed() {
  return at::randint(std::numeric_limits<std::int64_t>::max(), {1}, at::TensorOptions().dtype(at::kLong))
      .item<std::int64_t>();
}

} // namespace lorafa
