// The Unigram model and the Precompiled normalizer on small hand-made cases. Every expected value
// was computed with the reference (PyPI tokenizers 0.23.3) on the same vocabulary and text.
#include "lorafa/FormatError.h"
#include "tokenize/HfTokenizer.h"
#include "tokenize/PrecompiledCharsmap.h"
#include "tokenize/Unicode.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Ids = std::vector<lorafa::TokenId>;

Json unigramJson(const Json& vocab, const Json& unkId, bool byteFallback = false) {
  return {
      {"version", "1.0"},
      {"normalizer", nullptr},
      {"pre_tokenizer", nullptr},
      {"decoder", nullptr},
      {"model", {{"type", "Unigram"}, {"unk_id", unkId}, {"vocab", vocab}, {"byte_fallback", byteFallback}}}};
}

std::shared_ptr<lorafa::HfTokenizer> fromJson(const Json& json) {
  return lorafa::HfTokenizer::fromJsonText(json.dump(), "test tokenizer.json");
}

// The example of the reference's documentation.
const Json kDocVocab = Json::parse(R"([["<unk>", 0.0], ["a", 0.0], ["b", 0.0], ["c", 0.0], ["d", 0.0],
                                       ["cd", 1.0], ["ab", 2.0], ["abc", 5.0], ["abcd", 10.0]])");

std::string readText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

lorafa::PrecompiledCharsmap t5Charsmap() {
  const Json t5 =
      Json::parse(readText(fs::path(LORAFA_FIXTURES_DIR) / "tokenizers" / "unigram-t5" / "tokenizer.json"));
  const std::string encoded = t5.at("normalizer").at("normalizers").at(0).at("precompiled_charsmap");
  return lorafa::PrecompiledCharsmap(lorafa::decodeBase64(encoded));
}

std::string problem(const Json& json) {
  try {
    fromJson(json);
  } catch (const lorafa::FormatError& error) {
    EXPECT_EQ(error.path(), "test tokenizer.json");
    return error.what();
  }
  return "no error";
}

TEST(UnigramModel, ViterbiTakesTheBestScoreAndFusesUnknownCharacters) {
  const auto tokenizer = fromJson(unigramJson(kDocVocab, 0));
  EXPECT_EQ(tokenizer->encode("abcdacdxx", false), (Ids{8, 1, 5, 0})); // abcd a cd xx(unknown)
  EXPECT_EQ(tokenizer->encode("", false), Ids{});
  EXPECT_EQ(tokenizer->idToToken(8), "abcd");
  EXPECT_EQ(tokenizer->vocabSize(), 9);
}

TEST(UnigramModel, EqualScoresKeepThePathFoundFirst) {
  const auto tokenizer =
      fromJson(unigramJson(Json::parse(R"([["<unk>", 0], ["a", -1], ["b", -1], ["ab", -2]])"), 0));
  EXPECT_EQ(tokenizer->encode("abab", false), (Ids{3, 3})); // "ab" = "a" + "b", and "ab" comes first
}

TEST(UnigramModel, TheUnknownPieceInTheTextFusesWithUnknownCharacters) {
  const auto tokenizer = fromJson(unigramJson(Json::parse(R"([["<unk>", 0], ["a", -1]])"), 0));
  EXPECT_EQ(tokenizer->encode("x<unk>y", false), Ids{0});
  EXPECT_EQ(tokenizer->encode("axxa", false), (Ids{1, 0, 1}));
  EXPECT_EQ(tokenizer->encode("a<unk>", false), (Ids{1, 0}));
}

TEST(UnigramModel, ByteFallbackNeedsEveryByteOfTheUnknownRun) {
  const auto tokenizer = fromJson(
      unigramJson(Json::parse(R"([["<unk>", 0], ["a", -1], ["<0xC3>", -5], ["<0xA9>", -5]])"), 0, true));
  EXPECT_EQ(tokenizer->encode("a\xC3\xA9", false), (Ids{1, 2, 3})); // "aé"
  EXPECT_EQ(tokenizer->encode("a\xC3\xBC", false), (Ids{1, 0}));    // "aü": no <0xBC>
  EXPECT_EQ(tokenizer->encode("\xC3\xA9\xC3\xA9"
                              "a",
                              false),
            (Ids{2, 3, 2, 3, 1})); // "ééa", one run
}

