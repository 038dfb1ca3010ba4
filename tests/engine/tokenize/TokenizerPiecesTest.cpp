// The tokenizer's parts on small hand-made tokenizer.json files.
#include "lorafa/FormatError.h"
#include "lorafa/Tokenizer.h"
#include "tokenize/ByteLevelAlphabet.h"
#include "tokenize/HfTokenizer.h"
#include "tokenize/Unicode.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Ids = std::vector<lorafa::TokenId>;

std::shared_ptr<lorafa::HfTokenizer> fromJson(const Json& json) {
  return lorafa::HfTokenizer::fromJsonText(json.dump(), "test tokenizer.json");
}

// A byte-level BPE over "a", "b", "c", " " with merges a+b → ab, ab+c → abc, Ġ+a → Ġa.
Json tinyByteLevel(const Json& merges) {
  return {{"version", "1.0"},
          {"added_tokens", Json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
          {"post_processor", nullptr},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model",
           {{"type", "BPE"},
            {"vocab",
             {{"a", 0},
              {"b", 1},
              {"c", 2},
              {"\xC4\xA0", 3},
              {"ab", 4},
              {"abc", 5},
              {"\xC4\xA0"
               "a",
               6}}},
            {"merges", merges}}}};
}

TEST(ByteLevelAlphabet, PrintableBytesStandForThemselvesOthersMoveAbove255) {
  const auto& alphabet = lorafa::ByteLevelAlphabet::instance();
  EXPECT_EQ(alphabet.charFor(' '), U'\u0120');  // "Ġ"
  EXPECT_EQ(alphabet.charFor('\n'), U'\u010A'); // "Ċ"
  EXPECT_EQ(alphabet.charFor(0), U'\u0100');
  EXPECT_EQ(alphabet.charFor('A'), U'A');
  EXPECT_EQ(alphabet.charFor(0xE9), U'\u00E9');
  EXPECT_EQ(alphabet.charFor(0xAD), U'\u0143'); // the soft hyphen byte is the last one moved
  std::set<char32_t> seen;
  for (int b = 0; b < 256; ++b) {
    seen.insert(alphabet.charFor(static_cast<unsigned char>(b)));
    EXPECT_EQ(alphabet.byteFor(alphabet.charFor(static_cast<unsigned char>(b))), b);
  }
  EXPECT_EQ(seen.size(), 256u);
  std::string bytes;
  const std::string text = "h\xC3\xA9llo \n\x01";
  ASSERT_TRUE(alphabet.decode(alphabet.encode(text), bytes));
  EXPECT_EQ(bytes, text);
  EXPECT_FALSE(alphabet.decode("\xE4\xB8\xAD", bytes)); // 中 is not in the alphabet
}

