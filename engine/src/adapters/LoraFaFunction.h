#pragma once

#include <torch/csrc/autograd/custom_function.h>

namespace lorafa {

/// y = x·Wᵀ + b + s·(x̃·Aᵀ)·Bᵀ with x̃ = dropout(x), as one autograd node.
/// Forward saves only Z = x̃·Aᵀ [N, r] (plus references to the parameters it already holds);
/// backward computes dB = s·dyᵀ·Z and dx = dy·W + s·((dy·B)·A ⊙ mask), nothing for W, b or A.
/// The dropout mask is regenerated from `dropoutSeed`, never kept. An empty tensor as `bias`
/// means no bias (LibTorch 1.13's Function::apply does not take undefined tensors).
struct LoraFaFunction : public torch::autograd::Function<LoraFaFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input,
                            const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& loraA,
                            const at::Tensor& loraB, double scaling, double dropout,
                            std::int64_t dropoutSeed);
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list gradOutputs);
};

} // namespace lorafa
