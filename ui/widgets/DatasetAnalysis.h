#pragma once

#include "lorafa/Dataset.h"
#include "lorafa/DatasetStatistics.h"
#include "lorafa/RunConfig.h"
#include "lorafa/TokenizedDataset.h"
#include "lorafa/Tokenizer.h"

#include <QString>
#include <QStringList>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace lorafa::ui {

/// What the Data page asks to be worked out for a dataset file, copied from the draft so the work
/// can run on another thread.
struct DatasetRequest {
  DatasetConfig dataset;
  QString tokenizerPath; ///< the draft's tokenizerPath, else its modelPath; empty: no model yet
  QString modelPath;     ///< to tell an encoder-decoder (T5) model, which trains source → target
  std::int64_t maxSeqLen = 512;
  std::size_t previewCount = 20;
  /// Statistics count at most this many examples (the first ones) of a larger dataset.
  std::size_t maxStatisticsExamples = 200000;
};

/// Everything the Data page shows about one dataset, computed off the UI thread by
/// analyzeDataset(). Each stage may fail on its own: the detection still shows when loading
/// fails, and the raw (template-rendered, untokenized) rows still show when there is no model.
struct DatasetAnalysis {
  DatasetRequest request;

  std::optional<DatasetDetection> detection; ///< with format Auto; empty when detection failed
  QString detectionError;
  /// The header of a CSV/TSV file, or the keys of the first JSON record.
  QStringList columns;

  std::shared_ptr<const Dataset> dataset; ///< loaded with the draft's format and columns
  QString loadError;                      ///< "path:line[:column]: problem"
  std::uint64_t errorLine = 0;            ///< the line of loadError, 0 when none applies

  std::shared_ptr<const Tokenizer> tokenizer;
  QString tokenizerSource; ///< the path the tokenizer was loaded from
  QString tokenizerError;  ///< why there is no tokenizer (no model set, unreadable tokenizer.json)

  std::optional<ChatTemplateKind> chatTemplate; ///< the template the rows are written with
  QString templateNote;                         ///< where it came from, what it leaves out
  QString templateError;                        ///< the template cannot be resolved
  bool usesTemplate = false;                    ///< the format is written through a template

  ProcessingOptions processing;                      ///< as used for tokenizing (no progress callback)
  std::shared_ptr<const TokenizedDataset> tokenized; ///< unpacked, for the statistics
  QString tokenizeError;

  /// The first rows as the model sees them: tokenized (token counts set) when previewTokenized,
  /// else rendered by the template only (tokens == -1).
  std::vector<ExamplePreview> previews;
  bool previewTokenized = false;
  std::optional<DatasetStatistics> statistics;
  bool cancelled = false;
};

/// Detects, loads, renders, tokenizes and counts. Never throws: every failure lands in a field.
/// `cachedTokenizer` is reused when it was loaded from the same path (`cachedSource`). Returns
/// early (cancelled = true) once `cancel` is set.
DatasetAnalysis analyzeDataset(const DatasetRequest& request,
                               std::shared_ptr<const Tokenizer> cachedTokenizer, const QString& cachedSource,
                               std::shared_ptr<const std::atomic<bool>> cancel);

/// What changes with the max length alone: the statistics' truncation and the previews' flags.
struct MaxLengthUpdate {
  std::int64_t maxLength = 0;
  std::vector<ExamplePreview> previews;
  std::optional<DatasetStatistics> statistics;
};

/// Recounts truncation at `maxLength` from an earlier analysis, without tokenizing again.
MaxLengthUpdate recountAtMaxLength(const DatasetAnalysis& analysis, std::int64_t maxLength);

/// The column names of the first record: a CSV/TSV header (RFC 4180 quoting) in file order, or
/// the keys of the first JSON Lines / JSON array object, sorted. Empty when there are none or the
/// file cannot be read.
QStringList readDatasetColumns(const QString& path, DatasetFileType fileType);

/// "JSON Lines", "CSV", … for people.
QString displayName(DatasetFileType fileType);

} // namespace lorafa::ui
