#include "lorafa/CpuMemoryTracker.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>

#include <execinfo.h>
#include <unistd.h>

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

std::int64_t traceThreshold();
void traceIfThresholdReached(std::int64_t current);
void recordStack(void* data, std::int64_t bytes);
void rearmTrace(std::int64_t current);

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
  const std::int64_t current =
      g_currentBytes.fetch_sub(allocation.bytes, std::memory_order_relaxed) - allocation.bytes;
  if (traceThreshold() > 0) rearmTrace(current);
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
    if (traceThreshold() > 0) {
      recordStack(data, bytes);
      traceIfThresholdReached(g_currentBytes.load(std::memory_order_relaxed));
    }
    return c10::DataPtr(data, data, &trackedDelete, device);
  }
};

TrackingAllocator g_trackingAllocator;

/// LORAFA_TRACE_BYTES_AT=N (a diagnostic): the first time N bytes or more are in use (the k-th
/// time with LORAFA_TRACE_CROSSING=k), print to stderr the live allocations by size, where the
/// large ones were allocated, and the stack of the allocation that got there. Run once to learn
/// the peak, then again with N a little under that peak to see what is alive at it.
std::int64_t traceThreshold() {
  static const std::int64_t threshold = [] {
    const char* text = std::getenv("LORAFA_TRACE_BYTES_AT");
    return text != nullptr ? std::atoll(text) : 0LL;
  }();
  return threshold;
}

std::atomic<bool> g_traced{false};
std::atomic<bool> g_armed{true};
std::atomic<int> g_crossings{0};

void rearmTrace(std::int64_t current) {
  if (current < traceThreshold()) g_armed.store(true);
}

/// With LORAFA_TRACE_BYTES_AT, the allocating stack of every live allocation of at least
/// LORAFA_TRACE_STACK_BYTES (default 1 MiB), printed at the threshold.
struct Stack {
  void* frames[128];
  int depth = 0;
};
std::unordered_map<void*, Stack>& stacks() {
  static auto* map = new std::unordered_map<void*, Stack>();
  return *map;
}

std::int64_t stackMinimumBytes() {
  static const std::int64_t minimum = [] {
    const char* text = std::getenv("LORAFA_TRACE_STACK_BYTES");
    return text != nullptr ? std::atoll(text) : (1LL << 20);
  }();
  return minimum;
}

void recordStack(void* data, std::int64_t bytes) {
  if (bytes < stackMinimumBytes() || g_traced.load()) return;
  Stack stack;
  stack.depth = backtrace(stack.frames, 128);
  std::lock_guard<std::mutex> lock(g_allocationsMutex);
  stacks()[data] = stack;
}

void traceIfThresholdReached(std::int64_t current) {
  const std::int64_t threshold = traceThreshold();
  if (threshold <= 0 || current < threshold || g_traced.load() || !g_armed.exchange(false)) return;
  static const int wanted = [] {
    const char* text = std::getenv("LORAFA_TRACE_CROSSING");
    return text != nullptr ? std::max(1, std::atoi(text)) : 1;
  }();
  if (++g_crossings < wanted || g_traced.exchange(true)) return;
  std::map<std::int64_t, int, std::greater<std::int64_t>> bySize;
  {
    std::lock_guard<std::mutex> lock(g_allocationsMutex);
    for (const auto& item : allocations()) ++bySize[item.second.bytes];
  }
  std::fprintf(stderr, "LORAFA_TRACE_BYTES_AT %lld: %lld bytes in use; live allocations by size:\n",
               static_cast<long long>(threshold), static_cast<long long>(current));
  int lines = 0;
  for (const auto& [bytes, count] : bySize) {
    if (++lines > 40) break;
    std::fprintf(stderr, "  %14lld B x %d = %.1f MiB\n", static_cast<long long>(bytes), count,
                 static_cast<double>(bytes) * count / 1048576.0);
  }
  {
    std::lock_guard<std::mutex> lock(g_allocationsMutex);
    for (const auto& item : allocations()) {
      auto it = stacks().find(item.first);
      // A smaller allocation at a recorded address is not the one recorded there.
      if (it == stacks().end() || item.second.bytes < stackMinimumBytes()) continue;
      std::fprintf(stderr, "live %lld B allocated at:\n", static_cast<long long>(item.second.bytes));
      std::fflush(stderr);
      backtrace_symbols_fd(it->second.frames, it->second.depth, STDERR_FILENO);
    }
  }
  void* frames[64];
  const int depth = backtrace(frames, 64);
  std::fprintf(stderr, "stack of the allocation that reached it:\n");
  std::fflush(stderr);
  backtrace_symbols_fd(frames, depth, STDERR_FILENO);
}

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
