#include "lorafa/EngineInfo.h"
#include "lorafa/Version.h"

#include "core/CudaProbe.h"

#include <torch/version.h>

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <array>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

using namespace lorafa;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// What Python's torch says about the same LibTorch, as key=value lines: an independent caller of
// the library, so the engine's own reading is not compared with itself.
std::map<std::string, std::string> askPythonTorch() {
  std::map<std::string, std::string> out;
#ifdef LORAFA_TEST_TORCH_PYTHON
  const char* script = R"PY(
import torch
def v(t):
    return ".".join(str(x) for x in t)
print("torch=" + torch.__version__.split("+")[0])
print("cuda=" + (torch.version.cuda or ""))
if torch.version.cuda and torch.backends.cudnn.is_available():
    print("cudnn=" + v(torch._C._cudnn.getCompileVersion()))
    print("cudnn_runtime=" + v(torch._C._cudnn.getRuntimeVersion()))
try:
    print("nccl=" + v(torch.cuda.nccl.version()))
except Exception:
    print("nccl=")
print("available=" + str(int(torch.cuda.is_available())))
print("count=" + str(torch.cuda.device_count()))
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print("gpu%d=%s|%d|%d.%d" % (i, p.name, p.total_memory, p.major, p.minor))
try:
    torch._C._cuda_init()
    print("init=")
except Exception as e:
    print("init=" + " ".join(str(e).split()))
)PY";
  const std::string command =
      std::string("'") + LORAFA_TEST_TORCH_PYTHON + "' -c '" + script + "' 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return out;
  std::array<char, 4096> line{};
  while (fgets(line.data(), static_cast<int>(line.size()), pipe.get()) != nullptr) {
    std::string text(line.data());
    if (!text.empty() && text.back() == '\n') text.pop_back();
    const auto eq = text.find('=');
    if (eq != std::string::npos) out[text.substr(0, eq)] = text.substr(eq + 1);
  }
#endif
  return out;
}

const std::map<std::string, std::string>& pythonTorch() {
  static const std::map<std::string, std::string> answers = askPythonTorch();
  return answers;
}

} // namespace

TEST(EngineInfo, ReportsVersionsAndADevice) {
  const EngineInfo info = queryEngineInfo();
  EXPECT_EQ(info.version, versionString());
  EXPECT_EQ(info.libtorchVersion, TORCH_VERSION);
  EXPECT_GE(info.cpuThreads, 1);
  if (info.cudaAvailable) {
    EXPECT_TRUE(info.cudaBuilt);
    EXPECT_GE(info.cudaDeviceCount, 1);
    EXPECT_EQ(info.defaultDevice, "cuda:0");
    EXPECT_EQ(info.cudaStatus, CudaStatus::Available);
    EXPECT_EQ(info.cudaUnavailableReason, "");
    ASSERT_EQ(static_cast<int>(info.gpus.size()), info.cudaDeviceCount);
    for (const GpuDeviceInfo& gpu : info.gpus) {
      EXPECT_FALSE(gpu.name.empty());
      EXPECT_GT(gpu.totalBytes, 0);
      EXPECT_FALSE(gpu.computeCapability.empty());
    }
  } else {
    EXPECT_EQ(info.cudaDeviceCount, 0);
    EXPECT_EQ(info.defaultDevice, "cpu");
    EXPECT_NE(info.cudaStatus, CudaStatus::Available);
    EXPECT_FALSE(info.cudaUnavailableReason.empty());
  }
}

TEST(EngineInfo, CudaIsBuiltInExactlyWhenTheBuildFoundACudaLibTorch) {
  const EngineInfo info = queryEngineInfo();
  EXPECT_EQ(info.cudaBuilt, static_cast<bool>(LORAFA_TEST_HAVE_CUDA));
  if (info.cudaBuilt) {
    EXPECT_FALSE(info.cudaVersion.empty());
    EXPECT_NE(info.cudaStatus, CudaStatus::NotBuilt);
  } else {
    EXPECT_EQ(info.cudaStatus, CudaStatus::NotBuilt);
    EXPECT_EQ(info.cudaVersion, "");
    EXPECT_EQ(info.cudnnVersion, "");
    EXPECT_EQ(info.ncclVersion, "");
  }
}

