#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace lorafa {

/// Dynamic loss scaling for fp16 training, with torch.cuda.amp.GradScaler's rules and defaults:
/// the loss is multiplied by scale() before backward; the gradients are divided by it again
/// (unscale) and checked; a step whose gradients hold inf/NaN is skipped and the scale is
/// multiplied by backoffFactor; after growthInterval finite steps in a row it is multiplied by
/// growthFactor. Disabled (fp32, bf16): scale 1 and every step is taken.
class LossScaler {
public:
  struct Options {
    double initScale = 65536.0;
    double growthFactor = 2.0;
    double backoffFactor = 0.5;
    std::int64_t growthInterval = 2000;
  };

  explicit LossScaler(bool enabled = false) : LossScaler(enabled, Options{}) {}
  LossScaler(bool enabled, Options options);

  bool enabled() const { return m_enabled; }
  /// What to multiply the loss by before backward (1 when disabled).
  double scale() const { return m_enabled ? m_scale : 1.0; }
  /// Finite steps since the last growth or backoff.
  std::int64_t growthTracker() const { return m_growthTracker; }

  /// Divides each defined gradient by scale() in place; true when all of them are finite
  /// afterwards. Disabled: only the check.
  bool unscale(const std::vector<at::Tensor>& grads) const;
  /// Records a step's outcome (`finite`: the gradients were usable) and adapts the scale.
  /// Returns whether the optimizer step should be taken.
  bool update(bool finite);

  /// Restores the state a checkpoint holds.
  void restore(double scale, std::int64_t growthTracker);

private:
  bool m_enabled;
  Options m_options;
  double m_scale;
  std::int64_t m_growthTracker = 0;
};

} // namespace lorafa
