#include "CudaProbe.h"

#include <sstream>

namespace lorafa {
namespace {

// "cudaGetDeviceCount: cudaErrorNoDevice (100): no CUDA-capable device is detected"
std::string cudaErrorText(const CudaProbe& probe) {
  std::ostringstream out;
  out << "cudaGetDeviceCount: ";
  if (!probe.errorName.empty()) {
    out << probe.errorName << " (" << probe.error << ")";
  } else {
    out << "CUDA error " << probe.error;
  }
  if (!probe.errorText.empty()) out << ": " << probe.errorText;
  return out.str();
}

} // namespace

CudaVerdict classifyCudaProbe(const CudaProbe& probe) {
  using namespace cuda_error;
  if (probe.error == kSuccess && probe.deviceCount > 0) return {CudaStatus::Available, {}};
  const std::string runtime = formatCudaVersion(probe.runtimeVersion);
  const std::string driver = formatCudaVersion(probe.driverVersion);
  std::ostringstream reason;
  CudaStatus status = CudaStatus::Error;
  if (probe.error == kStubLibrary) {
    status = CudaStatus::NoDriver;
    reason << "no NVIDIA driver: the libcuda.so found is the CUDA toolkit's stub library, not a driver; "
           << cudaErrorText(probe);
  } else if (probe.error == kInsufficientDriver && probe.driverVersion <= 0) {
    status = CudaStatus::NoDriver;
    reason << "no NVIDIA driver: ";
    if (!probe.driverLoadError.empty()) {
      reason << "libcuda.so.1 cannot be loaded (" << probe.driverLoadError << "); ";
    } else {
      reason << "the CUDA driver reports no version; ";
    }
    reason << cudaErrorText(probe);
  } else if (probe.error == kInsufficientDriver) {
    status = CudaStatus::DriverTooOld;
    reason << "NVIDIA driver too old: it supports CUDA " << driver << ", LibTorch's runtime is CUDA "
           << (runtime.empty() ? std::string("(unknown)") : runtime) << " (update the driver); "
           << cudaErrorText(probe);
  } else if (probe.error == kNoDevice || probe.error == kSuccess) {
    status = CudaStatus::NoDevice;
    reason << "NVIDIA driver present";
    if (!driver.empty()) reason << " (CUDA " << driver << ")";
    reason << " but no CUDA device; ";
    if (probe.error == kSuccess) {
      reason << "cudaGetDeviceCount found 0 devices";
    } else {
      reason << cudaErrorText(probe);
    }
  } else {
    status = CudaStatus::Error;
    reason << "CUDA cannot be used: " << cudaErrorText(probe);
  }
  return {status, reason.str()};
}

std::string formatCudaVersion(long version) {
  if (version <= 0) return {};
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

std::string formatCudnnVersion(long version) {
  if (version <= 0) return {};
  const long majorUnit = version >= 90000 ? 10000 : 1000;
  return std::to_string(version / majorUnit) + "." + std::to_string(version % majorUnit / 100) + "." +
         std::to_string(version % 100);
}

std::string formatNcclVersion(std::uint64_t version) {
  if (version == 0) return {};
  return std::to_string(version >> 32) + "." + std::to_string((version >> 16) & 0xFFFF) + "." +
         std::to_string(version & 0xFFFF);
}

} // namespace lorafa
