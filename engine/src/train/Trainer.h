#pragma once

#include "lorafa/RunConfig.h"
#include "lorafa/TokenizedDataset.h"
#include "lorafa/Tokenizer.h"
#include "lorafa/TrainerObserver.h"
#include "models/LanguageModel.h"
#include "train/Checkpoint.h"
#include "train/LossScaler.h"

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <atomic>
#include <mutex>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lorafa {

class DistributedContext;
class MemoryMonitor;
class RunStore;

/// Optional hooks for callers that need more than the config: the run history and tests.
struct TrainerOptions {
  RunStore* store = nullptr; ///< metrics, memory samples and log lines go here when given
  std::int64_t runId = 0;
  /// Stop (as shouldStop would, with a checkpoint) once this many optimizer steps are done;
  /// 0: run to the end. The schedule still spans the whole run.
  std::int64_t stopAfterStep = 0;
  /// Evaluate the untrained model at step 0 (the baseline every later evaluation is compared to).
  /// Off only where a study reads the final evaluation alone.
  bool baselineEvaluation = true;
  /// Data parallel (distributed/DistributedContext.h): this rank trains its share of every global
  /// batch (train.batch_size rows of batch_size × world size), trainable gradients are summed over
  /// the ranks before clipping and AdamW, and only rank 0 writes checkpoints. Null: one process.
  std::shared_ptr<DistributedContext> distributed;
};

/// One training run (DESIGN §2, conventions 3 and 6): setup → (resume) → train → checkpoint.
/// Runs on the caller's thread; reports through the observer, never blocks on it.
class Trainer {
public:
  Trainer(RunConfig config, TrainerObserver* observer = nullptr, TrainerOptions options = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Loads the tokenizer, data and model, injects adapters and creates the optimizer state.
  /// Throws (FormatError, DataError, std::invalid_argument...) with a message naming the problem.
  void setup();
  /// After setup: continues from a checkpoint folder written by this trainer.
  void resumeFrom(const std::string& checkpointDirectory);
  /// Trains until the last step, a stop request, early stopping or a failure. Failures inside
  /// the loop (non-finite loss, out of memory, other errors) do not throw: they end in
  /// TrainerState::Failed with a message, keeping the last good checkpoint.
  TrainResult run();
  /// Evaluates on the validation rows now.
  EvalMetrics evaluate();
  /// Continues `prompt` (tokenized with the run's tokenizer, BOS added) with the model as it is
  /// now; returns the new text without special tokens.
  std::string generateText(const std::string& prompt, std::int64_t maxNewTokens, double temperature,
                           std::uint64_t seed);

  LanguageModel& model() { return *m_model; }
  /// The parameters AdamW updates, by name, in model order.
  const NamedTensors& trainableParameters() const { return m_trainable; }
  const TrainingPosition& position() const { return m_position; }
  std::int64_t totalSteps() const { return m_totalSteps; }
  std::int64_t stepsPerEpoch() const { return m_stepsPerEpoch; }
  const TokenizedDataset& trainRows() const { return m_train; }
  const TokenizedDataset& validationRows() const { return m_validation; }
  c10::Device device() const { return m_device; }
  /// Where metrics go from now on (the CLI records a run only once setup has succeeded).
  void setRunStore(RunStore* store, std::int64_t runId) {
    m_options.store = store;
    m_options.runId = runId;
  }
  /// Writes a checkpoint of the current state to output_dir/checkpoints/step-N.
  std::string saveCheckpoint();
  /// (generated answer, reference) of the last evaluation's generation metrics, in row order.
  const std::vector<std::pair<std::string, std::string>>& lastGenerations() const { return m_lastGenerations; }

private:
  struct StepOutcome;
  /// A validation row answered by generation in evaluate(): the prompt as trained, the text the
  /// answer is compared with, and where generation stops.
  struct GenerationCase {
    std::vector<std::int64_t> prompt;
    std::string reference;
    std::int64_t referenceTokens = 0;
    std::vector<std::int64_t> stopTokens;
  };
  void prepareGenerationCases(const Dataset& dataset);
  void addGenerationMetrics(EvalMetrics& metrics);
  StepOutcome trainStep(const std::vector<std::vector<std::size_t>>& microBatches);
  double learningRateAt(std::int64_t stepIndex) const;
  void optimizerStep(double learningRate);
  void projectLoraFaGradients();
  /// Data parallel: sums the trainable gradients over the ranks (undefined ones count as zeros).
  void allReduceGradients();
  std::int64_t worldSize() const;
  /// Data parallel: this rank's rows of a global batch (train.batch_size rows at rank × batch_size).
  std::vector<std::size_t> shardOf(const std::vector<std::size_t>& globalBatch) const;
  CheckpointData checkpointData() const;
  void setState(TrainerState state, const std::string& message = {});
  void log(LogLevel level, const std::string& message);
  void sampleMemory(bool force);
  std::int64_t peakMemoryBytes();

  RunConfig m_config;
  TrainerObserver* m_observer;
  TrainerOptions m_options;
  c10::Device m_device{c10::kCPU};
  std::shared_ptr<Tokenizer> m_tokenizer;
  std::shared_ptr<LanguageModel> m_model;
  TokenizedDataset m_train;
  TokenizedDataset m_validation;
  NamedTensors m_trainable;
  NamedTensors m_loraFaPairs; ///< projected B: (B, A) per LoRA-FA layer, by B's name
  std::vector<at::Tensor> m_expAvg;
  std::vector<at::Tensor> m_expAvgSq;
  std::int64_t m_optimizerStep = 0;
  /// bf16/fp16: the dtype forward passes autocast to (trainable parameters stay fp32).
  std::optional<c10::ScalarType> m_autocastDtype;
  LossScaler m_lossScaler; ///< enabled for fp16 only
  TrainingPosition m_position;
  std::int64_t m_totalSteps = 0;
  std::int64_t m_stepsPerEpoch = 0;
  std::int64_t m_batchesPerEpoch = 0;
  std::unique_ptr<MemoryMonitor> m_memory;
  // Memory is sampled by the training thread and by a sampler thread (at least 2 samples a second
  // even while one step runs long); m_memoryMutex guards the monitor and these fields.
  std::mutex m_memoryMutex;
  std::int64_t m_peakMemoryBytes = 0;
  std::int64_t m_lastMemorySampleMs = -1'000'000;
  std::atomic<std::int64_t> m_sampleStep{0};
  std::string m_lastCheckpoint;
  std::vector<GenerationCase> m_generationCases;
  std::vector<std::pair<std::string, std::string>> m_lastGenerations;
  bool m_setUp = false;
};

} // namespace lorafa