// Without a driver (no libcuda.so.1, or only the toolkit's stub of it, as on a build machine) the
// engine must say so, not crash or throw, and give CUDA's own error; with a driver it must not claim
// there is none. The driver is asked here directly (dlopen, cuInit), independently of the engine.
TEST(EngineInfo, NoDriverIsToldApartFromNoDevice) {
  const EngineInfo info = queryEngineInfo();
  if (!info.cudaBuilt) GTEST_SKIP() << "LibTorch without CUDA";
  // CUresult values of cuda.h.
  constexpr int kCudaSuccess = 0;
  constexpr int kCudaErrorStubLibrary = 34;
  constexpr int kCudaErrorNoDevice = 100;
  std::unique_ptr<void, int (*)(void*)> driver(dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL), dlclose);
  if (!driver) {
    EXPECT_EQ(info.cudaStatus, CudaStatus::NoDriver) << info.cudaUnavailableReason;
    EXPECT_TRUE(contains(info.cudaUnavailableReason, "no NVIDIA driver: libcuda.so.1 cannot be loaded ("))
        << info.cudaUnavailableReason;
    EXPECT_TRUE(contains(info.cudaUnavailableReason, "cudaErrorInsufficientDriver (35): "))
        << info.cudaUnavailableReason;
    EXPECT_EQ(info.cudaDriverVersion, "");
    const std::string text = formatEngineInfo(info);
    EXPECT_TRUE(contains(text, "\nNo GPU: no NVIDIA driver")) << text;
    EXPECT_TRUE(contains(text, "\nNVIDIA driver: none\n")) << text;
    return;
  }
  using CuInit = int (*)(unsigned int);
  const auto cuInit = reinterpret_cast<CuInit>(dlsym(driver.get(), "cuInit"));
  ASSERT_NE(cuInit, nullptr);
  const int result = cuInit(0);
  if (result == kCudaErrorStubLibrary) {
    EXPECT_EQ(info.cudaStatus, CudaStatus::NoDriver) << info.cudaUnavailableReason;
    EXPECT_TRUE(contains(info.cudaUnavailableReason, "stub")) << info.cudaUnavailableReason;
  } else if (result == kCudaErrorNoDevice) {
    EXPECT_EQ(info.cudaStatus, CudaStatus::NoDevice) << info.cudaUnavailableReason;
    EXPECT_TRUE(contains(info.cudaUnavailableReason, "no CUDA device")) << info.cudaUnavailableReason;
  } else if (result == kCudaSuccess) {
    EXPECT_NE(info.cudaStatus, CudaStatus::NoDriver) << info.cudaUnavailableReason;
    EXPECT_FALSE(info.cudaDriverVersion.empty());
  }
}

TEST(EngineInfo, AgreesWithPythonTorchOnTheSameLibTorch) {
  const auto& py = pythonTorch();
  if (py.count("torch") == 0) GTEST_SKIP() << "no Python torch for this LibTorch (LORAFA_TEST_TORCH_PYTHON)";
  const EngineInfo info = queryEngineInfo();
  EXPECT_EQ(info.libtorchVersion, py.at("torch"));
  EXPECT_EQ(info.cudaVersion, py.at("cuda"));
  EXPECT_EQ(info.cudnnVersion, py.count("cudnn") ? py.at("cudnn") : "");
  EXPECT_EQ(info.cudnnRuntimeVersion, py.count("cudnn_runtime") ? py.at("cudnn_runtime") : "");
  if (info.cudaBuilt) {
    EXPECT_EQ(info.ncclVersion, py.at("nccl"));
  }
  EXPECT_EQ(info.cudaAvailable, py.at("available") == "1");
  EXPECT_EQ(std::to_string(info.cudaDeviceCount), py.at("count"));
  for (const GpuDeviceInfo& gpu : info.gpus) {
    if (!info.cudaAvailable) break; // NVML's list, which Python's torch does not give
    const std::string key = "gpu" + std::to_string(gpu.index);
    ASSERT_EQ(py.count(key), 1u) << key;
    EXPECT_EQ(gpu.name + "|" + std::to_string(gpu.totalBytes) + "|" + gpu.computeCapability, py.at(key));
  }
  // PyTorch's own reason (c10::cuda::device_count_ensure_non_zero) names the same case.
  const std::string& init = py.at("init");
  if (info.cudaBuilt && !info.cudaAvailable) {
    // (PyTorch calls the toolkit's stub libcuda an "unexpected error"; the engine says: no driver.)
    EXPECT_EQ(info.cudaStatus == CudaStatus::NoDriver,
              contains(init, "Found no NVIDIA driver") || contains(init, "stub library"))
        << init << " / " << info.cudaUnavailableReason;
    EXPECT_EQ(info.cudaStatus == CudaStatus::DriverTooOld, contains(init, "driver on your system is too old"))
        << init << " / " << info.cudaUnavailableReason;
    EXPECT_EQ(info.cudaStatus == CudaStatus::NoDevice, contains(init, "No CUDA GPUs are available"))
        << init << " / " << info.cudaUnavailableReason;
  }
}

