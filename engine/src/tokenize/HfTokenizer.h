#pragma once

#include "lorafa/Tokenizer.h"
#include "tokenize/AddedVocabulary.h"
#include "tokenize/Components.h"

#include <memory>
#include <optional>
#include <string>

namespace lorafa {

/// Tokenizer over a Hugging Face tokenizer.json (+ tokenizer_config.json). The pipeline is the
/// reference's: added tokens split out of the raw text → normalizer → added tokens of the
/// normalized text → pre-tokenizer → model → post-processor. "truncation" and "padding" in the
/// file are not applied: sequence length is the data pipeline's business.
class HfTokenizer : public Tokenizer {
public:
  /// `tokenizerJson` is the file; `configJson` (tokenizer_config.json) may be empty: none.
  static std::shared_ptr<HfTokenizer> fromFiles(const std::string& tokenizerJson,
                                                const std::string& configJson);
  /// From the text of a tokenizer.json; `name` is used in error messages.
  static std::shared_ptr<HfTokenizer> fromJsonText(const std::string& text, const std::string& name);

  std::vector<TokenId> encode(std::string_view text, bool addSpecialTokens = true) const override;
  std::string decode(const std::vector<TokenId>& ids, bool skipSpecialTokens = false) const override;

  std::int64_t vocabSize() const override;
  std::optional<TokenId> tokenToId(std::string_view token) const override;
  std::optional<std::string> idToToken(TokenId id) const override;
  bool isSpecial(TokenId id) const override { return m_added.isSpecial(id); }

  std::optional<TokenId> bosId() const override { return m_bosId; }
  std::optional<TokenId> eosId() const override { return m_eosId; }
  std::optional<TokenId> padId() const override { return m_padId; }
  std::optional<TokenId> unkId() const override { return m_unkId ? m_unkId : m_model->unkId(); }
  std::string chatTemplateSource() const override { return m_chatTemplate; }

private:
  HfTokenizer() = default;
  void readConfig(const std::string& path);

  std::unique_ptr<Normalizer> m_normalizer;
  std::unique_ptr<PreTokenizer> m_preTokenizer;
  std::unique_ptr<TokenModel> m_model;
  std::unique_ptr<PostProcessor> m_postProcessor;
  std::unique_ptr<Decoder> m_decoder;
  AddedVocabulary m_added;

  std::optional<TokenId> m_bosId;
  std::optional<TokenId> m_eosId;
  std::optional<TokenId> m_padId;
  std::optional<TokenId> m_unkId;
  std::string m_chatTemplate;
};

} // namespace lorafa
