#include "tokenize/BpeTrainer.h"

#include "tokenize/ByteLevelAlphabet.h"
#include "tokenize/Unicode.h"

#include <algorithm>
#include <array>
#include <queue>
#include <set>
#include <stdexcept>

namespace lorafa {
namespace {

using Pair = std::uint64_t; // (left id << 32) | right id: orders like the (left, right) tuple

Pair makePair(std::uint32_t left, std::uint32_t right) { return (Pair{left} << 32) | right; }
std::uint32_t leftOf(Pair pair) { return static_cast<std::uint32_t>(pair >> 32); }
std::uint32_t rightOf(Pair pair) { return static_cast<std::uint32_t>(pair & 0xffffffffu); }

struct HeapEntry {
  std::int64_t count;
  Pair pair;
};

// std::priority_queue puts the "largest" on top: the highest count, then the smallest pair.
struct HeapOrder {
  bool operator()(const HeapEntry& a, const HeapEntry& b) const {
    return a.count != b.count ? a.count < b.count : a.pair > b.pair;
  }
};

constexpr std::int64_t kMaxVocabSize = std::int64_t{1} << 24;
// Byte-level characters are U+0021..U+0143.
constexpr std::size_t kAlphabetEnd = 0x144;

class MergeState {
public:
  MergeState(std::vector<std::vector<std::uint32_t>> words, std::vector<std::int64_t> counts)
      : m_words(std::move(words)), m_counts(std::move(counts)), m_visited(m_words.size(), 0) {
    for (std::uint32_t w = 0; w < m_words.size(); ++w) {
      const auto& symbols = m_words[w];
      for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
        const Pair pair = makePair(symbols[i], symbols[i + 1]);
        m_pairCounts[pair] += m_counts[w];
        notePosition(pair, w);
      }
    }
    for (const auto& [pair, count] : m_pairCounts) {
      if (count > 0) m_heap.push({count, pair});
    }
  }

  /// The next pair to merge and its count; count 0 when no pair is left.
  HeapEntry best() {
    while (!m_heap.empty()) {
      HeapEntry top = m_heap.top();
      const std::int64_t current = countOf(top.pair);
      if (current == top.count) return top;
      // A stale entry: the pair lost occurrences since it was pushed (or was merged).
      m_heap.pop();
      if (current > 0) m_heap.push({current, top.pair});
    }
    return {0, 0};
  }

  /// Replaces every occurrence of `pair` by `merged` in all words that hold it.
  void merge(Pair pair, std::uint32_t merged) {
    m_heap.pop(); // `pair` is on top (best() just returned it)
    m_pairCounts.erase(pair);
    m_merging = pair;
    std::vector<std::uint32_t> where;
    if (auto it = m_positions.find(pair); it != m_positions.end()) {
      where = std::move(it->second);
      m_positions.erase(it);
    }
    ++m_stamp;
    m_grown.clear();
    const std::uint32_t left = leftOf(pair);
    const std::uint32_t right = rightOf(pair);
    for (const std::uint32_t w : where) {
      if (m_visited[w] == m_stamp) continue;
      m_visited[w] = m_stamp;
      mergeInWord(w, left, right, merged);
    }
    // Pairs that gained occurrences get a fresh heap entry with their new count.
    std::sort(m_grown.begin(), m_grown.end());
    m_grown.erase(std::unique(m_grown.begin(), m_grown.end()), m_grown.end());
    for (const Pair p : m_grown) {
      const std::int64_t count = countOf(p);
      if (count > 0) m_heap.push({count, p});
    }
  }

private:
  std::int64_t countOf(Pair pair) const {
    const auto it = m_pairCounts.find(pair);
    return it == m_pairCounts.end() ? 0 : it->second;
  }

  void notePosition(Pair pair, std::uint32_t word) {
    std::vector<std::uint32_t>& list = m_positions[pair];
    if (list.empty() || list.back() != word) list.push_back(word);
  }

