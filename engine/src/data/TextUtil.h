#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lorafa {

/// Where and why a byte string is not UTF-8.
struct Utf8Problem {
  std::size_t offset = 0; ///< of the first bad byte, from the start of the string
  std::string reason;     ///< e.g. "byte 0xFF cannot appear in UTF-8"
};

/// Checks RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
std::optional<Utf8Problem> findInvalidUtf8(std::string_view text);

/// "invalid UTF-8 at byte N of the file: <reason>", where the checked text starts at byte
/// `textStart` of the file.
std::string describeUtf8Problem(const Utf8Problem& problem, std::uint64_t textStart);

/// Python's str.strip() with no argument (what Jinja's `trim` filter does): removes leading and
/// trailing characters for which str.isspace() is true, ASCII and Unicode.
std::string_view stripPythonWhitespace(std::string_view text);

/// ASCII lower case.
std::string asciiLower(std::string_view text);

/// The length of the longest prefix of `text` of at most `maxBytes` bytes that ends on a UTF-8
/// character boundary.
std::size_t utf8PrefixLength(std::string_view text, std::size_t maxBytes);

/// `text` cut to at most `maxChars` bytes for an error message, with "…" when cut; control
/// characters shown as escapes.
std::string quoteForMessage(std::string_view text, std::size_t maxChars = 60);

} // namespace lorafa