TEST(CudaProbe, TellsNoDriverOldDriverNoDeviceAndOtherErrorsApart) {
  CudaProbe noDriver;
  noDriver.error = cuda_error::kInsufficientDriver;
  noDriver.errorName = "cudaErrorInsufficientDriver";
  noDriver.errorText = "CUDA driver version is insufficient for CUDA runtime version";
  noDriver.runtimeVersion = 13000;
  noDriver.driverLoadError = "libcuda.so.1: cannot open shared object file: No such file or directory";
  CudaVerdict v = classifyCudaProbe(noDriver);
  EXPECT_EQ(v.status, CudaStatus::NoDriver);
  EXPECT_EQ(v.reason,
            "no NVIDIA driver: libcuda.so.1 cannot be loaded (libcuda.so.1: cannot open shared object "
            "file: No such file or directory); cudaGetDeviceCount: cudaErrorInsufficientDriver (35): "
            "CUDA driver version is insufficient for CUDA runtime version");

  CudaProbe oldDriver = noDriver;
  oldDriver.driverVersion = 12040;
  oldDriver.driverLoadError.clear();
  v = classifyCudaProbe(oldDriver);
  EXPECT_EQ(v.status, CudaStatus::DriverTooOld);
  EXPECT_TRUE(contains(v.reason, "supports CUDA 12.4, LibTorch's runtime is CUDA 13.0")) << v.reason;
  EXPECT_TRUE(contains(v.reason, "insufficient")) << v.reason;

  CudaProbe stub;
  stub.error = cuda_error::kStubLibrary;
  stub.errorName = "cudaErrorStubLibrary";
  v = classifyCudaProbe(stub);
  EXPECT_EQ(v.status, CudaStatus::NoDriver);
  EXPECT_TRUE(contains(v.reason, "stub")) << v.reason;

  CudaProbe noDevice;
  noDevice.error = cuda_error::kNoDevice;
  noDevice.errorName = "cudaErrorNoDevice";
  noDevice.errorText = "no CUDA-capable device is detected";
  noDevice.driverVersion = 13010;
  v = classifyCudaProbe(noDevice);
  EXPECT_EQ(v.status, CudaStatus::NoDevice);
  EXPECT_EQ(v.reason, "NVIDIA driver present (CUDA 13.1) but no CUDA device; cudaGetDeviceCount: "
                      "cudaErrorNoDevice (100): no CUDA-capable device is detected");

  CudaProbe zero; // success, but nothing listed
  zero.driverVersion = 13000;
  EXPECT_EQ(classifyCudaProbe(zero).status, CudaStatus::NoDevice);

  CudaProbe other;
  other.error = 999;
  other.errorName = "cudaErrorUnknown";
  other.errorText = "unknown error";
  v = classifyCudaProbe(other);
  EXPECT_EQ(v.status, CudaStatus::Error);
  EXPECT_EQ(v.reason, "CUDA cannot be used: cudaGetDeviceCount: cudaErrorUnknown (999): unknown error");

  CudaProbe fine;
  fine.deviceCount = 2;
  v = classifyCudaProbe(fine);
  EXPECT_EQ(v.status, CudaStatus::Available);
  EXPECT_EQ(v.reason, "");
}

TEST(CudaProbe, FormatsCudaCudnnAndNcclVersions) {
  EXPECT_EQ(formatCudaVersion(13000), "13.0");
  EXPECT_EQ(formatCudaVersion(12040), "12.4");
  EXPECT_EQ(formatCudaVersion(11080), "11.8");
  EXPECT_EQ(formatCudaVersion(0), "");
  EXPECT_EQ(formatCudnnVersion(92000), "9.20.0"); // cuDNN 9: 10000·major + 100·minor + patch
  EXPECT_EQ(formatCudnnVersion(90100), "9.1.0");
  EXPECT_EQ(formatCudnnVersion(8907), "8.9.7"); // cuDNN 8: 1000·major + 100·minor + patch
  EXPECT_EQ(formatCudnnVersion(0), "");
  EXPECT_EQ(formatNcclVersion((std::uint64_t{2} << 32) | (29u << 16) | 7u), "2.29.7");
  EXPECT_EQ(formatNcclVersion(0), "");
}

