#include "lorafa/EngineInfo.h"

#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/Version.h"
#include "memory/CudaMemoryStats.h"
#include "memory/NvmlLibrary.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <sstream>
#include <thread>

namespace lorafa {

EngineInfo queryEngineInfo() {
  EngineInfo info;
  info.version = versionString();
  info.libtorchVersion = TORCH_VERSION;
  info.cudaBuilt = cudaCompiledIn();
  info.cudaAvailable = torch::cuda::is_available();
  info.cudaDeviceCount = info.cudaAvailable ? static_cast<int>(torch::cuda::device_count()) : 0;
  const NvmlLibrary& nvml = NvmlLibrary::instance();
  for (int i = 0; i < nvml.deviceCount(); ++i) {
    GpuDeviceInfo gpu;
    gpu.index = i;
    gpu.name = nvml.deviceName(i).value_or("unknown GPU");
    if (auto memory = nvml.deviceMemory(i)) {
      gpu.totalBytes = memory->totalBytes;
    }
    info.gpus.push_back(gpu);
  }
  info.cpuThreads = at::get_num_threads();
  info.defaultDevice = info.cudaAvailable ? "cuda:0" : "cpu";
  return info;
}

int configureComputeThreads(int threads) {
  if (threads <= 0) {
    threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  at::set_num_threads(threads);
  return at::get_num_threads();
}

std::string formatEngineInfo(const EngineInfo& info) {
  std::ostringstream out;
  out << "LoRA-FA Studio " << info.version << "\n";
  out << "LibTorch " << info.libtorchVersion << (info.cudaBuilt ? " (CUDA build)" : " (CPU build)")
      << "\n";
  out << "Device: " << info.defaultDevice;
  if (info.cudaAvailable) {
    out << " (" << info.cudaDeviceCount << " CUDA device" << (info.cudaDeviceCount == 1 ? "" : "s")
        << ")";
  } else if (info.cudaBuilt) {
    out << " (no usable CUDA device)";
  }
  out << "\nCPU threads: " << info.cpuThreads << "\n";
  for (const GpuDeviceInfo& gpu : info.gpus) {
    out << "GPU " << gpu.index << ": " << gpu.name << ", " << formatBytes(gpu.totalBytes) << "\n";
  }
  return out.str();
}

} // namespace lorafa
