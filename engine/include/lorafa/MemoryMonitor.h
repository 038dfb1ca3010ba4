#pragma once

#include <cstdint>
#include <memory>

namespace lorafa {

/// One reading of where memory stands. Fields of an unavailable source stay 0.
struct MemorySample {
  std::int64_t timestampMs = 0; ///< milliseconds since the monitor was created

  bool cpuTracked = false; ///< the tracking CPU allocator is installed
  std::int64_t cpuCurrentBytes = 0;
  std::int64_t cpuPeakBytes = 0;

  bool cudaTracked = false; ///< LibTorch has CUDA and the device exists
  std::int64_t cudaAllocatedBytes = 0;
  std::int64_t cudaPeakAllocatedBytes = 0;
  std::int64_t cudaReservedBytes = 0;
  std::int64_t cudaPeakReservedBytes = 0;

  bool deviceTracked = false; ///< NVML answered for the device
  std::int64_t deviceUsedBytes = 0;  ///< device-wide, all processes
  std::int64_t deviceTotalBytes = 0;
};

/// What the trainer and the UI sample for live memory.
class MemoryMonitor {
public:
  virtual ~MemoryMonitor() = default;
  virtual MemorySample sample() = 0;
  /// Resets the CPU and CUDA peaks to their current values.
  virtual void resetPeaks() = 0;
};

/// A monitor of the tracked CPU allocator and, when cudaDevice >= 0 and available, of that
/// CUDA device (caching-allocator stats, NVML). Missing CUDA or NVML is not an error.
std::unique_ptr<MemoryMonitor> createMemoryMonitor(int cudaDevice = -1);

} // namespace lorafa
