#include "tokenize/HfTokenizer.h"

#include "io/StrictJson.h"
#include "lorafa/FormatError.h"
#include "tokenize/Unicode.h"

#include <algorithm>
#include <filesystem>
#include <unordered_map>
#include <fstream>
#include <sstream>

namespace lorafa {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, "cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw FormatError(path, "cannot read the file");
  return text.str();
}

Json parseJson(const std::string& text, const std::string& path) {
  if (const std::int64_t deep = findJsonTooDeep(text.data(), text.data() + text.size()); deep >= 0) {
    throw FormatError(path, "arrays and objects nest deeper than " + std::to_string(kMaxJsonDepth) +
                                " levels (at byte " + std::to_string(deep) + ")");
  }
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& error) {
    throw FormatError(path, "invalid JSON at byte " + std::to_string(error.byte) + ": " + error.what());
  } catch (const Json::exception& error) { // e.g. a number beyond a double (1e400)
    throw FormatError(path, std::string("invalid JSON: ") + error.what());
  }
}

std::vector<AddedToken> readAddedTokens(const TokenizerJson& root) {
  std::vector<AddedToken> tokens;
  if (!root.has("added_tokens")) return tokens;
  const auto& items = root.array("added_tokens");
  const TokenizerJson list = root.child("added_tokens");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const TokenizerJson item = list.element(items[i], i);
    AddedToken t;
    t.id = item.integer("id");
    if (t.id < 0) item.failAt("id", "must not be negative");
    t.content = item.string("content");
    if (t.content.empty()) item.failAt("content", "must not be empty");
    t.special = item.boolean("special", false);
    t.singleWord = item.boolean("single_word", false);
    t.lstrip = item.boolean("lstrip", false);
    t.rstrip = item.boolean("rstrip", false);
    t.normalized = item.boolean("normalized", !t.special);
    tokens.push_back(std::move(t));
  }
  return tokens;
}

// The reference does not take the ids written in "added_tokens": it gives each token the model's
// id for the same content, or else the next id past the vocabulary (its add_tokens). Files it
// wrote agree with that; for a hand-edited file that does not, the reference's ids are the ones
// the model was trained with, so they are the ones used here. A content listed twice keeps its
// first id and the later options.
std::vector<AddedToken> assignIds(std::vector<AddedToken> tokens, const TokenModel& model) {
  std::vector<AddedToken> out;
  std::unordered_map<std::string, std::size_t> index;
  const auto vocabularySize = static_cast<TokenId>(model.vocabularySize());
  std::optional<TokenId> maxId;
  for (AddedToken& token : tokens) {
    const auto known = index.find(token.content);
    if (known != index.end()) {
      token.id = out[known->second].id;
      out[known->second] = std::move(token);
      continue;
    }
    if (const auto id = model.tokenToId(token.content)) {
      token.id = *id;
    } else if (!maxId) {
      token.id = vocabularySize;
    } else {
      token.id = (*maxId >= vocabularySize || vocabularySize == 0) ? *maxId + 1 : vocabularySize;
    }
    maxId = std::max(maxId.value_or(token.id), token.id);
    index.emplace(token.content, out.size());
    out.push_back(std::move(token));
  }
  return out;
}

} // namespace

std::shared_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
  std::error_code ec;
  fs::path file(path);
  if (fs::is_directory(file, ec)) {
    file /= "tokenizer.json";
    if (!fs::exists(file, ec)) throw FormatError(path, "the directory has no tokenizer.json");
  } else if (!fs::exists(file, ec)) {
    throw FormatError(path, "no such file or directory");
  }
  const fs::path config = file.parent_path() / "tokenizer_config.json";
  return HfTokenizer::fromFiles(file.string(), fs::exists(config, ec) ? config.string() : std::string());
}

std::shared_ptr<HfTokenizer> HfTokenizer::fromFiles(const std::string& tokenizerJson,
                                                    const std::string& configJson) {
  std::shared_ptr<HfTokenizer> tokenizer = fromJsonText(readFile(tokenizerJson), tokenizerJson);
  if (!configJson.empty()) tokenizer->readConfig(configJson);
  return tokenizer;
}

std::shared_ptr<HfTokenizer> HfTokenizer::fromJsonText(const std::string& text, const std::string& name) {
  const Json json = parseJson(text, name);
  const TokenizerJson root(json, name, "");
  if (!json.is_object()) root.fail("expected a JSON object");
  std::shared_ptr<HfTokenizer> t(new HfTokenizer());
  static const Json null;
  const auto part = [&](const char* key) {
    return root.has(key) ? root.child(key) : TokenizerJson(null, name, key);
  };
  t->m_normalizer = makeNormalizer(part("normalizer"));
  t->m_preTokenizer = makePreTokenizer(part("pre_tokenizer"));
  t->m_model = makeModel(root.child("model"));
  t->m_postProcessor = makePostProcessor(part("post_processor"));
  t->m_decoder = makeDecoder(part("decoder"));
  t->m_added = AddedVocabulary(assignIds(readAddedTokens(root), *t->m_model), t->m_normalizer.get());
  return t;
}

