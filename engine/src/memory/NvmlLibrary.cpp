#include "NvmlLibrary.h"

#include <dlfcn.h>

namespace lorafa {
namespace {

// The few NVML types and entry points used, as documented in NVML's public API reference.
using nvmlReturn_t = int;
using nvmlDevice_t = void*;
constexpr nvmlReturn_t kNvmlSuccess = 0;
struct nvmlMemory_t {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

struct DlCloser {
  void operator()(void* handle) const {
    if (handle != nullptr) dlclose(handle);
  }
};

} // namespace

struct NvmlLibrary::Impl {
  std::unique_ptr<void, DlCloser> handle;
  bool initialised = false;
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  nvmlReturn_t (*getCount)(unsigned int*) = nullptr;
  nvmlReturn_t (*getHandle)(unsigned int, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*getName)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*getMemory)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*getComputeCapability)(nvmlDevice_t, int*, int*) = nullptr; // optional

  template <typename Fn> bool resolve(Fn& fn, const char* name) {
    fn = reinterpret_cast<Fn>(dlsym(handle.get(), name));
    return fn != nullptr;
  }

  nvmlDevice_t device(int index) const {
    nvmlDevice_t dev = nullptr;
    if (!initialised || index < 0 || getHandle(static_cast<unsigned int>(index), &dev) != kNvmlSuccess) {
      return nullptr;
    }
    return dev;
  }
};

NvmlLibrary& NvmlLibrary::instance() {
  static NvmlLibrary library;
  return library;
}

NvmlLibrary::NvmlLibrary() : m_impl(std::make_unique<Impl>()) {
  m_impl->handle.reset(dlopen("libnvidia-ml.so.1", RTLD_LAZY | RTLD_LOCAL));
  if (!m_impl->handle) {
    return; // no NVIDIA driver: quietly unavailable
  }
  const bool resolved = m_impl->resolve(m_impl->init, "nvmlInit_v2") &&
                        m_impl->resolve(m_impl->shutdown, "nvmlShutdown") &&
                        m_impl->resolve(m_impl->getCount, "nvmlDeviceGetCount_v2") &&
                        m_impl->resolve(m_impl->getHandle, "nvmlDeviceGetHandleByIndex_v2") &&
                        m_impl->resolve(m_impl->getName, "nvmlDeviceGetName") &&
                        m_impl->resolve(m_impl->getMemory, "nvmlDeviceGetMemoryInfo");
  m_impl->initialised = resolved && m_impl->init() == kNvmlSuccess;
  m_impl->resolve(m_impl->getComputeCapability, "nvmlDeviceGetCudaComputeCapability");
}

NvmlLibrary::~NvmlLibrary() {
  if (m_impl->initialised) {
    m_impl->shutdown();
  }
}

bool NvmlLibrary::isAvailable() const { return m_impl->initialised; }

int NvmlLibrary::deviceCount() const {
  unsigned int count = 0;
  if (!m_impl->initialised || m_impl->getCount(&count) != kNvmlSuccess) {
    return 0;
  }
  return static_cast<int>(count);
}

std::optional<std::string> NvmlLibrary::deviceName(int index) const {
  nvmlDevice_t dev = m_impl->device(index);
  char name[96] = {};
  if (dev == nullptr || m_impl->getName(dev, name, sizeof name) != kNvmlSuccess) {
    return std::nullopt;
  }
  return std::string(name);
}

std::optional<NvmlLibrary::DeviceMemory> NvmlLibrary::deviceMemory(int index) const {
  nvmlDevice_t dev = m_impl->device(index);
  nvmlMemory_t memory{};
  if (dev == nullptr || m_impl->getMemory(dev, &memory) != kNvmlSuccess) {
    return std::nullopt;
  }
  return DeviceMemory{static_cast<std::int64_t>(memory.used), static_cast<std::int64_t>(memory.total)};
}

std::optional<std::string> NvmlLibrary::computeCapability(int index) const {
  nvmlDevice_t dev = m_impl->device(index);
  int major = 0;
  int minor = 0;
  if (dev == nullptr || m_impl->getComputeCapability == nullptr ||
      m_impl->getComputeCapability(dev, &major, &minor) != kNvmlSuccess) {
    return std::nullopt;
  }
  return std::to_string(major) + "." + std::to_string(minor);
}

} // namespace lorafa