  void change(Pair pair, std::int64_t delta, std::uint32_t word) {
    if (pair == m_merging) return; // its count is gone already
    auto it = m_pairCounts.find(pair);
    if (it == m_pairCounts.end()) it = m_pairCounts.emplace(pair, 0).first;
    it->second += delta;
    if (delta > 0) {
      notePosition(pair, word);
      m_grown.push_back(pair);
    } else if (it->second == 0) {
      m_pairCounts.erase(it);
    }
  }

  // Left to right, non-overlapping (as BPE encoding applies a merge).
  void mergeInWord(std::uint32_t w, std::uint32_t left, std::uint32_t right, std::uint32_t merged) {
    std::vector<std::uint32_t>& symbols = m_words[w];
    const std::int64_t count = m_counts[w];
    std::size_t out = 0;
    for (std::size_t i = 0; i < symbols.size();) {
      if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
        if (out > 0) {
          const std::uint32_t previous = symbols[out - 1];
          change(makePair(previous, left), -count, w);
          change(makePair(previous, merged), count, w);
        }
        if (i + 2 < symbols.size()) {
          const std::uint32_t next = symbols[i + 2];
          change(makePair(right, next), -count, w);
          change(makePair(merged, next), count, w);
        }
        symbols[out++] = merged;
        i += 2;
      } else {
        symbols[out++] = symbols[i++];
      }
    }
    symbols.resize(out);
  }

  std::vector<std::vector<std::uint32_t>> m_words;
  std::vector<std::int64_t> m_counts;
  std::vector<std::uint32_t> m_visited; // m_stamp of the merge that last visited each word
  std::uint32_t m_stamp = 0;
  std::unordered_map<Pair, std::int64_t> m_pairCounts;
  std::unordered_map<Pair, std::vector<std::uint32_t>> m_positions; // words holding the pair (may be stale)
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, HeapOrder> m_heap;
  std::vector<Pair> m_grown;
  Pair m_merging = ~Pair{0};
};

} // namespace

BpeTrainer::BpeTrainer(BpeTrainerOptions options) : m_options(std::move(options)) { validate(m_options); }

void BpeTrainer::validate(const BpeTrainerOptions& options) {
  const auto& specials = options.specialTokens;
  std::set<std::string> seen;
  for (const std::string& token : specials) {
    if (token.empty()) throw std::invalid_argument("a special token is empty");
    if (!unicode::isValidUtf8(token))
      throw std::invalid_argument("special token is not valid UTF-8: " + token);
    if (!seen.insert(token).second)
      throw std::invalid_argument("special token \"" + token + "\" is given twice");
  }
  const std::int64_t minimum = 256 + static_cast<std::int64_t>(specials.size());
  if (options.vocabSize < minimum) {
    throw std::invalid_argument("vocabulary size " + std::to_string(options.vocabSize) +
                                " is too small: the 256 byte tokens and " + std::to_string(specials.size()) +
                                " special tokens need at least " + std::to_string(minimum));
  }
  if (options.vocabSize > kMaxVocabSize) {
    throw std::invalid_argument("vocabulary size " + std::to_string(options.vocabSize) +
                                " is above the limit of " + std::to_string(kMaxVocabSize));
  }
  if (options.minFrequency < 0) {
    throw std::invalid_argument("minimum frequency must not be negative, found " +
                                std::to_string(options.minFrequency));
  }
  const auto checkRole = [&](const std::string& token, const char* role) {
    if (!token.empty() && seen.count(token) == 0) {
      throw std::invalid_argument(std::string(role) + " token \"" + token +
                                  "\" is not one of the special tokens");
    }
  };
  checkRole(options.bosToken, "bos");
  checkRole(options.eosToken, "eos");
  checkRole(options.padToken, "pad");
  if (options.addBosToken && options.bosToken.empty()) {
    throw std::invalid_argument("adding a BOS token needs a bos token");
  }
  if (options.modelMaxLength < 1) {
    throw std::invalid_argument("model_max_length must be positive, found " +
                                std::to_string(options.modelMaxLength));
  }
}

