#pragma once

#include "tokenize/Components.h"

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace lorafa {

/// One entry of tokenizer.json's "added_tokens".
struct AddedToken {
  std::string content;
  TokenId id = 0;
  bool special = false;
  bool singleWord = false; ///< only matches as a whole word
  bool lstrip = false;     ///< swallows the whitespace on its left
  bool rstrip = false;     ///< swallows the whitespace on its right
  bool normalized = true;  ///< matched in the normalized text rather than the raw text
};

/// The added tokens, split out of the text before the model runs: first those matched in the raw
/// text (normalized == false, which special tokens usually are), then, after normalization,
/// those matched in the normalized text. Matching is leftmost-longest, like the reference's
/// Aho-Corasick search.
class AddedVocabulary {
public:
  struct Piece {
    std::string_view text;
    std::optional<TokenId> id; ///< set when the piece is an added token
    std::size_t offset = 0;    ///< byte offset of the piece in the split text
  };
  enum class Stage { Raw, Normalized };

  AddedVocabulary() = default;
  /// `normalizer` turns the contents of normalized tokens into what is searched for.
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  /// Cuts `text` into added tokens and the text between them (pieces refer into `text`).
  void split(std::string_view text, Stage stage, std::vector<Piece>& pieces) const;

  std::optional<TokenId> find(std::string_view content) const;
  const std::string* token(TokenId id) const;
  bool isSpecial(TokenId id) const { return m_specialIds.count(id) > 0; }
  bool isSpecialContent(std::string_view content) const;
  std::optional<TokenId> maxId() const;
  const std::vector<AddedToken>& tokens() const { return m_tokens; }

private:
  struct Matcher {
    std::vector<std::string> patterns;
    std::vector<std::size_t> tokenIndex;
    std::array<std::vector<std::size_t>, 256> byFirstByte; // pattern indices, longest first
    bool empty() const { return patterns.empty(); }
    void add(std::string pattern, std::size_t token);
    void finish();
  };

  std::vector<AddedToken> m_tokens;
  Matcher m_raw;
  Matcher m_normalized;
  std::unordered_map<std::string, TokenId> m_ids;
  std::unordered_map<TokenId, std::size_t> m_byId;
  std::unordered_set<TokenId> m_specialIds;
  std::unordered_set<std::string> m_specialContents;
};

} // namespace lorafa
