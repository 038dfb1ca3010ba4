// Built only when the LibTorch found has CUDA (see engine/CMakeLists.txt).
#include "CudaInfo.h"

#include "CudaProbe.h"

#include <ATen/cuda/CUDAContextLight.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/cuda/nccl.h>
#include <torch/cuda.h>

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <exception>

namespace lorafa {
namespace {

static_assert(cuda_error::kSuccess == cudaSuccess);
static_assert(cuda_error::kStubLibrary == cudaErrorStubLibrary);
static_assert(cuda_error::kInsufficientDriver == cudaErrorInsufficientDriver);
static_assert(cuda_error::kNoDevice == cudaErrorNoDevice);

// The CUDA runtime's error names and texts and its driver query, looked up in the runtime that
// LibTorch already loaded. The engine does not link libcudart itself: its soname differs between
// LibTorch distributions (PyPI's libcudart.so.13, pytorch.org's archives a renamed copy), and a
// second path to it could load another copy than the one LibTorch uses.
template <typename Fn> Fn loadedCudartFunction(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

// dlerror()'s words when libcuda.so.1 cannot be loaded, empty when it loads. Only asked after the
// runtime reported a missing or insufficient driver.
std::string driverLoadError() {
  dlerror();
  void* handle = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (handle != nullptr) {
    dlclose(handle);
    return {};
  }
  const char* error = dlerror();
  return error != nullptr ? error : "libcuda.so.1: not found";
}

CudaProbe probeCuda(long runtimeVersion) {
  CudaProbe probe;
  probe.runtimeVersion = static_cast<int>(runtimeVersion);
  int count = 0; // cudaGetDeviceCount leaves it untouched on error
  const cudaError_t error = c10::cuda::GetDeviceCount(&count); // LibTorch's own call, no exception
  probe.error = static_cast<int>(error);
  probe.deviceCount = error == cudaSuccess ? count : 0;
  if (auto name = loadedCudartFunction<decltype(&cudaGetErrorName)>("cudaGetErrorName")) {
    probe.errorName = name(error);
  }
  if (auto text = loadedCudartFunction<decltype(&cudaGetErrorString)>("cudaGetErrorString")) {
    probe.errorText = text(error);
  }
  if (auto driver = loadedCudartFunction<decltype(&cudaDriverGetVersion)>("cudaDriverGetVersion")) {
    int version = 0;
    if (driver(&version) == cudaSuccess) probe.driverVersion = version;
  }
  if (error == cudaErrorInsufficientDriver || error == cudaErrorStubLibrary) {
    probe.driverLoadError = driverLoadError();
  }
  return probe;
}

template <typename Fn> auto orEmpty(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception&) {
    return {};
  }
}

} // namespace

void queryCudaInfo(EngineInfo& info) {
  info.cudaBuilt = true;
  const at::CUDAHooksInterface& hooks = at::detail::getCUDAHooks();
  // Versions LibTorch was compiled with (CUDART_VERSION, CUDNN_VERSION, NCCL_*): no driver needed.
  const long runtimeVersion = orEmpty([&] { return hooks.versionCUDART(); });
  info.cudaVersion = formatCudaVersion(runtimeVersion);
  if (orEmpty([&] { return hooks.compiledWithCuDNN(); })) {
    info.cudnnVersion = formatCudnnVersion(orEmpty([&] { return hooks.versionCuDNN(); }));
    info.cudnnRuntimeVersion = formatCudnnVersion(orEmpty([&] { return hooks.versionRuntimeCuDNN(); }));
  }
  // Linux CUDA builds of LibTorch are built with NCCL; 0 (not compiled in) otherwise.
  info.ncclVersion = formatNcclVersion(orEmpty([] { return torch::cuda::nccl::version(); }));

  const CudaProbe probe = probeCuda(runtimeVersion);
  info.cudaDriverVersion = formatCudaVersion(probe.driverVersion);
  CudaVerdict verdict = classifyCudaProbe(probe);
  const bool torchSeesCuda = torch::cuda::is_available();
  if (verdict.status == CudaStatus::Available && !torchSeesCuda) {
    verdict = {CudaStatus::Error, "CUDA lists devices but LibTorch reports none usable"};
  }
  info.cudaStatus = verdict.status;
  info.cudaUnavailableReason = verdict.reason;
  info.cudaAvailable = verdict.status == CudaStatus::Available;
  info.cudaDeviceCount = info.cudaAvailable ? static_cast<int>(torch::cuda::device_count()) : 0;
  for (int i = 0; i < info.cudaDeviceCount; ++i) {
    GpuDeviceInfo gpu;
    gpu.index = i;
    try {
      // Reads the properties without creating a context on the device.
      if (const cudaDeviceProp* props = at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(i))) {
        gpu.name = props->name;
        gpu.totalBytes = static_cast<std::int64_t>(props->totalGlobalMem);
        gpu.computeCapability = std::to_string(props->major) + "." + std::to_string(props->minor);
      }
    } catch (const std::exception&) {
      // Listed without details; NVML may still name it (EngineInfo.cpp).
    }
    info.gpus.push_back(gpu);
  }
}

} // namespace lorafa
