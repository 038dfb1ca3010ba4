#include "GatedActivation.h"

#include "models/LanguageModel.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/gelu_backward.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/silu.h>
#include <torch/csrc/autograd/custom_function.h>

namespace lorafa {
namespace {

/// silu(gate) · up; backward: d gate = dy · up · σ(gate)·(1 + gate·(1 − σ(gate))), d up = dy · silu(gate).
struct SiluMulFunction : public torch::autograd::Function<SiluMulFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    ctx->save_for_backward({gate, up});
    return at::silu(gate).mul_(up);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list gradOutputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& gate = saved[0];
    const at::Tensor& up = saved[1];
    const at::Tensor& dy = gradOutputs[0];
    at::Tensor dGate, dUp;
    const at::Tensor sigma = at::sigmoid(gate);
    if (ctx->needs_input_grad(1)) dUp = dy * (gate * sigma);
    if (ctx->needs_input_grad(0)) {
      // σ·(1 + g·(1 − σ)) = σ + g·σ − g·σ²
      at::Tensor derivative = gate * sigma;                  // g·σ
      derivative = derivative.mul_(1.0 - sigma).add_(sigma); // g·σ·(1 − σ) + σ
      dGate = derivative.mul_(up).mul_(dy);
    }
    return {dGate, dUp};
  }
};

/// gelu_tanh(gate) · up (Gemma's GeGLU); backward: d gate = gelu_tanh'(gate) · dy · up (ATen's own
/// gelu_backward), d up = dy · gelu_tanh(gate).
struct GeluTanhMulFunction : public torch::autograd::Function<GeluTanhMulFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    ctx->save_for_backward({gate, up});
    return at::gelu(gate, "tanh").mul_(up);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list gradOutputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& gate = saved[0];
    const at::Tensor& up = saved[1];
    const at::Tensor& dy = gradOutputs[0];
    at::Tensor dGate, dUp;
    if (ctx->needs_input_grad(1)) dUp = dy * at::gelu(gate, "tanh");
    if (ctx->needs_input_grad(0)) dGate = at::gelu_backward(dy * up, gate, "tanh");
    return {dGate, dUp};
  }
};

bool isTanhGelu(const std::string& act) {
  return act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast";
}

} // namespace

at::Tensor gatedActivation(const std::string& act, const at::Tensor& gate, const at::Tensor& up) {
  if ((act == "silu" || act == "swish") && gate.sizes() == up.sizes() && gate.scalar_type() == up.scalar_type()) {
    return SiluMulFunction::apply(gate, up);
  }
  if (isTanhGelu(act) && gate.sizes() == up.sizes() && gate.scalar_type() == up.scalar_type()) {
    return GeluTanhMulFunction::apply(gate, up);
  }
  return applyActivation(act, gate) * up;
}

} // namespace lorafa
