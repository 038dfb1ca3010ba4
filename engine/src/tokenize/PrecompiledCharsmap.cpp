#include "tokenize/PrecompiledCharsmap.h"

#include "tokenize/Unicode.h"

#include <stdexcept>

namespace lorafa {
namespace {

// A Darts double-array unit: bit 8 says a value hangs below this node; the low byte (with bit 31,
// so a value unit never matches a label) is the label; the offset to the children is bits 10-31,
// shifted 8 more when bit 9 is set. A value unit holds the value in its low 31 bits.
bool hasLeaf(std::uint32_t unit) { return ((unit >> 8) & 1U) != 0; }
std::uint32_t value(std::uint32_t unit) { return unit & 0x7FFFFFFFU; }
std::uint32_t label(std::uint32_t unit) { return unit & 0x800000FFU; }
std::size_t offset(std::uint32_t unit) {
  return static_cast<std::size_t>(unit >> 10) << ((unit & (1U << 9)) >> 6);
}

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

} // namespace

std::string decodeBase64(std::string_view text) {
  if (text.size() % 4 != 0) {
    throw std::invalid_argument("not base64: its length " + std::to_string(text.size()) +
                                " is not a multiple of 4");
  }
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=')
    ++padding;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t bits = 0;
  int bitCount = 0;
  for (std::size_t i = 0; i + padding < text.size(); ++i) {
    const int v = base64Value(text[i]);
    if (v < 0) throw std::invalid_argument("not base64: unexpected character at offset " + std::to_string(i));
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    bitCount += 6;
    if (bitCount >= 8) {
      bitCount -= 8;
      out.push_back(static_cast<char>((bits >> bitCount) & 0xFFU));
    }
  }
  if ((bits & ((1U << bitCount) - 1U)) != 0)
    throw std::invalid_argument("not base64: the last character has bits set past the data");
  return out;
}

PrecompiledCharsmap::PrecompiledCharsmap(std::string_view blob) {
  const auto readU32 = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
      v = (v << 8) | static_cast<unsigned char>(blob[at + static_cast<std::size_t>(i)]);
    return v;
  };
  if (blob.size() < 4) throw std::invalid_argument("the charsmap is shorter than its 4-byte trie size");
  const std::size_t unitCount = readU32(0) / 4;
  if (unitCount > (blob.size() - 4) / 4) {
    throw std::invalid_argument("the charsmap's trie size (" + std::to_string(readU32(0)) +
                                " bytes) runs past its end (" + std::to_string(blob.size()) + " bytes)");
  }
  if (unitCount == 0) throw std::invalid_argument("the charsmap's trie is empty");
  m_units.reserve(unitCount);
  for (std::size_t i = 0; i < unitCount; ++i)
    m_units.push_back(readU32(4 + 4 * i));
  m_pool = std::string(blob.substr(4 + 4 * unitCount));
  if (!unicode::isValidUtf8(m_pool)) {
    throw std::invalid_argument("the charsmap's replacement strings are not valid UTF-8 (at byte " +
                                std::to_string(4 + 4 * unitCount + unicode::validUtf8Prefix(m_pool)) + ")");
  }
}

std::optional<std::string_view> PrecompiledCharsmap::transform(std::string_view chunk) const {
  // A well-formed trie never leads outside the array; a damaged one is treated as having no rule
  // there (the reference would stop with an index error).
  std::size_t node = offset(m_units[0]);
  for (const char c : chunk) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == 0) break;
    node ^= byte;
    if (node >= m_units.size()) return std::nullopt;
    const std::uint32_t unit = m_units[node];
    if (label(unit) != byte) return std::nullopt;
    node ^= offset(unit);
    if (hasLeaf(unit)) {
      if (node >= m_units.size()) return std::nullopt;
      const std::size_t start = value(m_units[node]);
      // A value must start a replacement on a character boundary to give valid UTF-8.
      if (start > m_pool.size()) return std::nullopt;
      if (start < m_pool.size() && (static_cast<unsigned char>(m_pool[start]) & 0xC0U) == 0x80U)
        return std::nullopt;
      std::size_t end = m_pool.find('\0', start);
      if (end == std::string::npos) end = m_pool.size();
      return std::string_view(m_pool).substr(start, end - start);
    }
  }
  return std::nullopt;
}

std::string PrecompiledCharsmap::normalize(std::string_view text) const {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t begin = 0;
  for (const std::size_t end : unicode::graphemeBoundaries(text)) {
    const std::string_view cluster = text.substr(begin, end - begin);
    begin = end;
    if (cluster.size() < 6) {
      if (const auto replacement = transform(cluster)) {
        out.append(*replacement);
        continue;
      }
    }
    for (std::size_t pos = 0; pos < cluster.size();) {
      const std::size_t length = unicode::sequenceLength(static_cast<unsigned char>(cluster[pos]));
      const std::string_view character = cluster.substr(pos, length);
      const auto replacement = transform(character);
      out.append(replacement ? *replacement : character);
      pos += length;
    }
  }
  return out;
}

} // namespace lorafa
