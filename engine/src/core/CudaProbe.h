#pragma once

#include "lorafa/EngineInfo.h"

#include <cstdint>
#include <string>

namespace lorafa {

/// What the CUDA runtime answered when asked for devices, and the loader's words about the driver
/// library: the facts classifyCudaProbe() turns into a status and a reason. Plain numbers, so the
/// classification is tested on every build, with or without CUDA.
struct CudaProbe {
  int error = 0;               ///< cudaGetDeviceCount's cudaError_t (0: cudaSuccess)
  std::string errorName;       ///< cudaGetErrorName, e.g. "cudaErrorNoDevice"; may be empty
  std::string errorText;       ///< cudaGetErrorString; may be empty
  int deviceCount = 0;         ///< devices cudaGetDeviceCount found
  int driverVersion = 0;       ///< cudaDriverGetVersion: newest CUDA the driver supports, 0 without a driver
  int runtimeVersion = 0;      ///< CUDA runtime LibTorch was built with (CUDART_VERSION), e.g. 13000
  std::string driverLoadError; ///< dlerror() for libcuda.so.1; empty when it loads or was not tried
};

/// The cudaError_t values classifyCudaProbe() tells apart (cuda_runtime_api.h's driver_types.h;
/// CudaInfo.cpp checks them against the header).
namespace cuda_error {
constexpr int kSuccess = 0;
constexpr int kStubLibrary = 34;
constexpr int kInsufficientDriver = 35;
constexpr int kNoDevice = 100;
} // namespace cuda_error

struct CudaVerdict {
  CudaStatus status = CudaStatus::Error;
  std::string reason; ///< empty when status is Available
};

/// No driver, a driver too old for the runtime, no device, another error, or available.
CudaVerdict classifyCudaProbe(const CudaProbe& probe);

/// CUDA's 1000·major + 10·minor as "13.0"; empty for 0.
std::string formatCudaVersion(long version);
/// cuDNN's CUDNN_VERSION as "9.20.0": 10000·major + 100·minor + patch since cuDNN 9, 1000·major +
/// 100·minor + patch before; empty for 0.
std::string formatCudnnVersion(long version);
/// NCCL as LibTorch packs it (major << 32 | minor << 16 | patch) as "2.29.7"; empty for 0.
std::string formatNcclVersion(std::uint64_t version);

} // namespace lorafa
