#include "data/DelimitedReader.h"

#include "data/TextUtil.h"

namespace lorafa {

DelimitedReader::DelimitedReader(ChunkedFile& file, char delimiter) : m_file(file), m_delimiter(delimiter) {}

bool DelimitedReader::next(TableRecord& record) {
  record.fields.clear();
  record.error.reset();
  const std::string& path = m_file.path();

  // Skip blank lines.
  do {
    if (!m_file.readLine(m_line, &m_lineStart)) return false;
    ++m_lineNumber;
  } while (m_line.empty() || m_line == "\r");
  record.line = m_lineNumber;

  auto fail = [&](std::uint64_t line, std::size_t column, const std::string& problem) {
    if (!record.error) record.error.emplace(path, line, column, problem);
  };
  auto checkUtf8 = [&]() {
    if (const auto bad = findInvalidUtf8(m_line))
      fail(m_lineNumber, bad->offset + 1, describeUtf8Problem(*bad, m_lineStart));
  };
  checkUtf8();

  enum class State { FieldStart, Unquoted, Quoted, AfterQuote };
  State state = State::FieldStart;
  std::string field;
  std::uint64_t quoteLine = 0;
  std::size_t quoteColumn = 0;
  std::size_t i = 0;
  for (;;) {
    if (i >= m_line.size()) {
      if (state == State::Quoted) {
        // The quoted field goes on over the line break.
        field += '\n';
        if (!m_file.readLine(m_line, &m_lineStart)) {
          throw DataError(path, quoteLine, quoteColumn,
                          "unterminated quoted field: the quote opened here is never closed (a stray '\"'? "
                          "quotes inside a quoted field are written \"\")");
        }
        ++m_lineNumber;
        checkUtf8();
        i = 0;
        continue;
      }
      // End of the record; a CR of a CRLF line end is not part of the last field.
      if (state == State::Unquoted && !field.empty() && field.back() == '\r') field.pop_back();
      record.fields.push_back(std::move(field));
      return true;
    }
    const char c = m_line[i];
    switch (state) {
    case State::FieldStart:
      if (c == '"') {
        state = State::Quoted;
        quoteLine = m_lineNumber;
        quoteColumn = i + 1;
        ++i;
        continue;
      }
      state = State::Unquoted;
      [[fallthrough]];
    case State::Unquoted:
      if (c == m_delimiter) {
        record.fields.push_back(std::move(field));
        field.clear();
        state = State::FieldStart;
      } else {
        field += c;
      }
      ++i;
      break;
    case State::Quoted:
      if (c == '"') {
        if (i + 1 < m_line.size() && m_line[i + 1] == '"') {
          field += '"';
          i += 2;
        } else {
          state = State::AfterQuote;
          ++i;
        }
      } else {
        field += c;
        ++i;
      }
      break;
    case State::AfterQuote:
      if (c == m_delimiter) {
        record.fields.push_back(std::move(field));
        field.clear();
        state = State::FieldStart;
      } else if (c == '\r' && i + 1 == m_line.size()) {
        // CRLF after a closing quote
      } else {
        fail(m_lineNumber, i + 1,
             "unexpected " + quoteForMessage(std::string_view(&m_line[i], 1)) +
                 " after the closing quote of a field (a quote inside a quoted field is written \"\")");
        field += c;
        state = State::Unquoted;
      }
      ++i;
      break;
    }
  }
}

} // namespace lorafa
