// Regular expressions come from files (tokenizer.json): a catastrophic one must end in a clear
// error, not a hang.
#include "lorafa/FormatError.h"
#include "tokenize/HfTokenizer.h"
#include "tokenize/Pcre2Regex.h"

#include <gtest/gtest.h>

#include <string>

namespace {

std::string splitTokenizer(const std::string& regexJson) {
  return R"({"model":{"type":"WordLevel","vocab":{"[UNK]":0,"a":1,"b":2},"unk_token":"[UNK]"},)"
         R"("pre_tokenizer":{"type":"Split","pattern":{"Regex":)" +
         regexJson + R"(},"behavior":"Isolated","invert":false}})";
}

std::string repeated(const std::string& piece, std::size_t times) {
  std::string text;
  for (std::size_t i = 0; i < times; ++i) text += piece;
  return text;
}

TEST(RegexLimits, CatastrophicPatternInTokenizerJsonFailsWithTheMatchLimit) {
  // (a+)+$ on a run of a's that ends in b tries every way of splitting the run: 2^5000 steps.
  const auto tokenizer = lorafa::HfTokenizer::fromJsonText(splitTokenizer(R"("(a+)+$")"), "hostile.json");
  try {
    (void)tokenizer->encode(repeated("a", 5000) + "b");
    FAIL() << "encoding finished instead of giving up";
  } catch (const lorafa::Pcre2LimitError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("\"(a+)+$\""), std::string::npos) << message;
    EXPECT_NE(message.find("match limit"), std::string::npos) << message;
    EXPECT_NE(message.find("5001 bytes"), std::string::npos) << message;
  }
}

TEST(RegexLimits, ManyPositionsJustUnderTheMatchLimitHitTheCpuBudget) {
  // Each line of 16 a's and a b costs about 2^16 steps per start position, under the match limit;
  // 2,000 lines make a search of about 10^9 steps, far beyond the 20 ms budget given here.
  lorafa::Pcre2Limits limits;
  limits.cpuSeconds = 0.02;
  limits.cpuSecondsPerByte = 0.0;
  const lorafa::Pcre2Regex regex("(a+)+$", limits);
  try {
    (void)regex.findAll(repeated(repeated("a", 16) + "b", 2000));
    FAIL() << "the search finished instead of giving up";
  } catch (const lorafa::Pcre2LimitError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("CPU time"), std::string::npos) << message;
    EXPECT_NE(message.find("\"(a+)+$\""), std::string::npos) << message;
  }
}

TEST(RegexLimits, OrdinaryPatternsOnLongRunsStayWithinTheLimits) {
  // GPT-2's pre-tokenizer pattern over long runs of spaces, letters and digits (10,000 each).
  const lorafa::Pcre2Regex gpt2(
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)");
  const std::string text = repeated(" ", 10000) + repeated("a", 10000) + repeated("7", 10000) + "!";
  const auto matches = gpt2.findAll(text);
  ASSERT_EQ(matches.size(), 4u);
  EXPECT_EQ(matches[0], std::make_pair(std::size_t(0), std::size_t(9999))); // \s+(?!\S) leaves one space
  EXPECT_EQ(matches[1], std::make_pair(std::size_t(9999), std::size_t(20000)));
  EXPECT_EQ(matches[3].second, text.size());
}

TEST(RegexLimits, MatchesBeyondTheFirstSearchWindowAreFound) {
  // The search tries at most 256 bytes of start positions at a time; matches after many windows
  // without one must still be found.
  const lorafa::Pcre2Regex regex("\xC3\xA9x");
  const std::string text = repeated("-", 255) + "\xC3\xA9x" + repeated("-", 10000) + "\xC3\xA9x";
  const auto matches = regex.findAll(text);
  ASSERT_EQ(matches.size(), 2u);
  EXPECT_EQ(matches[0].first, 255u);
  EXPECT_EQ(matches[1].first, 255u + 3 + 10000);
}

TEST(RegexLimits, OverlongPatternInTokenizerJsonIsRefused) {
  const std::string pattern = "\"" + repeated("a", 20000) + "\"";
  try {
    (void)lorafa::HfTokenizer::fromJsonText(splitTokenizer(pattern), "long.json");
    FAIL() << "a 20,000-byte pattern was accepted";
  } catch (const lorafa::FormatError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("long.json"), std::string::npos) << message;
    EXPECT_NE(message.find("longer than the limit of 16384 bytes"), std::string::npos) << message;
  }
}

} // namespace
