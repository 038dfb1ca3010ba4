#include "data/TextUtil.h"

#include <cstdint>
#include <cstdio>

namespace lorafa {
namespace {

std::string hexByte(unsigned char byte) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "0x%02X", byte);
  return buffer;
}

// Decodes one well-formed UTF-8 character at text[at]; returns its length, 0 when malformed.
std::size_t decodeAt(std::string_view text, std::size_t at, char32_t& codePoint) {
  const auto b0 = static_cast<unsigned char>(text[at]);
  std::size_t length = 0;
  if (b0 < 0x80) {
    codePoint = b0;
    return 1;
  }
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
    codePoint = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    codePoint = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    codePoint = b0 & 0x07;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    const auto b = static_cast<unsigned char>(text[at + i]);
    if ((b & 0xC0) != 0x80) return 0;
    codePoint = (codePoint << 6) | (b & 0x3F);
  }
  return length;
}

bool isPythonSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

} // namespace

std::optional<Utf8Problem> findInvalidUtf8(std::string_view text) {
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    // Fast path over ASCII.
    while (i < n && static_cast<unsigned char>(text[i]) < 0x80)
      ++i;
    if (i >= n) break;
    const auto b0 = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    unsigned char low = 0x80; // allowed range of the second byte
    unsigned char high = 0xBF;
    if (b0 >= 0x80 && b0 <= 0xBF) {
      return Utf8Problem{i, "continuation byte " + hexByte(b0) + " without a lead byte"};
    } else if (b0 == 0xC0 || b0 == 0xC1) {
      return Utf8Problem{i, "overlong encoding (lead byte " + hexByte(b0) + ")"};
    } else if (b0 <= 0xDF) {
      length = 2;
    } else if (b0 <= 0xEF) {
      length = 3;
      if (b0 == 0xE0) low = 0xA0;  // overlong below U+0800
      if (b0 == 0xED) high = 0x9F; // surrogates U+D800..U+DFFF
    } else if (b0 <= 0xF4) {
      length = 4;
      if (b0 == 0xF0) low = 0x90;  // overlong below U+10000
      if (b0 == 0xF4) high = 0x8F; // above U+10FFFF
    } else {
      return Utf8Problem{i, "byte " + hexByte(b0) + " cannot appear in UTF-8"};
    }
    for (std::size_t k = 1; k < length; ++k) {
      if (i + k >= n) {
        return Utf8Problem{i, "truncated character (lead byte " + hexByte(b0) + " needs " +
                                  std::to_string(length) + " bytes, the text ends after " +
                                  std::to_string(k) + ")"};
      }
      const auto b = static_cast<unsigned char>(text[i + k]);
      const unsigned char lo = k == 1 ? low : 0x80;
      const unsigned char hi = k == 1 ? high : 0xBF;
      if (b < lo || b > hi) {
        if ((b & 0xC0) != 0x80) {
          return Utf8Problem{i, "lead byte " + hexByte(b0) +
                                    " is not followed by a continuation byte (found " + hexByte(b) + ")"};
        }
        return Utf8Problem{
            i, b0 == 0xED ? "encoded surrogate code point (" + hexByte(b0) + " " + hexByte(b) + ")"
                          : "overlong or out-of-range encoding (" + hexByte(b0) + " " + hexByte(b) + ")"};
      }
    }
    i += length;
  }
  return std::nullopt;
}

std::string describeUtf8Problem(const Utf8Problem& problem, std::uint64_t textStart) {
  return "invalid UTF-8 at byte " + std::to_string(textStart + problem.offset) +
         " of the file: " + problem.reason;
}

std::string_view stripPythonWhitespace(std::string_view text) {
  std::size_t begin = 0;
  while (begin < text.size()) {
    char32_t c = 0;
    const std::size_t length = decodeAt(text, begin, c);
    if (length == 0 || !isPythonSpace(c)) break;
    begin += length;
  }
  std::size_t end = text.size();
  while (end > begin) {
    // Step back to the start of the last character.
    std::size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80 && end - start < 4)
      --start;
    char32_t c = 0;
    const std::size_t length = decodeAt(text, start, c);
    if (length != end - start || !isPythonSpace(c)) break;
    end = start;
  }
  return text.substr(begin, end - begin);
}

std::string asciiLower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

std::size_t utf8PrefixLength(std::string_view text, std::size_t maxBytes) {
  if (text.size() <= maxBytes) return text.size();
  std::size_t end = maxBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
    --end;
  return end;
}

std::string quoteForMessage(std::string_view text, std::size_t maxChars) {
  const bool cut = text.size() > maxChars;
  const std::string_view shown = text.substr(0, utf8PrefixLength(text, maxChars));
  std::string out = "\"";
  for (const char c : shown) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '"') {
      out += "\\\"";
    } else if (byte < 0x20 || byte == 0x7F) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\x%02X", byte);
      out += buffer;
    } else {
      out += c;
    }
  }
  out += cut ? "\"…" : "\"";
  return out;
}

} // namespace lorafa
