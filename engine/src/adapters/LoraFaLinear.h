#pragma once

#include "LinearLayer.h"
#include "LowRankAdapter.h"

namespace lorafa {

/// LoRA-FA (arXiv 2308.03303): W, b and A frozen, only B trained. Backward keeps the rank-sized
/// x·Aᵀ instead of x (see LoraFaFunction).
class LoraFaLinear : public LinearLayer {
public:
  /// Wraps an existing frozen weight [out, in] and optional bias [out] (undefined for none).
  LoraFaLinear(const torch::Tensor& weight, const torch::Tensor& bias, const AdapterConfig& config);

  torch::Tensor forward(const torch::Tensor& input) override;
  TrainMethod method() const override { return TrainMethod::LoraFa; }
  const torch::Tensor& weight() const override { return m_weight; }
  const torch::Tensor& bias() const override { return m_bias; }
  void merge() override { m_adapter.mergeInto(m_weight); }
  void unmerge() override { m_adapter.unmergeFrom(m_weight); }
  bool isMerged() const override { return m_adapter.isMerged(); }

  const LowRankAdapter& adapter() const { return m_adapter; }

private:
  torch::Tensor m_weight;
  torch::Tensor m_bias;
  torch::Tensor m_noBias; // an empty stand-in for LoraFaFunction when there is no bias
  LowRankAdapter m_adapter;
};

} // namespace lorafa
