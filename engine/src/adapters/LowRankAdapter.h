#pragma once

#include "lorafa/AdapterConfig.h"

#include <ATen/core/Tensor.h>
#include <c10/core/TensorOptions.h>

namespace lorafa {

/// The pair A [r, in], B [out, r] with its scaling s, shared by LoraLinear and LoraFaLinear.
/// A is initialised as the config says; B starts at zero, so the adapter starts as a no-op.
class LowRankAdapter {
public:
  LowRankAdapter(std::int64_t inFeatures, std::int64_t outFeatures, const AdapterConfig& config,
                 const c10::TensorOptions& options);

  at::Tensor& a() { return m_a; }
  at::Tensor& b() { return m_b; }
  const at::Tensor& a() const { return m_a; }
  const at::Tensor& b() const { return m_b; }
  double scaling() const { return m_scaling; }
  double dropout() const { return m_dropout; }

  /// s·B·A, shaped like W [out, in].
  at::Tensor delta() const;
  void mergeInto(const at::Tensor& weight);
  void unmergeFrom(const at::Tensor& weight);
  bool isMerged() const { return m_merged; }

private:
  at::Tensor m_a;
  at::Tensor m_b;
  double m_scaling;
  double m_dropout;
  bool m_merged = false;
};

/// Fills A [r, in] in place: Kaiming-uniform (PEFT's default), Gaussian (std 1/r) or orthonormal
/// rows. Uses LibTorch's default generator, so torch::manual_seed makes it reproducible.
void initLoraA(at::Tensor& a, LoraInit init);

} // namespace lorafa
