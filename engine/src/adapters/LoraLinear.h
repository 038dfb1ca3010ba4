#pragma once

#include "LinearLayer.h"
#include "LowRankAdapter.h"

namespace lorafa {

/// Standard LoRA, the baseline: W and b frozen, A and B trained, built from plain autograd ops
/// (so the input x is kept for dA = s·(dy·B)ᵀ·x, as in PEFT).
class LoraLinear : public LinearLayer {
public:
  LoraLinear(const torch::Tensor& weight, const torch::Tensor& bias, const AdapterConfig& config);

  torch::Tensor forward(const torch::Tensor& input) override;
  TrainMethod method() const override { return TrainMethod::Lora; }
  const torch::Tensor& weight() const override { return m_weight; }
  const torch::Tensor& bias() const override { return m_bias; }
  void merge() override { m_adapter.mergeInto(m_weight); }
  void unmerge() override { m_adapter.unmergeFrom(m_weight); }
  bool isMerged() const override { return m_adapter.isMerged(); }

  const LowRankAdapter& adapter() const { return m_adapter; }

private:
  torch::Tensor m_weight;
  torch::Tensor m_bias;
  LowRankAdapter m_adapter;
};

} // namespace lorafa
