// Normalizers of tokenizer.json: the text transformations applied before pre-tokenization.
// Small classes, one per "type", kept together because each is a few lines.
#include "tokenize/Components.h"
#include "tokenize/ByteLevelAlphabet.h"
#include "tokenize/PrecompiledCharsmap.h"
#include "tokenize/Unicode.h"

namespace lorafa {
namespace {

using namespace unicode;

class SequenceNormalizer : public Normalizer {
public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : m_parts(std::move(parts)) {}
  void normalize(std::string& text) const override {
    for (const auto& part : m_parts)
      part->normalize(text);
  }
  void normalizeTracked(std::string& text, std::size_t& originChars) const override {
    for (const auto& part : m_parts)
      part->normalizeTracked(text, originChars);
  }

private:
  std::vector<std::unique_ptr<Normalizer>> m_parts;
};

class UnicodeNormalizer : public Normalizer {
public:
  explicit UnicodeNormalizer(NormalForm form) : m_form(form) {}
  void normalize(std::string& text) const override { text = unicode::normalize(text, m_form); }

private:
  NormalForm m_form;
};

class LowercaseNormalizer : public Normalizer {
public:
  void normalize(std::string& text) const override { text = lowercase(text); }
};

class StripNormalizer : public Normalizer {
public:
  StripNormalizer(bool left, bool right) : m_left(left), m_right(right) {}
  void normalize(std::string& text) const override { strip(text); }
  void normalizeTracked(std::string& text, std::size_t& originChars) const override {
    // The characters left after the removed ones keep their own places in the input.
    const std::size_t removed = strip(text);
    originChars = originChars > removed ? originChars - removed : 0;
  }

private:
  /// Returns how many characters were removed at the start.
  std::size_t strip(std::string& text) const {
    std::size_t removedLeft = 0;
    std::size_t begin = 0;
    std::size_t end = text.size();
    if (m_left) {
      while (begin < end) {
        std::size_t next = begin;
        if (!isWhitespace(nextCodePoint(text, next))) break;
        begin = next;
        ++removedLeft;
      }
    }
    if (m_right) {
      while (end > begin) {
        std::size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
          --start;
        std::size_t probe = start;
        if (!isWhitespace(nextCodePoint(text, probe))) break;
        end = start;
      }
    }
    text = text.substr(begin, end - begin);
    return removedLeft;
  }

  bool m_left;
  bool m_right;
};

// Removes the characters for which `isAccent` holds (meant to follow NFD/NFKD). Of the first
// `originChars` characters, those that stay keep their places in the input.
void removeMarks(std::string& text, bool (*isAccent)(char32_t), std::size_t* originChars = nullptr) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  std::size_t index = 0;
  std::size_t kept = 0;
  while (pos < text.size()) {
    const std::size_t start = pos;
    const char32_t c = nextCodePoint(text, pos);
    if (!isAccent(c)) {
      out.append(text, start, pos - start);
      if (originChars != nullptr && index < *originChars) ++kept;
    }
    ++index;
  }
  text.swap(out);
  if (originChars != nullptr) *originChars = kept;
}

// StripAccents removes every combining mark (Mn, Mc, Me); BertNormalizer only nonspacing ones.
class StripAccentsNormalizer : public Normalizer {
public:
  void normalize(std::string& text) const override { removeMarks(text, isCombiningMark); }
  void normalizeTracked(std::string& text, std::size_t& originChars) const override {
    removeMarks(text, isCombiningMark, &originChars);
  }
};

class ReplaceNormalizer : public Normalizer {
public:
  ReplaceNormalizer(TextPattern pattern, std::string content)
      : m_pattern(std::move(pattern)), m_content(std::move(content)) {}
  void normalize(std::string& text) const override { text = m_pattern.replaceAll(text, m_content); }
  void normalizeTracked(std::string& text, std::size_t& originChars) const override {
    originChars = originAfterReplace(text, originChars);
    normalize(text);
  }

private:
  // The reference places the replacement's characters where the last replaced character was: a
  // replacement keeps the start only when it replaced a single character there.
  std::size_t originAfterReplace(std::string_view text, std::size_t originChars) const {
    if (originChars == 0) return 0;
    const std::size_t contentChars = countCodePoints(m_content);
    std::size_t count = 0;
    std::size_t index = 0; // of the next character of `text`
    std::size_t pos = 0;
    const auto keepUntil = [&](std::size_t end) { // unchanged characters up to byte `end`
      for (; pos < end; ++index) {
        if (index >= originChars) return false;
        ++count;
        nextCodePoint(text, pos);
      }
      return true;
    };
    for (const auto& [begin, end] : m_pattern.findAll(text)) {
      if (!keepUntil(begin)) return count;
      index += countCodePoints(text.substr(begin, end - begin));
      pos = end;
      if (contentChars > 0) {
        if (index - 1 >= originChars) return count;
        count += contentChars;
      }
    }
    keepUntil(text.size());
    return count;
  }

