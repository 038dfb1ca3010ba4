#include "tokenize/BpeModel.h"

#include "tokenize/Unicode.h"

#include <cstdio>
#include <functional>
#include <queue>

namespace lorafa {

std::unique_ptr<BpeModel> BpeModel::fromJson(const TokenizerJson& json) {
  Options options;
  options.unkToken = json.optionalString("unk_token");
  options.continuingSubwordPrefix = json.string("continuing_subword_prefix", "");
  options.endOfWordSuffix = json.string("end_of_word_suffix", "");
  options.fuseUnk = json.boolean("fuse_unk", false);
  options.byteFallback = json.boolean("byte_fallback", false);
  options.ignoreMerges = json.boolean("ignore_merges", false);
  if (json.has("dropout")) {
    const auto& dropout = json.json().at("dropout");
    if (!dropout.is_number()) json.failAt("dropout", "expected a number or null, found " + dropout.dump());
    // Dropout makes encoding random; it is a training-time augmentation the engine does not do.
    if (dropout.get<double>() > 0.0)
      json.failAt("dropout", "BPE dropout is not supported (found " + dropout.dump() + ")");
  }

  const auto& mergeList = json.array("merges");
  const TokenizerJson mergesJson = json.child("merges");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(mergeList.size());
  for (std::size_t i = 0; i < mergeList.size(); ++i) {
    const auto& m = mergeList[i];
    if (m.is_string()) {
      // Legacy form "a b": exactly one space separates the parts.
      const std::string line = m.get<std::string>();
      const std::size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        mergesJson.element(m, i).fail("expected \"a b\" (two parts separated by one space), found \"" + line +
                                      "\"");
      }
      merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      mergesJson.element(m, i).fail("expected \"a b\" or [\"a\", \"b\"], found " + m.dump());
    }
  }
  return std::make_unique<BpeModel>(Vocabulary::fromJson(json, "vocab"), merges, std::move(options), &json);
}

BpeModel::BpeModel(Vocabulary vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                   Options options, const TokenizerJson* source)
    : m_vocab(std::move(vocab)), m_options(std::move(options)) {
  const auto fail = [&](std::size_t index, const std::string& problem) {
    if (source != nullptr) source->failAt("merges[" + std::to_string(index) + "]", problem);
    throw FormatError("BPE model", "merges[" + std::to_string(index) + "]: " + problem);
  };
  m_merges.reserve(merges.size() * 2);
  const std::size_t prefixLength = m_options.continuingSubwordPrefix.size();
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const auto aId = m_vocab.find(a);
    const auto bId = m_vocab.find(b);
    if (!aId) fail(rank, "merge part \"" + a + "\" is not in the vocabulary");
    if (!bId) fail(rank, "merge part \"" + b + "\" is not in the vocabulary");
    const bool bHasPrefix =
        prefixLength > 0 && b.compare(0, prefixLength, m_options.continuingSubwordPrefix) == 0;
    const std::string merged = a + (bHasPrefix ? b.substr(prefixLength) : b);
    const auto newId = m_vocab.find(merged);
    if (!newId) fail(rank, "merge result \"" + merged + "\" is not in the vocabulary");
    // A pair listed twice keeps its later rank, as in the reference.
    m_merges[pairKey(*aId, *bId)] =
        Merge{static_cast<std::uint32_t>(rank), static_cast<std::uint32_t>(*newId)};
  }
  if (m_options.unkToken) m_unkId = m_vocab.find(*m_options.unkToken);
  if (m_options.byteFallback) {
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      m_byteIds[b] = m_vocab.find(name);
    }
  }
}

void BpeModel::tokenize(std::string_view word, std::vector<TokenId>& ids) const {
  if (word.empty()) return;
  const bool cacheable = word.size() < 256;
  if (cacheable && m_cache.find(word, ids)) return;
  const std::size_t first = ids.size();
  if (m_options.ignoreMerges) {
    if (const auto id = m_vocab.find(word)) {
      ids.push_back(*id);
      return;
    }
  }
  mergeWord(word, ids);
  if (cacheable) m_cache.insert(word, ids.data() + first, ids.data() + ids.size());
}

