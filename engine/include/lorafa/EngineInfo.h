#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lorafa {

/// A GPU: from CUDA when it is usable (indices are then cuda:N), else as NVML sees it.
struct GpuDeviceInfo {
  int index = 0;
  std::string name;
  std::int64_t totalBytes = 0;
  std::string computeCapability; ///< e.g. "9.0"; empty when unknown
};

/// Whether CUDA can be used here, and if not, why.
enum class CudaStatus {
  NotBuilt,     ///< LibTorch was built without CUDA
  NoDriver,     ///< no NVIDIA driver: libcuda.so.1 cannot be loaded (or only the toolkit's stub)
  DriverTooOld, ///< a driver is installed but supports an older CUDA than LibTorch's runtime
  NoDevice,     ///< the driver works but reports no CUDA device
  Error,        ///< CUDA reported another error (see cudaUnavailableReason)
  Available,    ///< at least one CUDA device can be used
};

/// What the engine was built with and what it can run on right now.
struct EngineInfo {
  std::string version;         ///< LoRA-FA Studio version
  std::string libtorchVersion; ///< LibTorch the engine was compiled against, e.g. "2.13.0"
  bool cudaBuilt = false;      ///< LibTorch was built with CUDA
  bool cudaAvailable = false;  ///< a CUDA device can be used now
  int cudaDeviceCount = 0;
  std::string cudaVersion;         ///< CUDA runtime LibTorch was built with, e.g. "13.0"; else empty
  std::string cudaDriverVersion;   ///< newest CUDA the installed driver supports, e.g. "13.0"; else empty
  std::string cudnnVersion;        ///< cuDNN LibTorch was built with, e.g. "9.20.0"; else empty
  std::string cudnnRuntimeVersion; ///< the cuDNN library loaded now; may differ from cudnnVersion
  std::string ncclVersion;         ///< NCCL compiled into LibTorch, e.g. "2.29.7"; empty when not compiled in
  CudaStatus cudaStatus = CudaStatus::NotBuilt;
  std::string cudaUnavailableReason; ///< why no GPU can be used, with CUDA's error text; empty when available
  std::vector<GpuDeviceInfo> gpus;   ///< CUDA's devices when usable, else NVML's (if NVML is present)
  int cpuThreads = 0;                ///< intra-op threads LibTorch uses
  std::string defaultDevice;         ///< "cuda:0" when CUDA is usable, else "cpu"
};

/// Queries LibTorch, the CUDA runtime and NVML (when present). Never throws for a missing GPU or
/// driver: cudaStatus and cudaUnavailableReason say what is missing.
EngineInfo queryEngineInfo();

/// Sets LibTorch's intra-op CPU threads: `threads` > 0 as given, 0 for every hardware thread
/// (some OpenMP runtimes start with one). Returns the number now in use.
int configureComputeThreads(int threads = 0);

/// Human-readable, multi-line summary for the CLI and the studio's main window.
std::string formatEngineInfo(const EngineInfo& info);

/// One line about CUDA: "13.0, cuDNN 9.20.0, NCCL 2.29.7" or "not compiled in".
std::string formatCudaBuild(const EngineInfo& info);

/// "NVIDIA H100 80GB HBM3, 79.19 GiB, compute capability 9.0".
std::string formatGpu(const GpuDeviceInfo& gpu);

/// A short name for the status, e.g. "no NVIDIA driver".
const char* toString(CudaStatus status);

} // namespace lorafa
