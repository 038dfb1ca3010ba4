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
  // The base matmul decides the compute dtype: autocast's (bf16/fp16) when it is on, otherwise
  // the input's. The adapter follows it explicitly, because the in-place addmm_ below is not an
  // autocast op and A and B stay fp32 (master weights) while a frozen W may be stored bf16/fp16.
  at::Tensor y = at::linear(input, weight, bias.numel() == 0 ? at::Tensor() : bias);
  const c10::ScalarType compute = y.scalar_type();
  const at::Tensor x = input.reshape({-1, in}).to(compute);
  at::Tensor z; // kept in the compute dtype: half the memory under bf16/fp16
  if (dropout > 0.0) {
    z = at::mm(dropoutKeepScale(dropoutSeed, x.sizes(), dropout, x.options()).mul_(x), loraA.to(compute).t());
  } else {
    z = at::mm(x, loraA.to(compute).t());
  }
  // Base and adapter summed in place into one [..., out] result (a fresh tensor, not a view).
  y.view({-1, weight.size(0)}).addmm_(z, loraB.to(compute).t(), /*beta=*/1, /*alpha=*/scaling);

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

  // Backward runs outside autocast: everything is computed in the forward's compute dtype (dy's),
  // and dB is returned in B's own dtype (fp32 master weights under bf16/fp16).
  const at::Tensor dy = gradOutputs[0].reshape({-1, weight.size(0)});
  const c10::ScalarType compute = dy.scalar_type();
  at::Tensor dInput;
  at::Tensor dB;
  if (ctx->needs_input_grad(0)) {
    const at::Tensor dz = at::mm(dy, loraB.to(compute)).mul_(scaling); // [N, r]
    at::Tensor dx = at::mm(dy, weight.to(compute));                    // [N, in]
    if (dropout > 0.0) {
      const std::int64_t seed = ctx->saved_data["seed"].toInt();
      dx.add_(at::mm(dz, loraA.to(compute)).mul_(dropoutKeepScale(seed, dx.sizes(), dropout, dx.options())));
    } else {
      dx.addmm_(dz, loraA.to(compute));
    }
    dInput = dx.view(inputSizes); // the autograd engine casts it to the input's dtype if that differs
  }
  if (ctx->needs_input_grad(4)) {
    dB = at::mm(dy.t(), z.to(compute)).mul_(scaling).to(loraB.scalar_type()); // [out, r]
  }
  // One gradient per forward argument: input, W, b, A, B, scaling, dropout, seed.
  return {dInput, at::Tensor(), at::Tensor(), at::Tensor(), dB, at::Tensor(), at::Tensor(), at::Tensor()};
}

} // namespace lorafa
