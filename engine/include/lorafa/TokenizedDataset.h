#pragma once

#include "lorafa/ChatTemplate.h"
#include "lorafa/Dataset.h"
#include "lorafa/Tokenizer.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lorafa {

/// The label of a token that does not count in the loss (PyTorch's and Hugging Face's default
/// ignore_index).
constexpr TokenId kIgnoreIndex = -100;

/// What the model is trained to do with the tokens.
enum class TaskType {
  CausalLm,       ///< next-token prediction; labels align with inputIds (the model shifts them)
  Seq2Seq,        ///< encoder input = source, labels = target (T5-style)
  Classification, ///< one class label per sequence
};

struct ProcessingOptions {
  /// CausalLm or Seq2Seq for SourceTarget data (else CausalLm, where the source is the user
  /// message and the target the assistant's). Classification data always gives Classification.
  TaskType task = TaskType::CausalLm;
  /// How Alpaca, Chat and causal SourceTarget records become text (see resolveChatTemplate).
  ChatTemplateKind chatTemplate = ChatTemplateKind::Plain;
  /// BOS/EOS text left empty is taken from the tokenizer (tokenizer_config.json); pass the
  /// defaultSystemPrompt of resolveChatTemplate's choice here.
  ChatTemplateOptions templateOptions;
  /// Tokens per sequence: longer examples are cut at the end (the encoder side for Seq2Seq,
  /// keeping the tokenizer's closing special tokens); PlainText and packed data are cut into
  /// blocks of this length.
  std::int64_t maxLength = 1024;
  std::int64_t maxTargetLength = 256; ///< Seq2Seq labels
  /// Count prompt tokens in the loss too (default: only responses count for Alpaca and Chat
  /// data; causal SourceTarget counts only the target).
  bool trainOnPrompt = false;
  /// CausalLm only: concatenate the (untruncated) examples, each ending with EOS, and cut the
  /// stream into rows of exactly maxLength (the last one shorter). Rows keep where each example
  /// starts (segmentLengths) so attention can be kept inside examples; a piece of an example cut
  /// at a row end continues at the start of the next row as a new segment. The first label of
  /// every segment after the first in a row is kIgnoreIndex (nothing before it in that segment
  /// predicts it). Batches of packed rows carry segmentIds/positionIds that the trainer passes to
  /// the model. Classification and Seq2Seq refuse packing (DataError).
  bool packing = false;
  OnError onError = OnError::Stop;
  std::size_t maxReportedErrors = 5;
  /// Called every few hundred examples with (done, total); return false to cancel, which throws
  /// std::runtime_error("cancelled").
  std::function<bool(std::size_t, std::size_t)> progress;
};

/// One training row.
struct TokenizedExample {
  std::vector<TokenId> inputIds;
  /// CausalLm: as long as inputIds, kIgnoreIndex where the loss does not count. Seq2Seq: the
  /// target ids. Classification: empty (see classLabel).
  std::vector<TokenId> labels;
  std::int64_t classLabel = -1;
  /// Lengths of the pieces of examples in this row, summing to inputIds.size(); one entry for an
  /// unpacked example.
  std::vector<std::int64_t> segmentLengths;
  std::size_t exampleIndex = 0; ///< the Dataset example this row (or its first segment) comes from
};

/// Per-example facts before truncation and packing, for statistics and previews.
struct ExampleTokenCount {
  std::size_t exampleIndex = 0;
  std::int64_t tokens = 0;          ///< the whole example (PlainText: the whole document)
  std::int64_t trainableTokens = 0; ///< tokens whose label counts, before truncation
  std::int64_t targetTokens = 0;    ///< Seq2Seq: target length before truncation
};

struct TokenizedDataset {
  TaskType task = TaskType::CausalLm;
  std::vector<TokenizedExample> rows;
  std::vector<ExampleTokenCount> counts; ///< one per example that was tokenized, in order
  std::int64_t maxLength = 0;
  /// Rows are blocks cut from one token stream (PlainText, or packing): nothing is truncated.
  bool packed = false;
  std::size_t truncatedExamples = 0; ///< unpacked rows cut at maxLength (or maxTargetLength)
  /// CausalLm examples or rows without a single counted label (an empty response, one cut off by
  /// truncation, or a packed row holding only prompt tokens), left out because their loss would
  /// be undefined; also in warnings.
  std::size_t droppedWithoutTargets = 0;
  SkippedRecords skipped;
  std::vector<std::string> warnings;
  std::vector<std::string> labelNames; ///< Classification
  TokenId padId = 0;                   ///< the tokenizer's pad, else its EOS, else 0
};

/// Tokenizes a dataset (or the examples at `indices`, in that order) for a task.
///
/// Loss masking: each example is written as text by its template, the text is tokenized once as
/// a whole (as it will be at inference), and the token where each response span begins and ends
/// is found by tokenizing the text since the previous boundary and checking that its tokens are
/// the whole's next ones (else the text before the boundary, from the start, is tokenized and the
/// tokens that agree with the whole are taken); a token that straddles a boundary counts as
/// response. Labels are kIgnoreIndex on every other token. Cost: about twice a plain
/// tokenization (each prefix again for tokenizers that prepend "▁" to every piece). The tokenizer's leading
/// special tokens (BOS) are added unless the template writes them itself; its trailing ones (e.g. BERT's SEP)
/// only for Classification and Seq2Seq.
///
/// Errors per example (e.g. a conversation a Mistral template cannot express) follow
/// options.onError, with the dataset file and line.
TokenizedDataset tokenizeDataset(const Dataset& dataset, const Tokenizer& tokenizer,
                                 const ProcessingOptions& options);
TokenizedDataset tokenizeDataset(const Dataset& dataset, const std::vector<std::size_t>& indices,
                                 const Tokenizer& tokenizer, const ProcessingOptions& options);

/// Token ids and labels of one causal example, unpacked and untruncated (for tests and previews).
struct MaskedTokens {
  std::vector<TokenId> inputIds;
  std::vector<TokenId> labels;
};
/// Tokenizes rendered text with its response spans as tokenizeDataset does. `addBos` puts the
/// tokenizer's leading special tokens first.
MaskedTokens tokenizeWithMask(const Tokenizer& tokenizer, const RenderedChat& rendered, bool addBos,
                              bool trainOnPrompt = false);

} // namespace lorafa
