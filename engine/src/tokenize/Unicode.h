#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

// UTF-8 and Unicode helpers for the tokenizer pipeline. Character classes follow the definitions
// the reference implementation uses (Rust's char methods), computed with ICU.
namespace lorafa::unicode {

/// Decodes the code point starting at text[pos] (text must be valid UTF-8) and advances pos.
char32_t nextCodePoint(std::string_view text, std::size_t& pos);
/// Byte length of the valid UTF-8 sequence that starts with `lead`.
std::size_t sequenceLength(unsigned char lead);
/// Appends the UTF-8 form of `cp`.
void appendUtf8(std::string& out, char32_t cp);
std::string toUtf8(char32_t cp);
/// Number of code points in valid UTF-8.
std::size_t countCodePoints(std::string_view text);

/// Byte-exact copy when `bytes` is valid UTF-8; otherwise each maximal invalid subsequence is
/// replaced by U+FFFD (the rule of Rust's String::from_utf8_lossy and of WHATWG decoders).
std::string fromUtf8Lossy(std::string_view bytes);
bool isValidUtf8(std::string_view bytes);
/// Length of the longest valid UTF-8 prefix of `bytes`: the byte offset of the first invalid
/// sequence, or bytes.size() when all of it is valid.
std::size_t validUtf8Prefix(std::string_view bytes);

bool isWhitespace(char32_t c);      ///< Unicode White_Space (Rust char::is_whitespace)
bool isAlphabetic(char32_t c);      ///< Unicode Alphabetic
bool isNumeric(char32_t c);         ///< general category Nd, Nl or No (Rust char::is_numeric)
bool isAlphanumeric(char32_t c);    ///< isAlphabetic || isNumeric
bool isPunctuation(char32_t c);     ///< general category P*
bool isOther(char32_t c);           ///< general category Cc, Cf, Cn, Co or Cs
bool isNonspacingMark(char32_t c);  ///< general category Mn
bool isCombiningMark(char32_t c);   ///< general category Mn, Mc or Me
bool isBertPunctuation(char32_t c); ///< ASCII punctuation or P*, as BERT splits on
bool isCjk(char32_t c);             ///< the CJK ideograph blocks BERT puts spaces around

/// Per-code-point full lowercase mapping, like Rust's char::to_lowercase (no context rules).
void appendLowercase(std::string& out, char32_t c);
std::string lowercase(std::string_view text);

/// The byte offsets where the extended grapheme clusters of `text` (valid UTF-8) end (UAX #29, as
/// ICU implements it), in order; the last one is text.size().
std::vector<std::size_t> graphemeBoundaries(std::string_view text);

enum class NormalForm { Nfc, Nfd, Nfkc, Nfkd };
/// Unicode normalization with ICU; returns the input unchanged when it is already normalized.
std::string normalize(std::string_view text, NormalForm form);

} // namespace lorafa::unicode