void BpeModel::mergeWord(std::string_view word, std::vector<TokenId>& ids) const {
  struct Symbol {
    TokenId id;
    int prev;
    int next;
    std::size_t length; // bytes of the word it covers; 0 once merged into its left neighbour
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  const auto add = [&](TokenId id, std::size_t length) {
    const int count = static_cast<int>(symbols.size());
    if (count > 0) symbols.back().next = count;
    symbols.push_back({id, count - 1, -1, length});
  };

  // Initial symbols: one per character (with the subword prefix/suffix when configured), or its
  // <0xNN> byte tokens, or the unknown token (fused over a run when fuse_unk).
  // A pending unknown token and the bytes it covers (plain fields: GCC misreads an optional here).
  bool hasPendingUnk = false;
  std::size_t pendingUnkLength = 0;
  std::string piece;
  std::size_t pos = 0;
  while (pos < word.size()) {
    const std::size_t start = pos;
    pos += unicode::sequenceLength(static_cast<unsigned char>(word[pos]));
    if (pos > word.size()) pos = word.size();
    const std::size_t byteLength = pos - start;
    std::string_view symbol = word.substr(start, byteLength);
    const bool affixed = (start > 0 && !m_options.continuingSubwordPrefix.empty()) ||
                         (pos == word.size() && !m_options.endOfWordSuffix.empty());
    if (affixed) {
      piece.clear();
      if (start > 0) piece.append(m_options.continuingSubwordPrefix);
      piece.append(symbol);
      if (pos == word.size()) piece.append(m_options.endOfWordSuffix);
      symbol = piece;
    }
    if (const auto id = m_vocab.find(symbol)) {
      if (hasPendingUnk) {
        add(*m_unkId, pendingUnkLength);
        hasPendingUnk = false;
      }
      add(*id, byteLength);
      continue;
    }
    if (m_options.byteFallback) {
      bool allBytes = true;
      for (const char c : symbol)
        allBytes = allBytes && m_byteIds[static_cast<unsigned char>(c)].has_value();
      if (allBytes) {
        for (const char c : symbol)
          add(*m_byteIds[static_cast<unsigned char>(c)], 1);
        continue;
      }
    }
    if (m_unkId) {
      if (hasPendingUnk && m_options.fuseUnk) {
        pendingUnkLength += byteLength;
      } else {
        if (hasPendingUnk) add(*m_unkId, pendingUnkLength);
        hasPendingUnk = true;
        pendingUnkLength = byteLength;
      }
    }
  }
  if (hasPendingUnk) add(*m_unkId, pendingUnkLength);

  struct Candidate {
    std::uint32_t rank;
    int pos;
    std::uint32_t newId;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  const auto lookup = [&](int left, int right) -> const Merge* {
    const auto it = m_merges.find(pairKey(symbols[left].id, symbols[right].id));
    return it == m_merges.end() ? nullptr : &it->second;
  };
  for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) {
    if (const Merge* m = lookup(i, i + 1)) queue.push({m->rank, i, m->newId});
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& current = symbols[top.pos];
    if (current.length == 0 || current.next < 0) continue;
    const int nextPos = current.next;
    // Skip entries made stale by an earlier merge of either symbol.
    const Merge* still = lookup(top.pos, nextPos);
    if (still == nullptr || still->newId != top.newId) continue;
    Symbol& right = symbols[nextPos];
    current.id = top.newId;
    current.length += right.length;
    current.next = right.next;
    right.length = 0;
    if (current.next >= 0) symbols[current.next].prev = top.pos;
    if (current.prev >= 0) {
      if (const Merge* m = lookup(current.prev, top.pos)) queue.push({m->rank, current.prev, m->newId});
    }
    if (current.next >= 0) {
      if (const Merge* m = lookup(top.pos, current.next)) queue.push({m->rank, top.pos, m->newId});
    }
  }
  for (const Symbol& s : symbols) {
    if (s.length != 0) ids.push_back(s.id);
  }
}

bool BpeModel::Cache::find(std::string_view word, std::vector<TokenId>& ids) const {
  Shard& shard = m_shards[std::hash<std::string_view>()(word) % kShards];
  std::lock_guard<std::mutex> lock(shard.mutex);
  // C++17 unordered_map has no heterogeneous lookup; words are short, so the copy is cheap.
  const auto it = shard.entries.find(std::string(word));
  if (it == shard.entries.end()) return false;
  ids.insert(ids.end(), it->second.begin(), it->second.end());
  return true;
}

void BpeModel::Cache::insert(std::string_view word, const TokenId* begin, const TokenId* end) const {
  Shard& shard = m_shards[std::hash<std::string_view>()(word) % kShards];
  std::lock_guard<std::mutex> lock(shard.mutex);
  if (shard.entries.size() >= kEntriesPerShard) shard.entries.clear();
  shard.entries.emplace(std::string(word), std::vector<TokenId>(begin, end));
}

} // namespace lorafa
