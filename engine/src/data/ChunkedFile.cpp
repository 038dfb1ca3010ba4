#include "data/ChunkedFile.h"

#include "lorafa/FormatError.h"

#include <cerrno>
#include <cstring>

namespace lorafa {

ChunkedFile::ChunkedFile(std::string path, std::size_t chunkBytes)
    : m_path(std::move(path)), m_buffer(chunkBytes < 16 ? 16 : chunkBytes) {
  errno = 0;
  m_file.reset(std::fopen(m_path.c_str(), "rb"));
  if (!m_file) {
    throw FormatError(m_path, std::string("cannot open the file: ") +
                                  (errno != 0 ? std::strerror(errno) : "unknown error"));
  }
  refill();
  if (m_end - m_pos >= 3 && std::memcmp(m_buffer.data() + m_pos, "\xEF\xBB\xBF", 3) == 0) {
    m_pos += 3;
    m_hadBom = true;
  }
}

bool ChunkedFile::refill() {
  if (m_eof) return false;
  // Keep the unread tail at the front of the buffer.
  const std::size_t keep = m_end - m_pos;
  if (m_pos > 0) {
    if (keep > 0) std::memmove(m_buffer.data(), m_buffer.data() + m_pos, keep);
    m_bufferOffset += m_pos;
    m_pos = 0;
    m_end = keep;
  }
  if (m_end == m_buffer.size()) m_buffer.resize(m_buffer.size() * 2); // one line longer than a chunk
  const std::size_t got = std::fread(m_buffer.data() + m_end, 1, m_buffer.size() - m_end, m_file.get());
  if (got == 0) {
    if (std::ferror(m_file.get()) != 0)
      throw FormatError(m_path, "read error: " + std::string(std::strerror(errno)));
    m_eof = true;
    return false;
  }
  m_end += got;
  return true;
}

bool ChunkedFile::readLine(std::string& line, std::uint64_t* lineStart) {
  line.clear();
  if (m_pos == m_end && !refill()) return false;
  if (lineStart != nullptr) *lineStart = m_bufferOffset + m_pos;
  std::size_t searchFrom = m_pos;
  for (;;) {
    const void* nl = std::memchr(m_buffer.data() + searchFrom, '\n', m_end - searchFrom);
    if (nl != nullptr) {
      const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(nl) - m_buffer.data());
      line.assign(m_buffer.data() + m_pos, at - m_pos);
      m_pos = at + 1;
      m_lineHadNewline = true;
      return true;
    }
    const std::size_t scanned = m_end - m_pos;
    if (!refill()) { // last line without "\n"
      line.assign(m_buffer.data() + m_pos, m_end - m_pos);
      m_pos = m_end;
      m_lineHadNewline = false;
      return true;
    }
    searchFrom = m_pos + scanned; // refill moved the unread tail to the front
  }
}

int ChunkedFile::firstNonSpaceByte() {
  for (std::size_t i = m_pos; i < m_end; ++i) {
    const char c = m_buffer[i];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return static_cast<unsigned char>(c);
  }
  return -1;
}

} // namespace lorafa
