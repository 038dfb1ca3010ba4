#pragma once

// What the benchmarks share: one measured training step per method, and the report that prints
// the table and the ratio lines.
#include "lorafa/AdapterConfig.h"
#include "lorafa/MemoryMonitor.h"

#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lorafa::bench {

struct MethodResult {
  TrainMethod method = TrainMethod::LoraFa;
  std::int64_t residentBytes = 0; ///< before the measured steps: weights, optimizer state, inputs
  std::int64_t peakBytes = 0;     ///< highest point during the measured steps
  double tokensPerSecond = 0.0;
};

/// Runs `warmup` unmeasured then `steps` measured calls of `step`, sampling `monitor` (CPU
/// tracker or CUDA allocator, by device) for resident and peak bytes.
MethodResult measureSteps(TrainMethod method, const std::function<void()>& step, int warmup, int steps,
                          std::int64_t tokensPerStep, MemoryMonitor& monitor, const c10::Device& device);

/// The table, then "LoRA/LoRA-FA peak ratio: X", "LoRA-FA/frozen peak ratio: X",
/// "LoRA-FA/LoRA tokens/s ratio: X" each on its own line, then further ratios.
void printReport(const std::vector<MethodResult>& results);

/// The methods in the order the benchmarks run them.
const std::vector<TrainMethod>& allMethods();

} // namespace lorafa::bench
