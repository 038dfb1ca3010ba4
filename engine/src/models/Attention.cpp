#include "Attention.h"

#include "Autocast.h"

#include <ATen/ExpandUtils.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/logsumexp.h>
#include <ATen/ops/full.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/zeros.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#include <ATen/ops/scaled_dot_product_attention.h>
#define LORAFA_HAVE_SDPA 1
#endif
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
#define LORAFA_HAVE_SDPA_GQA 1 // scaled_dot_product_attention(..., enable_gqa)
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
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

/// About 32 MiB of float32 scores per chunk.
constexpr std::int64_t kChunkScoreElements = std::int64_t{1} << 23;

/// The shapes of one attention call in the grouped layout [B, Hkv, G, T, D]: query head
/// h = j·G + g uses key/value head j (as repeat_interleave(G, 1) would pair them).
struct AttentionShape {
  std::int64_t batch, heads, kvHeads, groups, queries, keys, dim, valueDim;

  static AttentionShape of(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4) {
      throw std::invalid_argument("attention expects q, k and v as [batch, heads, length, head_dim]");
    }
    AttentionShape s{q.size(0), q.size(1), k.size(1), 1, q.size(2), k.size(2), q.size(3), v.size(3)};
    if (s.kvHeads <= 0 || s.heads % s.kvHeads != 0 || v.size(1) != s.kvHeads || k.size(0) != s.batch ||
        v.size(0) != s.batch || v.size(2) != s.keys || k.size(3) != s.dim) {
      throw std::invalid_argument("attention: q, k and v do not agree in batch, heads, length or head_dim");
    }
    s.groups = s.heads / s.kvHeads;
    return s;
  }
};

/// The additive mask in the grouped layout [Bm, 1 or Hkv, 1 or G, Tqm, Tkm].
at::Tensor groupedMask(const at::Tensor& mask, const AttentionShape& s) {
  at::Tensor m = mask;
  while (m.dim() < 4) m = m.unsqueeze(0);
  if (m.dim() != 4 || (m.size(1) != 1 && m.size(1) != s.heads) || (m.size(2) != 1 && m.size(2) != s.queries) ||
      (m.size(3) != 1 && m.size(3) != s.keys) || (m.size(0) != 1 && m.size(0) != s.batch)) {
    throw std::invalid_argument("attention: the mask does not broadcast to [batch, heads, queries, keys]");
  }
  if (m.size(1) == 1) return m.unsqueeze(2);
  return m.reshape({m.size(0), s.kvHeads, s.groups, m.size(2), m.size(3)});
}

std::int64_t rowsPerChunk(const AttentionShape& s, std::int64_t requested) {
  if (requested > 0) return std::min(requested, std::max<std::int64_t>(s.queries, 1));
  const std::int64_t perRow = std::max<std::int64_t>(s.batch * s.heads * s.keys, 1);
  return std::clamp<std::int64_t>(kChunkScoreElements / perRow, 1, std::max<std::int64_t>(s.queries, 1));
}

/// Scores and softmax in float32 (float64 for float64 inputs, the tests' reference precision).
c10::ScalarType scoreType(c10::ScalarType compute) {
  return compute == at::kDouble ? at::kDouble : at::kFloat;
}

/// The float32 scores of query rows [r0, r1) with the mask added: [B, Hkv, G·c, Tk].
at::Tensor chunkScores(const at::Tensor& q5, const at::Tensor& k, const at::Tensor& mask5, const AttentionShape& s,
                       std::int64_t r0, std::int64_t r1, double scale, at::Tensor* queriesOut) {
  const std::int64_t rows = r1 - r0;
  at::Tensor qc = q5.slice(3, r0, r1).reshape({s.batch, s.kvHeads, s.groups * rows, s.dim});
  at::Tensor scores = at::matmul(qc, k.transpose(-2, -1)).to(scoreType(qc.scalar_type()));
  if (scale != 1.0) scores.mul_(scale);
  if (mask5.defined()) {
    const at::Tensor m = mask5.size(3) == 1 ? mask5 : mask5.slice(3, r0, r1);
    scores.view({s.batch, s.kvHeads, s.groups, rows, s.keys}).add_(m);
  }
  if (queriesOut != nullptr) *queriesOut = std::move(qc);
  return scores;
}

c10::ScalarType computeDtype(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const AutocastState autocast = AutocastState::current();
  if (q.device().is_cuda() && autocast.cudaEnabled) return autocast.cudaDtype;
  if (q.device().is_cpu() && autocast.cpuEnabled) return autocast.cpuDtype;
  return at::promote_types(at::promote_types(q.scalar_type(), k.scalar_type()), v.scalar_type());
}

