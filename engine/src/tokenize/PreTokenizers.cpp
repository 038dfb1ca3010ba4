// Pre-tokenizers of tokenizer.json: they cut normalized text into the words the model sees.
#include "tokenize/Components.h"
#include "tokenize/ByteLevelAlphabet.h"
#include "tokenize/Unicode.h"

#include <functional>

namespace lorafa {
namespace {

using Range = std::pair<std::size_t, std::size_t>;

// What happens to the matched parts when a split cuts text (the reference's
// SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

SplitBehavior parseBehavior(const TokenizerJson& json, const char* key, SplitBehavior fallback) {
  if (!json.has(key)) return fallback;
  const std::string name = json.string(key);
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous") return SplitBehavior::Contiguous;
  json.failAt(key, "unsupported split behavior \"" + name + "\"");
}

// Cuts `in` at `matches` (sorted, non-overlapping byte ranges) and appends the non-empty pieces.
void splitAt(const TextSplit& in, const std::vector<Range>& matches, SplitBehavior behavior, bool invert,
             TextSplits& out) {
  struct Segment {
    std::size_t begin;
    std::size_t end;
    bool isMatch;
  };
  std::vector<Segment> segments;
  segments.reserve(matches.size() * 2 + 1);
  std::size_t last = 0;
  for (const auto& [begin, end] : matches) {
    if (last < begin) segments.push_back({last, begin, invert});
    segments.push_back({begin, end, !invert});
    last = end;
  }
  if (last < in.text.size()) segments.push_back({last, in.text.size(), invert});

  // (range, removed)
  std::vector<std::pair<Range, bool>> pieces;
  pieces.reserve(segments.size());
  switch (behavior) {
  case SplitBehavior::Isolated:
    for (const Segment& s : segments)
      pieces.push_back({{s.begin, s.end}, false});
    break;
  case SplitBehavior::Removed:
    for (const Segment& s : segments)
      pieces.push_back({{s.begin, s.end}, s.isMatch});
    break;
  case SplitBehavior::Contiguous: {
    bool previousMatch = false;
    for (const Segment& s : segments) {
      if (s.isMatch == previousMatch && !pieces.empty()) {
        pieces.back().first.second = s.end;
      } else {
        pieces.push_back({{s.begin, s.end}, false});
      }
      previousMatch = s.isMatch;
    }
    break;
  }
  case SplitBehavior::MergedWithPrevious: {
    bool previousMatch = false;
    for (const Segment& s : segments) {
      if (s.isMatch && !previousMatch && !pieces.empty()) {
        pieces.back().first.second = s.end;
      } else {
        pieces.push_back({{s.begin, s.end}, false});
      }
      previousMatch = s.isMatch;
    }
    break;
  }
  case SplitBehavior::MergedWithNext: {
    bool previousMatch = false;
    for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
      if (it->isMatch && !previousMatch && !pieces.empty()) {
        pieces.back().first.first = it->begin;
      } else {
        pieces.push_back({{it->begin, it->end}, false});
      }
      previousMatch = it->isMatch;
    }
    std::reverse(pieces.begin(), pieces.end());
    break;
  }
  }
  for (const auto& [range, removed] : pieces) {
    if (removed || range.second <= range.first) continue;
    out.push_back({in.text.substr(range.first, range.second - range.first), in.atStart && range.first == 0});
  }
}

// Every character for which `predicate` holds is one match.
std::vector<Range> characterMatches(const std::string& text, const std::function<bool(char32_t)>& predicate) {
  std::vector<Range> matches;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t start = pos;
    if (predicate(unicode::nextCodePoint(text, pos))) matches.emplace_back(start, pos);
  }
  return matches;
}

// Applies `cut` to each split, replacing `splits` by the results.
template <typename Cut> void resplit(TextSplits& splits, Cut cut) {
  TextSplits out;
  out.reserve(splits.size() * 2);
  for (const TextSplit& s : splits)
    cut(s, out);
  splits.swap(out);
}

