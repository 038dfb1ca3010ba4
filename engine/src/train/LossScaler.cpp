#include "train/LossScaler.h"

#include <c10/core/GradMode.h>

#include <stdexcept>
#include <string>

namespace lorafa {

LossScaler::LossScaler(bool enabled, Options options)
    : m_enabled(enabled), m_options(options), m_scale(options.initScale) {
  if (!(options.initScale > 0.0) || !(options.growthFactor > 1.0) || !(options.backoffFactor > 0.0) ||
      !(options.backoffFactor < 1.0) || options.growthInterval < 1) {
    throw std::invalid_argument("loss scaler: needs init scale > 0, growth factor > 1, 0 < backoff factor < 1 "
                                "and growth interval >= 1");
  }
}

bool LossScaler::unscale(const std::vector<at::Tensor>& grads) const {
  c10::NoGradGuard noGrad;
  bool finite = true;
  const double inverse = 1.0 / scale();
  for (const at::Tensor& g : grads) {
    if (!g.defined()) continue;
    if (m_enabled) g.mul_(inverse);
    if (finite && !g.isfinite().all().item<bool>()) finite = false;
  }
  return finite;
}

bool LossScaler::update(bool finite) {
  if (!m_enabled) return finite;
  if (!finite) {
    m_scale *= m_options.backoffFactor;
    m_growthTracker = 0;
    return false;
  }
  if (++m_growthTracker >= m_options.growthInterval) {
    m_scale *= m_options.growthFactor;
    m_growthTracker = 0;
  }
  return true;
}

void LossScaler::restore(double scale, std::int64_t growthTracker) {
  if (!(scale > 0.0) || growthTracker < 0) {
    throw std::invalid_argument("loss scaler: a saved scale must be positive (found " + std::to_string(scale) +
                                ") and its growth tracker non-negative (found " + std::to_string(growthTracker) + ")");
  }
  m_scale = scale;
  m_growthTracker = growthTracker;
}

} // namespace lorafa