/// The node: inputs q, k, v, mask (an empty tensor: none), scale, chunk rows.
struct ChunkedAttentionFunction : public torch::autograd::Function<ChunkedAttentionFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& query, const at::Tensor& key,
                            const at::Tensor& value, const at::Tensor& maskOrEmpty, double scale,
                            std::int64_t chunkRows) {
    const AttentionShape s = AttentionShape::of(query, key, value);
    const c10::ScalarType dtype = computeDtype(query, key, value);
    // Everything below runs in explicit dtypes, forward and backward alike.
    c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);
    const at::Tensor q = query.to(dtype), k = key.to(dtype), v = value.to(dtype);
    const at::Tensor mask = maskOrEmpty.numel() == 0 ? at::Tensor() : maskOrEmpty;
    const at::Tensor q5 = q.reshape({s.batch, s.kvHeads, s.groups, s.queries, s.dim});
    const at::Tensor mask5 = mask.defined() ? groupedMask(mask, s) : at::Tensor();
    const std::int64_t rows = rowsPerChunk(s, chunkRows);

    at::Tensor out = at::empty({s.batch, s.kvHeads, s.groups, s.queries, s.valueDim}, q.options());
    at::Tensor lse = at::empty({s.batch, s.kvHeads, s.groups, s.queries}, q.options().dtype(scoreType(dtype)));
    for (std::int64_t r0 = 0; r0 < s.queries; r0 += rows) {
      const std::int64_t r1 = std::min(r0 + rows, s.queries), c = r1 - r0;
      at::Tensor scores = chunkScores(q5, k, mask5, s, r0, r1, scale, nullptr);
      const at::Tensor rowLse = at::logsumexp(scores, -1, /*keepdim=*/true);
      scores.sub_(rowLse).exp_(); // the probabilities, in place
      const at::Tensor attended = at::matmul(scores.to(dtype), v);
      out.slice(3, r0, r1).copy_(attended.view({s.batch, s.kvHeads, s.groups, c, s.valueDim}));
      lse.slice(3, r0, r1).copy_(rowLse.view({s.batch, s.kvHeads, s.groups, c}));
    }
    // What backward needs: q, k, v and one float per query row (never the probabilities). A mask
    // shared by the layers of a model is one tensor, held once.
    ctx->save_for_backward({q, k, v, mask.defined() ? mask : at::Tensor(), lse});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["rows"] = rows;
    ctx->saved_data["q_dtype"] = static_cast<std::int64_t>(query.scalar_type());
    ctx->saved_data["k_dtype"] = static_cast<std::int64_t>(key.scalar_type());
    ctx->saved_data["v_dtype"] = static_cast<std::int64_t>(value.scalar_type());
    ctx->saved_data["mask_sizes"] = maskOrEmpty.sizes().vec();
    return out.view({s.batch, s.heads, s.queries, s.valueDim});
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list gradOutputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& q = saved[0];
    const at::Tensor& k = saved[1];
    const at::Tensor& v = saved[2];
    const at::Tensor& mask = saved[3];
    const at::Tensor& lse = saved[4];
    const double scale = ctx->saved_data["scale"].toDouble();
    const std::int64_t rows = ctx->saved_data["rows"].toInt();
    const AttentionShape s = AttentionShape::of(q, k, v);
    const c10::ScalarType dtype = q.scalar_type();
    const bool wantQ = ctx->needs_input_grad(0), wantK = ctx->needs_input_grad(1), wantV = ctx->needs_input_grad(2);
    const bool wantMask = mask.defined() && ctx->needs_input_grad(3);
    c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);

    const at::Tensor dOut =
        gradOutputs[0].to(dtype).reshape({s.batch, s.kvHeads, s.groups, s.queries, s.valueDim});
    const at::Tensor q5 = q.reshape({s.batch, s.kvHeads, s.groups, s.queries, s.dim});
    const at::Tensor mask5 = mask.defined() ? groupedMask(mask, s) : at::Tensor();
    const auto floats = q.options().dtype(scoreType(dtype));
    at::Tensor dQ = wantQ ? at::empty({s.batch, s.kvHeads, s.groups, s.queries, s.dim}, q.options()) : at::Tensor();
    at::Tensor dK = wantK ? at::zeros({s.batch, s.kvHeads, s.keys, s.dim}, floats) : at::Tensor();
    at::Tensor dV = wantV ? at::zeros({s.batch, s.kvHeads, s.keys, s.valueDim}, floats) : at::Tensor();
    at::Tensor dMask5 = wantMask ? at::zeros(mask5.sizes(), floats) : at::Tensor();

    for (std::int64_t r0 = 0; r0 < s.queries; r0 += rows) {
      const std::int64_t r1 = std::min(r0 + rows, s.queries), c = r1 - r0;
      at::Tensor qc;
      at::Tensor probs = chunkScores(q5, k, mask5, s, r0, r1, scale, &qc); // [B, Hkv, G·c, Tk]
      probs.sub_(lse.slice(3, r0, r1).reshape({s.batch, s.kvHeads, s.groups * c, 1})).exp_();
      const at::Tensor dOc = dOut.slice(3, r0, r1).reshape({s.batch, s.kvHeads, s.groups * c, s.valueDim});
      if (wantV) dV.add_(at::matmul(probs.to(dtype).transpose(-2, -1), dOc));
      if (!wantQ && !wantK && !wantMask) continue;
      // dS = P∘(dP − rowsum(P∘dP)); rowsum(P∘dP) equals rowsum(dO∘O), so O need not be kept.
      at::Tensor dS = at::matmul(dOc, v.transpose(-2, -1)).to(scoreType(dtype));
      const at::Tensor rowDot = (probs * dS).sum(-1, /*keepdim=*/true);
      dS.sub_(rowDot).mul_(probs);
      if (wantMask) {
        const at::Tensor dS5 = dS.view({s.batch, s.kvHeads, s.groups, c, s.keys});
        if (mask5.size(3) == 1) {
          dMask5.add_(at::sum_to(dS5, dMask5.sizes()));
        } else {
          at::Tensor target = dMask5.slice(3, r0, r1);
          target.add_(at::sum_to(dS5, target.sizes()));
        }
      }
      if (scale != 1.0) dS.mul_(scale);
      const at::Tensor dSc = dS.to(dtype);
      if (wantQ) {
        dQ.slice(3, r0, r1).copy_(at::matmul(dSc, k).view({s.batch, s.kvHeads, s.groups, c, s.dim}));
      }
      if (wantK) dK.add_(at::matmul(dSc.transpose(-2, -1), qc));
    }
    auto typed = [&](const at::Tensor& t, const char* key) {
      return t.defined() ? t.to(static_cast<c10::ScalarType>(ctx->saved_data[key].toInt())) : at::Tensor();
    };
    at::Tensor dMask;
    if (wantMask) dMask = dMask5.view(ctx->saved_data["mask_sizes"].toIntVector()).to(mask.scalar_type());
    return {wantQ ? typed(dQ.view({s.batch, s.heads, s.queries, s.dim}), "q_dtype") : at::Tensor(),
            typed(dK, "k_dtype"), typed(dV, "v_dtype"), dMask, at::Tensor(), at::Tensor()};
  }
};

