#pragma once

#include "lorafa/FormatError.h"

#include <cstdint>
#include <string>
#include <utility>

namespace lorafa {

/// A dataset record (or the whole dataset file) that cannot be used. what() is
/// "<path>:<line>:<column>: <problem>" (compiler style, so editors can jump to it), or
/// "<path>:<line>: <problem>" without a column, or "<path>: <problem>" when no line applies.
/// path() and problem() are those of FormatError; line() and column() are 1-based, 0 when unknown.
/// Columns count bytes, not characters.
class DataError : public FormatError {
public:
  DataError(std::string path, std::uint64_t line, std::uint64_t column, std::string problem);
  DataError(std::string path, std::uint64_t line, std::string problem)
      : DataError(std::move(path), line, 0, std::move(problem)) {}

  std::uint64_t line() const { return m_line; }
  std::uint64_t column() const { return m_column; }
  const char* what() const noexcept override { return m_message.c_str(); }

  /// "path:line:column" (or the shorter forms), as used in what().
  static std::string location(const std::string& path, std::uint64_t line, std::uint64_t column = 0);

private:
  std::uint64_t m_line = 0;
  std::uint64_t m_column = 0;
  std::string m_message;
};

} // namespace lorafa