TEST(Utf8, LossyDecodingReplacesEachMaximalInvalidSubsequence) {
  using lorafa::unicode::fromUtf8Lossy;
  EXPECT_EQ(fromUtf8Lossy("ok \xE2\x82\xAC"), "ok \xE2\x82\xAC");
  EXPECT_EQ(fromUtf8Lossy("a\xF0\x9F"
                          "b"),
            "a\xEF\xBF\xBD"
            "b");                                                   // truncated 4-byte sequence
  EXPECT_EQ(fromUtf8Lossy("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD"); // overlong: two errors
  EXPECT_EQ(fromUtf8Lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); // a surrogate
  EXPECT_FALSE(lorafa::unicode::isValidUtf8("\xFF"));
}

TEST(BpeModel, MergesAsStringsAndAsPairsGiveTheSameIds) {
  const auto legacy = fromJson(tinyByteLevel(Json::array({"a b", "ab c", "\xC4\xA0 a"})));
  const auto pairs = fromJson(tinyByteLevel(
      Json::array({Json::array({"a", "b"}), Json::array({"ab", "c"}), Json::array({"\xC4\xA0", "a"})})));
  for (const std::string text : {"abc", "abc abc", "cab", " a", "ba"}) {
    EXPECT_EQ(legacy->encode(text), pairs->encode(text)) << text;
  }
  EXPECT_EQ(legacy->encode("abc ab"), (Ids{5, 3, 4}));
  EXPECT_EQ(legacy->encode("cab"), (Ids{2, 4}));
  EXPECT_EQ(legacy->decode({5, 6, 1}), "abc ab");
}

TEST(BpeModel, LowerRankMergesFirstAndIgnoreMergesTakesWholeWords) {
  // "abc": with b+c ranked first the word becomes a + bc; ignore_merges emits "abc" directly.
  Json json = tinyByteLevel(Json::array({"b c", "a b", "ab c"}));
  json["model"]["vocab"]["bc"] = 7;
  EXPECT_EQ(fromJson(json)->encode("abc"), (Ids{0, 7}));
  json["model"]["ignore_merges"] = true;
  EXPECT_EQ(fromJson(json)->encode("abc"), (Ids{5}));
}

TEST(BpeModel, ByteFallbackUsesByteTokensAndTheDecoderRebuildsText) {
  Json vocab = {{"<unk>", 0}, {"\xE2\x96\x81", 1}, {"h", 2}, {"i", 3}, {"hi", 4}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 5 + b;
  }
  const Json json = {
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         Json::array({{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                      {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}})}}},
      {"pre_tokenizer", nullptr},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         Json::array({{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                      {{"type", "ByteFallback"}},
                      {{"type", "Fuse"}},
                      {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}},
      {"model",
       {{"type", "BPE"},
        {"byte_fallback", true},
        {"fuse_unk", true},
        {"unk_token", "<unk>"},
        {"vocab", vocab},
        {"merges", Json::array({"h i"})}}}};
  const auto t = fromJson(json);
  // "hi é": ▁ hi ▁ then é as the bytes C3 A9.
  const Ids ids = t->encode("hi \xC3\xA9");
  EXPECT_EQ(ids, (Ids{1, 4, 1, 5 + 0xC3, 5 + 0xA9}));
  EXPECT_EQ(t->decode(ids), "hi \xC3\xA9");
  // A lone continuation byte is not text: each byte of the run becomes U+FFFD.
  EXPECT_EQ(t->decode({4, 5 + 0xA9}), "hi\xEF\xBF\xBD");

  // Without byte tokens, unknown characters become <unk>, fused into one per run.
  Json noBytes = json;
  noBytes["model"]["byte_fallback"] = false;
  EXPECT_EQ(fromJson(noBytes)->encode("hi\xC3\xA9\xC3\xA9"), (Ids{1, 4, 0}));
  noBytes["model"]["fuse_unk"] = false;
  EXPECT_EQ(fromJson(noBytes)->encode("hi\xC3\xA9\xC3\xA9"), (Ids{1, 4, 0, 0}));
}

Json withAddedTokens(const Json& added) {
  Json json = tinyByteLevel(Json::array({"a b", "ab c", "\xC4\xA0 a"}));
  json["added_tokens"] = added;
  return json;
}

Json addedToken(int id, const std::string& content, bool special, Json extra = Json::object()) {
  Json t = {{"id", id},        {"content", content}, {"special", special},    {"single_word", false},
            {"lstrip", false}, {"rstrip", false},    {"normalized", !special}};
  for (const auto& [k, v] : extra.items())
    t[k] = v;
  return t;
}

TEST(AddedTokens, AreSplitOutBeforeTheModelLongestFirst) {
  const auto t = fromJson(withAddedTokens(
      Json::array({addedToken(7, "<x>", true), addedToken(8, "<x><y>", true), addedToken(9, "bc", false)})));
  EXPECT_EQ(t->encode("ab<x>c"), (Ids{4, 7, 2}));
  EXPECT_EQ(t->encode("<x><y>a"), (Ids{8, 0}));
  EXPECT_EQ(t->encode("abc"), (Ids{0, 9})); // a non-special added token wins over the merges
  EXPECT_TRUE(t->isSpecial(7));
  EXPECT_FALSE(t->isSpecial(9));
  EXPECT_EQ(t->decode({4, 7, 2}), "ab<x>c");
  EXPECT_EQ(t->decode({4, 7, 2}, true), "abc");
  EXPECT_EQ(t->tokenToId("<x><y>"), 8);
  EXPECT_EQ(t->vocabSize(), 10);
}

TEST(AddedTokens, TakeTheModelsIdOrTheNextFreeOneLikeTheReference) {
  // The ids written in the file are not used: "ab" is the model's 4, the others follow the vocabulary.
  const auto t = fromJson(withAddedTokens(Json::array(
      {addedToken(100, "<x>", true), addedToken(101, "ab", false), addedToken(102, "<y>", true)})));
  EXPECT_EQ(t->tokenToId("<x>"), 7);
  EXPECT_EQ(t->tokenToId("ab"), 4);
  EXPECT_EQ(t->tokenToId("<y>"), 8);
  EXPECT_EQ(t->vocabSize(), 9);
}

TEST(AddedTokens, StripAndSingleWordOptions) {
  const auto t = fromJson(withAddedTokens(Json::array({
      addedToken(7, "<m>", true, {{"lstrip", true}, {"rstrip", true}}),
      addedToken(8, "cab", false, {{"single_word", true}}),
  })));
  EXPECT_EQ(t->encode("a  <m>  b"), (Ids{0, 7, 1})); // the spaces around <m> belong to it
  EXPECT_EQ(t->encode("cab a"), (Ids{8, 6}));
  EXPECT_EQ(t->encode("acab"), (Ids{0, 2, 4})); // inside a word: not the added token
}

TEST(TokenizerJson, MalformedFilesNameTheFileAndTheProblem) {
  const fs::path dir = fs::temp_directory_path() / ("lorafa-tokenizer-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto write = [&](const std::string& text) {
    std::ofstream(dir / "tokenizer.json") << text;
    return (dir / "tokenizer.json").string();
  };
  const auto problem = [&](const std::string& path) -> std::string {
    try {
      lorafa::Tokenizer::load(path);
    } catch (const lorafa::FormatError& error) {
      EXPECT_EQ(error.path(), path);
      return error.what();
    }
    return "no error";
  };

  const std::string file = write("{\"model\": {\"type\": \"BPE\", ");
  EXPECT_NE(problem(file).find("invalid JSON at byte"), std::string::npos) << problem(file);

  Json json = tinyByteLevel(Json::array({"a b"}));
  json["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", Json::array({{{"type", "Frobnicate"}}})}};
  EXPECT_NE(problem(write(json.dump()))
                .find("pre_tokenizer.pretokenizers[0]: unsupported pre-tokenizer type \"Frobnicate\""),
            std::string::npos)
      << problem(file);

  json = tinyByteLevel(Json::array({"a b", "b zz"}));
  EXPECT_NE(problem(write(json.dump())).find("model.merges[1]: merge part \"zz\" is not in the vocabulary"),
            std::string::npos)
      << problem(file);

  json = tinyByteLevel(Json::array({"a b c"}));
  EXPECT_NE(problem(write(json.dump())).find("model.merges[0]: expected \"a b\""), std::string::npos)
      << problem(file);

  json = tinyByteLevel(Json::array());
  json["decoder"] = {{"type", "CTC"}};
  EXPECT_NE(problem(write(json.dump())).find("decoder: unsupported decoder type \"CTC\""), std::string::npos);

  json = tinyByteLevel(Json::array());
  json["normalizer"] = {{"type", "Precompiled"}};
  EXPECT_NE(problem(write(json.dump())).find("normalizer.precompiled_charsmap: missing required field"),
            std::string::npos);

  json = tinyByteLevel(Json::array());
  json["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  EXPECT_NE(problem(write(json.dump())).find("pre_tokenizer.pattern.Regex: invalid regular expression"),
            std::string::npos);

  json = tinyByteLevel(Json::array());
  json.erase("model");
  EXPECT_NE(problem(write(json.dump())).find("model: missing required field"), std::string::npos);

  // tokenizer_config.json is checked too, and named.
  write(tinyByteLevel(Json::array()).dump());
  std::ofstream(dir / "tokenizer_config.json") << R"({"eos_token": "<|nope|>"})";
  try {
    lorafa::Tokenizer::load(dir.string());
    ADD_FAILURE() << "no error";
  } catch (const lorafa::FormatError& error) {
    EXPECT_EQ(error.path(), (dir / "tokenizer_config.json").string());
    EXPECT_NE(std::string(error.what()).find("eos_token: \"<|nope|>\" is not a token"), std::string::npos);
  }

  fs::remove_all(dir);
  EXPECT_NE(problem(dir.string()).find("no such file or directory"), std::string::npos);
}

