#include "TinyModels.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <random>

namespace lorafa {
namespace {

namespace fs = std::filesystem;

// The reference: a causal LM with the same body whose lm_head's first rows are the classifier's
// score rows. Its logits at a row's last real token, cut to the labels, must be the classifier's
// logits — a different path (lm_head over every position vs score on the pooled token).
TEST(LlamaClassifierTest, ScoresTheLastRealTokenAsTheCausalLmHeadWould) {
  const ModelConfig lmConfig = test::tinyConfig("llama");
  auto lm = createModel(lmConfig, torch::dtype(torch::kFloat));
  initializeRandom(*lm, 5);
  const ModelConfig classifierConfig = lmConfig.asSequenceClassifier({"ham", "spam", "eggs"});
  EXPECT_EQ(classifierConfig.architecture, "LlamaForSequenceClassification");
  EXPECT_TRUE(classifierConfig.isSequenceClassifier());
  auto classifier = createModel(classifierConfig, torch::dtype(torch::kFloat));
  {
    torch::NoGradGuard noGrad;
    auto lmParameters = lm->named_parameters();
    for (auto& item : classifier->named_parameters()) {
      if (item.key() == "score.weight") {
        item.value().copy_(lmParameters["lm_head.weight"].slice(0, 0, 3));
      } else {
        item.value().copy_(lmParameters[item.key()]);
      }
    }
  }
  EXPECT_EQ(classifier->outputHeadNames(), std::vector<std::string>{"score"});
  EXPECT_EQ(classifier->trainedHeadModules(), std::vector<std::string>{"score"});

  torch::manual_seed(3);
  const at::Tensor ids = torch::randint(3, 61, {3, 9}, torch::kLong);
  const at::Tensor mask = torch::ones({3, 9}, torch::kLong);
  mask[1].slice(0, 5).zero_(); // row 1: 5 real tokens, then padding
  mask[2].slice(0, 1).zero_(); // row 2: a single token
  torch::NoGradGuard noGrad;
  ModelInputs in;
  in.inputIds = ids;
  in.attentionMask = mask;
  const at::Tensor scores = classifier->forward(in);
  ASSERT_EQ(scores.sizes(), (std::vector<std::int64_t>{3, 3}));
  const std::vector<std::int64_t> lengths = {9, 5, 1};
  for (std::int64_t r = 0; r < 3; ++r) {
    ModelInputs alone;
    alone.inputIds = ids[r].slice(0, 0, lengths[r]).unsqueeze(0);
    const at::Tensor reference = lm->forward(alone)[0][lengths[r] - 1].slice(0, 0, 3);
    EXPECT_TRUE(torch::allclose(scores[r], reference, 1e-5, 1e-6)) << "row " << r << "\n" << scores[r] << reference;
  }
}

TEST(LlamaClassifierTest, LoadsACausalLmCheckpointWithANewScoreHeadAndSavesItsLabels) {
  const fs::path dir = fs::temp_directory_path() / ("lorafa-llama-cls-" + std::to_string(std::random_device{}()));
  auto lm = test::tinyModel("llama", 7);
  saveModelCheckpoint(*lm, dir.string());
  const ModelConfig config = ModelConfig::fromFile((dir / "config.json").string()).asSequenceClassifier({"no", "yes"});
  LoadReport report;
  auto classifier = loadModel(config, dir.string(), torch::dtype(torch::kFloat), &report);
  EXPECT_EQ(report.initializedTensors, std::vector<std::string>{"score.weight"});
  EXPECT_TRUE(report.unusedTensors.empty()) << "lm_head.weight is expected to go unused, not reported";
  EXPECT_TRUE(torch::equal(classifier->named_parameters()["model.embed_tokens.weight"],
                           lm->named_parameters()["model.embed_tokens.weight"]));

  // Saved, it is a Hugging Face LlamaForSequenceClassification config with its labels.
  const fs::path saved = dir / "classifier";
  saveModelCheckpoint(*classifier, saved.string());
  const ModelConfig back = ModelConfig::fromFile((saved / "config.json").string());
  EXPECT_EQ(back.architecture, "LlamaForSequenceClassification");
  EXPECT_EQ(back.numLabels, 2);
  EXPECT_EQ(back.labels, (std::vector<std::string>{"no", "yes"}));
  fs::remove_all(dir);

  // Families without a classifier form say so.
  EXPECT_THROW(test::tinyConfig("gpt2").asSequenceClassifier({"a", "b"}), std::invalid_argument);
}

} // namespace
} // namespace lorafa
