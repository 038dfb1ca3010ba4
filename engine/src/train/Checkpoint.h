#pragma once

#include "lorafa/CheckpointIntegrity.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lorafa {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

/// Where the loop stands: enough to continue as if it had never stopped.
struct TrainingPosition {
  std::int64_t step = 0;         ///< optimizer steps taken
  std::int64_t epoch = 0;        ///< 0-based epoch the next micro-batch belongs to
  std::int64_t batchInEpoch = 0; ///< index of the next micro-batch in that epoch's batchOrder
  double bestEvalLoss = std::numeric_limits<double>::infinity();
  std::int64_t evalsWithoutImprovement = 0;
};

/// One checkpoint: the trainable weights (and LoRA-FA's frozen A, which a new run would draw
/// differently otherwise), AdamW moments, RNG states and the position in the data order.
struct CheckpointData {
  TrainingPosition position;
  NamedTensors weights;        ///< parameter name → value
  NamedTensors optimizerState; ///< "<parameter>/exp_avg", "<parameter>/exp_avg_sq"
  std::int64_t optimizerStep = 0;
  /// fp16's dynamic loss scale and finite steps since its last change (LossScaler); 0: no scaler.
  double lossScale = 0.0;
  std::int64_t lossScaleGrowthTracker = 0;
  NamedTensors rngStates; ///< "cpu", "cuda:N" → the generator's state bytes
  std::string configJson; ///< the run's config (toJson), for `resume` and the record
  /// readCheckpoint: whether the files were checked against the checkpoint's checksums.
  CheckpointIntegrity integrity = CheckpointIntegrity::Verified;
};

/// Writes the checkpoint folder `directory` (weights.safetensors, optimizer.safetensors,
/// rng.safetensors, trainer_state.json, then checksums.sha256 with the SHA-256 of those four)
/// atomically: everything goes into a temporary sibling folder `.partial-<name>-<pid>-<random>`,
/// each file fsync'ed, the checksums last, and the folder is renamed into place (exchanged with an
/// existing one), so `directory` is either the previous complete checkpoint or the new complete
/// one. I/O errors (a full disk) throw std::system_error naming the file and the system's error;
/// the temporary folder is removed. Leftovers of a killed writer are removed by the next write.
void writeCheckpoint(const std::string& directory, const CheckpointData& data);

/// Reads a folder written by writeCheckpoint, after verifying its checksums (verifyCheckpoint).
/// Throws CheckpointCorruptError on a checksum mismatch, FormatError naming the file on anything
/// missing or malformed.
CheckpointData readCheckpoint(const std::string& directory);

/// "<checkpointsDir>/step-<8 digits>" for a step.
std::string checkpointFolder(const std::string& checkpointsDir, std::int64_t step);

/// The complete checkpoint with the highest step under `checkpointsDir`, if any.
std::optional<std::string> latestCheckpoint(const std::string& checkpointsDir);

/// Removes all but the newest `keepLast` checkpoints, and the temporary folders of writers that
/// were killed (see cleanUpInterruptedWrites).
void pruneCheckpoints(const std::string& checkpointsDir, std::int64_t keepLast);

/// Leftovers of a checkpoint write a crash interrupted: `.partial-*` folders of processes that no
/// longer run are removed; a `.old-step-*` folder (the previous copy moved aside on a file system
/// that cannot exchange two folders) is renamed back when its `step-*` is missing, else removed;
/// `.pruned-*` folders (checkpoints whose pruning a crash interrupted) are removed.
void cleanUpInterruptedWrites(const std::string& checkpointsDir);

} // namespace lorafa
