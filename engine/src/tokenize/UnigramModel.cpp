#include "tokenize/UnigramModel.h"

#include "lorafa/FormatError.h"
#include "tokenize/Unicode.h"

#include <algorithm>
#include <cstdio>
#include <limits>

namespace lorafa {
namespace {

// SentencePiece's penalty for an unknown character, below the lowest piece score.
constexpr double kUnknownPenalty = 10.0;

} // namespace

std::unique_ptr<UnigramModel> UnigramModel::fromJson(const TokenizerJson& json) {
  const auto& items = json.array("vocab");
  const TokenizerJson list = json.child("vocab");
  std::vector<Piece> pieces;
  pieces.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    if (!item.is_array() || item.size() != 2 || !item[0].is_string() || !item[1].is_number()) {
      list.element(item, i).fail("expected a [\"piece\", score] pair, found " + item.dump());
    }
    pieces.push_back({item[0].get<std::string>(), item[1].get<double>()});
  }
  std::optional<TokenId> unkId;
  if (json.has("unk_id")) {
    const std::int64_t id = json.integer("unk_id");
    if (pieces.empty()) json.failAt("unk_id", "is set but the vocabulary is empty");
    if (id < 0 || static_cast<std::uint64_t>(id) >= pieces.size()) {
      json.failAt("unk_id", std::to_string(id) + " is not an index of the " + std::to_string(pieces.size()) +
                                " vocabulary entries");
    }
    unkId = id;
  }
  return std::make_unique<UnigramModel>(std::move(pieces), unkId, json.boolean("byte_fallback", false),
                                        json.file());
}

UnigramModel::UnigramModel(std::vector<Piece> pieces, std::optional<TokenId> unkId, bool byteFallback,
                           std::string file)
    : m_pieces(std::move(pieces)), m_unkId(unkId), m_byteFallback(byteFallback), m_file(std::move(file)) {
  double minScore = std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < m_pieces.size(); ++i) {
    const auto id = static_cast<TokenId>(i);
    m_vocab.add(m_pieces[i].text, id);
    insert(m_pieces[i].text, id);
    if (m_pieces[i].score < minScore) minScore = m_pieces[i].score;
  }
  m_unkScore = minScore - kUnknownPenalty;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    m_byteIds[static_cast<std::size_t>(b)] = m_vocab.find(name);
  }
}

std::uint32_t UnigramModel::child(std::uint32_t node, unsigned char byte) const {
  const auto it = m_edges.find((static_cast<std::uint64_t>(node) << 8) | byte);
  return it == m_edges.end() ? 0 : it->second; // the root is never a child
}

void UnigramModel::insert(std::string_view piece, TokenId id) {
  std::uint32_t node = 0;
  for (const char c : piece) {
    const auto key = (static_cast<std::uint64_t>(node) << 8) | static_cast<unsigned char>(c);
    const auto [it, added] = m_edges.emplace(key, static_cast<std::uint32_t>(m_leafIds.size()));
    if (added) m_leafIds.push_back(-1);
    node = it->second;
  }
  // The empty piece marks the root, which a search never reports (nor does the reference's).
  m_leafIds[node] = id;
}

void UnigramModel::failNoUnk() const {
  throw FormatError(m_file, "model.unk_id: the text has a character that no piece of the Unigram model "
                            "covers, and the model has no unknown piece (unk_id is null)");
}

std::vector<std::string_view> UnigramModel::segment(std::string_view word) const {
  // best[end]: the best-scoring path over word[0, end): its score, its last piece's id and start.
  struct Best {
    double score = 0.0;
    TokenId id = 0;
    std::size_t start = 0;
    bool reached = false;
  };
  const std::size_t size = word.size();
  std::vector<Best> best(size + 1);
  const auto offer = [&](std::size_t start, std::size_t end, TokenId id, double score) {
    Best& target = best[end];
    const double candidate = best[start].score + score;
    if (!target.reached || candidate > target.score) target = {candidate, id, start, true};
  };
  for (std::size_t start = 0; start < size;) {
    // Never past the end, even for a truncated UTF-8 sequence (the tokenizer repairs UTF-8
    // before the model runs; tokenize() is public all the same).
    const std::size_t charLength =
        std::min<std::size_t>(std::max<std::size_t>(unicode::sequenceLength(static_cast<unsigned char>(word[start])), 1),
                              word.size() - start);
    bool singleCharacterPiece = false;
    std::uint32_t node = 0;
    for (std::size_t end = start; end < size;) {
      node = child(node, static_cast<unsigned char>(word[end]));
      if (node == 0) break;
      ++end;
      const TokenId id = m_leafIds[node];
      if (id < 0) continue;
      offer(start, end, id, m_pieces[static_cast<std::size_t>(id)].score);
      if (end - start == charLength) singleCharacterPiece = true;
    }
    if (!singleCharacterPiece) {
      // The reference fails only when the unknown piece would be taken.
      const Best& target = best[start + charLength];
      if (!target.reached || best[start].score + m_unkScore > target.score) {
        if (!m_unkId) failNoUnk();
        offer(start, start + charLength, *m_unkId, m_unkScore);
      }
    }
    start += charLength;
  }

  // Walk back from the end; runs of unknown pieces become one piece.
  std::vector<std::string_view> pieces;
  std::size_t unknownStart = size;
  std::size_t unknownEnd = size;
  bool inUnknown = false;
  for (std::size_t end = size; end > 0;) {
    const Best& node = best[end];
    if (m_unkId && node.id == *m_unkId) {
      if (!inUnknown) unknownEnd = end;
      inUnknown = true;
      unknownStart = node.start;
    } else {
      if (inUnknown) pieces.push_back(word.substr(unknownStart, unknownEnd - unknownStart));
      inUnknown = false;
      pieces.push_back(word.substr(node.start, end - node.start));
    }
    end = node.start;
  }
  if (inUnknown) pieces.push_back(word.substr(unknownStart, unknownEnd - unknownStart));
  return {pieces.rbegin(), pieces.rend()};
}

void UnigramModel::tokenize(std::string_view word, std::vector<TokenId>& ids) const {
  if (word.empty()) return;
  for (const std::string_view piece : segment(word)) {
    if (const auto id = m_vocab.find(piece)) {
      ids.push_back(*id);
      continue;
    }
    if (m_byteFallback) {
      bool allBytes = true;
      for (const char c : piece)
        allBytes = allBytes && m_byteIds[static_cast<unsigned char>(c)].has_value();
      if (allBytes) {
        for (const char c : piece)
          ids.push_back(*m_byteIds[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    if (!m_unkId) failNoUnk();
    ids.push_back(*m_unkId);
  }
}

} // namespace lorafa
