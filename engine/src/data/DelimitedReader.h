#pragma once

#include "data/ChunkedFile.h"
#include "lorafa/DataError.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lorafa {

/// One record of a CSV/TSV file.
struct TableRecord {
  std::uint64_t line = 0; ///< where the record starts, 1-based
  std::vector<std::string> fields;
  /// Set when the record is malformed (the reader has moved past it).
  std::optional<DataError> error;
};

/// Streams RFC 4180 records: fields separated by the delimiter, records by LF or CRLF; a field in
/// double quotes may hold delimiters, newlines and doubled quotes (""). As in Python's csv module,
/// a quote inside an unquoted field is an ordinary character; unlike it, text after a closing
/// quote is an error. Blank lines are skipped. Every physical line is checked for UTF-8.
class DelimitedReader {
public:
  DelimitedReader(ChunkedFile& file, char delimiter);

  /// The next record; false at the end. Throws DataError for a quoted field that is never closed
  /// (everything after it would be misread).
  bool next(TableRecord& record);

private:
  ChunkedFile& m_file;
  char m_delimiter;
  std::string m_line;
  std::uint64_t m_lineNumber = 0;
  std::uint64_t m_lineStart = 0; // byte offset of m_line in the file
};

} // namespace lorafa