TEST(UnigramModel, WithoutUnkIdOnlyATextThatNeedsTheUnknownPieceFails) {
  const Json vocab = Json::parse(R"([["a", -1], ["ab", -1], ["bc", -1]])");
  const auto tokenizer = fromJson(unigramJson(vocab, nullptr));
  EXPECT_FALSE(tokenizer->unkId().has_value());
  // "b" has no piece of its own, but "a" + "bc" wins over an unknown "b": no error.
  EXPECT_EQ(tokenizer->encode("abc", false), (Ids{0, 2}));
  try {
    tokenizer->encode("ax", false);
    ADD_FAILURE() << "no error";
  } catch (const lorafa::FormatError& error) {
    EXPECT_NE(std::string(error.what()).find("unk_id is null"), std::string::npos) << error.what();
  }
}

TEST(UnigramModel, MalformedModelsNameTheFieldAndTheProblem) {
  Json json = unigramJson(Json::object({{"a", 0}}), 0);
  EXPECT_NE(problem(json).find("model.vocab: expected an array, found object"), std::string::npos)
      << problem(json);
  json = unigramJson(Json::parse(R"([["<unk>", 0], ["a"]])"), 0);
  EXPECT_NE(problem(json).find("model.vocab[1]: expected a [\"piece\", score] pair, found [\"a\"]"),
            std::string::npos)
      << problem(json);
  json = unigramJson(Json::parse(R"([["<unk>", 0], [1, 2]])"), 0);
  EXPECT_NE(problem(json).find("model.vocab[1]: expected a [\"piece\", score] pair"), std::string::npos);
  json = unigramJson(Json::parse(R"([["<unk>", 0], ["a", -1]])"), 2);
  EXPECT_NE(problem(json).find("model.unk_id: 2 is not an index of the 2 vocabulary entries"),
            std::string::npos)
      << problem(json);
  json = unigramJson(Json::array(), 0);
  EXPECT_NE(problem(json).find("model.unk_id: is set but the vocabulary is empty"), std::string::npos);
  json = unigramJson(Json::parse(R"([["<unk>", 0]])"), "0");
  EXPECT_NE(problem(json).find("model.unk_id: expected an integer, found string"), std::string::npos);
  json = unigramJson(Json::parse(R"([["<unk>", 0]])"), 0);
  json["model"]["byte_fallback"] = "yes";
  EXPECT_NE(problem(json).find("model.byte_fallback: expected true or false"), std::string::npos);
}

TEST(PrecompiledCharsmap, FollowsTheReferenceClusterByCluster) {
  const lorafa::PrecompiledCharsmap charsmap = t5Charsmap();
  EXPECT_EQ(charsmap.normalize("\r\n"), " "); // one cluster: the rule for "\r" replaces both
  EXPECT_EQ(charsmap.normalize("a\r\nb"), "a b");
  EXPECT_EQ(charsmap.normalize("\xEF\xAC\x81"), "fi"); // U+FB01 ligature
  EXPECT_EQ(charsmap.normalize("\xEF\xBD\x86\xEF\xBD\x95\xEF\xBD\x8C\xEF\xBD\x8C"), "full"); // fullwidth
  EXPECT_EQ(charsmap.normalize("e\xCC\x81"), "\xC3\xA9");      // e + U+0301 → é
  EXPECT_EQ(charsmap.normalize("k\xCC\x81"), "\xE1\xB8\xB1");  // k + U+0301 → U+1E31
  EXPECT_EQ(charsmap.normalize("\xEF\xAC\x81\xCC\x81"), "fi"); // the shortest rule drops the accent
  EXPECT_EQ(charsmap.normalize(std::string("\0x", 2)), std::string("\0x", 2)); // NUL ends a lookup
  EXPECT_EQ(charsmap.normalize("a\xE2\x80\x8B"
                               "b"),
            "a b");                                                                        // U+200B
  EXPECT_EQ(charsmap.normalize("\xE2\x91\xA0"), "1");                                      // U+2460
  EXPECT_EQ(charsmap.normalize("x\xCC\x81\xCC\x82\xCC\x83"), "x\xCC\x81\xCC\x82\xCC\x83"); // 7 bytes
  EXPECT_EQ(charsmap.normalize("\xC3\x85"), "\xC3\x85");
  EXPECT_EQ(charsmap.normalize("\xC2\xA0"
                               "a"),
            " a");
  EXPECT_EQ(charsmap.normalize("\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD"), "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD");
  EXPECT_EQ(charsmap.normalize(""), "");
}

