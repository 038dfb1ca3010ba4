#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lorafa {

/// A GPU as NVML reports it (name and memory), when NVML is present.
struct GpuDeviceInfo {
  int index = 0;
  std::string name;
  std::int64_t totalBytes = 0;
};

/// What the engine was built with and what it can run on right now.
struct EngineInfo {
  std::string version;         ///< LoRA-FA Studio version
  std::string libtorchVersion; ///< LibTorch the engine was compiled against, e.g. "1.13.0"
  bool cudaBuilt = false;      ///< LibTorch was built with CUDA
  bool cudaAvailable = false;  ///< a CUDA device can be used now
  int cudaDeviceCount = 0;
  std::vector<GpuDeviceInfo> gpus; ///< from NVML; empty when NVML is absent
  int cpuThreads = 0;              ///< intra-op threads LibTorch uses
  std::string defaultDevice;       ///< "cuda:0" when CUDA is usable, else "cpu"
};

/// Queries LibTorch (and NVML when present). Never throws for a missing GPU or driver.
EngineInfo queryEngineInfo();

/// Sets LibTorch's intra-op CPU threads: `threads` > 0 as given, 0 for every hardware thread
/// (some OpenMP runtimes start with one). Returns the number now in use.
int configureComputeThreads(int threads = 0);

/// Human-readable, multi-line summary for the CLI and the studio's main window.
std::string formatEngineInfo(const EngineInfo& info);

} // namespace lorafa
