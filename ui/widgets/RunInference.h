#pragma once

#include "lorafa/RunConfig.h"

#include <QString>

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace lorafa {
class TrainingSession;
}

namespace lorafa::ui {

/// One Playground prompt: which run (0: the base model of `config` only), how to continue it.
struct GenerationRequest {
  qint64 runId = 0;
  RunConfig config;       ///< the run's stored settings (or the draft's for the base model only)
  std::string checkpoint; ///< the adapter (or fine-tuned weights) to load; empty: base only
  std::string prompt;
  bool asInstruction = false; ///< write prompt (+ input) with the run's chat template first
  std::string input;          ///< the instruction's input, when asInstruction
  std::int64_t maxNewTokens = 32;
  double temperature = 0.0;
  std::uint64_t seed = 0;
};

struct GenerationResult {
  QString base;    ///< the base model's continuation
  QString adapter; ///< base + adapter (the checkpoint); empty when no checkpoint was asked for
  bool hasAdapter = false;
  QString sentPrompt; ///< the text the models continued (after formatting)
  QString error;
};

/// Generates with a run's base model and with its trained adapter, side by side, on the calling
/// (worker) thread. The base is the run's configuration after setup() without a checkpoint (and
/// without adapter.init_from): for LoRA and LoRA-FA its adapters are untrained (B = 0), so it
/// computes exactly the base model; for full fine-tuning it is the model folder's weights. The
/// adapter is the same after resumeFrom() of the checkpoint. Both sessions are kept for the next
/// prompt of the same run (others are dropped, so at most one run's pair is in memory). Call from
/// one thread at a time.
class RunInference {
public:
  RunInference();
  ~RunInference();

  GenerationResult generate(const GenerationRequest& request);

  /// The prompt written the way the run's dataset template writes an instruction with no answer
  /// yet (ending with what starts the answer), for a model loaded from `config`. Throws with a
  /// message naming the tokenizer or template at fault.
  static std::string formatInstruction(const RunConfig& config, const std::string& instruction,
                                       const std::string& input);

private:
  TrainingSession& session(const std::string& key, const RunConfig& config, const std::string& checkpoint);

  std::mutex m_mutex;
  std::map<std::string, std::unique_ptr<TrainingSession>> m_sessions;
};

} // namespace lorafa::ui