class SequencePreTokenizer : public PreTokenizer {
public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : m_parts(std::move(parts)) {}
  void preTokenize(TextSplits& splits) const override {
    for (const auto& part : m_parts)
      part->preTokenize(splits);
  }

private:
  std::vector<std::unique_ptr<PreTokenizer>> m_parts;
};

class SplitPreTokenizer : public PreTokenizer {
public:
  SplitPreTokenizer(TextPattern pattern, SplitBehavior behavior, bool invert)
      : m_pattern(std::move(pattern)), m_behavior(behavior), m_invert(invert) {}
  void preTokenize(TextSplits& splits) const override {
    resplit(splits, [&](const TextSplit& s, TextSplits& out) {
      splitAt(s, m_pattern.findAll(s.text), m_behavior, m_invert, out);
    });
  }

private:
  TextPattern m_pattern;
  SplitBehavior m_behavior;
  bool m_invert;
};

// GPT-2's word pattern, built into the ByteLevel pre-tokenizer (use_regex).
const Pcre2Regex& gpt2Regex() {
  static const Pcre2Regex regex(
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)");
  return regex;
}

class ByteLevelPreTokenizer : public PreTokenizer {
public:
  ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex)
      : m_addPrefixSpace(addPrefixSpace), m_useRegex(useRegex) {}
  void preTokenize(TextSplits& splits) const override {
    const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::instance();
    resplit(splits, [&](const TextSplit& s, TextSplits& out) {
      TextSplit source = s;
      if (m_addPrefixSpace && (source.text.empty() || source.text[0] != ' ')) source.text.insert(0, " ");
      const std::size_t first = out.size();
      if (m_useRegex) {
        splitAt(source, gpt2Regex().findAll(source.text), SplitBehavior::Isolated, false, out);
      } else if (!source.text.empty()) {
        out.push_back(std::move(source));
      }
      for (std::size_t i = first; i < out.size(); ++i)
        out[i].text = alphabet.encode(out[i].text);
    });
  }

private:
  bool m_addPrefixSpace;
  bool m_useRegex;
};

enum class PrependScheme { Always, First, Never };

class MetaspacePreTokenizer : public PreTokenizer {
public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : m_replacement(std::move(replacement)), m_scheme(scheme), m_split(split) {}
  void preTokenize(TextSplits& splits) const override {
    resplit(splits, [&](const TextSplit& s, TextSplits& out) {
      TextSplit replaced{std::string(), s.atStart};
      replaced.text.reserve(s.text.size() + m_replacement.size());
      for (const char c : s.text) {
        if (c == ' ') {
          replaced.text.append(m_replacement);
        } else {
          replaced.text.push_back(c);
        }
      }
      const bool startsWithReplacement = replaced.text.compare(0, m_replacement.size(), m_replacement) == 0;
      if (!startsWithReplacement &&
          (m_scheme == PrependScheme::Always || (m_scheme == PrependScheme::First && s.atStart))) {
        replaced.text.insert(0, m_replacement);
      }
      if (!m_split) {
        if (!replaced.text.empty()) out.push_back(std::move(replaced));
        return;
      }
      std::vector<Range> matches;
      std::size_t pos = 0;
      while ((pos = replaced.text.find(m_replacement, pos)) != std::string::npos) {
        matches.emplace_back(pos, pos + m_replacement.size());
        pos += m_replacement.size();
      }
      splitAt(replaced, matches, SplitBehavior::MergedWithNext, false, out);
    });
  }

private:
  std::string m_replacement;
  PrependScheme m_scheme;
  bool m_split;
};

// Splits on characters of one class.
class CharacterClassPreTokenizer : public PreTokenizer {
public:
  CharacterClassPreTokenizer(std::function<bool(char32_t)> predicate, SplitBehavior behavior)
      : m_predicate(std::move(predicate)), m_behavior(behavior) {}
  void preTokenize(TextSplits& splits) const override {
    resplit(splits, [&](const TextSplit& s, TextSplits& out) {
      splitAt(s, characterMatches(s.text, m_predicate), m_behavior, false, out);
    });
  }

private:
  std::function<bool(char32_t)> m_predicate;
  SplitBehavior m_behavior;
};