  TextPattern m_pattern;
  std::string m_content;
};

class PrependNormalizer : public Normalizer {
public:
  explicit PrependNormalizer(std::string prefix) : m_prefix(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, m_prefix);
  }
  void normalizeTracked(std::string& text, std::size_t& originChars) const override {
    // The prefix takes the place of the first character.
    if (!text.empty() && originChars > 0) originChars += countCodePoints(m_prefix);
    normalize(text);
  }

private:
  std::string m_prefix;
};

class ByteLevelNormalizer : public Normalizer {
public:
  void normalize(std::string& text) const override { text = ByteLevelAlphabet::instance().encode(text); }
};

// SentencePiece's compiled rules (nmt_nfkc and the like), as T5, ALBERT or XLM-R ship them.
class PrecompiledNormalizer : public Normalizer {
public:
  explicit PrecompiledNormalizer(PrecompiledCharsmap charsmap) : m_charsmap(std::move(charsmap)) {}
  void normalize(std::string& text) const override { text = m_charsmap.normalize(text); }

private:
  PrecompiledCharsmap m_charsmap;
};

PrecompiledCharsmap readCharsmap(const TokenizerJson& json) {
  // The reference refuses an empty charsmap too ("Cannot parse precompiled_charsmap"); converters
  // leave the normalizer out when a model has no rules.
  const std::string encoded = json.string("precompiled_charsmap");
  if (encoded.empty())
    json.failAt("precompiled_charsmap", "is empty (a model without rules has no Precompiled)");
  try {
    return PrecompiledCharsmap(decodeBase64(encoded));
  } catch (const std::invalid_argument& error) {
    json.failAt("precompiled_charsmap", error.what());
  }
}

// BERT's normalizer: clean control characters, space out CJK ideographs, strip accents, lowercase.
class BertNormalizer : public Normalizer {
public:
  BertNormalizer(bool cleanText, bool chineseChars, bool stripAccents, bool lowercase)
      : m_cleanText(cleanText), m_chineseChars(chineseChars), m_stripAccents(stripAccents),
        m_lowercase(lowercase) {}

  void normalize(std::string& text) const override {
    if (m_cleanText || m_chineseChars) {
      std::string out;
      out.reserve(text.size() + 8);
      std::size_t pos = 0;
      while (pos < text.size()) {
        const std::size_t start = pos;
        const char32_t c = nextCodePoint(text, pos);
        if (m_cleanText) {
          // Controls go first, so a character that is both (U+0085) is removed, not spaced.
          const bool control = c != '\t' && c != '\n' && c != '\r' && isOther(c);
          if (c == 0 || c == 0xFFFD || control) continue;
          if (c == '\t' || c == '\n' || c == '\r' || isWhitespace(c)) {
            out.push_back(' ');
            continue;
          }
        }
        if (m_chineseChars && isCjk(c)) {
          out.push_back(' ');
          out.append(text, start, pos - start);
          out.push_back(' ');
        } else {
          out.append(text, start, pos - start);
        }
      }
      text.swap(out);
    }
    if (m_stripAccents) {
      text = unicode::normalize(text, NormalForm::Nfd);
      removeMarks(text, isNonspacingMark);
    }
    if (m_lowercase) text = lowercase(text);
  }

private:
  bool m_cleanText;
  bool m_chineseChars;
  bool m_stripAccents;
  bool m_lowercase;
};

} // namespace

std::unique_ptr<Normalizer> makeNormalizer(const TokenizerJson& json) {
  if (json.json().is_null()) return nullptr;
  const std::string type = json.type();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    const auto& items = json.array("normalizers");
    const TokenizerJson list = json.child("normalizers");
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (auto part = makeNormalizer(list.element(items[i], i))) parts.push_back(std::move(part));
    }
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalForm::Nfc);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalForm::Nfd);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalForm::Nfkc);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalForm::Nfkd);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(json.boolean("strip_left", true),
                                             json.boolean("strip_right", true));
  }
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "Replace")
    return std::make_unique<ReplaceNormalizer>(TextPattern(json, "pattern"), json.string("content"));
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(json.string("prepend"));
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "Precompiled") return std::make_unique<PrecompiledNormalizer>(readCharsmap(json));
  if (type == "BertNormalizer") {
    const bool lowercase = json.boolean("lowercase", true);
    bool stripAccents = lowercase; // null means "follow lowercase"
    if (json.has("strip_accents")) stripAccents = json.boolean("strip_accents", lowercase);
    return std::make_unique<BertNormalizer>(json.boolean("clean_text", true),
                                            json.boolean("handle_chinese_chars", true), stripAccents,
                                            lowercase);
  }
  json.unsupportedType("normalizer");
}

} // namespace lorafa
