#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lorafa {

using TokenId = std::int64_t;

/// A Hugging Face tokenizer (tokenizer.json, plus tokenizer_config.json beside it when present):
/// byte-level BPE (GPT-2, Llama 3, Qwen2/3), SentencePiece-style BPE with byte fallback
/// (Llama 2, Mistral) and WordPiece (BERT). Ids equal those of the reference implementation.
/// Thread-safe for concurrent encode/decode.
class Tokenizer {
public:
  virtual ~Tokenizer() = default;

  /// Loads `path` (a tokenizer.json, or a directory holding one). Throws FormatError naming the
  /// file and the problem.
  static std::shared_ptr<Tokenizer> load(const std::string& path);

  /// Text → ids. With addSpecialTokens, the post-processor's tokens (BOS/CLS/SEP...) are added.
  virtual std::vector<TokenId> encode(std::string_view text, bool addSpecialTokens = true) const = 0;
  /// Ids → text, through the decoder chain.
  virtual std::string decode(const std::vector<TokenId>& ids, bool skipSpecialTokens = false) const = 0;

  virtual std::int64_t vocabSize() const = 0; ///< including added tokens
  virtual std::optional<TokenId> tokenToId(std::string_view token) const = 0;
  virtual std::optional<std::string> idToToken(TokenId id) const = 0;
  virtual bool isSpecial(TokenId id) const = 0;

  /// From tokenizer_config.json (bos_token, eos_token, pad_token, unk_token), when given.
  virtual std::optional<TokenId> bosId() const = 0;
  virtual std::optional<TokenId> eosId() const = 0;
  virtual std::optional<TokenId> padId() const = 0;
  virtual std::optional<TokenId> unkId() const = 0;
  /// tokenizer_config.json's "chat_template" (a Jinja string), empty when absent.
  virtual std::string chatTemplateSource() const = 0;
};

} // namespace lorafa
