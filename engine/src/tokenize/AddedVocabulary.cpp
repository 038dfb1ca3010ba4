#include "tokenize/AddedVocabulary.h"

#include "tokenize/Unicode.h"

#include <algorithm>
#include <unicode/uchar.h>

namespace lorafa {
namespace {

// Rust regex's Unicode \w: Alphabetic, marks, decimal digits, connector punctuation, joiners.
bool isWordCharacter(char32_t c) {
  const auto mask = U_GET_GC_MASK(static_cast<UChar32>(c));
  return unicode::isAlphabetic(c) || (mask & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0 ||
         c == 0x200C || c == 0x200D;
}

char32_t lastCodePoint(std::string_view text) {
  std::size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
    --start;
  return unicode::nextCodePoint(text, start);
}

} // namespace

void AddedVocabulary::Matcher::add(std::string pattern, std::size_t token) {
  if (pattern.empty()) return;
  byFirstByte[static_cast<unsigned char>(pattern[0])].push_back(patterns.size());
  patterns.push_back(std::move(pattern));
  tokenIndex.push_back(token);
}

void AddedVocabulary::Matcher::finish() {
  for (auto& list : byFirstByte) {
    std::stable_sort(list.begin(), list.end(),
                     [&](std::size_t a, std::size_t b) { return patterns[a].size() > patterns[b].size(); });
  }
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer)
    : m_tokens(std::move(tokens)) {
  for (std::size_t i = 0; i < m_tokens.size(); ++i) {
    const AddedToken& t = m_tokens[i];
    m_ids[t.content] = t.id;
    m_byId[t.id] = i;
    if (t.special) {
      m_specialIds.insert(t.id);
      m_specialContents.insert(t.content);
    }
    if (t.normalized) {
      std::string pattern = t.content;
      if (normalizer != nullptr) normalizer->normalize(pattern);
      m_normalized.add(std::move(pattern), i);
    } else {
      m_raw.add(t.content, i);
    }
  }
  m_raw.finish();
  m_normalized.finish();
}

void AddedVocabulary::split(std::string_view text, Stage stage, std::vector<Piece>& pieces) const {
  const Matcher& matcher = stage == Stage::Raw ? m_raw : m_normalized;
  if (matcher.empty()) {
    if (!text.empty()) pieces.push_back({text, std::nullopt, 0});
    return;
  }
  std::size_t pieceStart = 0; // start of the text not yet emitted
  std::size_t pos = 0;
  while (pos < text.size()) {
    // The longest pattern that matches at pos, if any.
    const auto& candidates = matcher.byFirstByte[static_cast<unsigned char>(text[pos])];
    std::size_t found = matcher.patterns.size();
    for (const std::size_t p : candidates) {
      const std::string& pattern = matcher.patterns[p];
      if (text.compare(pos, pattern.size(), pattern) == 0) {
        found = p;
        break;
      }
    }
    if (found == matcher.patterns.size()) {
      ++pos;
      continue;
    }
    const AddedToken& token = m_tokens[matcher.tokenIndex[found]];
    std::size_t start = pos;
    std::size_t stop = pos + matcher.patterns[found].size();
    pos = stop; // matches never overlap, even when this one is rejected below
    if (token.singleWord) {
      const bool wordBefore = start > 0 && isWordCharacter(lastCodePoint(text.substr(0, start)));
      std::size_t probe = stop;
      const bool wordAfter = stop < text.size() && isWordCharacter(unicode::nextCodePoint(text, probe));
      if (wordBefore || wordAfter) continue;
    }
    if (token.lstrip) {
      std::size_t newStart = start;
      while (newStart > 0) {
        const std::string_view before = text.substr(0, newStart);
        const char32_t c = lastCodePoint(before);
        if (!unicode::isWhitespace(c)) break;
        newStart -= unicode::toUtf8(c).size();
      }
      start = std::max(newStart, pieceStart);
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        std::size_t next = stop;
        if (!unicode::isWhitespace(unicode::nextCodePoint(text, next))) break;
        stop = next;
      }
      pos = stop;
    }
    if (pieceStart < start)
      pieces.push_back({text.substr(pieceStart, start - pieceStart), std::nullopt, pieceStart});
    pieces.push_back({text.substr(start, stop - start), token.id, start});
    pieceStart = stop;
  }
  if (pieceStart < text.size()) pieces.push_back({text.substr(pieceStart), std::nullopt, pieceStart});
}

std::optional<TokenId> AddedVocabulary::find(std::string_view content) const {
  const auto it = m_ids.find(std::string(content));
  return it == m_ids.end() ? std::nullopt : std::optional<TokenId>(it->second);
}

const std::string* AddedVocabulary::token(TokenId id) const {
  const auto it = m_byId.find(id);
  return it == m_byId.end() ? nullptr : &m_tokens[it->second].content;
}

bool AddedVocabulary::isSpecialContent(std::string_view content) const {
  return m_specialContents.count(std::string(content)) > 0;
}

std::optional<TokenId> AddedVocabulary::maxId() const {
  std::optional<TokenId> result;
  for (const AddedToken& t : m_tokens)
    result = std::max(result.value_or(t.id), t.id);
  return result;
}

} // namespace lorafa
