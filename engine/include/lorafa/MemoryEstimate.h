#pragma once

// The memory planner: the peak bytes of one training step predicted before launch, broken down
// the way the memory is spent. Plain types only (no LibTorch), for the UI and the CLI.
#include "lorafa/AdapterConfig.h"
#include "lorafa/RunConfig.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lorafa {

/// One named share of the memory, in bytes.
struct MemoryItem {
  std::string name;
  std::int64_t bytes = 0;
};

/// What one training step of one method needs at its peak.
struct MemoryEstimate {
  TrainMethod method = TrainMethod::LoraFa;
  std::string device;           ///< "cpu" or "cuda"
  std::int64_t batchSize = 0;   ///< sequences per micro-batch
  std::int64_t sequenceLength = 0;
  int rank = 0;
  bool gradientCheckpointing = false;
  std::int64_t parameterCount = 0;
  std::int64_t trainableParameterCount = 0;

  std::int64_t weights = 0;             ///< every parameter (frozen and trainable, adapters included)
  std::int64_t trainableParameters = 0; ///< the trainable ones among `weights` (not added again)
  std::int64_t gradients = 0;           ///< of the trainable parameters, at the optimizer step
  std::int64_t optimizerState = 0;      ///< AdamW: two moments per trainable parameter
  std::vector<MemoryItem> activations;  ///< kept for backward, by kind of layer ("attention", "mlp", ...)
  std::int64_t savedActivations = 0;    ///< the sum of `activations`
  std::int64_t logitsAndLoss = 0;       ///< the loss's workspace at its peak (chunked logits, dHidden)
  std::int64_t attentionWorkspace = 0;  ///< attention's backward: one chunk of recomputed probabilities
  std::int64_t backwardWorkspace = 0;   ///< the other transient gradients at the peak of backward
  std::int64_t allocatorOverhead = 0;   ///< CUDA's caching allocator rounding; 0 on the CPU (exact bytes)
  std::int64_t peak = 0;                ///< the predicted peak of the step
};

/// The run a prediction is for: a RunConfig's model folder (its config.json only is read) and
/// method, with the fields the planner varies broken out.
struct MemoryPlan {
  std::string modelConfigJson; ///< the text of config.json
  TrainMethod method = TrainMethod::LoraFa;
  int rank = 16;
  std::string targets = "all-linear";
  std::int64_t batchSize = 4;      ///< per micro-batch
  std::int64_t sequenceLength = 512;
  Precision precision = Precision::Fp32;
  bool gradientCheckpointing = false;
  bool recomputeMlp = false; ///< train.recompute_mlp: gated MLPs keep only their input
  std::string device = "cpu"; ///< "cpu" or "cuda"
  /// Attention on CUDA with LibTorch ≥ 2.1 is the fused kernel; elsewhere the engine's chunked
  /// attention. Both keep O(sequence) per head, so the estimate treats them alike.
  static MemoryPlan fromRunConfig(const RunConfig& config, const std::string& device);
};

/// The prediction. Throws std::invalid_argument (a bad config.json or targets that match nothing).
MemoryEstimate estimateMemory(const MemoryPlan& plan);

/// What a solver varies.
enum class MemoryKnob { BatchSize, SequenceLength, Rank };

/// The largest value of `knob` (others as in `plan`) whose predicted peak fits `capacityBytes`,
/// searched in [1, upper]; nullopt when even 1 does not fit.
std::optional<std::int64_t> largestThatFits(const MemoryPlan& plan, MemoryKnob knob, std::int64_t capacityBytes,
                                            std::int64_t upper = 1 << 16);

/// The side-by-side table `lorafa estimate` prints: one column per estimate, one row per share,
/// then the peak, and the capacity with what fits when capacityBytes > 0.
std::string formatMemoryTable(const std::vector<MemoryEstimate>& estimates, std::int64_t capacityBytes = 0);

} // namespace lorafa
