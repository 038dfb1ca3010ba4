#include "GatedActivation.h"

#include "models/LanguageModel.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/gelu_backward.h>
#include <ATen/ops/silu.h>
#include <ATen/ops/sigmoid.h>
#include <torch/csrc/autograd/custom_function.h>

namespace lorafa {
namespace {

/// act(gate) · up as one node that keeps only gate and up; backward recomputes act(gate) for
/// d up = dy · act(gate) and takes d gate = act'(gate) · dy · up from ATen's own backward of act.
template <typename Act> struct GatedMulFunction : public torch::autograd::Function<GatedMulFunction<Act>> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    ctx->save_for_backward({gate, up});
    return Act::value(gate).mul_(up);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list gradOutputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& gate = saved[0];
    const at::Tensor& up = saved[1];
    const at::Tensor& dy = gradOutputs[0];
    at::Tensor dGate, dUp;
    if (ctx->needs_input_grad(1)) dUp = dy * Act::value(gate);
    if (ctx->needs_input_grad(0)) dGate = Act::backward(dy * up, gate);
    return {dGate, dUp};
  }
};

/// SwiGLU's silu; d silu(x)/dx = σ(x)·(1 + x·(1 − σ(x))) = σ + x·σ − x·σ², in place.
struct Silu {
  static at::Tensor value(const at::Tensor& x) { return at::silu(x); }
  static at::Tensor backward(const at::Tensor& upstream, const at::Tensor& x) {
    const at::Tensor sigma = at::sigmoid(x);
    at::Tensor derivative = x * sigma;                     // x·σ
    derivative = derivative.mul_(1.0 - sigma).add_(sigma); // x·σ·(1 − σ) + σ
    return derivative.mul_(upstream);
  }
};

/// GeGLU's tanh GELU (Gemma).
struct TanhGelu {
  static at::Tensor value(const at::Tensor& x) { return at::gelu(x, "tanh"); }
  static at::Tensor backward(const at::Tensor& upstream, const at::Tensor& x) {
    return at::gelu_backward(upstream, x, "tanh");
  }
};

bool isTanhGelu(const std::string& act) {
  return act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast";
}

} // namespace

at::Tensor gatedActivation(const std::string& act, const at::Tensor& gate, const at::Tensor& up) {
  if ((act == "silu" || act == "swish") && gate.sizes() == up.sizes() && gate.scalar_type() == up.scalar_type()) {
    return GatedMulFunction<Silu>::apply(gate, up);
  }
  if (isTanhGelu(act) && gate.sizes() == up.sizes() && gate.scalar_type() == up.scalar_type()) {
    return GatedMulFunction<TanhGelu>::apply(gate, up);
  }
  return applyActivation(act, gate) * up;
}

} // namespace lorafa
