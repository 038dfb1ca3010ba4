#include "ChunkedCrossEntropy.h"

#include "models/Autocast.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <ATen/ops/logsumexp.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace lorafa {
namespace {

/// About 32 MiB of float32 logits per chunk.
constexpr std::int64_t kChunkLogitElements = std::int64_t{1} << 23;

c10::ScalarType computeDtype(const at::Tensor& hidden, const at::Tensor& weight) {
  const AutocastState autocast = AutocastState::current();
  if (hidden.device().is_cuda() && autocast.cudaEnabled) return autocast.cudaDtype;
  if (hidden.device().is_cpu() && autocast.cpuEnabled) return autocast.cpuDtype;
  return at::promote_types(hidden.scalar_type(), weight.scalar_type());
}

c10::ScalarType lossType(c10::ScalarType compute) { return compute == at::kDouble ? at::kDouble : at::kFloat; }

/// The (scaled) hidden rows of chunk [r0, r1) of the counted rows, in the compute dtype.
at::Tensor chunkHidden(const at::Tensor& hidden, const at::Tensor& rows, std::int64_t r0, std::int64_t r1,
                       c10::ScalarType dtype, double scale) {
  at::Tensor h = hidden.index_select(0, rows.slice(0, r0, r1)).to(dtype);
  if (scale != 1.0) h.mul_(scale);
  return h;
}

struct ChunkedCrossEntropyFunction : public torch::autograd::Function<ChunkedCrossEntropyFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& weight,
                            const at::Tensor& labels, double scale, std::int64_t ignoreIndex,
                            std::int64_t chunkRows) {
    if (hidden.dim() != 2 || weight.dim() != 2 || hidden.size(1) != weight.size(1)) {
      throw std::invalid_argument("chunked cross-entropy expects hidden [N, H] and weight [V, H]");
    }
    if (labels.dim() != 1 || labels.size(0) != hidden.size(0)) {
      throw std::invalid_argument("chunked cross-entropy expects labels [N] for hidden [N, H]");
    }
    const c10::ScalarType dtype = computeDtype(hidden, weight);
    c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);
    const at::Tensor rows = labels.ne(ignoreIndex).nonzero().view({-1});
    const at::Tensor targets = labels.index_select(0, rows);
    const std::int64_t counted = rows.size(0), vocab = weight.size(0);
    const std::int64_t chunk =
        chunkRows > 0 ? chunkRows : std::max<std::int64_t>(1, kChunkLogitElements / std::max<std::int64_t>(vocab, 1));
    const at::Tensor w = weight.to(dtype);
    const auto losses = hidden.options().dtype(lossType(dtype));
    at::Tensor lse = at::empty({counted}, losses);
    at::Tensor total = at::zeros({}, losses);
    for (std::int64_t r0 = 0; r0 < counted; r0 += chunk) {
      const std::int64_t r1 = std::min(r0 + chunk, counted);
      const at::Tensor logits = at::matmul(chunkHidden(hidden, rows, r0, r1, dtype, scale), w.t()).to(lossType(dtype));
      const at::Tensor rowLse = at::logsumexp(logits, -1);
      const at::Tensor picked = logits.gather(1, targets.slice(0, r0, r1).unsqueeze(1)).squeeze(1);
      total.add_((rowLse - picked).sum());
      lse.slice(0, r0, r1).copy_(rowLse);
    }
    // Saved: the hidden states (already the model's), the head weight (a parameter), the counted
    // rows, their targets and one float per counted row; never [N, V].
    ctx->save_for_backward({hidden, weight, rows, targets, lse});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["dtype"] = static_cast<std::int64_t>(dtype);
    return total;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list gradOutputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& hidden = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor& rows = saved[2];
    const at::Tensor& targets = saved[3];
    const at::Tensor& lse = saved[4];
    const double scale = ctx->saved_data["scale"].toDouble();
    const std::int64_t chunk = ctx->saved_data["chunk"].toInt();
    const auto dtype = static_cast<c10::ScalarType>(ctx->saved_data["dtype"].toInt());
    const bool wantHidden = ctx->needs_input_grad(0), wantWeight = ctx->needs_input_grad(1);
    c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);

    const at::Tensor gradLoss = gradOutputs[0].to(lossType(dtype));
    const at::Tensor w = weight.to(dtype);
    const std::int64_t counted = rows.size(0);
    at::Tensor dHidden = wantHidden ? at::zeros(hidden.sizes(), hidden.options()) : at::Tensor();
    at::Tensor dWeight = wantWeight ? at::zeros(weight.sizes(), weight.options().dtype(lossType(dtype))) : at::Tensor();
    for (std::int64_t r0 = 0; r0 < counted; r0 += chunk) {
      const std::int64_t r1 = std::min(r0 + chunk, counted);
      const at::Tensor h = chunkHidden(hidden, rows, r0, r1, dtype, scale);
      // d(lse − logit[target]) / dlogits = softmax − onehot(target), times the incoming gradient.
      at::Tensor probs = at::matmul(h, w.t()).to(lossType(dtype));
      probs.sub_(lse.slice(0, r0, r1).unsqueeze(1)).exp_();
      probs.scatter_add_(1, targets.slice(0, r0, r1).unsqueeze(1),
                         at::full({r1 - r0, 1}, -1.0, probs.options()));
      probs.mul_(gradLoss);
      const at::Tensor dLogits = probs.to(dtype);
      if (wantHidden) {
        at::Tensor dh = at::matmul(dLogits, w);
        if (scale != 1.0) dh.mul_(scale);
        dHidden.index_add_(0, rows.slice(0, r0, r1), dh.to(hidden.scalar_type()));
      }
      if (wantWeight) dWeight.add_(at::matmul(dLogits.t(), h));
    }
    return {dHidden, wantWeight ? dWeight.to(weight.scalar_type()) : at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor()};
  }
};

} // namespace

at::Tensor chunkedCrossEntropySum(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels,
                                  double hiddenScale, std::int64_t ignoreIndex, std::int64_t chunkRows) {
  return ChunkedCrossEntropyFunction::apply(hidden, weight, labels.to(at::kLong), hiddenScale, ignoreIndex, chunkRows);
}

at::Tensor chunkedNextTokenLossSum(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels,
                                   double hiddenScale, std::int64_t ignoreIndex, std::int64_t chunkRows) {
  if (hidden.dim() != 3 || labels.dim() != 2 || labels.size(0) != hidden.size(0) || labels.size(1) != hidden.size(1)) {
    throw std::invalid_argument("next-token loss expects hidden [B, T, H] and labels [B, T]");
  }
  const at::Tensor long_ = labels.to(at::kLong);
  // Row (b, t) predicts labels[b, t + 1]; the last position predicts nothing.
  const at::Tensor shifted =
      at::cat({long_.slice(1, 1), at::full({long_.size(0), 1}, ignoreIndex, long_.options())}, 1);
  return chunkedCrossEntropySum(hidden.reshape({-1, hidden.size(2)}), weight, shifted.reshape({-1}), hiddenScale,
                                ignoreIndex, chunkRows);
}

bool chunkedLossEnabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("LORAFA_CHUNKED_LOSS");
    return value == nullptr || std::strcmp(value, "0") != 0;
  }();
  return enabled;
}

} // namespace lorafa
