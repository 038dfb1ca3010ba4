#pragma once

#include "lorafa/RunConfig.h"
#include "lorafa/TrainerObserver.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace lorafa {

class RunStore;

/// One training run as the CLI and the UI see it: the trainer behind a plain interface (no
/// LibTorch). Call setup(), optionally resumeFrom(), then run(), all on one thread.
class TrainingSession {
public:
  virtual ~TrainingSession() = default;
  /// `store` (optional) receives metrics, memory samples and log lines under `runId`; creating
  /// and finishing the run record is the caller's part.
  static std::unique_ptr<TrainingSession> create(const RunConfig& config, TrainerObserver* observer,
                                                 RunStore* store = nullptr, std::int64_t runId = 0);
  /// Loads tokenizer, data and model and injects the adapters. Throws with a message naming the
  /// file or key at fault (missing model folder, targets matching nothing, unreadable dataset...).
  virtual void setup() = 0;
  /// Sends metrics, memory samples and log lines to `store` under `runId` from now on (a run is
  /// recorded once setup has succeeded, so a configuration that cannot run leaves none behind).
  virtual void setRunStore(RunStore* store, std::int64_t runId) = 0;
  /// Continues from a checkpoint folder (see latestCheckpointIn).
  virtual void resumeFrom(const std::string& checkpointDirectory) = 0;
  /// Trains to the end; failures end in TrainerState::Failed rather than throwing.
  virtual TrainResult run() = 0;
  /// Evaluates the model as it is now (after setup: the untrained baseline; after resumeFrom:
  /// the checkpoint) on the validation rows.
  virtual EvalMetrics evaluate() = 0;
  /// Continues a prompt with the model as it is now (greedy when temperature is 0).
  virtual std::string generate(const std::string& prompt, std::int64_t maxNewTokens, double temperature,
                               std::uint64_t seed) = 0;
  virtual std::int64_t totalSteps() const = 0;
  virtual std::int64_t trainRows() const = 0;
  virtual std::int64_t validationRows() const = 0;
};

/// The newest complete checkpoint folder of a run's output_dir, if any.
std::optional<std::string> latestCheckpointIn(const std::string& outputDir);

} // namespace lorafa
