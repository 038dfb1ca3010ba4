#pragma once

#include "tokenize/Components.h"
#include "tokenize/Vocabulary.h"

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace lorafa {

/// The BPE model of tokenizer.json: byte-level (GPT-2, Llama 3, Qwen) or SentencePiece-style
/// with byte fallback (Llama 2, Mistral). Merges are a hash map from an id pair to its rank and
/// result; words are merged lowest rank first (leftmost on ties), like the reference. Results
/// are cached per word in a bounded, sharded, thread-safe cache.
class BpeModel : public TokenModel {
public:
  struct Options {
    std::optional<std::string> unkToken;
    std::string continuingSubwordPrefix;
    std::string endOfWordSuffix;
    bool fuseUnk = false;
    bool byteFallback = false;
    bool ignoreMerges = false;
  };

  /// Reads a model object of type "BPE". Throws FormatError for a merge whose parts or result are
  /// not in the vocabulary, or for a malformed merge.
  static std::unique_ptr<BpeModel> fromJson(const TokenizerJson& json);
  BpeModel(Vocabulary vocab, const std::vector<std::pair<std::string, std::string>>& merges, Options options,
           const TokenizerJson* source);

  void tokenize(std::string_view word, std::vector<TokenId>& ids) const override;
  std::optional<TokenId> tokenToId(std::string_view token) const override { return m_vocab.find(token); }
  const std::string* idToToken(TokenId id) const override { return m_vocab.token(id); }
  TokenId endId() const override { return m_vocab.endId(); }
  std::size_t vocabularySize() const override { return m_vocab.size(); }
  std::optional<TokenId> unkId() const override { return m_unkId; }

private:
  struct Merge {
    std::uint32_t rank;
    std::uint32_t newId;
  };
  static std::uint64_t pairKey(TokenId a, TokenId b) {
    return (static_cast<std::uint64_t>(a) << 32) | static_cast<std::uint32_t>(b);
  }
  void mergeWord(std::string_view word, std::vector<TokenId>& ids) const;

  // Per-word results; each shard is cleared when it fills, which bounds memory.
  class Cache {
  public:
    bool find(std::string_view word, std::vector<TokenId>& ids) const;
    void insert(std::string_view word, const TokenId* begin, const TokenId* end) const;

  private:
    static constexpr std::size_t kShards = 16;
    static constexpr std::size_t kEntriesPerShard = 1 << 14;
    struct Shard {
      std::mutex mutex;
      std::unordered_map<std::string, std::vector<TokenId>> entries;
    };
    mutable std::array<Shard, kShards> m_shards;
  };

  Vocabulary m_vocab;
  std::unordered_map<std::uint64_t, Merge> m_merges;
  Options m_options;
  std::optional<TokenId> m_unkId;
  std::array<std::optional<TokenId>, 256> m_byteIds; // "<0xNN>" tokens, for byte fallback
  Cache m_cache;
};

} // namespace lorafa