bool referenceAttentionSelected() {
  static const bool selected = [] {
    const char* value = std::getenv("LORAFA_ATTENTION");
    return value != nullptr && std::strcmp(value, "reference") == 0;
  }();
  return selected;
}

} // namespace

at::Tensor additiveAttentionMask(const at::Tensor& keyPadding, std::int64_t queryLength, std::int64_t keyLength,
                                 bool causal, c10::ScalarType dtype, const c10::Device& device, std::int64_t window) {
  const auto boolOpts = at::TensorOptions().dtype(at::kBool).device(device);
  at::Tensor allowed = at::ones({1, 1, queryLength, keyLength}, boolOpts);
  if (causal) {
    // Query i sits at absolute position (keyLength - queryLength) + i.
    allowed = allowed.tril(keyLength - queryLength);
    if (window > 0) allowed = allowed.triu(keyLength - queryLength - window + 1);
  }
  if (keyPadding.defined()) {
    allowed = allowed.logical_and(keyPadding.to(device).to(at::kBool).view({keyPadding.size(0), 1, 1, keyLength}));
  }
  return at::zeros(allowed.sizes(), at::TensorOptions().dtype(dtype).device(device))
      .masked_fill_(allowed.logical_not(), lowestFinite(dtype));
}

at::Tensor segmentAttentionMask(const at::Tensor& segmentIds, bool causal, c10::ScalarType dtype,
                                const c10::Device& device, std::int64_t window) {
  if (segmentIds.dim() != 2) throw std::invalid_argument("segmentIds must be [batch, length]");
  const at::Tensor segments = segmentIds.to(device);
  const std::int64_t batch = segments.size(0), length = segments.size(1);
  // [B, 1, T, 1] == [B, 1, 1, T]: one boolean [B, 1, T, T], broadcast over the heads.
  at::Tensor allowed = segments.view({batch, 1, length, 1}).eq(segments.view({batch, 1, 1, length}));
  if (causal) {
    at::Tensor band = at::ones({length, length}, allowed.options()).tril();
    // Within a segment, positions differ as the row's indices do: the same window.
    if (window > 0) band = band.triu(-(window - 1));
    allowed = allowed.logical_and(band);
  }
  return at::zeros(allowed.sizes(), at::TensorOptions().dtype(dtype).device(device))
      .masked_fill_(allowed.logical_not(), lowestFinite(dtype));
}

