#pragma once

#include "lorafa/MemoryMonitor.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace lorafa {

/// Where a training run stands.
enum class TrainerState {
  Preparing,  ///< loading the model, tokenizing the data
  Running,
  Paused,     ///< between steps, until shouldPause() turns false
  Evaluating,
  Saving,     ///< writing a checkpoint
  Completed,  ///< reached the last step (or early stopping)
  Stopped,    ///< shouldStop() asked for it; a checkpoint of the last step was written
  Failed,     ///< an error, a non-finite loss or out of memory; message says which
};

/// One optimizer step.
struct StepMetrics {
  std::int64_t step = 0; ///< 1-based optimizer step just taken
  std::int64_t totalSteps = 0;
  std::int64_t epoch = 0; ///< 0-based
  double loss = 0.0;      ///< mean over the counted tokens (rows for classification) of the step
  double learningRate = 0.0;
  double gradNorm = 0.0;  ///< global L2 norm before clipping
  std::int64_t tokens = 0; ///< non-padding input tokens of the step
  double tokensPerSecond = 0.0;
  double stepTimeMs = 0.0;
  std::int64_t memoryCurrentBytes = 0; ///< the device's (CUDA allocated, else tracked CPU)
  std::int64_t memoryPeakBytes = 0;    ///< since the run started
};

/// One pass over the validation rows (also at step 0, before training, as the baseline).
struct EvalMetrics {
  std::int64_t step = 0;
  double loss = 0.0;
  double perplexity = 0.0;         ///< exp(loss)
  std::optional<double> accuracy;  ///< classification only
  std::optional<double> f1;        ///< classification only: macro F1
  /// Sequence-to-sequence only: corpus BLEU-4 (sacrebleu's 13a tokens, no smoothing), 0..100, of
  /// greedy generations for the first eval.generate_max_examples validation rows.
  std::optional<double> bleu;
  /// Sequence-to-sequence, and instruction/chat data on causal LMs: share of those greedy
  /// generations equal to the reference response after trimming whitespace, 0..1.
  std::optional<double> exactMatch;
  std::int64_t rows = 0;
  std::int64_t generatedRows = 0; ///< validation rows generated for bleu / exactMatch
};

enum class LogLevel { Info, Warning, Error };

/// What a run ended as.
struct TrainResult {
  TrainerState state = TrainerState::Completed;
  std::string message;
  std::int64_t steps = 0;
  std::map<std::string, double> finalMetrics; ///< e.g. train/loss, eval/loss
  std::map<std::string, double> bestMetrics;  ///< best eval/loss and its eval/* companions
  std::int64_t peakMemoryBytes = 0;
  std::string lastCheckpoint; ///< folder of the last good checkpoint; empty when none
};

/// The trainer's one callback interface (DESIGN §2). Calls come from the training thread between
/// steps, except onMemory, which also comes from the trainer's sampler thread (every 250 ms while
/// run() trains, so that a long step still gives live memory). None may block for long.
/// shouldStop/shouldPause are polled between steps.
class TrainerObserver {
public:
  virtual ~TrainerObserver() = default;
  virtual void onStep(const StepMetrics&) {}
  virtual void onEval(const EvalMetrics&) {}
  virtual void onMemory(const MemorySample&) {}
  virtual void onLog(LogLevel, const std::string&) {}
  virtual void onStateChange(TrainerState, const std::string& /*message*/) {}
  virtual bool shouldStop() { return false; }
  virtual bool shouldPause() { return false; }
};

const char* toString(TrainerState state);

} // namespace lorafa
