#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

namespace lorafa {

/// An additive mask [B or 1, 1, Tq, Tk]: 0 where a query may attend a key, the dtype's lowest
/// finite value where not. `keyPadding` [B, Tk] has 1 for real tokens (undefined: none padded);
/// `causal` lets query i (at absolute position pastLength + i) see keys up to that position.
/// `window` > 0 (sliding-window attention, causal only): query i also sees only keys j with
/// i − window < j, Hugging Face's sliding_window_overlay.
at::Tensor additiveAttentionMask(const at::Tensor& keyPadding, std::int64_t queryLength, std::int64_t keyLength,
                                 bool causal, c10::ScalarType dtype, const c10::Device& device,
                                 std::int64_t window = 0);

/// An additive mask [B, 1, T, T] for packed rows: `segmentIds` [B, T] (int64) says which segment
/// (example or document) each token belongs to, -1 on padding. A query attends only keys of its
/// own segment (block-diagonal; also causal when `causal`), so a packed row computes what each
/// segment would alone. Padding keys are hidden from every real token; a padding query sees only
/// padding, never nothing, so no softmax row is fully masked (no NaN, in any dtype). No KV cache:
/// queries and keys are the same T tokens.
at::Tensor segmentAttentionMask(const at::Tensor& segmentIds, bool causal, c10::ScalarType dtype,
                                const c10::Device& device, std::int64_t window = 0);

/// The causal mask of a decoder-only forward: segmentAttentionMask when `segmentIds` is defined
/// (then `pastLength` must be 0 and the segments cover the queries), else additiveAttentionMask.
at::Tensor causalAttentionMask(const at::Tensor& keyPadding, const at::Tensor& segmentIds, std::int64_t queryLength,
                               std::int64_t pastLength, c10::ScalarType dtype, const c10::Device& device,
                               std::int64_t window = 0);

/// softmax(q·kᵀ·scale + mask)·v with q [B, H, Tq, D], k and v [B, Hkv, Tk, D] (H a multiple of
/// Hkv: grouped-query attention). `mask` is additive and may be undefined. Uses LibTorch's fused
/// scaled_dot_product_attention where it exists (2.1+), memoryEfficientAttention otherwise
/// (LORAFA_ATTENTION=reference in the environment selects referenceAttention instead, for
/// before/after measurements).
at::Tensor scaledDotProductAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     const at::Tensor& mask, double scale);

/// The same result as one autograd node that never keeps the [B, H, Tq, Tk] probabilities:
/// forward runs over chunks of query rows and saves q, k, v (in the compute dtype) and the
/// float32 log-sum-exp of each row; backward recomputes each chunk's probabilities from them
/// (FlashAttention's backward: dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P∘(dP − rowsum(P∘dP)),
/// dQ = dS·K·scale, dK = dSᵀ·Q·scale). `mask` is 4-D [B or 1, H or 1, Tq or 1, Tk] (or fewer
/// leading dimensions), any float dtype; it gets a gradient when it requires one (T5's position
/// bias in full fine-tuning). Grouped-query heads are never expanded. Scores and softmax are
/// float32; the matmuls run in the compute dtype: autocast's when it is on for q's device, else
/// q's. `chunkRows` ≤ 0 picks the rows per chunk so that one chunk of scores is about 32 MiB.
at::Tensor memoryEfficientAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    const at::Tensor& mask, double scale, std::int64_t chunkRows = 0);

/// The plain autograd path (LibTorch 1.13's former one): it keeps the float32 probabilities for
/// backward. The reference of the tests and of the before/after measurements.
at::Tensor referenceAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const at::Tensor& mask, double scale);

} // namespace lorafa