at::Tensor causalAttentionMask(const at::Tensor& keyPadding, const at::Tensor& segmentIds, std::int64_t queryLength,
                               std::int64_t pastLength, c10::ScalarType dtype, const c10::Device& device,
                               std::int64_t window) {
  if (!segmentIds.defined()) {
    return additiveAttentionMask(keyPadding, queryLength, pastLength + queryLength, true, dtype, device, window);
  }
  if (pastLength != 0) {
    throw std::invalid_argument("segmentIds (packed rows) cannot be combined with a KV cache that already holds " +
                                std::to_string(pastLength) + " tokens");
  }
  if (segmentIds.dim() != 2 || segmentIds.size(1) != queryLength) {
    throw std::invalid_argument("segmentIds must be [batch, " + std::to_string(queryLength) + "]");
  }
  return segmentAttentionMask(segmentIds, true, dtype, device, window);
}

at::Tensor memoryEfficientAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    const at::Tensor& mask, double scale, std::int64_t chunkRows) {
  // LibTorch 1.13's Function::apply does not take undefined tensors: no mask is an empty one.
  const at::Tensor maskOrEmpty = mask.defined() ? mask : at::empty({0}, q.options());
  return ChunkedAttentionFunction::apply(q, k, v, maskOrEmpty, scale, chunkRows);
}

at::Tensor referenceAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const at::Tensor& mask, double scale) {
  at::Tensor keys = k;
  at::Tensor values = v;
  const std::int64_t groups = q.size(1) / k.size(1);
  if (groups > 1) {
    keys = k.repeat_interleave(groups, 1);
    values = v.repeat_interleave(groups, 1);
  }
  at::Tensor scores = at::matmul(q, keys.transpose(-2, -1));
  if (scale != 1.0) scores = scores * scale;
  if (mask.defined()) scores = scores + mask;
  const at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  return at::matmul(probs, values);
}

at::Tensor scaledDotProductAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     const at::Tensor& mask, double scale) {
  if (referenceAttentionSelected()) return referenceAttention(q, k, v, mask, scale);
#ifdef LORAFA_HAVE_SDPA
  at::Tensor keys = k;
  at::Tensor values = v;
  const std::int64_t groups = q.size(1) / k.size(1);
  // Grouped-query attention: the CPU kernel takes k and v as they are (enable_gqa) and keeps them
  // so for backward; repeated to every query head, they were kept `groups` times over (measured).
  // On CUDA the kernels that take a mask may not support it, and enable_gqa would then fall back
  // to the math path with its [T, T] probabilities: there they are still repeated.
#ifdef LORAFA_HAVE_SDPA_GQA
  const bool groupedKernel = groups > 1 && q.device().is_cpu();
#else
  const bool groupedKernel = false;
#endif
  if (groups > 1 && !groupedKernel) {
    keys = k.repeat_interleave(groups, 1);
    values = v.repeat_interleave(groups, 1);
  }
  // The fused kernels want a float mask in the query's dtype; under autocast the mask may still
  // be fp32 while q is bf16/fp16. Clamped first, so a masked entry stays finite in the low dtype
  // (fp32's lowest value would round to -inf, and a fully masked row would turn into NaN).
  c10::optional<at::Tensor> attnMask;
  if (mask.defined()) {
    attnMask = mask.scalar_type() == q.scalar_type() ? mask
                                                     : mask.clamp_min(lowestFinite(q.scalar_type())).to(q.scalar_type());
  }
#ifdef LORAFA_HAVE_SDPA_GQA
  return at::scaled_dot_product_attention(q, keys, values, attnMask, 0.0, false, scale, groupedKernel);
#else
  return at::scaled_dot_product_attention(q, keys, values, attnMask, 0.0, false, scale);
#endif
#else
  return memoryEfficientAttention(q, k, v, mask, scale);
#endif
}

} // namespace lorafa
