#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace lorafa {

/// How text is cut into words before BPE, written into tokenizer.json as the pre-tokenizer.
enum class BpePreTokenizer {
  Gpt2,   ///< ByteLevel with GPT-2's built-in regex ('s|'t|... ?\p{L}+| ?\p{N}+|...)
  Llama3, ///< Split with Llama 3's regex (digits in groups of at most 3), then ByteLevel
};

/// Settings of a byte-level BPE tokenizer training (plain values; the CLI and the GUI fill them).
struct BpeTrainerOptions {
  /// Final vocabulary size, special tokens included; at least 256 + the number of specials.
  std::int64_t vocabSize = 8192;
  /// A pair seen fewer times than this is never merged (training may then stop below vocabSize).
  std::int64_t minFrequency = 2;
  /// Special tokens, given ids 0, 1, ... in this order. They are split out of the training text
  /// (nothing is learned across them) and written as added tokens with "special": true.
  std::vector<std::string> specialTokens{"<s>", "</s>", "<pad>"};
  /// tokenizer_config.json's bos/eos/pad tokens: each empty or one of specialTokens.
  std::string bosToken = "<s>";
  std::string eosToken = "</s>";
  std::string padToken = "<pad>";
  /// Encoding with special tokens prepends the BOS token (a TemplateProcessing post-processor),
  /// as Llama tokenizers do. Needs bosToken.
  bool addBosToken = true;
  BpePreTokenizer preTokenizer = BpePreTokenizer::Llama3;
  /// All 256 byte tokens are in the vocabulary, so any text can be encoded; false keeps only the
  /// bytes seen in the corpus (what the Hugging Face trainer does without an initial alphabet).
  bool includeAllBytes = true;
  /// tokenizer_config.json's model_max_length.
  std::int64_t modelMaxLength = 2048;
  /// Threads that count words (0: the machine's cores, at most 8). Never changes the result.
  int threads = 0;
};

/// Where a training is, for a progress line.
struct BpeTrainingProgress {
  enum class Stage { CountingWords, Merging, Done };
  Stage stage = Stage::CountingWords;
  std::int64_t bytesDone = 0; ///< text read and pre-tokenized so far
  std::int64_t bytesTotal = 0;
  std::int64_t mergesDone = 0;
  std::int64_t mergesTarget = 0; ///< merges needed to reach vocabSize
};

/// Progress reports (about every 1% of the work) and cancellation, polled between steps.
struct BpeTrainingCallbacks {
  std::function<void(const BpeTrainingProgress&)> onProgress;
  /// Returning true stops the training: it throws BpeTrainingCancelled.
  std::function<bool()> shouldStop;
};

class BpeTrainingCancelled : public std::exception {
public:
  const char* what() const noexcept override { return "tokenizer training cancelled"; }
};

/// A trained byte-level BPE: tokens in id order (specials first, then the byte alphabet sorted by
/// code point of its GPT-2 byte-level character, then one token per merge) and the merges in rank
/// order, both spelled in byte-level characters as tokenizer.json holds them.
struct TrainedBpe {
  std::vector<std::string> tokens;
  std::vector<std::pair<std::string, std::string>> merges;
  std::int64_t words = 0; ///< pre-tokenized words in the corpus
  std::int64_t uniqueWords = 0;
  std::int64_t bytes = 0; ///< corpus size
  /// True when training ended below vocabSize because no pair reached minFrequency.
  bool stoppedEarly = false;
};

/// Trains on UTF-8 text files. Each file is read line by line (a line keeps its "\n"), like the
/// Hugging Face trainer. The merge rule: the most frequent adjacent pair, weighted by word
/// counts; among equally frequent pairs the one whose (left id, right id) is smallest, ids being
/// those of `TrainedBpe::tokens` — the rule of Hugging Face's BpeTrainer, so both learn the same
/// merges. (One known difference: when a token is formed a second time from another pair, HF's
/// queue can split a later merge of a pair holding that token over two steps; the reference texts
/// in the tests never hit it.) The result depends only on the texts and the
/// options, not on the thread count nor on the order of the files (only word counts matter).
/// Throws std::invalid_argument for unusable options (vocabSize below 256 + specials, a bos/eos/
/// pad token that is not a special token, ...), FormatError "<file>: ..." for an unreadable file
/// or invalid UTF-8 (with the byte offset of the first bad byte), BpeTrainingCancelled.
TrainedBpe trainBpe(const std::vector<std::string>& files, const BpeTrainerOptions& options,
                    const BpeTrainingCallbacks& callbacks = {});
/// The same on texts in memory (each text as one file would be).
TrainedBpe trainBpeOnTexts(const std::vector<std::string>& texts, const BpeTrainerOptions& options,
                           const BpeTrainingCallbacks& callbacks = {});

/// tokenizer.json for a trained BPE (loadable by Tokenizer::load and by Hugging Face tokenizers).
std::string bpeTokenizerJson(const TrainedBpe& bpe, const BpeTrainerOptions& options);
/// tokenizer_config.json (PreTrainedTokenizerFast, bos/eos/pad tokens, model_max_length).
std::string bpeTokenizerConfigJson(const TrainedBpe& bpe, const BpeTrainerOptions& options);
/// Writes both files into `directory` (which must exist), each atomically.
void saveBpeTokenizer(const TrainedBpe& bpe, const BpeTrainerOptions& options, const std::string& directory);

} // namespace lorafa
