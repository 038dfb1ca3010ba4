#include "LoraFaFunction.h"

#include "DropoutMask.h"

#include <ATen/ops/linear.h>
#include <ATen/ops/mm.h>

#include <stdexcept>

namespace lorafa {

at::Tensor LoraFaFunction::forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input,
                                   const at::Tensor& weight, const at::Tensor& bias,
                                   const at::Tensor& loraA, const at::Tensor& loraB, double scaling,
                                   double dropout, std::int64_t dropoutSeed) {
  const std::int64_t in = weight.size(1);
  if (input.dim() < 1 || input.size(-1) != in) {
    throw std::invalid_argument("LoRA-FA layer expects input [..., " + std::to_string(in) +
                                "], got last dimension " +
                                (input.dim() < 1 ? std::string("none") : std::to_string(input.size(-1))));
  }
  const at::Tensor x = input.reshape({-1, in});
  at::Tensor z;
  if (dropout > 0.0) {
    z = at::mm(dropoutKeepScale(dropoutSeed, x.sizes(), dropout, x.options()).mul_(x), loraA.t());
  } else {
    z = at::mm(x, loraA.t());
  }
  // Base and adapter summed in place into one [..., out] result (a fresh tensor, not a view).
  at::Tensor y = at::linear(input, weight, bias.numel() == 0 ? at::Tensor() : bias);
  y.view({-1, weight.size(0)}).addmm_(z, loraB.t(), /*beta=*/1, /*alpha=*/scaling);

  ctx->save_for_backward({z, weight, loraA, loraB});
  ctx->saved_data["scaling"] = scaling;
  ctx->saved_data["dropout"] = dropout;
  ctx->saved_data["seed"] = dropoutSeed;
  ctx->saved_data["input_sizes"] = input.sizes().vec();
  return y;
}

torch::autograd::variable_list LoraFaFunction::backward(torch::autograd::AutogradContext* ctx,
                                                        torch::autograd::variable_list gradOutputs) {
  const auto saved = ctx->get_saved_variables();
  const at::Tensor& z = saved[0];
  const at::Tensor& weight = saved[1];
  const at::Tensor& loraA = saved[2];
  const at::Tensor& loraB = saved[3];
  const double scaling = ctx->saved_data["scaling"].toDouble();
  const double dropout = ctx->saved_data["dropout"].toDouble();
  const std::vector<std::int64_t> inputSizes = ctx->saved_data["input_sizes"].toIntVector();

  const at::Tensor dy = gradOutputs[0].reshape({-1, weight.size(0)});
  at::Tensor dInput;
  at::Tensor dB;
  if (ctx->needs_input_grad(0)) {
    const at::Tensor dz = at::mm(dy, loraB).mul_(scaling); // [N, r]
    at::Tensor dx = at::mm(dy, weight);                     // [N, in]
    if (dropout > 0.0) {
      const std::int64_t seed = ctx->saved_data["seed"].toInt();
      dx.add_(at::mm(dz, loraA).mul_(dropoutKeepScale(seed, dx.sizes(), dropout, dx.options())));
    } else {
      dx.addmm_(dz, loraA);
    }
    dInput = dx.view(inputSizes);
  }
  if (ctx->needs_input_grad(4)) {
    dB = at::mm(dy.t(), z).mul_(scaling); // [out, r]
  }
  // One gradient per forward argument: input, W, b, A, B, scaling, dropout, seed.
  return {dInput, at::Tensor(), at::Tensor(), at::Tensor(), dB, at::Tensor(), at::Tensor(), at::Tensor()};
}

} // namespace lorafa
