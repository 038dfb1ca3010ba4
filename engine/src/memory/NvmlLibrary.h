#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace lorafa {

/// NVML, loaded at run time with dlopen("libnvidia-ml.so.1"). When the library or a driver is
/// missing, isAvailable() is false and every query returns nothing; nothing throws.
class NvmlLibrary {
public:
  struct DeviceMemory {
    std::int64_t usedBytes = 0;
    std::int64_t totalBytes = 0;
  };

  /// The process-wide instance (NVML is initialised once and shut down at exit).
  static NvmlLibrary& instance();

  bool isAvailable() const;
  int deviceCount() const;
  std::optional<std::string> deviceName(int index) const;
  std::optional<DeviceMemory> deviceMemory(int index) const;
  /// CUDA compute capability, e.g. "8.6"; empty when this NVML cannot say.
  std::optional<std::string> computeCapability(int index) const;

  ~NvmlLibrary();
  NvmlLibrary(const NvmlLibrary&) = delete;
  NvmlLibrary& operator=(const NvmlLibrary&) = delete;

private:
  NvmlLibrary();
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace lorafa
