#include "tokenize/Vocabulary.h"

#include <cstdint>
#include <string>

namespace lorafa {

Vocabulary Vocabulary::fromJson(const TokenizerJson& json, const char* key) {
  Vocabulary vocab;
  const auto& object = json.object(key);
  vocab.m_ids.reserve(object.size());
  // Ids index a table (id → token), so they are bounded before anything is allocated: real
  // vocabularies number their tokens 0..n-1; gaps up to kMaxIdGap beyond the entry count are
  // accepted (at most 8 MiB of table).
  constexpr std::int64_t kMaxIdGap = 1 << 20;
  const std::int64_t limit = static_cast<std::int64_t>(object.size()) + kMaxIdGap;
  for (const auto& [token, id] : object.items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0) {
      json.failAt(key, "the id of \"" + token + "\" must be a non-negative integer, found " + id.dump());
    }
    if (id.is_number_unsigned() ? id.get<std::uint64_t>() >= static_cast<std::uint64_t>(limit)
                                : id.get<std::int64_t>() >= limit) {
      json.failAt(key, "the id of \"" + token + "\" is " + id.dump() + ", beyond what " +
                           std::to_string(object.size()) + " entries can number (ids must be below " +
                           std::to_string(limit) + ")");
    }
    vocab.add(token, id.get<TokenId>());
  }
  return vocab;
}

void Vocabulary::add(std::string token, TokenId id) {
  m_storage.push_back(std::move(token));
  const std::string* stored = &m_storage.back();
  m_ids[*stored] = id;
  if (static_cast<std::size_t>(id) >= m_tokens.size())
    m_tokens.resize(static_cast<std::size_t>(id) + 1, nullptr);
  m_tokens[static_cast<std::size_t>(id)] = stored;
}

} // namespace lorafa
