#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenize/Pcre2Regex.h"

#include <pcre2.h>

#include <stdexcept>

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

} // namespace

void Pcre2Regex::CodeDeleter::operator()(pcre2_real_code_8* code) const { pcre2_code_free(code); }

Pcre2Regex::Pcre2Regex(const std::string& pattern) : m_pattern(pattern) {
  int errorCode = 0;
  PCRE2_SIZE errorOffset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &errorCode, &errorOffset, nullptr);
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
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t start = 0;
  while (start <= text.size()) {
    // The caller guarantees valid UTF-8 (checked once per encode), so PCRE2 need not re-check.
    const int rc =
        m_jit ? pcre2_jit_match(m_code.get(), subject, text.size(), start, PCRE2_NO_UTF_CHECK, s.data,
                                s.context)
              : pcre2_match(m_code.get(), subject, text.size(), start, PCRE2_NO_UTF_CHECK, s.data, s.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
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
      std::size_t next = begin + 1;
      while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80)
        ++next;
      start = next;
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