class WhitespacePreTokenizer : public PreTokenizer {
public:
  void preTokenize(TextSplits& splits) const override {
    // `\w+|[^\w\s]+` with Rust's Unicode \w and \s; the matches are kept, the rest removed.
    static const Pcre2Regex regex(R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}]+|)"
                                  R"([^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}\p{White_Space}]+)");
    resplit(splits, [&](const TextSplit& s, TextSplits& out) {
      splitAt(s, regex.findAll(s.text), SplitBehavior::Removed, true, out);
    });
  }
};

std::unique_ptr<PreTokenizer> characterClass(bool (*predicate)(char32_t), SplitBehavior behavior) {
  return std::make_unique<CharacterClassPreTokenizer>(predicate, behavior);
}

} // namespace

std::unique_ptr<PreTokenizer> makePreTokenizer(const TokenizerJson& json) {
  if (json.json().is_null()) return nullptr;
  const std::string type = json.type();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    const auto& items = json.array("pretokenizers");
    const TokenizerJson list = json.child("pretokenizers");
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (auto part = makePreTokenizer(list.element(items[i], i))) parts.push_back(std::move(part));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(json.boolean("add_prefix_space", true),
                                                   json.boolean("use_regex", true));
  }
  if (type == "Split") {
    if (!json.has("behavior")) json.failAt("behavior", "missing required field");
    return std::make_unique<SplitPreTokenizer>(TextPattern(json, "pattern"),
                                               parseBehavior(json, "behavior", SplitBehavior::Isolated),
                                               json.boolean("invert", false));
  }
  if (type == "Metaspace") {
    PrependScheme scheme =
        json.boolean("add_prefix_space", true) ? PrependScheme::Always : PrependScheme::Never;
    if (json.has("prepend_scheme")) {
      const std::string name = json.string("prepend_scheme");
      if (name == "always") {
        scheme = PrependScheme::Always;
      } else if (name == "first") {
        scheme = PrependScheme::First;
      } else if (name == "never") {
        scheme = PrependScheme::Never;
      } else {
        json.failAt("prepend_scheme", "expected \"always\", \"first\" or \"never\", found \"" + name + "\"");
      }
    }
    const std::string replacement = json.string("replacement", "\xE2\x96\x81");
    if (unicode::countCodePoints(replacement) != 1)
      json.failAt("replacement", "must be exactly one character");
    return std::make_unique<MetaspacePreTokenizer>(replacement, scheme, json.boolean("split", true));
  }
  if (type == "Digits") {
    return characterClass(unicode::isNumeric, json.boolean("individual_digits", false)
                                                  ? SplitBehavior::Isolated
                                                  : SplitBehavior::Contiguous);
  }
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit") return characterClass(unicode::isWhitespace, SplitBehavior::Removed);
  if (type == "Punctuation") {
    return characterClass(unicode::isBertPunctuation,
                          parseBehavior(json, "behavior", SplitBehavior::Isolated));
  }
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    parts.push_back(characterClass(unicode::isWhitespace, SplitBehavior::Removed));
    parts.push_back(characterClass(unicode::isBertPunctuation, SplitBehavior::Isolated));
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  if (type == "CharDelimiterSplit") {
    const std::string delimiter = json.string("delimiter");
    std::size_t pos = 0;
    if (delimiter.empty() || unicode::countCodePoints(delimiter) != 1) {
      json.failAt("delimiter", "must be exactly one character");
    }
    const char32_t c = unicode::nextCodePoint(delimiter, pos);
    return std::make_unique<CharacterClassPreTokenizer>([c](char32_t x) { return x == c; },
                                                        SplitBehavior::Removed);
  }
  json.unsupportedType("pre-tokenizer");
}

} // namespace lorafa
