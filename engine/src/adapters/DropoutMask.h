#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/TensorOptions.h>

#include <cstdint>

namespace lorafa {

/// Dropout's keep-and-rescale factors for a tensor of `sizes`: each entry is 0 (dropped, with
/// probability p) or 1/(1-p). A pure function of (seed, sizes, p) computed with a counter-based
/// hash on the tensor's own device, so a backward pass regenerates the mask from the seed
/// instead of keeping a full-size mask alive between forward and backward.
at::Tensor dropoutKeepScale(std::int64_t seed, at::IntArrayRef sizes, double p,
                            const c10::TensorOptions& options);

/// A fresh seed from LibTorch's default CPU generator (so torch::manual_seed makes runs repeatable).
std::int64_t drawDropoutSeed();

} // namespace lorafa
