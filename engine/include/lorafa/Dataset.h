#pragma once

#include "lorafa/ChatTemplate.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lorafa {

/// What the records of a dataset mean.
enum class DatasetFormat {
  Auto,           ///< detect (see loadDataset)
  Alpaca,         ///< instruction, optional input, output
  Chat,           ///< "messages" [{role, content}] (OpenAI style) or ShareGPT "conversations" [{from, value}]
  PlainText,      ///< documents, tokenized and cut into blocks of the sequence length
  Classification, ///< a text and a label
  SourceTarget,   ///< a source and a target text (translation, summarisation, …)
};

/// How the file is laid out.
enum class DatasetFileType {
  Auto,      ///< from the extension, else from the first bytes
  JsonLines, ///< one JSON object per line (.jsonl, .ndjson; blank lines allowed)
  JsonArray, ///< one JSON array of objects (.json)
  Csv,       ///< RFC 4180, header line required (.csv)
  Tsv,       ///< tab-separated, same quoting rules as CSV, header line required (.tsv, .tab)
  Text,      ///< plain UTF-8 text (.txt, .text, .md)
};

/// What a malformed record does to loading or processing.
enum class OnError {
  Stop, ///< throw the DataError
  Skip, ///< leave the record out, count it and keep the first messages (SkippedRecords)
};

/// Records left out under OnError::Skip. Never silent: callers show `count` and `firstErrors`.
struct SkippedRecords {
  std::size_t count = 0;
  std::vector<std::string> firstErrors; ///< "path:line:column: problem", at most maxReportedErrors
};

struct DatasetOptions {
  DatasetFormat format = DatasetFormat::Auto;
  DatasetFileType fileType = DatasetFileType::Auto;
  /// Classification: the column (CSV/TSV) or key (JSON) names. PlainText from JSON: textColumn.
  std::string textColumn = "text";
  std::string labelColumn = "label";
  /// Classification: the label names in id order. Empty: the distinct labels found, sorted
  /// (numerically when all are non-negative integers, else by bytes), get ids 0, 1, ….
  std::vector<std::string> labelNames;
  /// SourceTarget: the column or key names.
  std::string sourceColumn = "source";
  std::string targetColumn = "target";
  OnError onError = OnError::Stop;
  std::size_t maxReportedErrors = 5;
  /// Read at most this many records (0: all); for quick previews of large files.
  std::size_t maxRecords = 0;
};

/// One record, as read. Which fields are set depends on the dataset's format.
struct Example {
  std::uint64_t line = 0; ///< 1-based line where the record starts in the file
  // Alpaca
  std::string instruction;
  std::string input;
  std::string output;
  // Chat
  std::vector<ChatMessage> messages;
  // PlainText (a piece of a document), Classification (the text), SourceTarget (the source)
  std::string text;
  // SourceTarget
  std::string target;
  // Classification: an index into Dataset::labelNames
  std::int64_t label = -1;
  /// PlainText: pieces of one document share this number. Large text files are read in pieces
  /// of about 1 MiB cut at paragraph breaks; pieces are tokenized one by one, so a token at a
  /// piece boundary may differ from tokenizing the whole file at once.
  std::size_t document = 0;
};

/// A loaded dataset: every usable record, in file order.
struct Dataset {
  std::string path;
  DatasetFormat format = DatasetFormat::Auto; ///< as resolved, never Auto
  DatasetFileType fileType = DatasetFileType::Auto;
  std::vector<Example> examples;
  std::vector<std::string> labelNames; ///< Classification: id → name
  std::size_t recordsRead = 0;         ///< records seen, skipped ones included
  SkippedRecords skipped;
  /// The chat dialect found (Chat only): "messages" or "conversations" (ShareGPT).
  std::string chatStyle;
};

/// Reads a dataset file, streaming it (the file is never held in memory as one string).
///
/// Detection with DatasetFormat/DatasetFileType Auto: the extension gives the layout (.json: a
/// JSON array, or JSON Lines when the first character is not '['; .jsonl/.ndjson; .csv; .tsv/.tab;
/// .txt/.text/.md), unknown extensions are sniffed ('[' or '{' first: JSON). The first record
/// then gives the format: "messages" or "conversations" → Chat; "instruction" and "output" →
/// Alpaca; textColumn and labelColumn → Classification; sourceColumn and targetColumn →
/// SourceTarget; only textColumn (JSON) → PlainText, one document per record.
///
/// Errors: DataError naming file:line[:column] and the reason. A malformed record throws under
/// OnError::Stop and is counted in Dataset::skipped under OnError::Skip; a file that cannot be
/// read, a broken layout that leaves nothing to resynchronise on (an unterminated quote or JSON
/// array), a missing column in the header, no usable record, or a single label class always throw.
Dataset loadDataset(const std::string& path, const DatasetOptions& options = {});

/// The format and layout loadDataset would use for this file, from its extension and first record.
struct DatasetDetection {
  DatasetFormat format = DatasetFormat::Auto;
  DatasetFileType fileType = DatasetFileType::Auto;
};
DatasetDetection detectDatasetFormat(const std::string& path, const DatasetOptions& options = {});

const char* toString(DatasetFormat format);
const char* toString(DatasetFileType fileType);
const char* toString(OnError onError);
/// "auto", "alpaca", "chat" (or "sharegpt", "messages"), "text" (or "plain"), "classification",
/// "source-target" (or "seq2seq", "pairs"); case-insensitive.
std::optional<DatasetFormat> parseDatasetFormat(std::string_view text);
/// "auto", "jsonl", "json", "csv", "tsv", "txt"; case-insensitive.
std::optional<DatasetFileType> parseDatasetFileType(std::string_view text);
/// "stop", "skip"; case-insensitive.
std::optional<OnError> parseOnError(std::string_view text);

} // namespace lorafa
