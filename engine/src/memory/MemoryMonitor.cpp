#include "lorafa/MemoryMonitor.h"

#include "CudaMemoryStats.h"
#include "NvmlLibrary.h"
#include "lorafa/CpuMemoryTracker.h"

#include <chrono>

namespace lorafa {
namespace {

class DefaultMemoryMonitor final : public MemoryMonitor {
public:
  explicit DefaultMemoryMonitor(int cudaDevice)
      : m_cudaDevice(cudaDevice), m_start(std::chrono::steady_clock::now()) {}

  MemorySample sample() override {
    MemorySample s;
    s.timestampMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - m_start)
                        .count();
    const CpuMemoryTracker& cpu = CpuMemoryTracker::instance();
    s.cpuTracked = cpu.isInstalled();
    s.cpuCurrentBytes = cpu.currentBytes();
    s.cpuPeakBytes = cpu.peakBytes();
    if (m_cudaDevice >= 0) {
      if (auto cuda = queryCudaMemoryStats(m_cudaDevice)) {
        s.cudaTracked = true;
        s.cudaAllocatedBytes = cuda->allocatedBytes;
        s.cudaPeakAllocatedBytes = cuda->peakAllocatedBytes;
        s.cudaReservedBytes = cuda->reservedBytes;
        s.cudaPeakReservedBytes = cuda->peakReservedBytes;
      }
      if (auto device = NvmlLibrary::instance().deviceMemory(m_cudaDevice)) {
        s.deviceTracked = true;
        s.deviceUsedBytes = device->usedBytes;
        s.deviceTotalBytes = device->totalBytes;
      }
    }
    return s;
  }

  void resetPeaks() override {
    CpuMemoryTracker::instance().resetPeak();
    if (m_cudaDevice >= 0) {
      resetCudaPeakStats(m_cudaDevice);
    }
  }

private:
  int m_cudaDevice;
  std::chrono::steady_clock::time_point m_start;
};

} // namespace

std::unique_ptr<MemoryMonitor> createMemoryMonitor(int cudaDevice) {
  return std::make_unique<DefaultMemoryMonitor>(cudaDevice);
}

} // namespace lorafa
