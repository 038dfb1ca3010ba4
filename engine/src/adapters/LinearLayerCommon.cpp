#include "LinearLayerCommon.h"

#include <torch/nn/module.h>

#include <stdexcept>
#include <string>

namespace lorafa {

at::Tensor adoptWeight(const at::Tensor& weight, bool trainable, const char* layerKind) {
  if (!weight.defined() || weight.dim() != 2) {
    throw std::invalid_argument(std::string(layerKind) + ": weight must be a 2-D tensor [out, in], got " +
                                (weight.defined() ? std::to_string(weight.dim()) + "-D" : "none"));
  }
  return weight.detach().requires_grad_(trainable);
}

at::Tensor adoptBias(const at::Tensor& bias, const at::Tensor& weight, bool trainable,
                     const char* layerKind) {
  if (!bias.defined()) {
    return at::Tensor();
  }
  if (bias.dim() != 1 || bias.size(0) != weight.size(0)) {
    throw std::invalid_argument(std::string(layerKind) + ": bias must be [" +
                                std::to_string(weight.size(0)) + "], got " + std::to_string(bias.dim()) +
                                "-D with " + std::to_string(bias.numel()) + " elements");
  }
  return bias.detach().requires_grad_(trainable);
}

void registerBase(torch::nn::Module& module, at::Tensor& weight, at::Tensor& bias) {
  weight = module.register_parameter("weight", weight, weight.requires_grad());
  if (bias.defined()) {
    bias = module.register_parameter("bias", bias, bias.requires_grad());
  }
}

} // namespace lorafa
