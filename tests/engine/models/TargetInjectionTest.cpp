// Target patterns with PEFT's semantics, adapter injection, and training on each family.
#include "adapters/AdapterInjector.h"

#include "TensorAssertions.h"
#include "TinyModels.h"

#include <gtest/gtest.h>

using namespace lorafa;
using lorafa::test::allClose;

namespace {

std::vector<std::string> namesOf(const LanguageModel& model, const std::string& spec) {
  return matchTargets(TargetSpec::parse(spec), describeLinears(model));
}

std::int64_t trainableCount(const LanguageModel& model) { return summarizeModel(model).trainableParameters; }

} // namespace

TEST(TargetSpec, ParsesListsRegexAndAllLinear) {
  EXPECT_EQ(TargetSpec::parse("q_proj, v_proj").kind, TargetSpec::Kind::Names);
  EXPECT_EQ(TargetSpec::parse("q_proj, v_proj").names, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_EQ(TargetSpec::parse("all-linear").kind, TargetSpec::Kind::AllLinear);
  EXPECT_EQ(TargetSpec::parse(".*\\.(q|v)_proj").kind, TargetSpec::Kind::Regex);
  EXPECT_EQ(TargetSpec::parse("re:c_attn").regex, "c_attn");
  EXPECT_THROW(TargetSpec::parse("  "), std::invalid_argument);
}

TEST(TargetMatching, SuffixesMatchWholeNameComponentsOnly) {
  auto model = test::tinyModel("llama");
  const auto names = namesOf(*model, "q_proj,v_proj");
  EXPECT_EQ(names, (std::vector<std::string>{"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                                             "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"}));
  EXPECT_EQ(namesOf(*model, "self_attn.o_proj").size(), 2u);
  // "proj" is not a whole component of any name: PEFT matches key == t or key ends with "." + t.
  EXPECT_THROW(namesOf(*model, "proj"), std::invalid_argument);
}

TEST(TargetMatching, AllLinearLeavesOutTheHead) {
  auto llama = test::tinyModel("llama");
  const auto all = namesOf(*llama, "all-linear");
  EXPECT_EQ(all.size(), 14u); // 2 layers × (4 attention + 3 MLP)
  EXPECT_EQ(std::count(all.begin(), all.end(), "lm_head"), 0);
  auto gpt2 = test::tinyModel("gpt2");
  EXPECT_EQ(namesOf(*gpt2, "all-linear").size(), 8u); // tied head is no module at all
}

TEST(TargetMatching, RegexMustMatchTheWholePath) {
  auto model = test::tinyModel("gpt2");
  EXPECT_EQ(namesOf(*model, "transformer\\.h\\.1\\..*c_attn"), (std::vector<std::string>{"transformer.h.1.attn.c_attn"}));
  EXPECT_THROW(namesOf(*model, "c_at+n"), std::invalid_argument); // partial match is not enough
  EXPECT_THROW(namesOf(*model, "(unclosed"), std::invalid_argument);
}

TEST(TargetMatching, NoMatchListsTheAvailableModules) {
  auto model = test::tinyModel("llama");
  try {
    namesOf(*model, "query,value");
    FAIL();
  } catch (const std::invalid_argument& error) {
    const std::string text = error.what();
    for (const char* name : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"}) {
      EXPECT_NE(text.find(name), std::string::npos) << text;
    }
  }
}

TEST(Injection, LoraFaAddsTrainableBOnlyAndKeepsTheOutput) {
  for (const char* type : {"llama", "qwen2", "mistral", "gpt2"}) {
    SCOPED_TRACE(type);
    auto model = test::tinyModel(type);
    const at::Tensor ids = torch::randint(0, 61, {2, 6});
    ModelInputs inputs;
    inputs.inputIds = ids;
    const at::Tensor before = model->forward(inputs).detach();
    AdapterConfig config;
    config.rank = 4;
    const auto adapted = prepareForTraining(*model, TargetSpec::parse("all-linear"), config);
    EXPECT_FALSE(adapted.empty());
    std::int64_t expected = 0;
    for (const auto& l : describeLinears(*model)) {
      if (l.adapted) expected += l.outFeatures * 4; // B [out, r]
    }
    EXPECT_EQ(trainableCount(*model), expected);
    const auto params = model->named_parameters();
    EXPECT_TRUE(params.contains(adapted.front() + ".lora_A"));
    EXPECT_FALSE(params[adapted.front() + ".lora_A"].requires_grad());
    EXPECT_TRUE(params[adapted.front() + ".lora_B"].requires_grad());
    EXPECT_TRUE(allClose(model->forward(inputs), before, 1e-6, 1e-6)) << "B = 0 must leave the output unchanged";
  }
}

TEST(Injection, FullAndFrozenTrainEverythingOrNothing) {
  auto model = test::tinyModel("llama");
  std::int64_t total = 0;
  for (const auto& p : model->parameters()) total += p.numel();
  AdapterConfig full;
  full.method = TrainMethod::Full;
  EXPECT_TRUE(prepareForTraining(*model, TargetSpec::parse("q_proj"), full).empty());
  EXPECT_EQ(trainableCount(*model), total);
  AdapterConfig frozen;
  frozen.method = TrainMethod::Frozen;
  prepareForTraining(*model, TargetSpec::parse("q_proj"), frozen);
  EXPECT_EQ(trainableCount(*model), 0);
}

TEST(Injection, FewLoraFaStepsLowerTheLossOnEveryDecoderFamily) {
  for (const char* type : {"llama", "qwen2", "mistral", "gpt2"}) {
    for (const char* targets : {"q_proj,v_proj", "all-linear"}) {
      const std::string spec = std::string(type) == "gpt2" && std::string(targets) != "all-linear" ? "c_attn" : targets;
      SCOPED_TRACE(std::string(type) + " " + spec);
      auto model = test::tinyModel(type, 5);
      AdapterConfig config;
      config.rank = 8;
      config.alpha = 16.0;
      prepareForTraining(*model, TargetSpec::parse(spec), config);
      std::vector<at::Tensor> trainable;
      for (const auto& p : model->parameters())
        if (p.requires_grad()) trainable.push_back(p);
      torch::optim::Adam optimizer(trainable, torch::optim::AdamOptions(1e-2));
      torch::manual_seed(0);
      const at::Tensor batch = torch::randint(0, 61, {4, 12});
      const double first = test::causalLmLoss(*model, batch).item<double>();
      for (int step = 0; step < 5; ++step) {
        optimizer.zero_grad();
        const at::Tensor loss = test::causalLmLoss(*model, batch);
        loss.backward();
        optimizer.step();
      }
      const double last = test::causalLmLoss(*model, batch).item<double>();
      EXPECT_LT(last, first - 0.01) << "loss " << first << " -> " << last;
    }
  }
}

TEST(ModelSummary, CountsParametersAndListsShapes) {
  auto model = test::tinyModel("llama");
  const ModelSummary s = summarizeModel(*model);
  EXPECT_EQ(s.family, "llama");
  EXPECT_EQ(s.architecture, "LlamaForCausalLM");
  // embed 61·32, per layer: q 32·32, k 16·32, v 16·32, o 32·32, gate/up 48·32 each, down 32·48,
  // two norms 32 each; final norm 32; lm_head 61·32.
  const std::int64_t perLayer = 32 * 32 + 16 * 32 + 16 * 32 + 32 * 32 + 3 * 48 * 32 + 2 * 32;
  EXPECT_EQ(s.totalParameters, 61 * 32 + 2 * perLayer + 32 + 61 * 32);
  ASSERT_EQ(s.linears.size(), 15u);
  EXPECT_EQ(s.linears[1].name, "model.layers.0.self_attn.k_proj");
  EXPECT_EQ(s.linears[1].inFeatures, 32);
  EXPECT_EQ(s.linears[1].outFeatures, 16);
  EXPECT_TRUE(s.linears.back().isOutputHead);
}
