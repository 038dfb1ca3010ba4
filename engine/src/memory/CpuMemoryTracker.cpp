#include "lorafa/CpuMemoryTracker.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace lorafa {
namespace {

// The allocator is process-wide (LibTorch keeps a raw pointer to it), so its state is too.
struct Allocation {
  std::int64_t bytes = 0;
  c10::DeleterFnPtr innerDeleter = nullptr;
  void* innerContext = nullptr;
};

std::atomic<std::int64_t> g_currentBytes{0};
std::atomic<std::int64_t> g_peakBytes{0};
std::atomic<std::int64_t> g_budgetBytes{0};
std::atomic<bool> g_installed{false};
c10::Allocator* g_inner = nullptr;
std::mutex g_allocationsMutex;
std::unordered_map<void*, Allocation>& allocations() {
  static auto* map = new std::unordered_map<void*, Allocation>(); // never destroyed: frees may
  return *map;                                                     // run during static teardown
}

void raisePeak(std::int64_t value) {
  std::int64_t peak = g_peakBytes.load(std::memory_order_relaxed);
  while (value > peak && !g_peakBytes.compare_exchange_weak(peak, value, std::memory_order_relaxed)) {
  }
}

// Counts `bytes` as allocated, or throws without counting them when over the budget.
void reserve(std::int64_t bytes) {
  const std::int64_t budget = g_budgetBytes.load(std::memory_order_relaxed);
  const std::int64_t after = g_currentBytes.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  if (budget > 0 && after > budget) {
    g_currentBytes.fetch_sub(bytes, std::memory_order_relaxed);
    throw OutOfMemoryError(bytes, after - bytes, budget);
  }
  raisePeak(after);
}

void trackedDelete(void* data) {
  Allocation allocation;
  {
    std::lock_guard<std::mutex> lock(g_allocationsMutex);
    auto it = allocations().find(data);
    if (it == allocations().end()) {
      return; // cannot happen: only pointers handed out by TrackingAllocator carry this deleter
    }
    allocation = it->second;
    allocations().erase(it);
  }
  g_currentBytes.fetch_sub(allocation.bytes, std::memory_order_relaxed);
  if (allocation.innerDeleter != nullptr) {
    allocation.innerDeleter(allocation.innerContext);
  }
}

// Wraps the CPU allocator LibTorch had before; data and context are the same pointer, so the
// raw allocate/deallocate interface keeps working.
class TrackingAllocator final : public c10::Allocator {
public:
  // LibTorch 1.13 declares allocate() const, 2.3+ non-const: provide both, one overrides.
  c10::DataPtr allocate(size_t n) const { return allocateTracked(n); }
  c10::DataPtr allocate(size_t n) { return allocateTracked(n); }
  c10::DeleterFnPtr raw_deleter() const override { return &trackedDelete; }
  // Pure virtual from LibTorch 2.3 on; an ordinary member before.
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

private:
  static c10::DataPtr allocateTracked(size_t n) {
    const auto bytes = static_cast<std::int64_t>(n);
    reserve(bytes);
    c10::DataPtr inner;
    try {
      inner = g_inner->allocate(n);
    } catch (...) {
      g_currentBytes.fetch_sub(bytes, std::memory_order_relaxed);
      throw;
    }
    void* data = inner.get();
    if (data == nullptr) { // zero-byte allocation: nothing to track
      g_currentBytes.fetch_sub(bytes, std::memory_order_relaxed);
      return inner;
    }
    const c10::Device device = inner.device();
    Allocation allocation{bytes, inner.get_deleter(), inner.release_context()};
    {
      std::lock_guard<std::mutex> lock(g_allocationsMutex);
      allocations()[data] = allocation;
    }
    return c10::DataPtr(data, data, &trackedDelete, device);
  }
};

TrackingAllocator g_trackingAllocator;

} // namespace

OutOfMemoryError::OutOfMemoryError(std::int64_t requestedBytes, std::int64_t currentBytes,
                                   std::int64_t budgetBytes)
    : std::runtime_error("out of memory: allocating " + formatBytes(requestedBytes) + " with " +
                         formatBytes(currentBytes) + " in use would exceed the CPU memory budget of " +
                         formatBytes(budgetBytes) +
                         "; lower the batch size or sequence length, or raise the budget"),
      m_requestedBytes(requestedBytes), m_currentBytes(currentBytes), m_budgetBytes(budgetBytes) {}

CpuMemoryTracker& CpuMemoryTracker::instance() {
  static CpuMemoryTracker tracker;
  return tracker;
}

void CpuMemoryTracker::install() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_inner = c10::GetCPUAllocator();
    // Priority above the default registration (0) so that later default registrations
    // cannot replace it.
    c10::SetCPUAllocator(&g_trackingAllocator, /*priority=*/100);
    g_installed = true;
  });
}

bool CpuMemoryTracker::isInstalled() const { return g_installed.load(); }
std::int64_t CpuMemoryTracker::currentBytes() const { return g_currentBytes.load(); }
std::int64_t CpuMemoryTracker::peakBytes() const { return g_peakBytes.load(); }
void CpuMemoryTracker::resetPeak() { g_peakBytes.store(g_currentBytes.load()); }
void CpuMemoryTracker::setBudgetBytes(std::int64_t bytes) { g_budgetBytes.store(bytes > 0 ? bytes : 0); }
std::int64_t CpuMemoryTracker::budgetBytes() const { return g_budgetBytes.load(); }

ScopedMemoryBudget::ScopedMemoryBudget(std::int64_t bytes)
    : m_previousBytes(CpuMemoryTracker::instance().budgetBytes()) {
  CpuMemoryTracker::instance().setBudgetBytes(bytes);
}

ScopedMemoryBudget::~ScopedMemoryBudget() { CpuMemoryTracker::instance().setBudgetBytes(m_previousBytes); }

std::string formatBytes(std::int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes < 0 ? -bytes : bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  char text[48];
  if (unit == 0) {
    std::snprintf(text, sizeof text, "%s%lld B", bytes < 0 ? "-" : "", static_cast<long long>(value));
  } else {
    std::snprintf(text, sizeof text, "%s%.2f %s", bytes < 0 ? "-" : "", value, units[unit]);
  }
  return text;
}

} // namespace lorafa
