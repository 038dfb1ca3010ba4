#pragma once

#include "lorafa/Dataset.h"
#include "lorafa/TokenizedDataset.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lorafa {

/// Examples whose token count lies in [from, to).
struct HistogramBin {
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::size_t count = 0;
};

struct LabelCount {
  std::string name;
  std::size_t count = 0;
};

/// What the dataset preview shows before a run starts.
struct DatasetStatistics {
  std::size_t examples = 0;
  /// Token counts per example before truncation (PlainText: per document; Seq2Seq: the source).
  std::int64_t minTokens = 0;
  std::int64_t maxTokens = 0;
  double meanTokens = 0.0;
  /// Nearest-rank percentiles: the smallest count with at least p% of the examples at or below it.
  std::int64_t p50Tokens = 0;
  std::int64_t p90Tokens = 0;
  std::int64_t p95Tokens = 0;
  std::int64_t p99Tokens = 0;
  std::int64_t totalTokens = 0;
  std::int64_t trainableTokens = 0; ///< before truncation
  /// Equal-width bins from 0 past the longest example (the width a round number of tokens).
  std::vector<HistogramBin> histogram;
  std::int64_t maxLength = 0;        ///< the length truncation was counted at
  std::size_t truncatedExamples = 0; ///< examples longer than maxLength
  std::int64_t truncatedTokens = 0;  ///< tokens beyond maxLength, summed
  /// Classification: every label with its count, in id order (zero counts included).
  std::vector<LabelCount> labels;
};

/// Statistics of a tokenized dataset (tokenize it unpacked; packing does not change them) with
/// truncation counted at `maxLength` (≤ 0: the dataset's own maxLength) and `bins` histogram bins.
DatasetStatistics computeStatistics(const TokenizedDataset& tokenized, std::int64_t maxLength = 0,
                                    std::size_t bins = 20);

/// A run of preview text, trained on or not.
struct PreviewSegment {
  std::string text;
  bool trained = false;
};

/// One example as the model will see it: the rendered text cut into masked and trained parts.
struct ExamplePreview {
  std::size_t exampleIndex = 0;
  std::uint64_t line = 0;
  std::vector<PreviewSegment> segments;
  std::string label;       ///< Classification
  std::int64_t tokens = 0; ///< before truncation
  std::int64_t trainableTokens = 0;
  bool truncated = false; ///< longer than options.maxLength
  std::string error;      ///< why it cannot be used (it would be skipped or stop the run)
};

/// The first `count` examples rendered with options (template, masking) and counted with the
/// tokenizer. PlainText pieces are shown up to `maxChars` bytes each (cut at a UTF-8 boundary).
std::vector<ExamplePreview> previewExamples(const Dataset& dataset, const Tokenizer& tokenizer,
                                            const ProcessingOptions& options, std::size_t count = 5,
                                            std::size_t maxChars = 4000);

} // namespace lorafa
