#pragma once

#include "data/ChunkedFile.h"
#include "lorafa/DataError.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace lorafa {

/// One record of a JSON Lines file or of a top-level JSON array.
struct JsonRecord {
  std::uint64_t line = 0;       ///< where the record starts, 1-based
  std::uint64_t column = 0;     ///< byte column where it starts, 1-based
  nlohmann::ordered_json value; ///< keys in file order, for messages
  /// Set when this record cannot be parsed (the reader has moved past it).
  std::optional<DataError> error;
};

/// Streams the records of a JSON Lines file (one value per line, blank lines ignored) or of a file
/// holding one JSON array. Each record is checked for UTF-8 and parsed on its own, so an error
/// names its line and column and the records after it can still be read.
class JsonRecordReader {
public:
  JsonRecordReader(ChunkedFile& file, bool array);

  /// The next record; false at the end. Throws DataError when the layout itself is broken so
  /// nothing after it can be trusted (an array never closed, text after the array).
  bool next(JsonRecord& record);

private:
  bool nextLine(JsonRecord& record);
  bool nextElement(JsonRecord& record);
  bool fillLine(); // the next physical line into m_line; false at the end
  void parse(const std::string& text, std::uint64_t line, std::uint64_t column, std::uint64_t firstByte,
             JsonRecord& record) const;

  ChunkedFile& m_file;
  bool m_array = false;
  std::string m_line;
  std::uint64_t m_lineNumber = 0;
  std::uint64_t m_lineStart = 0; // byte offset of m_line in the file
  // Array mode: position in m_line.
  std::size_t m_pos = 0;
  bool m_haveLine = false;
  bool m_started = false;
  bool m_finished = false;
  std::uint64_t m_arrayLine = 0;
  std::uint64_t m_arrayColumn = 0;
  std::string m_element;
};

/// "syntax error while parsing object - …" from nlohmann's message, without its own position.
std::string describeJsonParseError(const nlohmann::json::parse_error& error);

/// Line and column of byte `offset` of `text`, where text starts at (line, column).
void advancePosition(const std::string& text, std::size_t offset, std::uint64_t& line, std::uint64_t& column);

} // namespace lorafa
