// Built only when the LibTorch found has CUDA (see engine/CMakeLists.txt).
#include "CudaMemoryStats.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>

namespace lorafa {
namespace {

bool deviceExists(int device) {
  return device >= 0 && device < static_cast<int>(c10::cuda::device_count());
}

} // namespace

std::optional<CudaMemoryStats> queryCudaMemoryStats(int device) {
  if (!deviceExists(device)) {
    return std::nullopt;
  }
  // `auto`: the stats type moved between LibTorch versions; index 0 is the aggregate pool.
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
  CudaMemoryStats out;
  out.allocatedBytes = stats.allocated_bytes[0].current;
  out.peakAllocatedBytes = stats.allocated_bytes[0].peak;
  out.reservedBytes = stats.reserved_bytes[0].current;
  out.peakReservedBytes = stats.reserved_bytes[0].peak;
  return out;
}

void resetCudaPeakStats(int device) {
  if (deviceExists(device)) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(device);
  }
}

bool cudaCompiledIn() { return true; }

} // namespace lorafa
