#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

namespace lorafa {

/// An additive mask [B or 1, 1, Tq, Tk]: 0 where a query may attend a key, the dtype's lowest
/// finite value where not. `keyPadding` [B, Tk] has 1 for real tokens (undefined: none padded);
/// `causal` lets query i (at absolute position pastLength + i) see keys up to that position.
at::Tensor additiveAttentionMask(const at::Tensor& keyPadding, std::int64_t queryLength, std::int64_t keyLength,
                                 bool causal, c10::ScalarType dtype, const c10::Device& device);

/// softmax(q·kᵀ·scale + mask)·v with q [B, H, Tq, D], k and v [B, Hkv, Tk, D] (H a multiple of
/// Hkv: grouped-query attention). `mask` is additive and may be undefined. Uses LibTorch's fused
/// scaled_dot_product_attention where it exists (2.1+), a float32-softmax path otherwise.
at::Tensor scaledDotProductAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     const at::Tensor& mask, double scale);

} // namespace lorafa
