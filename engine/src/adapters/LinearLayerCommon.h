#pragma once

#include <ATen/core/Tensor.h>

namespace torch::nn {
class Module;
}

namespace lorafa {

/// Checks an incoming weight [out, in] and returns an alias of it (no copy), detached, with
/// requires_grad as asked. Throws std::invalid_argument on a bad shape.
at::Tensor adoptWeight(const at::Tensor& weight, bool trainable, const char* layerKind);
/// The same for a bias [out]; an undefined bias stays undefined (no bias).
at::Tensor adoptBias(const at::Tensor& bias, const at::Tensor& weight, bool trainable,
                     const char* layerKind);
/// Registers weight and (when defined) bias on the module under "weight" and "bias".
void registerBase(torch::nn::Module& module, at::Tensor& weight, at::Tensor& bias);

} // namespace lorafa
