#pragma once

#include "tokenize/Components.h"
#include "tokenize/Vocabulary.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lorafa {

/// The Unigram model of tokenizer.json (SentencePiece unigram: T5, ALBERT, XLM-R, mBART...): a
/// list of [piece, log-probability] pairs; a word is cut into the pieces whose scores sum highest
/// (Viterbi over every vocabulary piece that starts at each character). A character no single
/// piece covers is the unknown piece, scored 10 below the lowest score; neighbouring unknowns are
/// fused into one. With `byte_fallback`, a fused unknown that is not a piece is written as its
/// UTF-8 bytes ("<0xNN>" pieces) when all of them exist. Ties go to the path found first, like the
/// reference.
class UnigramModel : public TokenModel {
public:
  struct Piece {
    std::string text;
    double score = 0.0;
  };

  /// Reads a model object of type "Unigram". Throws FormatError for a malformed vocabulary or an
  /// unk_id outside it.
  static std::unique_ptr<UnigramModel> fromJson(const TokenizerJson& json);
  /// `file` names the tokenizer in the error raised when a text needs an unknown piece and the
  /// model has none.
  UnigramModel(std::vector<Piece> pieces, std::optional<TokenId> unkId, bool byteFallback, std::string file);

  void tokenize(std::string_view word, std::vector<TokenId>& ids) const override;
  std::optional<TokenId> tokenToId(std::string_view token) const override { return m_vocab.find(token); }
  const std::string* idToToken(TokenId id) const override { return m_vocab.token(id); }
  TokenId endId() const override { return m_vocab.endId(); }
  std::size_t vocabularySize() const override { return m_pieces.size(); }
  std::optional<TokenId> unkId() const override { return m_unkId; }

  /// The best segmentation of `word` as piece texts (unknown runs fused), before ids.
  std::vector<std::string_view> segment(std::string_view word) const;

private:
  // A byte trie of the pieces: m_edges maps (node, byte) to the child node; m_leafIds[node] is
  // the id of the piece ending there (the last one listed, as the reference's lookup finds), or -1.
  std::uint32_t child(std::uint32_t node, unsigned char byte) const;
  void insert(std::string_view piece, TokenId id);
  [[noreturn]] void failNoUnk() const;

  std::vector<Piece> m_pieces; // by id
  Vocabulary m_vocab;
  std::unordered_map<std::uint64_t, std::uint32_t> m_edges;
  std::vector<TokenId> m_leafIds{-1};
  std::optional<TokenId> m_unkId;
  double m_unkScore = 0.0;
  bool m_byteFallback = false;
  std::array<std::optional<TokenId>, 256> m_byteIds; // "<0xNN>" pieces
  std::string m_file;
};

} // namespace lorafa
