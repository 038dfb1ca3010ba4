#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <stdexcept>

struct pcre2_real_code_8;

namespace lorafa {

/// Bounds on the work of one pattern: patterns come from files (tokenizer.json), and a hostile or
/// careless one (nested quantifiers such as "(a+)+$") backtracks exponentially.
struct Pcre2Limits {
  /// Pattern length in bytes (real pre-tokenizer patterns are a few hundred).
  std::size_t maxPatternBytes = 16 * 1024;
  /// PCRE2's match limit: backtracking steps tried from one start position.
  std::uint32_t matchLimit = 1'000'000;
  /// PCRE2's depth limit (interpreter only; the JIT is bounded by its stack).
  std::uint32_t depthLimit = 100'000;
  /// PCRE2's heap limit in KiB for the interpreter's backtracking frames.
  std::uint32_t heapLimitKiB = 64 * 1024;
  /// CPU time one findAll() may spend in total: cpuSeconds + cpuSecondsPerByte × text bytes. The
  /// match limit bounds one start position; this bounds a text where every position costs just
  /// under it. Checked between searches, which never try more than 256 bytes of start positions.
  double cpuSeconds = 10.0;
  double cpuSecondsPerByte = 1e-5;
};

/// A pattern gave up: it hit one of the Pcre2Limits. what() names the pattern and the limit.
class Pcre2LimitError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A compiled PCRE2 pattern (UTF + UCP, JIT-compiled when the library supports it), shareable
/// between threads: each search uses its own match data. Used for the pre-tokenizers' regular
/// expressions, which need Unicode properties (\p{L}) and lookahead that std::regex lacks.
class Pcre2Regex {
public:
  /// Throws std::invalid_argument with PCRE2's message and the offset in the pattern, or when
  /// the pattern is longer than limits.maxPatternBytes.
  explicit Pcre2Regex(const std::string& pattern, const Pcre2Limits& limits = Pcre2Limits());
  ~Pcre2Regex();
  Pcre2Regex(const Pcre2Regex&) = delete;
  Pcre2Regex& operator=(const Pcre2Regex&) = delete;

  /// Byte ranges [begin, end) of the successive non-overlapping matches in `text` (valid
  /// UTF-8). An empty match moves the search on by one character and is not reported.
  /// Throws Pcre2LimitError when the search exceeds one of the limits.
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
  Pcre2Limits m_limits;
  bool m_jit = false;
};

} // namespace lorafa
