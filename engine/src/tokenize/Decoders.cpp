// Decoders of tokenizer.json: tokens back to text. Each works on the list of token strings and
// hands a list on, as the reference's decode_chain does; the results are joined at the end.
#include "tokenize/Components.h"
#include "tokenize/ByteLevelAlphabet.h"
#include "tokenize/Unicode.h"

namespace lorafa {
namespace {

using Tokens = std::vector<std::string>;

class SequenceDecoder : public Decoder {
public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : m_parts(std::move(parts)) {}
  Tokens decodeChain(Tokens tokens) const override {
    for (const auto& part : m_parts)
      tokens = part->decodeChain(std::move(tokens));
    return tokens;
  }

private:
  std::vector<std::unique_ptr<Decoder>> m_parts;
};

// Characters back to bytes (a token with a character outside the alphabet, such as an added
// token, contributes its own UTF-8 bytes), then bytes to text, invalid UTF-8 becoming U+FFFD.
class ByteLevelDecoder : public Decoder {
public:
  Tokens decodeChain(Tokens tokens) const override {
    const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::instance();
    std::string bytes;
    for (const std::string& token : tokens) {
      if (!alphabet.decode(token, bytes)) bytes.append(token);
    }
    return {unicode::fromUtf8Lossy(bytes)};
  }
};

class ReplaceDecoder : public Decoder {
public:
  ReplaceDecoder(TextPattern pattern, std::string content)
      : m_pattern(std::move(pattern)), m_content(std::move(content)) {}
  Tokens decodeChain(Tokens tokens) const override {
    for (std::string& token : tokens)
      token = m_pattern.replaceAll(token, m_content);
    return tokens;
  }

private:
  TextPattern m_pattern;
  std::string m_content;
};

// Runs of <0xNN> tokens become the text they encode; a run that is not valid UTF-8 becomes one
// U+FFFD per byte.
class ByteFallbackDecoder : public Decoder {
public:
  Tokens decodeChain(Tokens tokens) const override {
    Tokens out;
    out.reserve(tokens.size());
    std::string pending;
    const auto flush = [&] {
      if (pending.empty()) return;
      if (unicode::isValidUtf8(pending)) {
        out.push_back(pending);
      } else {
        for (std::size_t i = 0; i < pending.size(); ++i)
          out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (std::string& token : tokens) {
      int byte = -1;
      if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>')
        byte = hexByte(token[3], token[4]);
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    return out;
  }

private:
  static int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static int hexByte(char high, char low) {
    const int h = hexDigit(high);
    const int l = hexDigit(low);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
  }
};

class FuseDecoder : public Decoder {
public:
  Tokens decodeChain(Tokens tokens) const override {
    std::string joined;
    for (const std::string& token : tokens)
      joined.append(token);
    return {joined};
  }
};

// Removes up to `start` leading and `stop` trailing occurrences of one character per token.
class StripDecoder : public Decoder {
public:
  StripDecoder(std::string content, std::size_t start, std::size_t stop)
      : m_content(std::move(content)), m_start(start), m_stop(stop) {}
  Tokens decodeChain(Tokens tokens) const override {
    for (std::string& token : tokens) {
      std::size_t begin = 0;
      for (std::size_t i = 0; i < m_start && token.compare(begin, m_content.size(), m_content) == 0; ++i) {
        begin += m_content.size();
      }
      std::size_t end = token.size();
      for (std::size_t i = 0; i < m_stop && end >= begin + m_content.size() &&
                              token.compare(end - m_content.size(), m_content.size(), m_content) == 0;
           ++i) {
        end -= m_content.size();
      }
      token = token.substr(begin, end - begin);
    }
    return tokens;
  }

private:
  std::string m_content;
  std::size_t m_start;
  std::size_t m_stop;
};

// "▁" back to spaces; in the first token (unless prepend_scheme is "never") every "▁" is
// dropped, not only a leading one: that is what the reference does.
class MetaspaceDecoder : public Decoder {
public:
  MetaspaceDecoder(std::string replacement, bool dropInFirst)
      : m_replacement(std::move(replacement)), m_dropInFirst(dropInFirst) {}
  Tokens decodeChain(Tokens tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const bool drop = i == 0 && m_dropInFirst;
      std::string out;
      const std::string& token = tokens[i];
      std::size_t pos = 0;
      while (pos < token.size()) {
        if (token.compare(pos, m_replacement.size(), m_replacement) == 0) {
          if (!drop) out.push_back(' ');
          pos += m_replacement.size();
        } else {
          out.push_back(token[pos++]);
        }
      }
      tokens[i] = std::move(out);
    }
    return tokens;
  }

private:
  std::string m_replacement;
  bool m_dropInFirst;
};

// "##ing" joins the previous token; other tokens get a space before them.
class WordPieceDecoder : public Decoder {
public:
  WordPieceDecoder(std::string prefix, bool cleanup) : m_prefix(std::move(prefix)), m_cleanup(cleanup) {}
  Tokens decodeChain(Tokens tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& token = tokens[i];
      if (i != 0) {
        if (token.compare(0, m_prefix.size(), m_prefix) == 0) {
          token.erase(0, m_prefix.size());
        } else {
          token.insert(0, " ");
        }
      }
      if (m_cleanup) token = cleanup(token);
    }
    return tokens;
  }

  // The reference's clean_up_tokenization: spaces before punctuation and contractions go.
  static std::string cleanup(const std::string& text) {
    static const std::pair<const char*, const char*> kRules[] = {
        {" .", "."},   {" ?", "?"},           {" !", "!"},   {" ,", ","},     {" ' ", "'"},   {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    std::string out = text;
    for (const auto& [from, to] : kRules) {
      const std::string pattern(from);
      std::string replaced;
      std::size_t last = 0;
      std::size_t pos = 0;
      while ((pos = out.find(pattern, last)) != std::string::npos) {
        replaced.append(out, last, pos - last);
        replaced.append(to);
        last = pos + pattern.size();
      }
      replaced.append(out, last, std::string::npos);
      out.swap(replaced);
    }
    return out;
  }

private:
  std::string m_prefix;
  bool m_cleanup;
};

// Classic BPE with an end-of-word suffix ("</w>"): the suffix becomes a space, except at the end.
class BpeSuffixDecoder : public Decoder {
public:
  explicit BpeSuffixDecoder(std::string suffix) : m_suffix(std::move(suffix)) {}
  Tokens decodeChain(Tokens tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& token = tokens[i];
      const std::string replacement = i + 1 == tokens.size() ? "" : " ";
      std::size_t pos = 0;
      while (!m_suffix.empty() && (pos = token.find(m_suffix, pos)) != std::string::npos) {
        token.replace(pos, m_suffix.size(), replacement);
        pos += replacement.size();
      }
    }
    return tokens;
  }

private:
  std::string m_suffix;
};

} // namespace

std::unique_ptr<Decoder> makeDecoder(const TokenizerJson& json) {
  if (json.json().is_null()) return nullptr;
  const std::string type = json.type();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> parts;
    const auto& items = json.array("decoders");
    const TokenizerJson list = json.child("decoders");
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (auto part = makeDecoder(list.element(items[i], i))) parts.push_back(std::move(part));
    }
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Replace")
    return std::make_unique<ReplaceDecoder>(TextPattern(json, "pattern"), json.string("content"));
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    const std::string content = json.string("content", " ");
    if (unicode::countCodePoints(content) != 1) json.failAt("content", "must be exactly one character");
    const std::int64_t start = json.integer("start", 0);
    const std::int64_t stop = json.integer("stop", 0);
    if (start < 0 || stop < 0) json.fail("\"start\" and \"stop\" must not be negative");
    return std::make_unique<StripDecoder>(content, static_cast<std::size_t>(start),
                                          static_cast<std::size_t>(stop));
  }
  if (type == "Metaspace") {
    bool strip = json.boolean("add_prefix_space", true);
    if (json.has("prepend_scheme")) strip = json.string("prepend_scheme") != "never";
    return std::make_unique<MetaspaceDecoder>(json.string("replacement", "\xE2\x96\x81"), strip);
  }
  if (type == "WordPiece") {
    return std::make_unique<WordPieceDecoder>(json.string("prefix", "##"), json.boolean("cleanup", true));
  }
  if (type == "BPEDecoder") return std::make_unique<BpeSuffixDecoder>(json.string("suffix", "</w>"));
  json.unsupportedType("decoder");
}

} // namespace lorafa
