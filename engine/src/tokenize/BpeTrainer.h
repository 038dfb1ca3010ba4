#pragma once

#include "lorafa/BpeTraining.h"

#include <cstdint>
#include <string>
#include <unordered_map>

namespace lorafa {

/// Pre-tokenized words (spelled in GPT-2 byte-level characters) and how often each occurs.
using BpeWordCounts = std::unordered_map<std::string, std::int64_t>;

/// The merge loop of byte-level BPE training, on word counts.
///
/// Vocabulary: the special tokens (ids 0..k-1), then the byte alphabet sorted by code point of
/// its byte-level character, then one token per merge. Each step merges the adjacent pair with
/// the highest count (occurrences weighted by word counts); equal counts go to the smallest
/// (left id, right id). This is Hugging Face's BpeTrainer rule, so both learn the same merges.
/// Pair counts are updated incrementally: a merge only visits the words that hold the pair, and
/// a max-heap with lazily refreshed entries finds the next pair.
class BpeTrainer {
public:
  /// Throws std::invalid_argument for unusable options.
  explicit BpeTrainer(BpeTrainerOptions options);

  const BpeTrainerOptions& options() const { return m_options; }

  /// Runs the merges. `words` must be spelled in byte-level characters (as the ByteLevel
  /// pre-tokenizer outputs them). Fills tokens, merges and stoppedEarly of the result.
  TrainedBpe train(const BpeWordCounts& words, const BpeTrainingCallbacks& callbacks) const;

  /// Checks options as the constructor does.
  static void validate(const BpeTrainerOptions& options);

private:
  BpeTrainerOptions m_options;
};

} // namespace lorafa
