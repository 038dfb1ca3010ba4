#include "tokenize/Components.h"

#include <stdexcept>

namespace lorafa {

TextPattern::TextPattern(const TokenizerJson& json, const char* key) {
  const TokenizerJson pattern = json.child(key);
  if (pattern.has("String")) {
    m_literal = pattern.string("String");
    if (m_literal.empty()) pattern.failAt("String", "the pattern must not be empty");
  } else if (pattern.has("Regex")) {
    try {
      m_regex = std::make_shared<const Pcre2Regex>(pattern.string("Regex"));
    } catch (const std::invalid_argument& error) {
      pattern.failAt("Regex", error.what());
    }
  } else {
    pattern.fail("expected {\"String\": ...} or {\"Regex\": ...}");
  }
}

std::vector<std::pair<std::size_t, std::size_t>> TextPattern::findAll(std::string_view text) const {
  if (m_regex) return m_regex->findAll(text);
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  std::size_t pos = 0;
  while ((pos = text.find(m_literal, pos)) != std::string_view::npos) {
    matches.emplace_back(pos, pos + m_literal.size());
    pos += m_literal.size();
  }
  return matches;
}

std::string TextPattern::replaceAll(std::string_view text, std::string_view content) const {
  std::string out;
  out.reserve(text.size());
  std::size_t last = 0;
  for (const auto& [begin, end] : findAll(text)) {
    out.append(text.substr(last, begin - last));
    out.append(content);
    last = end;
  }
  out.append(text.substr(last));
  return out;
}

} // namespace lorafa
