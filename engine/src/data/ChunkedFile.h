#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace lorafa {

/// Reads a file front to back in fixed-size chunks (1 MiB by default), handing out lines, so a
/// dataset of any size is read with bounded memory (a line is held whole). A UTF-8 byte order
/// mark at the start is skipped.
class ChunkedFile {
public:
  /// Throws FormatError(path, …) when the file cannot be opened.
  explicit ChunkedFile(std::string path, std::size_t chunkBytes = std::size_t(1) << 20);

  const std::string& path() const { return m_path; }

  /// The next line without its "\n" (a "\r" before it is kept: callers decide), into `line`.
  /// Returns false at the end of the file. `lineStart` receives the line's byte offset.
  bool readLine(std::string& line, std::uint64_t* lineStart = nullptr);

  /// The first non-whitespace byte of the file (after the BOM), without consuming anything;
  /// -1 for an empty or all-whitespace start within the first chunk.
  int firstNonSpaceByte();

  /// Whether the line readLine returned last ended with "\n" (false only for a last line without one).
  bool lineHadNewline() const { return m_lineHadNewline; }

  /// Whether the file starts with a UTF-8 byte order mark (which is skipped).
  bool hadBom() const { return m_hadBom; }

private:
  bool refill(); // false at end of file; throws FormatError on a read error

  struct Closer {
    void operator()(std::FILE* f) const {
      if (f != nullptr) std::fclose(f);
    }
  };

  std::string m_path;
  std::unique_ptr<std::FILE, Closer> m_file;
  std::vector<char> m_buffer;
  std::size_t m_pos = 0;
  std::size_t m_end = 0;
  std::uint64_t m_bufferOffset = 0; // file offset of m_buffer[0]
  bool m_eof = false;
  bool m_hadBom = false;
  bool m_lineHadNewline = false;
};

} // namespace lorafa
