#include "lorafa/DataError.h"

namespace lorafa {

DataError::DataError(std::string path, std::uint64_t line, std::uint64_t column, std::string problem)
    : FormatError(path, problem), m_line(line), m_column(column),
      m_message(location(path, line, column) + ": " + problem) {}

std::string DataError::location(const std::string& path, std::uint64_t line, std::uint64_t column) {
  std::string where = path;
  if (line > 0) {
    where += ":" + std::to_string(line);
    if (column > 0) where += ":" + std::to_string(column);
  }
  return where;
}

} // namespace lorafa
