// BLEU and exact match: hand-computed cases, and corpus BLEU / 13a tokens computed by NLTK with
// sacrebleu's tokenizer regexes (tests/fixtures/metrics/make_bleu_reference.py).
#include "train/TextMetrics.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

namespace lorafa {
namespace {

const std::string kFixtures = LORAFA_FIXTURES_DIR;

TEST(TextMetrics, Tokenize13aSplitsPunctuationButNotNumbers) {
  EXPECT_EQ(tokenize13a("Hello, world."), (std::vector<std::string>{"Hello", ",", "world", "."}));
  EXPECT_EQ(tokenize13a("3.5 and 1,000"), (std::vector<std::string>{"3.5", "and", "1,000"}));
  EXPECT_EQ(tokenize13a("well-known 12-34"), (std::vector<std::string>{"well-known", "12", "-", "34"}));
  EXPECT_EQ(tokenize13a("Tom &amp; Jerry's"), (std::vector<std::string>{"Tom", "&", "Jerry's"}));
  EXPECT_TRUE(tokenize13a("  \t ").empty());
}

TEST(TextMetrics, BleuByHand) {
  // p1..p4 = 4/5, 3/4, 2/3, 1/2; BP 1: 100·(1/5)^(1/4).
  BleuScore s = corpusBleu({"a b c d e"}, {"a b c d f"});
  EXPECT_NEAR(s.score, 100.0 * std::pow(0.2, 0.25), 1e-9);
  EXPECT_NEAR(s.precisions[0], 80.0, 1e-12);
  EXPECT_NEAR(s.precisions[3], 50.0, 1e-12);
  EXPECT_EQ(s.hypothesisLength, 5);
  EXPECT_DOUBLE_EQ(s.brevityPenalty, 1.0);
  // All n-grams match, 4 of 6 words: BP = exp(1 − 6/4).
  s = corpusBleu({"a b c d"}, {"a b c d e f"});
  EXPECT_NEAR(s.score, 100.0 * std::exp(-0.5), 1e-9);
  // Clipping: "the" counts once; no bigram matches, so without smoothing the score is 0.
  s = corpusBleu({"the the the the the"}, {"the cat"});
  EXPECT_EQ(s.matches[0], 1);
  EXPECT_EQ(s.totals[0], 5);
  EXPECT_EQ(s.score, 0.0);
  // Corpus level: counts and lengths add up before the ratios. An empty hypothesis adds its
  // reference's 3 words to r only: c = 5, r = 8, every n-gram of the second pair matches.
  s = corpusBleu({"", "a b c d e"}, {"x y z", "a b c d e"});
  EXPECT_NEAR(s.score, 100.0 * std::exp(1.0 - 8.0 / 5.0), 1e-9);
  EXPECT_EQ(corpusBleu({}, {}).score, 0.0);
  EXPECT_EQ(corpusBleu({""}, {"a"}).score, 0.0);
  EXPECT_THROW(corpusBleu({"a"}, {}), std::invalid_argument);
}

TEST(TextMetrics, BleuMatchesNltkWithSacrebleuTokenization) {
  std::ifstream in(kFixtures + "/metrics/bleu_reference.json");
  ASSERT_TRUE(in) << "missing fixture";
  const nlohmann::json j = nlohmann::json::parse(in);
  ASSERT_GE(j.at("sets").size(), 5u);
  for (const auto& set : j.at("sets")) {
    const auto hyps = set.at("hypotheses").get<std::vector<std::string>>();
    const auto refs = set.at("references").get<std::vector<std::string>>();
    const double expected = set.at("bleu").get<double>();
    // NLTK gives a number below 1e-70 where sacrebleu (no smoothing) and the engine give 0.
    EXPECT_NEAR(corpusBleu(hyps, refs).score, expected, 1e-9 * std::max(1.0, expected)) << set.at("name");
  }
  for (const auto& t : j.at("tokenization")) {
    EXPECT_EQ(tokenize13a(t.at("text").get<std::string>()), t.at("tokens").get<std::vector<std::string>>())
        << t.at("text");
  }
}

TEST(TextMetrics, ExactMatchTrimsWhitespaceOnly) {
  EXPECT_DOUBLE_EQ(exactMatch({" Paris\n", "paris", "Lyon"}, {"Paris", "Paris", "Lyon "}), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(exactMatch({"a  b"}, {"a b"}), 0.0);
  EXPECT_DOUBLE_EQ(exactMatch({}, {}), 0.0);
  EXPECT_EQ(trimWhitespace("\t x y \r\n"), "x y");
}

} // namespace
} // namespace lorafa
