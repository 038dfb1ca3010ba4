// Token ids and decoded text against the official Hugging Face implementation: the fixtures were
// written by tests/fixtures/tokenizers/generate_reference.py with the PyPI package `tokenizers`.
#include "lorafa/Tokenizer.h"
#include "tokenize/HfTokenizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const fs::path kFixtures = fs::path(LORAFA_FIXTURES_DIR) / "tokenizers";

Json readJson(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return Json::parse(in);
}

std::string readText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Printable form of a test text for failure messages.
std::string quoted(const std::string& text) {
  std::string out = Json(text).dump();
  return out.size() > 160 ? out.substr(0, 160) + "...\"" : out;
}

std::string idList(const std::vector<lorafa::TokenId>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size() && i < 40; ++i)
    out += (i ? " " : "") + std::to_string(ids[i]);
  return ids.size() > 40 ? out + " ..." : out;
}

// The same edit generate_reference.py makes (metaspace_variant): the Mistral tokenizer in the
// newer layout with a Metaspace pre-tokenizer (prepend_scheme "first") and decoder.
std::shared_ptr<lorafa::Tokenizer> metaspaceVariant() {
  Json t = Json::parse(readText(kFixtures / "mistral" / "tokenizer.json"));
  const Json metaspace = {
      {"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}, {"split", false}};
  t["normalizer"] = nullptr;
  t["pre_tokenizer"] = metaspace;
  t["decoder"] = {{"type", "Sequence"},
                  {"decoders", Json::array({metaspace, {{"type", "ByteFallback"}}, {{"type", "Fuse"}}})}};
  return lorafa::HfTokenizer::fromJsonText(t.dump(), "mistral-metaspace (edited mistral/tokenizer.json)");
}

// Llama 3's tokenizer may not be redistributed: packaging/fetch-test-assets.sh builds it from PyPI
// packages into the git-ignored pypi/llama3/ (see tests/fixtures/tokenizers/llama3/NOTICE), or
// LORAFA_LLAMA3_TOKENIZER points to one.
fs::path llama3Path() {
  if (const char* env = std::getenv("LORAFA_LLAMA3_TOKENIZER")) return env;
  return kFixtures / "pypi" / "llama3" / "tokenizer.json";
}

// Compares ids (with and without special tokens), the decoding of the reference's ids (with and
// without special tokens) and, where the reference gets the text back, our round trip.
void compareWithReference(const lorafa::Tokenizer& tokenizer, const std::string& name, const Json& cases,
                          const Json& reference) {
  const lorafa::Tokenizer* const t = &tokenizer;
  int idsPass = 0;
  int decodePass = 0;
  int roundTrips = 0;
  int roundTripPass = 0;
  for (const Json& c : cases) {
    const std::string text = c.at("text");
    const auto ids = t->encode(text, true);
    const auto plain = t->encode(text, false);
    const auto expectedIds = c.at("ids").get<std::vector<lorafa::TokenId>>();
    const auto expectedPlain = c.at("ids_plain").get<std::vector<lorafa::TokenId>>();
    idsPass += ids == expectedIds && plain == expectedPlain;
    EXPECT_EQ(idList(ids), idList(expectedIds)) << name << " " << quoted(text);
    EXPECT_EQ(idList(plain), idList(expectedPlain)) << name << " (no special tokens) " << quoted(text);

    // Decoding the reference's ids must give the reference's text.
    const std::string decoded = t->decode(expectedIds, false);
    const std::string decodedSkip = t->decode(expectedIds, true);
    decodePass += decoded == c.at("decoded") && decodedSkip == c.at("decoded_skip_special");
    EXPECT_EQ(quoted(decoded), quoted(c.at("decoded"))) << name << " decode of " << quoted(text);
    EXPECT_EQ(quoted(decodedSkip), quoted(c.at("decoded_skip_special")))
        << name << " decode skipping special tokens of " << quoted(text);

    // Where the reference is lossless for this text, so are we.
    if (c.at("round_trip_exact").get<bool>()) {
      ++roundTrips;
      const std::string back = t->decode(plain, false);
      roundTripPass += back == text;
      EXPECT_EQ(quoted(back), quoted(text)) << name << " decode(encode(x)) != x";
    }
  }
  std::cout << "[ reference ] " << name << ": ids " << idsPass << "/" << cases.size() << ", decode "
            << decodePass << "/" << cases.size() << ", decode(encode(x)) == x " << roundTripPass << "/"
            << roundTrips << " (" << reference.get<std::string>() << ")\n";
}

class ReferenceTokenizerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceTokenizerTest, IdsAndDecodedTextEqualTheReference) {
  const std::string name = GetParam();
  std::shared_ptr<lorafa::Tokenizer> tokenizer;
  if (name == "mistral-metaspace") {
    tokenizer = metaspaceVariant();
  } else if (name == "llama3") {
    const fs::path path = llama3Path();
    if (!fs::exists(path)) {
      GTEST_SKIP() << "Llama 3 tokenizer not fetched (" << path.string()
                   << " is missing; it may not be committed): run bash packaging/fetch-test-assets.sh, "
                      "which builds it from the PyPI packages llama-models and tokenizers";
    }
    tokenizer = lorafa::Tokenizer::load(path.string());
  } else {
    tokenizer = lorafa::Tokenizer::load((kFixtures / name).string());
  }
  const Json expected = readJson(kFixtures / name / "expected.json");
  ASSERT_GT(expected.at("cases").size(), 50u);
  compareWithReference(*tokenizer, name, expected.at("cases"), expected.at("reference"));
}

// Fills in the placeholder the Unigram variants use for unigram-t5's Precompiled normalizer.
Json resolvePlaceholders(const Json& edit, const Json& precompiled) {
  if (edit.is_string() && edit.get<std::string>() == "T5_PRECOMPILED") return precompiled;
  Json out = edit;
  if (edit.is_object() || edit.is_array()) {
    for (auto it = out.begin(); it != out.end(); ++it)
      *it = resolvePlaceholders(*it, precompiled);
  }
  return out;
}

// The fixture stores each variant's edit (top-level fields replaced) and the reference's results.
void compareVariants(const fs::path& fixturePath, std::size_t minimumCount) {
  const Json fixture = readJson(fixturePath);
  ASSERT_GE(fixture.at("variants").size(), minimumCount);
  const Json t5 = Json::parse(readText(kFixtures / "unigram-t5" / "tokenizer.json"));
  const Json& precompiled = t5.at("normalizer").at("normalizers").at(0);
  for (const Json& variant : fixture.at("variants")) {
    const std::string name = variant.at("name");
    Json tokenizerJson =
        Json::parse(readText(kFixtures / variant.at("base").get<std::string>() / "tokenizer.json"));
    for (const auto& [key, value] : variant.at("edit").items())
      tokenizerJson[key] = resolvePlaceholders(value, precompiled);
    const auto tokenizer = lorafa::HfTokenizer::fromJsonText(tokenizerJson.dump(), name);
    compareWithReference(*tokenizer, name, variant.at("cases"), fixture.at("reference"));
  }
}

// Each normalizer, pre-tokenizer, post-processor and added-token option, as a variant of the GPT-2
// or BERT tokenizer.json.
TEST(ReferenceTokenizerTest, ComponentVariantsEqualTheReference) {
  compareVariants(kFixtures / "variants" / "expected.json", 21);
}

// The SentencePiece Unigram layouts in other combinations, and the normalizers that decide whether
// Metaspace's prepend_scheme "first" still sees the start of the text.
TEST(ReferenceTokenizerTest, UnigramVariantsEqualTheReference) {
  compareVariants(kFixtures / "unigram-variants" / "expected.json", 8);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, ReferenceTokenizerTest,
                         ::testing::Values("qwen3", "mistral", "mistral-metaspace", "gpt2", "bert", "llama3",
                                           "unigram-t5", "unigram-byte-fallback", "unigram-identity"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

// Small tokenizers built with the pipelines of Gemma 3 (SentencePiece BPE converted by
// transformers) and Phi-4-mini (byte-level BPE over the o200k split pattern); see their NOTICEs.
INSTANTIATE_TEST_SUITE_P(ChatModelFamilies, ReferenceTokenizerTest, ::testing::Values("gemma3", "phi4-mini"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "phi4-mini" ? std::string("phi4_mini") : info.param;
                         });

TEST(ReferenceTokenizerTest, SpecialTokensAndChatTemplateComeFromTokenizerConfig) {
  const auto qwen = lorafa::Tokenizer::load((kFixtures / "qwen3").string());
  EXPECT_EQ(qwen->eosId(), qwen->tokenToId("<|im_end|>"));
  EXPECT_EQ(qwen->padId(), qwen->tokenToId("<|endoftext|>"));
  EXPECT_FALSE(qwen->bosId().has_value());
  EXPECT_NE(qwen->chatTemplateSource().find("<|im_start|>"), std::string::npos);
  EXPECT_TRUE(qwen->isSpecial(*qwen->tokenToId("<|im_start|>")));
  EXPECT_FALSE(qwen->isSpecial(*qwen->tokenToId("hello")));
  EXPECT_EQ(qwen->vocabSize(), 151669);

  const auto mistral = lorafa::Tokenizer::load((kFixtures / "mistral" / "tokenizer.json").string());
  EXPECT_EQ(mistral->bosId(), 1);
  EXPECT_EQ(mistral->eosId(), 2);
  EXPECT_EQ(mistral->unkId(), 0);
  EXPECT_EQ(mistral->idToToken(13), "<0x0A>");
  EXPECT_EQ(mistral->vocabSize(), 32000);

  // GPT-2's config gives its tokens in the {"content": ...} form.
  const auto gpt2 = lorafa::Tokenizer::load((kFixtures / "gpt2").string());
  EXPECT_EQ(gpt2->bosId(), 50256);
  EXPECT_EQ(gpt2->eosId(), 50256);
  EXPECT_EQ(gpt2->vocabSize(), 50257);

  const auto bert = lorafa::Tokenizer::load((kFixtures / "bert").string());
  EXPECT_EQ(bert->padId(), 0);
  EXPECT_EQ(bert->unkId(), 100);
  EXPECT_EQ(bert->vocabSize(), 30522);
}

} // namespace
