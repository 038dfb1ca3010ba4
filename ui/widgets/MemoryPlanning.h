#pragma once

#include "lorafa/EngineInfo.h"
#include "lorafa/MemoryEstimate.h"
#include "lorafa/RunConfig.h"

#include <QString>
#include <QVector>

#include <cstdint>
#include <optional>
#include <string>

namespace lorafa::ui {

/// The memory a device offers a run, as the planner's capacity.
struct MemoryCapacity {
  std::int64_t bytes = 0; ///< 0: not known (a CUDA device NVML did not describe)
  QString what;           ///< "CPU RAM", "cuda:0 (Example GPU)"
  bool overridden = false; ///< LORAFA_CAPACITY_BYTES set it
};

/// The three methods' predictions for one configuration, or why there are none.
struct MemoryPrediction {
  std::vector<MemoryEstimate> estimates; ///< full, LoRA, LoRA-FA, in this order; empty on error
  QString error;
};

/// One share of a bar: what is alive at the predicted peak.
struct PeakShare {
  QString name;          ///< "weights", "saved: mlp", ...
  QString category;      ///< weights, gradients, optimizer, saved, loss, attention, workspace, overhead
  std::int64_t bytes = 0;     ///< its part of the peak
  std::int64_t estimated = 0; ///< the estimate's own figure for it (its largest during the step)
};

/// A change that makes the run fit, as the over-capacity dialog offers it.
struct FitSuggestion {
  QString id;    ///< "batch", "sequence", "loraFa", "checkpointing", "rank" (its button is "fit<Id>Button")
  QString text;  ///< what the change is, for the button
  std::int64_t value = 0;    ///< the new batch, sequence length or rank (1/0 for the others)
  std::int64_t peakBytes = 0; ///< the predicted peak with the change
  /// Applies the change to a configuration.
  void apply(RunConfig& config) const;
};

/// The variable a test (or a user on a shared machine) sets to pretend the device has this many
/// bytes; read by the UI only, never by the engine.
inline constexpr const char* kCapacityOverrideVariable = "LORAFA_CAPACITY_BYTES";

/// The device the planner predicts for: the run's device with "auto" resolved as the engine
/// would ("cuda:N" or "cpu").
std::string plannedDevice(const RunConfig& config, const EngineInfo& info);
/// The device's capacity: the physical RAM for the CPU, NVML's total for a CUDA device;
/// LORAFA_CAPACITY_BYTES overrides both.
MemoryCapacity deviceCapacity(const std::string& device, const EngineInfo& info);
/// Reads the model's config.json and predicts full, LoRA and LoRA-FA. Blocking: call it off the
/// UI thread.
MemoryPrediction predictAllMethods(const RunConfig& config, const std::string& device);
/// The selected method's estimate only (one call of the planner); nullopt with `error` set when
/// the model cannot be read.
std::optional<MemoryEstimate> predictMethod(const RunConfig& config, const std::string& device, QString* error = nullptr);
/// The peak split into what is alive then; the shares add up to estimate.peak exactly.
QVector<PeakShare> peakShares(const MemoryEstimate& estimate);
/// The changes that make the run fit `capacityBytes` (largestThatFits for batch, sequence length
/// and rank, each searched up to its current value; LoRA-FA; gradient checkpointing), best first.
/// Blocking: call it off the UI thread.
QVector<FitSuggestion> suggestionsThatFit(const RunConfig& config, const std::string& device, std::int64_t capacityBytes);

/// "194.0 MiB", "1.25 GiB".
QString formatMiB(std::int64_t bytes);
/// "memory after step 1: predicted 194.0 MiB, measured 190.2 MiB (+2.0%)"; the percentage is
/// (predicted − measured) / measured. No prediction: "…: no prediction (reason), measured …".
QString calibrationText(std::int64_t step, std::optional<std::int64_t> predictedBytes, std::int64_t measuredBytes,
                        const QString& noPredictionReason = {});

} // namespace lorafa::ui
