// Every family against the independent reference: tests/fixtures/models/<case>/ holds a tiny
// random checkpoint in Hugging Face layout and the logits that generate_reference.py computed
// from Hugging Face's modeling equations in plain PyTorch (float64, stored as float32).
#include "io/SafetensorsFile.h"
#include "models/ModelFactory.h"

#include "TensorAssertions.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <filesystem>

using namespace lorafa;
using lorafa::test::allClose;

namespace {

std::vector<std::string> fixtureCases() {
  std::vector<std::string> cases;
  const std::filesystem::path root(LORAFA_FIXTURES_DIR "/models");
  if (std::filesystem::exists(root)) {
    for (const auto& entry : std::filesystem::directory_iterator(root)) {
      if (std::filesystem::exists(entry.path() / "reference.safetensors")) cases.push_back(entry.path().filename());
    }
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

class ReferenceLogits : public ::testing::TestWithParam<std::string> {};

} // namespace

TEST(ReferenceLogitsFixtures, EveryFamilyHasACase) {
  const auto cases = fixtureCases();
  for (const char* required : {"llama", "llama_tied_llama3rope", "qwen2", "mistral", "gpt2", "gpt2_noprefix",
                               "bert_cls", "roberta_cls", "t5_v1_0", "t5_v1_1"}) {
    EXPECT_NE(std::find(cases.begin(), cases.end(), required), cases.end()) << "missing fixture " << required;
  }
}

TEST_P(ReferenceLogits, MatchWithinStatedTolerance) {
  const std::string dir = std::string(LORAFA_FIXTURES_DIR "/models/") + GetParam();
  LoadReport report;
  auto model = loadModel(dir, torch::dtype(torch::kFloat), &report);
  model->eval();
  EXPECT_TRUE(report.unusedTensors.empty()) << "unused: " << report.unusedTensors.front();

  const auto reference = SafetensorsFile::open(dir + "/reference.safetensors");
  ModelInputs inputs;
  inputs.inputIds = reference->load("input_ids");
  inputs.attentionMask = reference->load("attention_mask");
  if (reference->contains("decoder_input_ids")) inputs.decoderInputIds = reference->load("decoder_input_ids");
  const at::Tensor expected = reference->load("logits");
  torch::NoGradGuard noGrad;
  const at::Tensor logits = model->forward(inputs);
  ASSERT_EQ(logits.sizes(), expected.sizes());
  // Tolerance 1e-4 (relative and absolute) in float32; padded positions of causal LMs hold
  // no meaningful logits and are left out.
  if (logits.dim() == 3 && !inputs.decoderInputIds.defined()) {
    const at::Tensor valid = inputs.attentionMask.to(torch::kBool);
    EXPECT_TRUE(allClose(logits.index({valid}), expected.index({valid}), 1e-4, 1e-4));
  } else {
    EXPECT_TRUE(allClose(logits, expected, 1e-4, 1e-4));
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReferenceLogits, ::testing::ValuesIn(fixtureCases()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ReferenceLogits);
