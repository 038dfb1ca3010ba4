#pragma once

#include "lorafa/Tokenizer.h"
#include "tokenize/Pcre2Regex.h"
#include "tokenize/TokenizerJson.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

// The stages of a Hugging Face tokenizer pipeline, as tokenizer.json describes them:
//   added tokens split out → normalizer → pre-tokenizer → model → post-processor;
//   ids → tokens → decoder.
// Each stage is an interface with small implementations built by a factory from the JSON.
// Offsets are not tracked: the engine needs ids and text, not alignments.
namespace lorafa {

/// A piece of text on its way to the model. `atStart` is true when the piece begins at the very
/// start of the input (Metaspace's prepend_scheme "first" needs to know).
struct TextSplit {
  std::string text;
  bool atStart = false;
};
using TextSplits = std::vector<TextSplit>;

class Normalizer {
public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
  /// normalize(), also updating `originChars`: how many characters at the start of the text the
  /// reference aligns with the start of the input (0 when leading characters were removed, or
  /// when several were replaced by one). Metaspace's prepend_scheme "first" prepends only there.
  /// By default the count is left alone (replacing characters one by one keeps it).
  virtual void normalizeTracked(std::string& text, std::size_t& originChars) const {
    (void)originChars;
    normalize(text);
  }
};

class PreTokenizer {
public:
  virtual ~PreTokenizer() = default;
  /// Replaces `splits` by their finer splits; empty pieces are dropped.
  virtual void preTokenize(TextSplits& splits) const = 0;
};

/// The vocabulary model (BPE, WordPiece, WordLevel).
class TokenModel {
public:
  virtual ~TokenModel() = default;
  /// Appends the ids of one pre-tokenized word.
  virtual void tokenize(std::string_view word, std::vector<TokenId>& ids) const = 0;
  virtual std::optional<TokenId> tokenToId(std::string_view token) const = 0;
  /// nullptr when the id is not in the vocabulary.
  virtual const std::string* idToToken(TokenId id) const = 0;
  virtual TokenId endId() const = 0;              ///< one past the largest id
  virtual std::size_t vocabularySize() const = 0; ///< number of entries
  virtual std::optional<TokenId> unkId() const = 0;
};

class PostProcessor {
public:
  virtual ~PostProcessor() = default;
  /// Adds the special tokens around one sequence (only called when they are wanted).
  virtual void process(std::vector<TokenId>& ids) const = 0;
};

class Decoder {
public:
  virtual ~Decoder() = default;
  virtual std::vector<std::string> decodeChain(std::vector<std::string> tokens) const = 0;
};

// Factories: `json` is the component's object; they throw FormatError naming the file, the
// place in it and the unsupported type or malformed field. A null JSON value gives nullptr.
std::unique_ptr<Normalizer> makeNormalizer(const TokenizerJson& json);
std::unique_ptr<PreTokenizer> makePreTokenizer(const TokenizerJson& json);
std::unique_ptr<TokenModel> makeModel(const TokenizerJson& json);
std::unique_ptr<Decoder> makeDecoder(const TokenizerJson& json);
std::unique_ptr<PostProcessor> makePostProcessor(const TokenizerJson& json);

/// A pattern given as {"String": "..."} (a literal) or {"Regex": "..."} (Split, Replace).
class TextPattern {
public:
  TextPattern(const TokenizerJson& json, const char* key);
  /// Byte ranges of the successive non-overlapping, non-empty matches.
  std::vector<std::pair<std::size_t, std::size_t>> findAll(std::string_view text) const;
  std::string replaceAll(std::string_view text, std::string_view content) const;

private:
  std::string m_literal;
  std::shared_ptr<const Pcre2Regex> m_regex; // null for a literal
};

} // namespace lorafa
