#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lorafa {

/// Σ over the rows i with labels[i] ≠ ignoreIndex of −log softmax(hiddenScale·hidden[i]·weightᵀ)[labels[i]],
/// as one autograd node that never holds the full-vocabulary logits of all rows: forward and
/// backward walk the counted rows in chunks, and backward recomputes each chunk's logits from
/// the saved hidden states and the head weight. hidden [N, H] (any float dtype), weight [V, H],
/// labels [N] int64. Returns a float32 scalar (float64 for float64 inputs). Gradients: for
/// hidden, and for weight only when it requires one (full fine-tuning of the head or of a tied
/// embedding). The logits' matmul runs in autocast's dtype when autocast is on for the device,
/// else in the inputs' promoted dtype; log-softmax is float32. `chunkRows` ≤ 0: about 32 MiB of
/// float32 logits per chunk.
at::Tensor chunkedCrossEntropySum(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels,
                                  double hiddenScale, std::int64_t ignoreIndex, std::int64_t chunkRows = 0);

/// Next-token loss of a causal LM from its final hidden states [B, T, H] and labels [B, T]: the
/// hidden state at t predicts the label at t + 1 (summed over counted labels). No copy of the
/// hidden states is made (the labels are shifted instead).
at::Tensor chunkedNextTokenLossSum(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& labels,
                                   double hiddenScale, std::int64_t ignoreIndex, std::int64_t chunkRows = 0);

/// False when LORAFA_CHUNKED_LOSS=0 is in the environment (the plain full-logits path, for
/// before/after measurements); true otherwise.
bool chunkedLossEnabled();

} // namespace lorafa
