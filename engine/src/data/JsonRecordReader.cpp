#include "data/JsonRecordReader.h"

#include "data/TextUtil.h"
#include "io/StrictJson.h"

#include <cstring>

namespace lorafa {
namespace {

bool isJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string describeChar(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x21 && byte < 0x7F) return std::string("'") + c + "'";
  return quoteForMessage(std::string_view(&c, 1));
}

// nlohmann's message for an error that is not a parse error, without its "[json.exception...]"
// prefix and in printable characters.
std::string describeJsonException(const nlohmann::json::exception& error) {
  std::string detail = error.what();
  const std::size_t bracket = detail.find("] ");
  if (bracket != std::string::npos) detail.erase(0, bracket + 2);
  for (char& c : detail) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) c = '?';
  }
  return detail;
}

} // namespace

std::string describeJsonParseError(const nlohmann::json::parse_error& error) {
  std::string detail = error.what();
  const std::size_t column = detail.find("column ");
  const std::size_t colon = column == std::string::npos ? std::string::npos : detail.find(": ", column);
  if (colon != std::string::npos) {
    detail.erase(0, colon + 2);
  } else {
    const std::size_t bracket = detail.find("] ");
    if (bracket != std::string::npos) detail.erase(0, bracket + 2);
  }
  // The library quotes what it read, which may be any bytes: keep the message printable.
  for (char& c : detail) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) c = '?';
  }
  return detail;
}

void advancePosition(const std::string& text, std::size_t offset, std::uint64_t& line,
                     std::uint64_t& column) {
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
}

JsonRecordReader::JsonRecordReader(ChunkedFile& file, bool array) : m_file(file), m_array(array) {}

bool JsonRecordReader::next(JsonRecord& record) {
  record.error.reset();
  record.value = nlohmann::ordered_json();
  return m_array ? nextElement(record) : nextLine(record);
}

bool JsonRecordReader::fillLine() {
  if (!m_file.readLine(m_line, &m_lineStart)) {
    m_haveLine = false;
    return false;
  }
  ++m_lineNumber;
  m_pos = 0;
  m_haveLine = true;
  return true;
}

void JsonRecordReader::parse(const std::string& text, std::uint64_t line, std::uint64_t column,
                             std::uint64_t firstByte, JsonRecord& record) const {
  const std::string& path = m_file.path();
  if (const auto bad = findInvalidUtf8(text)) {
    std::uint64_t l = line, c = column;
    advancePosition(text, bad->offset, l, c);
    record.error.emplace(path, l, c, describeUtf8Problem(*bad, firstByte));
    return;
  }
  // nlohmann's lexer would take a NUL byte for the end of the input.
  if (const void* nul = std::memchr(text.data(), '\0', text.size())) {
    std::uint64_t l = line, c = column;
    advancePosition(text, static_cast<std::size_t>(static_cast<const char*>(nul) - text.data()), l, c);
    record.error.emplace(path, l, c, "NUL byte in the record");
    return;
  }
  if (const std::int64_t deep = findJsonTooDeep(text.data(), text.data() + text.size()); deep >= 0) {
    std::uint64_t l = line, c = column;
    advancePosition(text, static_cast<std::size_t>(deep), l, c);
    record.error.emplace(path, l, c,
                         "arrays and objects nest deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    return;
  }
  try {
    record.value = nlohmann::ordered_json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    std::uint64_t l = line, c = column;
    advancePosition(text, e.byte > 0 ? e.byte - 1 : 0, l, c);
    std::string problem = "invalid JSON: " + describeJsonParseError(e);
    if (!m_array && e.byte >= text.size()) {
      problem += " (JSON Lines needs each record whole on one line)";
    }
    record.error.emplace(path, l, c, problem);
    return;
  } catch (const nlohmann::json::exception& e) { // e.g. a number beyond a double (1e400)
    record.error.emplace(path, line, column, std::string("invalid JSON: ") + describeJsonException(e));
    return;
  }
  if (!record.value.is_object()) {
    record.error.emplace(path, line, column,
                         std::string("a record must be a JSON object {…}, found ") +
                             record.value.type_name());
  }
}

bool JsonRecordReader::nextLine(JsonRecord& record) {
  while (fillLine()) {
    std::size_t first = 0;
    while (first < m_line.size() && isJsonSpace(m_line[first]))
      ++first;
    if (first == m_line.size()) continue; // blank line
    record.line = m_lineNumber;
    record.column = first + 1;
    parse(m_line, m_lineNumber, 1, m_lineStart, record);
    return true;
  }
  return false;
}

bool JsonRecordReader::nextElement(JsonRecord& record) {
  if (m_finished) return false;
  const std::string& path = m_file.path();
  // Moves to the next non-space character; false at the end of the file.
  auto skipSpace = [this]() {
    for (;;) {
      if (!m_haveLine || m_pos >= m_line.size()) {
        if (!fillLine()) return false;
        continue;
      }
      if (!isJsonSpace(m_line[m_pos])) return true;
      ++m_pos;
    }
  };
  auto unterminated = [&]() {
    return DataError(
        path, m_arrayLine, m_arrayColumn,
        "the JSON array opened here is never closed (a missing ']', or an unterminated string or "
        "bracket in a record)");
  };

  if (!m_started) {
    if (!skipSpace()) throw DataError(path, 0, "the file is empty (expected a JSON array of records)");
    if (m_line[m_pos] != '[') {
      throw DataError(path, m_lineNumber, m_pos + 1,
                      "expected '[' to start a JSON array of records, found " + describeChar(m_line[m_pos]));
    }
    m_arrayLine = m_lineNumber;
    m_arrayColumn = m_pos + 1;
    ++m_pos;
    m_started = true;
    if (!skipSpace()) throw unterminated();
    if (m_line[m_pos] == ']') {
      ++m_pos;
      m_finished = true;
    }
  } else if (!skipSpace()) {
    throw unterminated();
  }

  bool gotElement = false;
  if (!m_finished) {
    gotElement = true;
    record.line = m_lineNumber;
    record.column = m_pos + 1;
    const std::uint64_t firstByte = m_lineStart + m_pos;
    m_element.clear();
    int depth = 0;
    bool inString = false;
    bool escaped = false;
    char terminator = 0;
    while (terminator == 0) {
      if (m_pos >= m_line.size()) {
        if (!fillLine()) throw unterminated();
        m_element += '\n';
        continue;
      }
      const char c = m_line[m_pos];
      if (inString) {
        if (escaped) {
          escaped = false;
        } else if (c == '\\') {
          escaped = true;
        } else if (c == '"') {
          inString = false;
        }
      } else if (c == '"') {
        inString = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && depth > 0) {
        --depth;
      } else if ((c == ',' || c == ']') && depth == 0) {
        terminator = c;
        ++m_pos;
        break;
      }
      m_element += c;
      ++m_pos;
    }
    while (!m_element.empty() && isJsonSpace(m_element.back()))
      m_element.pop_back();
    if (m_element.empty()) {
      record.error.emplace(path, record.line, record.column,
                           std::string("expected a record before '") + terminator +
                               "' (a trailing or doubled comma is not JSON)");
    } else {
      parse(m_element, record.line, record.column, firstByte, record);
    }
    if (terminator == ']') m_finished = true;
  }

  if (m_finished) {
    // Only whitespace may follow the array.
    if (skipSpace()) {
      throw DataError(path, m_lineNumber, m_pos + 1,
                      "unexpected " + describeChar(m_line[m_pos]) + " after the JSON array's closing ']'");
    }
  }
  return gotElement;
}

} // namespace lorafa
