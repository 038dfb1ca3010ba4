#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace lorafa {

/// Thrown when an allocation would take the tracked CPU memory over the budget.
class OutOfMemoryError : public std::runtime_error {
public:
  OutOfMemoryError(std::int64_t requestedBytes, std::int64_t currentBytes, std::int64_t budgetBytes);
  std::int64_t requestedBytes() const { return m_requestedBytes; }
  std::int64_t currentBytes() const { return m_currentBytes; }
  std::int64_t budgetBytes() const { return m_budgetBytes; }

private:
  std::int64_t m_requestedBytes;
  std::int64_t m_currentBytes;
  std::int64_t m_budgetBytes;
};

/// Counts every byte LibTorch allocates on the CPU once installed over its CPU allocator.
/// One per process: LibTorch has one CPU allocator. Thread-safe.
class CpuMemoryTracker {
public:
  static CpuMemoryTracker& instance();

  /// Installs the tracking allocator over LibTorch's CPU allocator (idempotent).
  /// Tensors allocated before this call are not counted.
  void install();
  bool isInstalled() const;

  std::int64_t currentBytes() const;
  std::int64_t peakBytes() const;
  /// Sets the peak to the current value.
  void resetPeak();

  /// Allocations that would exceed `bytes` in total throw OutOfMemoryError instead of
  /// allocating. 0 removes the budget.
  void setBudgetBytes(std::int64_t bytes);
  std::int64_t budgetBytes() const;

  CpuMemoryTracker(const CpuMemoryTracker&) = delete;
  CpuMemoryTracker& operator=(const CpuMemoryTracker&) = delete;

private:
  CpuMemoryTracker() = default;
};

/// Sets a budget for the lifetime of the object and removes it afterwards.
class ScopedMemoryBudget {
public:
  explicit ScopedMemoryBudget(std::int64_t bytes);
  ~ScopedMemoryBudget();
  ScopedMemoryBudget(const ScopedMemoryBudget&) = delete;
  ScopedMemoryBudget& operator=(const ScopedMemoryBudget&) = delete;

private:
  std::int64_t m_previousBytes;
};

/// "1.50 GiB", "12.0 MiB", "512 B".
std::string formatBytes(std::int64_t bytes);

} // namespace lorafa
