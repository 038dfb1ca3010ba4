#include "tokenize/ByteLevelAlphabet.h"

#include "tokenize/Unicode.h"

namespace lorafa {

const ByteLevelAlphabet& ByteLevelAlphabet::instance() {
  static const ByteLevelAlphabet alphabet;
  return alphabet;
}

ByteLevelAlphabet::ByteLevelAlphabet() {
  m_bytes.fill(-1);
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const char32_t c = printable ? static_cast<char32_t>(b) : next++;
    m_chars[b] = c;
    m_utf8[b] = unicode::toUtf8(c);
    m_bytes[c] = b;
  }
}

std::optional<unsigned char> ByteLevelAlphabet::byteFor(char32_t c) const {
  if (c >= m_bytes.size() || m_bytes[c] < 0) return std::nullopt;
  return static_cast<unsigned char>(m_bytes[c]);
}

std::string ByteLevelAlphabet::encode(std::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 2);
  for (const char b : bytes)
    out.append(m_utf8[static_cast<unsigned char>(b)]);
  return out;
}

bool ByteLevelAlphabet::decode(std::string_view token, std::string& bytes) const {
  const std::size_t mark = bytes.size();
  std::size_t pos = 0;
  while (pos < token.size()) {
    const auto byte = byteFor(unicode::nextCodePoint(token, pos));
    if (!byte) {
      bytes.resize(mark);
      return false;
    }
    bytes.push_back(static_cast<char>(*byte));
  }
  return true;
}

} // namespace lorafa
