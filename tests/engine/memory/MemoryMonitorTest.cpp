#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/MemoryMonitor.h"

#include "memory/CudaMemoryStats.h"
#include "memory/NvmlLibrary.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

using namespace lorafa;

TEST(MemoryMonitor, SamplesTheTrackedCpuAllocator) {
  CpuMemoryTracker::instance().install();
  auto monitor = createMemoryMonitor();
  monitor->resetPeaks();
  const MemorySample before = monitor->sample();
  EXPECT_TRUE(before.cpuTracked);
  EXPECT_FALSE(before.cudaTracked) << "no CUDA device was asked for";
  EXPECT_FALSE(before.deviceTracked);
  at::Tensor t = torch::empty({256, 1024}, torch::kFloat); // 1 MiB
  const MemorySample during = monitor->sample();
  EXPECT_EQ(during.cpuCurrentBytes - before.cpuCurrentBytes, 1 << 20);
  EXPECT_GE(during.cpuPeakBytes, during.cpuCurrentBytes);
  EXPECT_GE(during.timestampMs, before.timestampMs);
  t.reset();
  const MemorySample after = monitor->sample();
  EXPECT_EQ(after.cpuCurrentBytes, before.cpuCurrentBytes);
  EXPECT_GE(after.cpuPeakBytes - before.cpuCurrentBytes, 1 << 20);
  monitor->resetPeaks();
  EXPECT_EQ(monitor->sample().cpuPeakBytes, after.cpuCurrentBytes);
}

TEST(MemoryMonitor, CudaAndNvmlFieldsFollowWhatIsPresent) {
  auto monitor = createMemoryMonitor(/*cudaDevice=*/0);
  const MemorySample s = monitor->sample();
  const bool cudaUsable = cudaCompiledIn() && torch::cuda::is_available();
  EXPECT_EQ(s.cudaTracked, cudaUsable);
  const NvmlLibrary& nvml = NvmlLibrary::instance();
  EXPECT_EQ(s.deviceTracked, nvml.isAvailable() && nvml.deviceCount() > 0);
  if (s.deviceTracked) {
    EXPECT_GT(s.deviceTotalBytes, 0);
    EXPECT_LE(s.deviceUsedBytes, s.deviceTotalBytes);
  } else {
    EXPECT_EQ(s.deviceTotalBytes, 0);
  }
}

TEST(NvmlLibrary, AbsentDriverIsQuietlyUnavailable) {
  const NvmlLibrary& nvml = NvmlLibrary::instance();
  if (nvml.isAvailable()) {
    GTEST_SKIP() << "NVML is present on this machine";
  }
  EXPECT_EQ(nvml.deviceCount(), 0);
  EXPECT_FALSE(nvml.deviceName(0).has_value());
  EXPECT_FALSE(nvml.deviceMemory(0).has_value());
}

TEST(CudaMemoryStats, AbsentWithoutCuda) {
  if (cudaCompiledIn() && torch::cuda::is_available()) {
    GTEST_SKIP() << "CUDA is present on this machine";
  }
  EXPECT_FALSE(queryCudaMemoryStats(0).has_value());
  EXPECT_NO_THROW(resetCudaPeakStats(0));
}
