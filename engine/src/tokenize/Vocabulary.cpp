#include "tokenize/Vocabulary.h"

namespace lorafa {

Vocabulary Vocabulary::fromJson(const TokenizerJson& json, const char* key) {
  Vocabulary vocab;
  const auto& object = json.object(key);
  vocab.m_ids.reserve(object.size());
  for (const auto& [token, id] : object.items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0) {
      json.failAt(key, "the id of \"" + token + "\" must be a non-negative integer, found " + id.dump());
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
