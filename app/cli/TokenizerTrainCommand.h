#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace lorafa::cli {

/// `lorafa tokenizer-train`: a byte-level BPE tokenizer from text files.
struct TokenizerTrainOptions {
  std::vector<std::string> inputs;
  std::string outputDir;
  std::int64_t vocabSize = 8192;
  std::int64_t minFrequency = 2;
  std::vector<std::string> specialTokens{"<s>", "</s>", "<pad>"};
  /// Unset: "<s>" / "</s>" / "<pad>" when that token is among the special tokens, else none.
  /// Set to "" (or "none"): no such token.
  std::optional<std::string> bosToken;
  std::optional<std::string> eosToken;
  std::optional<std::string> padToken;
  bool noBos = false;                  ///< do not prepend BOS when encoding with special tokens
  std::string preTokenizer = "llama3"; ///< llama3 | gpt2
  std::int64_t modelMaxLength = 2048;
  int threads = 0;
  bool force = false; ///< write into a non-empty output folder
};

/// Trains and writes <output>/tokenizer.json and tokenizer_config.json. Progress goes to `err`
/// (one line rewritten in place on a terminal), the summary to `out`. Returns the exit code;
/// errors (unreadable or non-UTF-8 input, bad options, non-empty output without force) are
/// thrown as exceptions with a message for the user.
int runTokenizerTrain(const TokenizerTrainOptions& options, std::ostream& out, std::ostream& err,
                      bool errIsTerminal);

} // namespace lorafa::cli
