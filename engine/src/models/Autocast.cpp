#include "models/Autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

// LibTorch 2.4 replaced the CUDA/CPU-specific setters with device-type ones (the old ones are
// deprecated there); 1.13 has only the old ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define LORAFA_AUTOCAST_BY_DEVICE 1
#endif

namespace lorafa {

AutocastState AutocastState::current() {
  AutocastState s;
#ifdef LORAFA_AUTOCAST_BY_DEVICE
  s.cpuEnabled = at::autocast::is_autocast_enabled(at::kCPU);
  s.cpuDtype = at::autocast::get_autocast_dtype(at::kCPU);
  s.cudaEnabled = at::autocast::is_autocast_enabled(at::kCUDA);
  s.cudaDtype = at::autocast::get_autocast_dtype(at::kCUDA);
#else
  s.cpuEnabled = at::autocast::is_cpu_enabled();
  s.cpuDtype = at::autocast::get_autocast_cpu_dtype();
  s.cudaEnabled = at::autocast::is_enabled();
  s.cudaDtype = at::autocast::get_autocast_gpu_dtype();
#endif
  return s;
}

namespace {

void apply(const AutocastState& s) {
#ifdef LORAFA_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_dtype(at::kCPU, s.cpuDtype);
  at::autocast::set_autocast_enabled(at::kCPU, s.cpuEnabled);
  at::autocast::set_autocast_dtype(at::kCUDA, s.cudaDtype);
  at::autocast::set_autocast_enabled(at::kCUDA, s.cudaEnabled);
#else
  at::autocast::set_autocast_cpu_dtype(s.cpuDtype);
  at::autocast::set_cpu_enabled(s.cpuEnabled);
  at::autocast::set_autocast_gpu_dtype(s.cudaDtype);
  at::autocast::set_enabled(s.cudaEnabled);
#endif
}

} // namespace

AutocastScope::AutocastScope(const AutocastState& state) { enter(state); }

AutocastScope::AutocastScope(c10::DeviceType device, std::optional<c10::ScalarType> dtype) {
  if (!dtype) return;
  AutocastState state = AutocastState::current();
  if (device == c10::DeviceType::CUDA) {
    state.cudaEnabled = true;
    state.cudaDtype = *dtype;
  } else {
    state.cpuEnabled = true;
    state.cpuDtype = *dtype;
  }
  enter(state);
}

void AutocastScope::enter(const AutocastState& state) {
  m_previous = AutocastState::current();
  apply(state);
  at::autocast::increment_nesting();
  m_active = true;
}

AutocastScope::~AutocastScope() {
  if (!m_active) return;
  // Casted copies of fp32 weights are cached while autocast is on; torch.autocast clears the
  // cache when its outermost region ends, so they never outlive a forward pass.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  apply(m_previous);
}

} // namespace lorafa
