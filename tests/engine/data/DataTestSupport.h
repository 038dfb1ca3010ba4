#pragma once

#include "lorafa/Tokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace lorafa::testing {

/// A small, predictable tokenizer for the data tests: special tokens are split out first; other
/// text becomes words (an optional leading space plus a run of letters/digits, like
/// SentencePiece's "▁word") or single bytes. Ids are handed out on first sight from 100 up.
class FakeTokenizer : public Tokenizer {
public:
  /// `addsBos`: encode(…, true) puts <s> first and nothing after, like Llama's post-processor.
  explicit FakeTokenizer(bool addsBos = true, bool hasEos = true) : m_addsBos(addsBos), m_hasEos(hasEos) {
    for (const char* special :
         {"<unk>", "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>",
          "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}) {
      const TokenId id = static_cast<TokenId>(m_specials.size());
      m_specials.push_back(special);
      m_ids[special] = id;
      m_tokens[id] = special;
    }
  }

  std::vector<TokenId> encode(std::string_view text, bool addSpecialTokens = true) const override {
    std::lock_guard<std::mutex> lock(m_mutex);
    std::vector<TokenId> ids;
    if (addSpecialTokens && m_addsBos) ids.push_back(1);
    std::size_t i = 0;
    while (i < text.size()) {
      bool matched = false;
      for (std::size_t s = 0; s < m_specials.size(); ++s) {
        if (text.compare(i, m_specials[s].size(), m_specials[s]) == 0) {
          ids.push_back(static_cast<TokenId>(s));
          i += m_specials[s].size();
          matched = true;
          break;
        }
      }
      if (matched) continue;
      std::size_t end = i;
      if (text[end] == ' ' && end + 1 < text.size() && isWordChar(text[end + 1])) ++end;
      while (end < text.size() && isWordChar(text[end]))
        ++end;
      if (end == i) end = i + 1;
      ids.push_back(idFor(std::string(text.substr(i, end - i))));
      i = end;
    }
    return ids;
  }

  std::string decode(const std::vector<TokenId>& ids, bool skipSpecialTokens = false) const override {
    std::lock_guard<std::mutex> lock(m_mutex);
    std::string text;
    for (const TokenId id : ids) {
      if (skipSpecialTokens && id < static_cast<TokenId>(m_specials.size())) continue;
      const auto it = m_tokens.find(id);
      if (it != m_tokens.end()) text += it->second;
    }
    return text;
  }

  std::int64_t vocabSize() const override { return 1000; }
  std::optional<TokenId> tokenToId(std::string_view token) const override {
    std::lock_guard<std::mutex> lock(m_mutex);
    const auto it = m_ids.find(std::string(token));
    return it == m_ids.end() ? std::nullopt : std::optional<TokenId>(it->second);
  }
  std::optional<std::string> idToToken(TokenId id) const override {
    std::lock_guard<std::mutex> lock(m_mutex);
    const auto it = m_tokens.find(id);
    return it == m_tokens.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  bool isSpecial(TokenId id) const override {
    return id >= 0 && id < static_cast<TokenId>(m_specials.size());
  }
  std::optional<TokenId> bosId() const override { return TokenId(1); }
  std::optional<TokenId> eosId() const override {
    return m_hasEos ? std::optional<TokenId>(2) : std::nullopt;
  }
  std::optional<TokenId> padId() const override { return TokenId(3); }
  std::optional<TokenId> unkId() const override { return TokenId(0); }
  std::string chatTemplateSource() const override { return m_chatTemplate; }

  void setChatTemplate(std::string source) { m_chatTemplate = std::move(source); }
  /// The id a piece of text got (it must have been seen).
  TokenId idOf(const std::string& piece) const { return m_ids.at(piece); }

private:
  static bool isWordChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           static_cast<unsigned char>(c) >= 0x80;
  }
  TokenId idFor(const std::string& piece) const {
    const auto it = m_ids.find(piece);
    if (it != m_ids.end()) return it->second;
    const TokenId id = 100 + static_cast<TokenId>(m_ids.size());
    m_ids[piece] = id;
    m_tokens[id] = piece;
    return id;
  }

  bool m_addsBos;
  bool m_hasEos;
  std::vector<std::string> m_specials;
  std::string m_chatTemplate;
  mutable std::mutex m_mutex;
  mutable std::map<std::string, TokenId> m_ids;
  mutable std::map<TokenId, std::string> m_tokens;
};

/// A fresh directory per test, removed afterwards.
class TempDir {
public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("lorafa-data-") +
                       (info ? info->test_suite_name() + std::string("-") + info->name() : "x");
    m_path = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(m_path);
    std::filesystem::create_directories(m_path);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(m_path, ignored);
  }
  /// Writes `content` byte for byte to a file in the directory and returns its path.
  std::string write(const std::string& name, const std::string& content) const {
    const std::filesystem::path file = m_path / name;
    std::ofstream out(file, std::ios::binary);
    out << content;
    return file.string();
  }
  std::string path(const std::string& name) const { return (m_path / name).string(); }

private:
  std::filesystem::path m_path;
};

inline std::string fixturesDir() { return LORAFA_FIXTURES_DIR; }

} // namespace lorafa::testing