TEST(Pipeline, WordPieceLongWordsAndBertNormalization) {
  const Json json = {
      {"normalizer", {{"type", "BertNormalizer"}, {"lowercase", true}, {"strip_accents", nullptr}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
      {"post_processor", {{"type", "BertProcessing"}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 2}}}},
      {"model",
       {{"type", "WordPiece"},
        {"unk_token", "[UNK]"},
        {"max_input_chars_per_word", 12},
        {"vocab",
         {{"[UNK]", 0},
          {"un", 1},
          {"[CLS]", 2},
          {"[SEP]", 3},
          {"##aff", 4},
          {"##able", 5},
          {"cafe", 6},
          {"!", 7},
          {"\xE4\xB8\xAD", 8}}}}}};
  const auto t = fromJson(json);
  EXPECT_EQ(t->encode("Unaffable CAF\xC3\x89!"), (Ids{2, 1, 4, 5, 6, 7, 3}));
  EXPECT_EQ(t->encode("unaffableunaffable", false), (Ids{0})); // longer than max_input_chars_per_word
  EXPECT_EQ(t->encode("a\xE4\xB8\xAD"
                      "cafe",
                      false),
            (Ids{0, 8, 6}));
  EXPECT_EQ(t->decode({1, 4, 5, 6, 7}), "unaffable cafe!");
}

TEST(Pipeline, InvalidUtf8InputIsReadAsReplacementCharacters) {
  const auto t = lorafa::Tokenizer::load(std::string(LORAFA_FIXTURES_DIR) + "/tokenizers/gpt2");
  const Ids ids = t->encode("a\xFF"
                            "b");
  EXPECT_EQ(t->decode(ids), "a\xEF\xBF\xBD"
                            "b");
}

TEST(Pipeline, ConcurrentEncodingGivesTheSameIds) {
  const auto t = lorafa::Tokenizer::load(std::string(LORAFA_FIXTURES_DIR) + "/tokenizers/gpt2");
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i)
    texts.push_back("word" + std::to_string(i * 7919) + " and more words, " + std::to_string(i));
  std::vector<Ids> expected;
  for (const auto& text : texts)
    expected.push_back(t->encode(text));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int round = 0; round < 5; ++round) {
        for (std::size_t i = 0; i < texts.size(); ++i)
          mismatches[k] += t->encode(texts[i]) != expected[i];
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  for (int k = 0; k < 4; ++k)
    EXPECT_EQ(mismatches[k], 0);
}

} // namespace
