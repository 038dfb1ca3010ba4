#pragma once

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

#include <optional>

namespace lorafa {

/// The thread-local autocast settings of LibTorch for the CPU and CUDA, as one value: a block
/// recomputed in backward (BlockCheckpoint) must run under the settings its forward saw.
struct AutocastState {
  bool cpuEnabled = false;
  c10::ScalarType cpuDtype = c10::ScalarType::BFloat16;
  bool cudaEnabled = false;
  c10::ScalarType cudaDtype = c10::ScalarType::Half;

  static AutocastState current();
  bool enabled() const { return cpuEnabled || cudaEnabled; }
};

/// Applies an AutocastState for its lifetime (restoring the previous one after), and drops
/// autocast's cache of casted weights when the outermost scope ends, as torch.autocast does.
class AutocastScope {
public:
  explicit AutocastScope(const AutocastState& state);
  /// Autocast to `dtype` on `device` (only kCPU and kCUDA); nullopt: changes nothing.
  AutocastScope(c10::DeviceType device, std::optional<c10::ScalarType> dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

private:
  void enter(const AutocastState& state);
  AutocastState m_previous;
  bool m_active = false;
};

} // namespace lorafa
