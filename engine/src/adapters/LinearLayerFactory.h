#pragma once

#include "LinearLayer.h"

#include <memory>

namespace lorafa {

/// Builds the layer the config's method asks for around an existing weight [out, in] and bias
/// (undefined for none): LoraFaLinear, LoraLinear or DenseLinear (full / frozen).
std::shared_ptr<LinearLayer> makeLinearLayer(const torch::Tensor& weight, const torch::Tensor& bias,
                                             const AdapterConfig& config);

/// A fresh weight [out, in] initialised as torch.nn.Linear does (U(-1/√in, 1/√in)).
torch::Tensor randomLinearWeight(std::int64_t inFeatures, std::int64_t outFeatures,
                                 const torch::TensorOptions& options);

} // namespace lorafa
