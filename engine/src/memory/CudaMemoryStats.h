#pragma once

#include <cstdint>
#include <optional>

namespace lorafa {

/// LibTorch's CUDA caching-allocator statistics for one device.
struct CudaMemoryStats {
  std::int64_t allocatedBytes = 0;
  std::int64_t peakAllocatedBytes = 0;
  std::int64_t reservedBytes = 0;
  std::int64_t peakReservedBytes = 0;
};

/// Empty when LibTorch has no CUDA or the device does not exist.
std::optional<CudaMemoryStats> queryCudaMemoryStats(int device);
/// Resets the peaks of the device to the current values (no-op without CUDA).
void resetCudaPeakStats(int device);
/// True when this build of LibTorch was compiled with CUDA.
bool cudaCompiledIn();

} // namespace lorafa
