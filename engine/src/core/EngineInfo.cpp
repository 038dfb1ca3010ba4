#include "lorafa/EngineInfo.h"

#include "CudaInfo.h"
#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/Version.h"
#include "memory/NvmlLibrary.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <algorithm>
#include <sstream>
#include <thread>

namespace lorafa {
namespace {

// NVML sees the GPUs the driver knows even when CUDA cannot use them (a driver too old for the
// runtime, a CPU build of LibTorch): then it lists them, named and sized. NVML numbers devices in
// PCI order, CUDA fastest first and after CUDA_VISIBLE_DEVICES: an NVML index is not a cuda:N, so
// the devices CUDA lists are left as CUDA described them.
void addNvmlDevices(EngineInfo& info) {
  if (info.cudaAvailable) return;
  const NvmlLibrary& nvml = NvmlLibrary::instance();
  for (int i = 0; i < nvml.deviceCount(); ++i) {
    GpuDeviceInfo gpu;
    gpu.index = i;
    gpu.name = nvml.deviceName(i).value_or("unknown GPU");
    if (auto memory = nvml.deviceMemory(i)) gpu.totalBytes = memory->totalBytes;
    gpu.computeCapability = nvml.computeCapability(i).value_or("");
    info.gpus.push_back(gpu);
  }
}

} // namespace

EngineInfo queryEngineInfo() {
  EngineInfo info;
  info.version = versionString();
  info.libtorchVersion = TORCH_VERSION;
  queryCudaInfo(info);
  addNvmlDevices(info);
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

const char* toString(CudaStatus status) {
  switch (status) {
  case CudaStatus::NotBuilt: return "CUDA not compiled in";
  case CudaStatus::NoDriver: return "no NVIDIA driver";
  case CudaStatus::DriverTooOld: return "NVIDIA driver too old";
  case CudaStatus::NoDevice: return "no CUDA device";
  case CudaStatus::Error: return "CUDA error";
  case CudaStatus::Available: return "available";
  }
  return "unknown";
}

std::string formatCudaBuild(const EngineInfo& info) {
  if (!info.cudaBuilt) return "not compiled in";
  std::ostringstream out;
  out << (info.cudaVersion.empty() ? std::string("(version unknown)") : info.cudaVersion);
  out << ", cuDNN ";
  if (info.cudnnVersion.empty()) {
    out << "not compiled in";
  } else {
    out << info.cudnnVersion;
    if (!info.cudnnRuntimeVersion.empty() && info.cudnnRuntimeVersion != info.cudnnVersion) {
      out << " (loaded " << info.cudnnRuntimeVersion << ")";
    }
  }
  out << ", NCCL " << (info.ncclVersion.empty() ? std::string("not compiled in") : info.ncclVersion);
  return out.str();
}

std::string formatGpu(const GpuDeviceInfo& gpu) {
  std::ostringstream out;
  out << (gpu.name.empty() ? std::string("unknown GPU") : gpu.name);
  if (gpu.totalBytes > 0) out << ", " << formatBytes(gpu.totalBytes);
  if (!gpu.computeCapability.empty()) out << ", compute capability " << gpu.computeCapability;
  return out.str();
}

std::string formatEngineInfo(const EngineInfo& info) {
  std::ostringstream out;
  out << "LoRA-FA Studio " << info.version << "\n";
  out << "LibTorch " << info.libtorchVersion << (info.cudaBuilt ? " (CUDA build)" : " (CPU build)")
      << "\n";
  if (info.cudaBuilt) {
    out << "CUDA " << formatCudaBuild(info) << "\n";
    if (!info.cudaDriverVersion.empty()) {
      out << "NVIDIA driver: supports CUDA " << info.cudaDriverVersion << "\n";
    } else if (info.cudaStatus == CudaStatus::NoDriver) {
      out << "NVIDIA driver: none\n";
    }
  } else {
    out << "CUDA: not compiled in\n";
  }
  out << "Device: " << info.defaultDevice;
  if (info.cudaAvailable) {
    out << " (" << info.cudaDeviceCount << " CUDA device" << (info.cudaDeviceCount == 1 ? "" : "s")
        << ")";
  }
  out << "\n";
  if (!info.cudaAvailable) {
    out << "No GPU: "
        << (info.cudaUnavailableReason.empty() ? std::string(toString(info.cudaStatus))
                                               : info.cudaUnavailableReason)
        << "\n";
  }
  out << "CPU threads: " << info.cpuThreads << "\n";
  for (const GpuDeviceInfo& gpu : info.gpus) {
    out << "GPU " << gpu.index << ": " << formatGpu(gpu) << (info.cudaAvailable ? "" : " (not usable)")
        << "\n";
  }
  return out.str();
}

} // namespace lorafa
