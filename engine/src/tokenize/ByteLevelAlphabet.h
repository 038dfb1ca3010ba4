#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace lorafa {

/// GPT-2's reversible byte ↔ character map used by byte-level BPE: bytes that are printable
/// characters ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves, the other 68 map in order to
/// U+0100, U+0101, ... (so a space is "Ġ", U+0120, and a newline "Ċ", U+010A).
class ByteLevelAlphabet {
public:
  static const ByteLevelAlphabet& instance();

  char32_t charFor(unsigned char byte) const { return m_chars[byte]; }
  /// UTF-8 of the character standing for `byte`.
  const std::string& utf8For(unsigned char byte) const { return m_utf8[byte]; }
  std::optional<unsigned char> byteFor(char32_t c) const;

  /// Each byte of `bytes` replaced by its character (UTF-8).
  std::string encode(std::string_view bytes) const;
  /// The bytes `token` stands for; false (and `bytes` unchanged) when a character of `token` is
  /// not in the alphabet.
  bool decode(std::string_view token, std::string& bytes) const;

private:
  ByteLevelAlphabet();
  std::array<char32_t, 256> m_chars{};
  std::array<std::string, 256> m_utf8{};
  std::array<int, 324> m_bytes{}; // code point → byte, -1 when none (the alphabet ends at U+0143)
};

} // namespace lorafa
