#include "Attention.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/full.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/zeros.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#include <ATen/ops/scaled_dot_product_attention.h>
#define LORAFA_HAVE_SDPA 1
#endif

#include <limits>
#include <stdexcept>
#include <string>

namespace lorafa {
namespace {

double lowestFinite(c10::ScalarType dtype) {
  switch (dtype) {
  case c10::ScalarType::Half: return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
  case c10::ScalarType::BFloat16: return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
  case c10::ScalarType::Double: return std::numeric_limits<double>::lowest();
  default: return static_cast<double>(std::numeric_limits<float>::lowest());
  }
}

} // namespace

at::Tensor additiveAttentionMask(const at::Tensor& keyPadding, std::int64_t queryLength, std::int64_t keyLength,
                                 bool causal, c10::ScalarType dtype, const c10::Device& device) {
  const auto boolOpts = at::TensorOptions().dtype(at::kBool).device(device);
  at::Tensor allowed = at::ones({1, 1, queryLength, keyLength}, boolOpts);
  if (causal) {
    // Query i sits at absolute position (keyLength - queryLength) + i.
    allowed = allowed.tril(keyLength - queryLength);
  }
  if (keyPadding.defined()) {
    allowed = allowed.logical_and(keyPadding.to(device).to(at::kBool).view({keyPadding.size(0), 1, 1, keyLength}));
  }
  return at::zeros(allowed.sizes(), at::TensorOptions().dtype(dtype).device(device))
      .masked_fill_(allowed.logical_not(), lowestFinite(dtype));
}

at::Tensor segmentAttentionMask(const at::Tensor& segmentIds, bool causal, c10::ScalarType dtype,
                                const c10::Device& device) {
  if (segmentIds.dim() != 2) throw std::invalid_argument("segmentIds must be [batch, length]");
  const at::Tensor segments = segmentIds.to(device);
  const std::int64_t batch = segments.size(0), length = segments.size(1);
  // [B, 1, T, 1] == [B, 1, 1, T]: one boolean [B, 1, T, T], broadcast over the heads.
  at::Tensor allowed = segments.view({batch, 1, length, 1}).eq(segments.view({batch, 1, 1, length}));
  if (causal) {
    allowed = allowed.logical_and(at::ones({length, length}, allowed.options()).tril());
  }
  return at::zeros(allowed.sizes(), at::TensorOptions().dtype(dtype).device(device))
      .masked_fill_(allowed.logical_not(), lowestFinite(dtype));
}

at::Tensor causalAttentionMask(const at::Tensor& keyPadding, const at::Tensor& segmentIds, std::int64_t queryLength,
                               std::int64_t pastLength, c10::ScalarType dtype, const c10::Device& device) {
  if (!segmentIds.defined()) {
    return additiveAttentionMask(keyPadding, queryLength, pastLength + queryLength, true, dtype, device);
  }
  if (pastLength != 0) {
    throw std::invalid_argument("segmentIds (packed rows) cannot be combined with a KV cache that already holds " +
                                std::to_string(pastLength) + " tokens");
  }
  if (segmentIds.dim() != 2 || segmentIds.size(1) != queryLength) {
    throw std::invalid_argument("segmentIds must be [batch, " + std::to_string(queryLength) + "]");
  }
  return segmentAttentionMask(segmentIds, true, dtype, device);
}

at::Tensor scaledDotProductAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     const at::Tensor& mask, double scale) {
  at::Tensor keys = k;
  at::Tensor values = v;
  const std::int64_t groups = q.size(1) / k.size(1);
  if (groups > 1) {
    keys = k.repeat_interleave(groups, 1);
    values = v.repeat_interleave(groups, 1);
  }
#ifdef LORAFA_HAVE_SDPA
  // The fused kernels want a float mask in the query's dtype; under autocast the mask may still
  // be fp32 while q is bf16/fp16. Clamped first, so a masked entry stays finite in the low dtype
  // (fp32's lowest value would round to -inf, and a fully masked row would turn into NaN).
  c10::optional<at::Tensor> attnMask;
  if (mask.defined()) {
    attnMask = mask.scalar_type() == q.scalar_type() ? mask
                                                     : mask.clamp_min(lowestFinite(q.scalar_type())).to(q.scalar_type());
  }
  return at::scaled_dot_product_attention(q, keys, values, attnMask, 0.0, false, scale);
#else
  at::Tensor scores = at::matmul(q, keys.transpose(-2, -1));
  if (scale != 1.0) scores = scores * scale;
  if (mask.defined()) scores = scores + mask;
  const at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  return at::matmul(probs, values);
#endif
}

} // namespace lorafa
