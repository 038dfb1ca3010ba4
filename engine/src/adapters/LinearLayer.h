#pragma once

#include "lorafa/AdapterConfig.h"

#include <torch/nn/module.h>

namespace lorafa {

/// A linear layer y = x·Wᵀ + b as it is trained by one TrainMethod. Parameters are registered
/// under their Hugging Face / PEFT names: "weight", "bias", "lora_A", "lora_B".
class LinearLayer : public torch::nn::Module {
public:
  /// input [..., in] → output [..., out]
  virtual torch::Tensor forward(const torch::Tensor& input) = 0;
  virtual TrainMethod method() const = 0;
  virtual const torch::Tensor& weight() const = 0;
  /// Undefined when the layer has no bias.
  virtual const torch::Tensor& bias() const = 0;
  /// Folds s·B·A into W; forward then uses W alone. A no-op for layers without an adapter.
  virtual void merge() = 0;
  /// Takes s·B·A back out of W.
  virtual void unmerge() = 0;
  virtual bool isMerged() const = 0;
};

} // namespace lorafa
