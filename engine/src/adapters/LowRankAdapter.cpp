#include "LowRankAdapter.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/linalg_qr.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/zeros.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <stdexcept>

namespace lorafa {

LowRankAdapter::LowRankAdapter(std::int64_t inFeatures, std::int64_t outFeatures,
                               const AdapterConfig& config, const c10::TensorOptions& options)
    : m_scaling(config.scaling()), m_dropout(config.dropout) {
  config.validate();
  if (inFeatures < 1 || outFeatures < 1) {
    throw std::invalid_argument("adapted linear layer needs positive in/out features, got in=" +
                                std::to_string(inFeatures) + " out=" + std::to_string(outFeatures));
  }
  const c10::TensorOptions plain = options.requires_grad(false);
  m_a = at::zeros({config.rank, inFeatures}, plain);
  initLoraA(m_a, config.init);
  m_b = at::zeros({outFeatures, config.rank}, plain);
}

at::Tensor LowRankAdapter::delta() const {
  c10::NoGradGuard noGrad;
  return at::mm(m_b, m_a).mul_(m_scaling);
}

void LowRankAdapter::mergeInto(const at::Tensor& weight) {
  if (m_merged) return;
  c10::NoGradGuard noGrad;
  weight.add_(delta());
  m_merged = true;
}

void LowRankAdapter::unmergeFrom(const at::Tensor& weight) {
  if (!m_merged) return;
  c10::NoGradGuard noGrad;
  weight.sub_(delta());
  m_merged = false;
}

void initLoraA(at::Tensor& a, LoraInit init) {
  c10::NoGradGuard noGrad;
  const std::int64_t rank = a.size(0);
  const std::int64_t in = a.size(1);
  switch (init) {
  case LoraInit::KaimingUniform: {
    // kaiming_uniform_(a = √5) on [r, in]: gain √(2/(1+5)), bound gain·√(3/in) = 1/√in.
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    a.uniform_(-bound, bound);
    break;
  }
  case LoraInit::Gaussian:
    a.normal_(0.0, 1.0 / static_cast<double>(rank));
    break;
  case LoraInit::Orthogonal: {
    // QR of a Gaussian [max, min] matrix, in float64 for accuracy; signs fixed by diag(R) so the
    // result is uniformly distributed. Rows of A are orthonormal when r ≤ in (columns otherwise).
    const bool tall = in >= rank;
    const at::Tensor g = at::randn({tall ? in : rank, tall ? rank : in}, a.options().dtype(at::kDouble));
    auto qr = at::linalg_qr(g, "reduced");
    at::Tensor q = std::get<0>(qr) * std::get<1>(qr).diagonal().sign().unsqueeze(0);
    a.copy_(tall ? q.t() : q);
    break;
  }
  }
}

} // namespace lorafa
