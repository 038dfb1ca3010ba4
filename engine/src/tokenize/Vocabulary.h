#pragma once

#include "lorafa/Tokenizer.h"
#include "tokenize/TokenizerJson.h"

#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lorafa {

/// token ↔ id of a model's "vocab" (an object of token → id). Lookups take string_views.
class Vocabulary {
public:
  Vocabulary() = default;
  Vocabulary(Vocabulary&&) = default; // a deque's elements stay put when it moves
  Vocabulary& operator=(Vocabulary&&) = default;
  Vocabulary(const Vocabulary&) = delete;
  Vocabulary& operator=(const Vocabulary&) = delete;

  /// Reads json's `key` (a {token: id} object; for WordPiece/BPE/WordLevel "vocab").
  static Vocabulary fromJson(const TokenizerJson& json, const char* key);
  void add(std::string token, TokenId id);

  std::optional<TokenId> find(std::string_view token) const {
    const auto it = m_ids.find(token);
    return it == m_ids.end() ? std::nullopt : std::optional<TokenId>(it->second);
  }
  const std::string* token(TokenId id) const {
    return id >= 0 && static_cast<std::size_t>(id) < m_tokens.size() ? m_tokens[static_cast<std::size_t>(id)]
                                                                     : nullptr;
  }
  TokenId endId() const { return static_cast<TokenId>(m_tokens.size()); }
  std::size_t size() const { return m_ids.size(); }

private:
  std::deque<std::string> m_storage; // stable addresses for the views below
  std::unordered_map<std::string_view, TokenId> m_ids;
  std::vector<const std::string*> m_tokens; // by id; nullptr for gaps
};

} // namespace lorafa