TEST(PrecompiledCharsmap, MalformedCharsmapsAreErrorsNamingTheField) {
  const auto withCharsmap = [](const std::string& encoded) {
    Json json = unigramJson(kDocVocab, 0);
    json["normalizer"] = {
        {"type", "Sequence"},
        {"normalizers", Json::array({{{"type", "Precompiled"}, {"precompiled_charsmap", encoded}}})}};
    return problem(json);
  };
  const std::string where = "normalizer.normalizers[0].precompiled_charsmap: ";
  EXPECT_NE(withCharsmap("").find(where + "is empty"), std::string::npos) << withCharsmap("");
  EXPECT_NE(withCharsmap("!!!!").find(where + "not base64"), std::string::npos) << withCharsmap("!!!!");
  EXPECT_NE(withCharsmap("AAA").find(where + "not base64"), std::string::npos);
  EXPECT_NE(withCharsmap("AB==").find(where + "not base64"), std::string::npos); // bits past the data
  EXPECT_NE(withCharsmap("AAAAAA==").find(where + "the charsmap's trie is empty"), std::string::npos)
      << withCharsmap("AAAAAA==");
  EXPECT_NE(withCharsmap("EAAAAAAAAAA=").find("runs past its end"), std::string::npos)
      << withCharsmap("EAAAAAAAAAA=");
  // One unit, then a pool that is not UTF-8 (0xFF).
  EXPECT_NE(withCharsmap("BAAAAAAAAAD/").find("not valid UTF-8 (at byte 8)"), std::string::npos)
      << withCharsmap("BAAAAAAAAAD/");
  Json json = unigramJson(kDocVocab, 0);
  json["normalizer"] = {{"type", "Precompiled"}};
  EXPECT_NE(problem(json).find("normalizer.precompiled_charsmap: missing required field"), std::string::npos);
}

TEST(PrecompiledCharsmap, DamagedTriesNeverReadOutsideTheirData) {
  // Random units: lookups that leave the array or point past the pool find no rule.
  std::mt19937 random(20261207);
  const std::string text = "Hello, w\xC3\xB6rld! \xEF\xAC\x81 \xE4\xB8\xAD\xE6\x96\x87 e\xCC\x81\r\n\t";
  for (int round = 0; round < 200; ++round) {
    std::string blob(4, '\0');
    const std::uint32_t units = 1 + random() % 64;
    for (int i = 0; i < 4; ++i)
      blob[static_cast<std::size_t>(i)] = static_cast<char>(((units * 4) >> (8 * i)) & 0xFF);
    for (std::uint32_t i = 0; i < units * 4; ++i)
      blob.push_back(static_cast<char>(random() & 0xFF));
    blob += std::string("ab\0c\0\xC3\xA9", 7); // a valid pool
    const lorafa::PrecompiledCharsmap charsmap(blob);
    EXPECT_TRUE(lorafa::unicode::isValidUtf8(charsmap.normalize(text)));
  }
}

} // namespace