TEST(EngineInfo, FormatNamesVersionLibTorchAndDevice) {
  EngineInfo info;
  info.version = "9.8.7";
  info.libtorchVersion = "2.5.1";
  info.cudaBuilt = true;
  info.cudaAvailable = true;
  info.cudaStatus = CudaStatus::Available;
  info.cudaVersion = "12.4";
  info.cudaDriverVersion = "12.6";
  info.cudnnVersion = "9.1.0";
  info.cudnnRuntimeVersion = "9.1.0";
  info.ncclVersion = "2.21.5";
  info.cudaDeviceCount = 2;
  info.cpuThreads = 16;
  info.defaultDevice = "cuda:0";
  info.gpus.push_back({0, "Test GPU", 2LL * 1024 * 1024 * 1024, "8.6"});
  const std::string text = formatEngineInfo(info);
  EXPECT_TRUE(contains(text, "LoRA-FA Studio 9.8.7")) << text;
  EXPECT_TRUE(contains(text, "LibTorch 2.5.1 (CUDA build)\n")) << text;
  EXPECT_TRUE(contains(text, "\nCUDA 12.4, cuDNN 9.1.0, NCCL 2.21.5\n")) << text;
  EXPECT_TRUE(contains(text, "\nNVIDIA driver: supports CUDA 12.6\n")) << text;
  EXPECT_TRUE(contains(text, "Device: cuda:0 (2 CUDA devices)")) << text;
  EXPECT_TRUE(contains(text, "GPU 0: Test GPU, 2.00 GiB, compute capability 8.6\n")) << text;
  EXPECT_FALSE(contains(text, "No GPU")) << text;

  info.cudnnRuntimeVersion = "9.3.0";
  EXPECT_TRUE(contains(formatEngineInfo(info), "cuDNN 9.1.0 (loaded 9.3.0), NCCL")) << formatEngineInfo(info);
}

TEST(EngineInfo, FormatSaysWhyThereIsNoGpu) {
  EngineInfo info;
  info.version = "9.8.7";
  info.libtorchVersion = "2.13.0";
  info.cudaBuilt = true;
  info.cudaVersion = "13.0";
  info.cudaStatus = CudaStatus::NoDevice;
  info.cudaDriverVersion = "13.0";
  info.cudaUnavailableReason = "NVIDIA driver present (CUDA 13.0) but no CUDA device; cudaGetDeviceCount: "
                               "cudaErrorNoDevice (100): no CUDA-capable device is detected";
  info.defaultDevice = "cpu";
  info.cpuThreads = 2;
  std::string text = formatEngineInfo(info);
  EXPECT_TRUE(contains(text, "\nCUDA 13.0, cuDNN not compiled in, NCCL not compiled in\n")) << text;
  EXPECT_TRUE(contains(text, "\nDevice: cpu\nNo GPU: " + info.cudaUnavailableReason + "\n")) << text;

  // A GPU the driver shows (NVML) but CUDA cannot use is listed as such.
  info.gpus.push_back({0, "Old GPU", 4LL << 30, "3.5"});
  text = formatEngineInfo(info);
  EXPECT_TRUE(contains(text, "GPU 0: Old GPU, 4.00 GiB, compute capability 3.5 (not usable)\n")) << text;

  EngineInfo cpu;
  cpu.libtorchVersion = "1.13.0";
  cpu.defaultDevice = "cpu";
  text = formatEngineInfo(cpu);
  EXPECT_TRUE(contains(text, "LibTorch 1.13.0 (CPU build)\nCUDA: not compiled in\n")) << text;
  EXPECT_TRUE(contains(text, "\nNo GPU: CUDA not compiled in\n")) << text;
}

TEST(EngineInfo, ConfigureComputeThreadsUsesWhatItIsGiven) {
  EXPECT_EQ(configureComputeThreads(1), 1);
  EXPECT_EQ(queryEngineInfo().cpuThreads, 1);
  const int all = configureComputeThreads(0);
  EXPECT_GE(all, 1);
  EXPECT_EQ(queryEngineInfo().cpuThreads, all);
}