TrainedBpe BpeTrainer::train(const BpeWordCounts& wordCounts, const BpeTrainingCallbacks& callbacks) const {
  TrainedBpe result;
  std::unordered_map<std::string, std::uint32_t> ids;
  const auto addToken = [&](const std::string& token) {
    const auto [it, inserted] = ids.emplace(token, static_cast<std::uint32_t>(result.tokens.size()));
    if (inserted) result.tokens.push_back(token);
    return it->second;
  };
  for (const std::string& special : m_options.specialTokens)
    addToken(special);

  // Words in a fixed order (the map's order is not), each as code points of its characters.
  std::vector<const BpeWordCounts::value_type*> entries;
  entries.reserve(wordCounts.size());
  for (const auto& entry : wordCounts) {
    if (entry.second > 0 && !entry.first.empty()) entries.push_back(&entry);
  }
  std::sort(entries.begin(), entries.end(), [](const auto* a, const auto* b) { return a->first < b->first; });

  std::array<bool, kAlphabetEnd> present{};
  if (m_options.includeAllBytes) {
    const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::instance();
    for (int b = 0; b < 256; ++b)
      present[alphabet.charFor(static_cast<unsigned char>(b))] = true;
  }
  std::vector<std::vector<std::uint32_t>> words;
  std::vector<std::int64_t> counts;
  words.reserve(entries.size());
  counts.reserve(entries.size());
  for (const auto* entry : entries) {
    std::vector<std::uint32_t> chars;
    std::size_t pos = 0;
    while (pos < entry->first.size()) {
      const char32_t c = unicode::nextCodePoint(entry->first, pos);
      if (c >= kAlphabetEnd || !ByteLevelAlphabet::instance().byteFor(c)) {
        throw std::logic_error("BpeTrainer: word not in byte-level characters: " + entry->first);
      }
      present[c] = true;
      chars.push_back(static_cast<std::uint32_t>(c)); // code point for now, id below
    }
    words.push_back(std::move(chars));
    counts.push_back(entry->second);
    result.words += entry->second;
  }
  result.uniqueWords = static_cast<std::int64_t>(words.size());

  std::array<std::uint32_t, kAlphabetEnd> charId{};
  for (std::size_t c = 0; c < kAlphabetEnd; ++c) {
    if (present[c]) charId[c] = addToken(unicode::toUtf8(static_cast<char32_t>(c)));
  }
  for (auto& word : words) {
    for (auto& symbol : word)
      symbol = charId[symbol];
  }

  const auto vocabSize = static_cast<std::size_t>(m_options.vocabSize);
  BpeTrainingProgress progress;
  progress.stage = BpeTrainingProgress::Stage::Merging;
  progress.mergesTarget =
      std::max<std::int64_t>(0, m_options.vocabSize - static_cast<std::int64_t>(result.tokens.size()));
  const std::int64_t reportEvery = std::max<std::int64_t>(1, progress.mergesTarget / 200);
  if (callbacks.onProgress) callbacks.onProgress(progress);

  MergeState state(std::move(words), std::move(counts));
  const std::int64_t minCount = std::max<std::int64_t>(1, m_options.minFrequency);
  while (result.tokens.size() < vocabSize) {
    const HeapEntry best = state.best();
    if (best.count < minCount) {
      result.stoppedEarly = true;
      break;
    }
    const std::string left = result.tokens[leftOf(best.pair)]; // copies: addToken grows tokens
    const std::string right = result.tokens[rightOf(best.pair)];
    result.merges.emplace_back(left, right);
    // A token can arise from two different pairs ("ab"+"c", "a"+"bc"): it keeps its first id.
    const std::uint32_t merged = addToken(left + right);
    state.merge(best.pair, merged);
    progress.mergesDone = static_cast<std::int64_t>(result.merges.size());
    if (progress.mergesDone % reportEvery == 0) {
      if (callbacks.shouldStop && callbacks.shouldStop()) throw BpeTrainingCancelled();
      if (callbacks.onProgress) callbacks.onProgress(progress);
    }
  }
  progress.stage = BpeTrainingProgress::Stage::Done;
  progress.mergesDone = static_cast<std::int64_t>(result.merges.size());
  if (callbacks.onProgress) callbacks.onProgress(progress);
  return result;
}

} // namespace lorafa
