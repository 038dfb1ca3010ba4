#include "models/Generation.h"

#include "TinyModels.h"

#include <gtest/gtest.h>

using namespace lorafa;

TEST(Generation, KvCacheGivesTheSameTokensAsRecomputing) {
  for (const char* type : {"llama", "gpt2"}) {
    SCOPED_TRACE(type);
    auto model = test::tinyModel(type, 11);
    GenerationOptions options;
    options.maxNewTokens = 12;
    options.stopTokens = {-1}; // never stop early
    const std::vector<std::int64_t> prompt = {5, 17, 3, 40};
    const auto cached = generate(*model, prompt, options);
    options.useCache = false;
    const auto recomputed = generate(*model, prompt, options);
    EXPECT_EQ(cached.size(), 12u);
    EXPECT_EQ(cached, recomputed);
    options.temperature = 0.8;
    options.topK = 1; // top-1 sampling is greedy
    EXPECT_EQ(generate(*model, prompt, options), recomputed);
  }
}

TEST(Generation, SamplingIsSeededAndStopsOnEos) {
  auto model = test::tinyModel("llama", 12);
  GenerationOptions options;
  options.maxNewTokens = 30;
  options.temperature = 1.5;
  options.topP = 0.9;
  options.seed = 42;
  options.stopTokens = {-1};
  const auto a = generate(*model, {1, 2, 3}, options);
  const auto b = generate(*model, {1, 2, 3}, options);
  EXPECT_EQ(a, b);
  options.seed = 43;
  EXPECT_NE(generate(*model, {1, 2, 3}, options), a);
  // Stop on the 5th token produced by the seeded run: generation must end there.
  options.seed = 42;
  options.stopTokens = {a[4]};
  const auto stopped = generate(*model, {1, 2, 3}, options);
  ASSERT_LE(stopped.size(), 5u);
  EXPECT_EQ(stopped.back(), a[4]);
}

TEST(Generation, TopKAndTopPRestrictTheChoices) {
  const at::Tensor logits = torch::tensor({0.0, 5.0, 4.9, -3.0, 1.0}, torch::kDouble);
  GenerationOptions options;
  options.temperature = 1.0;
  options.topK = 2;
  std::uint64_t state = 7;
  for (int i = 0; i < 200; ++i) {
    const std::int64_t t = sampleToken(logits, options, state);
    EXPECT_TRUE(t == 1 || t == 2) << t;
  }
  options.topK = 0;
  options.topP = 0.3; // token 1 alone holds about half the mass
  for (int i = 0; i < 50; ++i) EXPECT_EQ(sampleToken(logits, options, state), 1);
  options.temperature = 0.0;
  EXPECT_EQ(sampleToken(logits, options, state), 1);
}

TEST(Generation, T5AnswersWithTheSameTokensCachedOrNot) {
  for (const char* name : {"t5_v1_0", "t5_v1_1"}) {
    SCOPED_TRACE(name);
    auto model = loadModel(std::string(LORAFA_FIXTURES_DIR "/models/") + name, torch::dtype(torch::kFloat));
    GenerationOptions options;
    options.maxNewTokens = 8;
    options.stopTokens = {-1};
    const std::vector<std::int64_t> prompt = {4, 9, 13, 2, 30, 1};
    const auto cached = generate(*model, prompt, options);
    options.useCache = false;
    EXPECT_EQ(cached.size(), 8u);
    EXPECT_EQ(generate(*model, prompt, options), cached);
  }
}

TEST(Generation, ClassifiersRefuseToGenerate) {
  auto model = loadModel(LORAFA_FIXTURES_DIR "/models/bert_cls", torch::dtype(torch::kFloat));
  EXPECT_THROW(generate(*model, {1, 2, 3}, GenerationOptions{}), std::invalid_argument);
}