void HfTokenizer::readConfig(const std::string& path) {
  const Json json = parseJson(readFile(path), path);
  const TokenizerJson config(json, path, "");
  if (!json.is_object()) config.fail("expected a JSON object");
  // bos_token etc. are a string, an {"content": ...} object (AddedToken form) or null.
  const auto special = [&](const char* key) -> std::optional<TokenId> {
    if (!config.has(key)) return std::nullopt;
    const Json& value = json.at(key);
    std::string content;
    if (value.is_string()) {
      content = value.get<std::string>();
    } else if (value.is_object()) {
      content = config.child(key).string("content");
    } else {
      config.failAt(key, "expected a string, an object with \"content\" or null, found " + value.dump());
    }
    const auto id = tokenToId(content);
    if (!id) config.failAt(key, "\"" + content + "\" is not a token of the tokenizer");
    return id;
  };
  m_bosId = special("bos_token");
  m_eosId = special("eos_token");
  m_padId = special("pad_token");
  m_unkId = special("unk_token");

  if (config.has("chat_template")) {
    const Json& value = json.at("chat_template");
    if (value.is_string()) {
      m_chatTemplate = value.get<std::string>();
    } else if (value.is_array()) {
      // Several named templates: [{"name": "default", "template": "..."}, ...]; "default" is the one
      // a plain chat uses.
      const TokenizerJson list = config.child("chat_template");
      for (std::size_t i = 0; i < value.size(); ++i) {
        const TokenizerJson entry = list.element(value[i], i);
        if (entry.string("name") == "default") m_chatTemplate = entry.string("template");
      }
    } else {
      config.failAt("chat_template", "expected a string or a list of named templates, found " + value.dump());
    }
  } else {
    // Newer checkpoints keep the template in its own file.
    const fs::path jinja = fs::path(path).parent_path() / "chat_template.jinja";
    std::error_code ec;
    if (fs::exists(jinja, ec)) m_chatTemplate = readFile(jinja.string());
  }
}

std::vector<TokenId> HfTokenizer::encode(std::string_view input, bool addSpecialTokens) const {
  // The stages below rely on valid UTF-8 (the reference's strings always are): invalid bytes
  // become U+FFFD, as a decoder reading the file would make them.
  std::string repaired;
  std::string_view text = input;
  if (!unicode::isValidUtf8(input)) {
    repaired = unicode::fromUtf8Lossy(input);
    text = repaired;
  }
  std::vector<TokenId> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<AddedVocabulary::Piece> rawPieces;
  m_added.split(text, AddedVocabulary::Stage::Raw, rawPieces);
  std::vector<AddedVocabulary::Piece> pieces;
  TextSplits splits;
  for (const AddedVocabulary::Piece& raw : rawPieces) {
    if (raw.id) {
      ids.push_back(*raw.id);
      continue;
    }
    std::string normalized(raw.text);
    // Only the first character of the input starts at its start, until normalization says otherwise.
    std::size_t originChars = raw.offset == 0 ? 1 : 0;
    if (m_normalizer) m_normalizer->normalizeTracked(normalized, originChars);
    pieces.clear();
    m_added.split(normalized, AddedVocabulary::Stage::Normalized, pieces);
    for (const AddedVocabulary::Piece& piece : pieces) {
      if (piece.id) {
        ids.push_back(*piece.id);
        continue;
      }
      splits.clear();
      splits.push_back({std::string(piece.text), originChars > 0 && piece.offset == 0});
      if (m_preTokenizer) m_preTokenizer->preTokenize(splits);
      for (const TextSplit& split : splits)
        m_model->tokenize(split.text, ids);
    }
  }
  if (addSpecialTokens && m_postProcessor) m_postProcessor->process(ids);
  return ids;
}

std::string HfTokenizer::decode(const std::vector<TokenId>& ids, bool skipSpecialTokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const TokenId id : ids) {
    const std::string* token = m_added.token(id);
    if (token == nullptr) token = m_model->idToToken(id);
    if (token == nullptr) continue; // the reference drops ids it does not know
    if (skipSpecialTokens && m_added.isSpecialContent(*token)) continue;
    tokens.push_back(*token);
  }
  std::string text;
  if (m_decoder) {
    for (const std::string& part : m_decoder->decodeChain(std::move(tokens)))
      text.append(part);
  } else {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) text.push_back(' ');
      text.append(tokens[i]);
    }
  }
  return text;
}

std::int64_t HfTokenizer::vocabSize() const {
  return std::max<std::int64_t>(m_model->endId(), m_added.maxId().value_or(-1) + 1);
}

std::optional<TokenId> HfTokenizer::tokenToId(std::string_view token) const {
  if (const auto id = m_added.find(token)) return id;
  return m_model->tokenToId(token);
}

std::optional<std::string> HfTokenizer::idToToken(TokenId id) const {
  if (const std::string* token = m_added.token(id)) return *token;
  if (const std::string* token = m_model->idToToken(id)) return *token;
  return std::nullopt;
}

} // namespace lorafa
