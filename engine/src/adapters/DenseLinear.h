#pragma once

#include "LinearLayer.h"

namespace lorafa {

/// A plain linear layer, trained in full (W and b get gradients) or frozen (nothing does;
/// gradients still flow to the input).
class DenseLinear : public LinearLayer {
public:
  /// `method` must be TrainMethod::Full or TrainMethod::Frozen.
  DenseLinear(const torch::Tensor& weight, const torch::Tensor& bias, TrainMethod method);

  torch::Tensor forward(const torch::Tensor& input) override;
  TrainMethod method() const override { return m_method; }
  const torch::Tensor& weight() const override { return m_weight; }
  const torch::Tensor& bias() const override { return m_bias; }
  void merge() override {}
  void unmerge() override {}
  bool isMerged() const override { return false; }

private:
  torch::Tensor m_weight;
  torch::Tensor m_bias;
  TrainMethod m_method;
};

} // namespace lorafa
