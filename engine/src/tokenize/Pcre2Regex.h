#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pcre2_real_code_8;

namespace lorafa {

/// A compiled PCRE2 pattern (UTF + UCP, JIT-compiled when the library supports it), shareable
/// between threads: each search uses its own match data. Used for the pre-tokenizers' regular
/// expressions, which need Unicode properties (\p{L}) and lookahead that std::regex lacks.
class Pcre2Regex {
public:
  /// Throws std::invalid_argument with PCRE2's message and the offset in the pattern.
  explicit Pcre2Regex(const std::string& pattern);
  ~Pcre2Regex();
  Pcre2Regex(const Pcre2Regex&) = delete;
  Pcre2Regex& operator=(const Pcre2Regex&) = delete;

  /// Byte ranges [begin, end) of the successive non-overlapping matches in `text` (valid
  /// UTF-8). An empty match moves the search on by one character and is not reported.
  std::vector<std::pair<std::size_t, std::size_t>> findAll(std::string_view text) const;

  /// Escapes `literal` so that it matches itself.
  static std::string quote(std::string_view literal);

  const std::string& pattern() const { return m_pattern; }

private:
  struct CodeDeleter {
    void operator()(pcre2_real_code_8* code) const;
  };
  std::string m_pattern;
  std::unique_ptr<pcre2_real_code_8, CodeDeleter> m_code;
  bool m_jit = false;
};

} // namespace lorafa
