#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenize/Pcre2Regex.h"

#include <pcre2.h>

#include <stdexcept>

#include <time.h>

namespace lorafa {
namespace {

std::string pcre2Message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof buffer);
  return reinterpret_cast<const char*>(buffer);
}

// Per-thread scratch for matching: one match-data block (only the whole match is needed) and a
// JIT stack larger than the 32 KiB default, so that long runs of one character class (a page of
// spaces) do not exhaust it.
struct MatchScratch {
  MatchScratch() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jitStack = pcre2_jit_stack_create(32 * 1024, 16 * 1024 * 1024, nullptr);
    if (data == nullptr || context == nullptr) throw std::bad_alloc();
    if (jitStack != nullptr) pcre2_jit_stack_assign(context, nullptr, jitStack);
  }
  ~MatchScratch() {
    pcre2_jit_stack_free(jitStack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;

  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jitStack = nullptr;
};

MatchScratch& scratch() {
  thread_local MatchScratch s;
  return s;
}

// CPU time of the calling thread: the budget of a search must not count other threads' work.
double threadCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// Start positions one search may try: the match limit holds per start position, so a search
// over a long text without matches could otherwise run for hours before the CPU budget is checked.
constexpr std::size_t kWindowBytes = 256;

std::string limitReason(int rc, const Pcre2Limits& limits) {
  switch (rc) {
  case PCRE2_ERROR_MATCHLIMIT:
    return "more than " + std::to_string(limits.matchLimit) +
           " backtracking steps from one position (the match limit)";
  case PCRE2_ERROR_DEPTHLIMIT:
    return "backtracking deeper than " + std::to_string(limits.depthLimit) + " (the depth limit)";
  case PCRE2_ERROR_HEAPLIMIT:
    return "more than " + std::to_string(limits.heapLimitKiB) + " KiB of backtracking memory (the heap limit)";
  case PCRE2_ERROR_JIT_STACKLIMIT: return "more than 16 MiB of JIT stack";
  default: return pcre2Message(rc);
  }
}

} // namespace

void Pcre2Regex::CodeDeleter::operator()(pcre2_real_code_8* code) const { pcre2_code_free(code); }

Pcre2Regex::Pcre2Regex(const std::string& pattern, const Pcre2Limits& limits)
    : m_pattern(pattern), m_limits(limits) {
  if (pattern.size() > limits.maxPatternBytes) {
    throw std::invalid_argument("regular expression of " + std::to_string(pattern.size()) +
                                " bytes is longer than the limit of " + std::to_string(limits.maxPatternBytes) +
                                " bytes");
  }
  int errorCode = 0;
  PCRE2_SIZE errorOffset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_USE_OFFSET_LIMIT, &errorCode, &errorOffset, nullptr);
  if (code == nullptr) {
    throw std::invalid_argument("invalid regular expression \"" + pattern + "\" at offset " +
                                std::to_string(errorOffset) + ": " + pcre2Message(errorCode));
  }
  m_code.reset(code);
  m_jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Pcre2Regex::~Pcre2Regex() = default;

std::vector<std::pair<std::size_t, std::size_t>> Pcre2Regex::findAll(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  MatchScratch& s = scratch();
  pcre2_set_match_limit(s.context, m_limits.matchLimit);
  pcre2_set_depth_limit(s.context, m_limits.depthLimit);
  pcre2_set_heap_limit(s.context, m_limits.heapLimitKiB);
  const double budgetSeconds = m_limits.cpuSeconds + m_limits.cpuSecondsPerByte * static_cast<double>(text.size());
  const double started = threadCpuSeconds();
  std::size_t searches = 0;
  bool checkBudget = false;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const auto nextCharacter = [&](std::size_t at) {
    while (at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80)
      ++at;
    return at;
  };
  std::size_t start = 0;
  while (start <= text.size()) {
    // Every few searches (and after each window without a match), the CPU budget of this text.
    if ((++searches % 64 == 0 || checkBudget) && threadCpuSeconds() - started > budgetSeconds) {
      throw Pcre2LimitError("regular expression \"" + m_pattern + "\" gave up on a text of " +
                            std::to_string(text.size()) + " bytes at byte " + std::to_string(start) +
                            ": more than " + std::to_string(budgetSeconds) +
                            " s of CPU time (it backtracks excessively; simplify the pattern)");
    }
    checkBudget = false;
    const std::size_t windowEnd = text.size() - start > kWindowBytes ? start + kWindowBytes : text.size();
    pcre2_set_offset_limit(s.context, windowEnd);
    // The caller guarantees valid UTF-8 (checked once per encode), so PCRE2 need not re-check.
    const int rc =
        m_jit ? pcre2_jit_match(m_code.get(), subject, text.size(), start, PCRE2_NO_UTF_CHECK, s.data,
                                s.context)
              : pcre2_match(m_code.get(), subject, text.size(), start, PCRE2_NO_UTF_CHECK, s.data, s.context);
    if (rc == PCRE2_ERROR_NOMATCH) {
      if (windowEnd >= text.size()) break;
      start = nextCharacter(windowEnd + 1);
      checkBudget = true; // a window without a match may have been expensive
      continue;
    }
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT ||
        rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      throw Pcre2LimitError("regular expression \"" + m_pattern + "\" gave up on a text of " +
                            std::to_string(text.size()) + " bytes near byte " + std::to_string(start) + ": " +
                            limitReason(rc, m_limits) + "; it backtracks catastrophically (nested repeats "
                            "such as (a+)+), simplify the pattern");
    }
    if (rc < 0) {
      throw std::runtime_error("regular expression \"" + m_pattern + "\" failed: " + pcre2Message(rc));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(s.data);
    const std::size_t begin = ovector[0];
    const std::size_t end = ovector[1];
    if (end > begin) {
      matches.emplace_back(begin, end);
      start = end;
    } else {
      // Empty match: step over one whole character.
      if (begin >= text.size()) break;
      start = nextCharacter(begin + 1);
    }
  }
  return matches;
}

std::string Pcre2Regex::quote(std::string_view literal) {
  // \Q...\E would break on a literal containing "\E"; escaping each ASCII non-alphanumeric
  // character is always safe in PCRE2.
  std::string out;
  out.reserve(literal.size() * 2);
  for (const char c : literal) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain =
        u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
    if (!plain) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

} // namespace lorafa
