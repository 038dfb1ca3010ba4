// Post-processors of tokenizer.json: the special tokens put around a sequence (BOS, CLS/SEP).
#include "tokenize/Components.h"

#include <map>

namespace lorafa {
namespace {

class TemplatePostProcessor : public PostProcessor {
public:
  // A template is a list of special-token id lists and the sequence's place (an empty optional).
  explicit TemplatePostProcessor(std::vector<std::optional<std::vector<TokenId>>> parts)
      : m_parts(std::move(parts)) {}
  void process(std::vector<TokenId>& ids) const override {
    std::vector<TokenId> out;
    out.reserve(ids.size() + 4);
    for (const auto& part : m_parts) {
      if (part) {
        out.insert(out.end(), part->begin(), part->end());
      } else {
        out.insert(out.end(), ids.begin(), ids.end());
      }
    }
    ids.swap(out);
  }

private:
  std::vector<std::optional<std::vector<TokenId>>> m_parts;
};

class SequencePostProcessor : public PostProcessor {
public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> parts)
      : m_parts(std::move(parts)) {}
  void process(std::vector<TokenId>& ids) const override {
    for (const auto& part : m_parts)
      part->process(ids);
  }

private:
  std::vector<std::unique_ptr<PostProcessor>> m_parts;
};

class NoPostProcessor : public PostProcessor {
public:
  void process(std::vector<TokenId>&) const override {}
};

std::unique_ptr<PostProcessor> makeTemplate(const TokenizerJson& json) {
  // special_tokens: {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}
  std::map<std::string, std::vector<TokenId>> specials;
  if (json.has("special_tokens")) {
    const TokenizerJson specialJson = json.child("special_tokens");
    for (const auto& [name, value] : json.object("special_tokens").items()) {
      const TokenizerJson entry(value, specialJson.file(), specialJson.where() + "." + name);
      std::vector<TokenId> ids;
      for (const auto& id : entry.array("ids")) {
        if (!id.is_number_integer()) entry.failAt("ids", "expected integers, found " + id.dump());
        ids.push_back(id.get<TokenId>());
      }
      specials[name] = std::move(ids);
    }
  }
  std::vector<std::optional<std::vector<TokenId>>> parts;
  const auto& single = json.array("single");
  const TokenizerJson singleJson = json.child("single");
  for (std::size_t i = 0; i < single.size(); ++i) {
    const TokenizerJson piece = singleJson.element(single[i], i);
    if (piece.has("SpecialToken")) {
      const std::string name = piece.child("SpecialToken").string("id");
      const auto it = specials.find(name);
      if (it == specials.end()) piece.fail("special token \"" + name + "\" is not in \"special_tokens\"");
      parts.emplace_back(it->second);
    } else if (piece.has("Sequence")) {
      parts.emplace_back(std::nullopt);
    } else {
      piece.fail("expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    }
  }
  return std::make_unique<TemplatePostProcessor>(std::move(parts));
}

// "cls"/"sep" given as ["[CLS]", 101].
TokenId tokenPairId(const TokenizerJson& json, const char* key) {
  const auto& pair = json.array(key);
  if (pair.size() != 2 || !pair[0].is_string() || !pair[1].is_number_integer()) {
    json.failAt(key, "expected [token, id], found " + pair.dump());
  }
  return pair[1].get<TokenId>();
}

} // namespace

std::unique_ptr<PostProcessor> makePostProcessor(const TokenizerJson& json) {
  if (json.json().is_null()) return nullptr;
  const std::string type = json.type();
  if (type == "TemplateProcessing") return makeTemplate(json);
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    // [CLS] A [SEP] (BERT) and <s> A </s> (RoBERTa) for a single sequence.
    const TokenId cls = tokenPairId(json, "cls");
    const TokenId sep = tokenPairId(json, "sep");
    return std::make_unique<TemplatePostProcessor>(std::vector<std::optional<std::vector<TokenId>>>{
        std::vector<TokenId>{cls}, std::nullopt, std::vector<TokenId>{sep}});
  }
  if (type == "ByteLevel") return std::make_unique<NoPostProcessor>(); // only trims offsets
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PostProcessor>> parts;
    const auto& items = json.array("processors");
    const TokenizerJson list = json.child("processors");
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (auto part = makePostProcessor(list.element(items[i], i))) parts.push_back(std::move(part));
    }
    return std::make_unique<SequencePostProcessor>(std::move(parts));
  }
  json.unsupportedType("post-processor");
}

} // namespace lorafa
