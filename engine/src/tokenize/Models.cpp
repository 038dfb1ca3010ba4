// WordPiece and WordLevel models, and the factory for "model" (BPE and Unigram have their own files).
#include "tokenize/BpeModel.h"
#include "tokenize/UnigramModel.h"
#include "tokenize/Unicode.h"
#include "tokenize/Vocabulary.h"

namespace lorafa {
namespace {

// BERT's greedy longest-match-first subword split: "unaffable" → "un", "##aff", "##able".
class WordPieceModel : public TokenModel {
public:
  WordPieceModel(Vocabulary vocab, const std::string& unkToken, std::string prefix, std::size_t maxChars,
                 const TokenizerJson& json)
      : m_vocab(std::move(vocab)), m_prefix(std::move(prefix)), m_maxChars(maxChars) {
    const auto unk = m_vocab.find(unkToken);
    if (!unk) json.failAt("unk_token", "\"" + unkToken + "\" is not in the vocabulary");
    m_unkId = *unk;
  }

  void tokenize(std::string_view word, std::vector<TokenId>& ids) const override {
    if (word.empty()) return;
    if (unicode::countCodePoints(word) > m_maxChars) {
      ids.push_back(m_unkId);
      return;
    }
    const std::size_t first = ids.size();
    std::string candidate;
    std::size_t start = 0;
    while (start < word.size()) {
      std::size_t end = word.size();
      std::optional<TokenId> found;
      while (start < end) {
        candidate.clear();
        if (start > 0) candidate.append(m_prefix);
        candidate.append(word.substr(start, end - start));
        found = m_vocab.find(candidate);
        if (found) break;
        // Drop the last character of [start, end).
        --end;
        while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80)
          --end;
      }
      if (!found) {
        ids.resize(first);
        ids.push_back(m_unkId);
        return;
      }
      ids.push_back(*found);
      start = end;
    }
  }
  std::optional<TokenId> tokenToId(std::string_view token) const override { return m_vocab.find(token); }
  const std::string* idToToken(TokenId id) const override { return m_vocab.token(id); }
  TokenId endId() const override { return m_vocab.endId(); }
  std::size_t vocabularySize() const override { return m_vocab.size(); }
  std::optional<TokenId> unkId() const override { return m_unkId; }

private:
  Vocabulary m_vocab;
  std::string m_prefix;
  std::size_t m_maxChars;
  TokenId m_unkId = 0;
};

// Whole words only: a word is in the vocabulary or it is the unknown token.
class WordLevelModel : public TokenModel {
public:
  WordLevelModel(Vocabulary vocab, const std::string& unkToken) : m_vocab(std::move(vocab)) {
    m_unkId = m_vocab.find(unkToken);
  }
  void tokenize(std::string_view word, std::vector<TokenId>& ids) const override {
    if (word.empty()) return;
    if (const auto id = m_vocab.find(word)) {
      ids.push_back(*id);
    } else if (m_unkId) {
      ids.push_back(*m_unkId);
    }
  }
  std::optional<TokenId> tokenToId(std::string_view token) const override { return m_vocab.find(token); }
  const std::string* idToToken(TokenId id) const override { return m_vocab.token(id); }
  TokenId endId() const override { return m_vocab.endId(); }
  std::size_t vocabularySize() const override { return m_vocab.size(); }
  std::optional<TokenId> unkId() const override { return m_unkId; }

private:
  Vocabulary m_vocab;
  std::optional<TokenId> m_unkId;
};

} // namespace

std::unique_ptr<TokenModel> makeModel(const TokenizerJson& json) {
  // Old files omit the model's "type"; the fields tell which model it is.
  std::string type;
  if (json.has("type")) {
    type = json.type();
  } else if (json.has("merges")) {
    type = "BPE";
  } else if (json.has("max_input_chars_per_word")) {
    type = "WordPiece";
  } else if (json.has("vocab") && json.json().at("vocab").is_array()) {
    type = "Unigram";
  } else {
    json.fail("the model has no \"type\"");
  }
  if (type == "BPE") return BpeModel::fromJson(json);
  if (type == "WordPiece") {
    const std::int64_t maxChars = json.integer("max_input_chars_per_word", 100);
    if (maxChars <= 0) json.failAt("max_input_chars_per_word", "must be positive");
    return std::make_unique<WordPieceModel>(
        Vocabulary::fromJson(json, "vocab"), json.string("unk_token", "[UNK]"),
        json.string("continuing_subword_prefix", "##"), static_cast<std::size_t>(maxChars), json);
  }
  if (type == "WordLevel") {
    return std::make_unique<WordLevelModel>(Vocabulary::fromJson(json, "vocab"),
                                            json.string("unk_token", "<unk>"));
  }
  if (type == "Unigram") return UnigramModel::fromJson(json);
  json.unsupportedType("model");
}

} // namespace lorafa
