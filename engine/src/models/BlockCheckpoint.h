#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <vector>

namespace torch::nn {
class Module;
}

namespace lorafa {

/// One transformer block as a function of its tensor inputs (hidden state first). Anything else
/// it needs (masks, rotary tables, the block itself) is captured by value: the function is kept
/// until backward and called again there.
using BlockFunction = std::function<at::Tensor(const std::vector<at::Tensor>& inputs)>;

/// Gradient checkpointing of one block (torch.utils.checkpoint, reentrant variant, for C++):
/// forward runs `block` without building a graph and keeps only `inputs`; backward runs it again
/// with gradients on and back-propagates through that recomputation, giving gradients to the
/// inputs that require them and to the trainable parameters of `module`.
///
/// The recomputation sees exactly what the forward saw: the default CPU (and, for CUDA inputs,
/// CUDA) generator is put back to its state at forward time, so dropout masks — LoRA-FA's
/// seeds drawn in forward and LoRA's at::dropout — repeat, and the autocast settings are those
/// of the forward. The generators are restored afterwards, so a run with checkpointing draws the
/// same random numbers as one without. The trainable parameters are inputs of the autograd node,
/// so the block's output requires a gradient even when its hidden input does not (frozen
/// embeddings), which PyTorch's reentrant checkpoint needs enable_input_require_grads for.
///
/// `inputs` must all be defined. Call it only when gradients are wanted (training with
/// GradMode on); otherwise call the block directly.
at::Tensor checkpointBlock(torch::nn::Module& module, BlockFunction block, const std::vector<at::Tensor>& inputs);

/// checkpointBlock for a part of a block: `parameters` are the tensors `block` uses besides
/// `inputs` (those that do not require a gradient are skipped). A sub-block checkpoint such as
/// train.recompute_mlp's (gate and up projections recomputed, down_proj not) passes the
/// parameters of the layers it recomputes only.
at::Tensor checkpointFunction(const std::vector<at::Tensor>& parameters, BlockFunction block,
                              const std::vector<at::Tensor>& inputs);

} // namespace lorafa
