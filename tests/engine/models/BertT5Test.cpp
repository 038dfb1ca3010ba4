// BERT / RoBERTa classifiers and T5: reference logits and parameter names from the fixtures,
// T5's relative position buckets and cached decoding, adapter targets and a few LoRA-FA steps.
#include "adapters/AdapterInjector.h"
#include "io/CheckpointReader.h"
#include "io/SafetensorsFile.h"
#include "io/SafetensorsWriter.h"
#include "lorafa/FormatError.h"
#include "models/ModelFactory.h"
#include "models/T5Model.h"

#include "TensorAssertions.h"

#include <ATen/Context.h>
#include <ATen/TensorIndexing.h>
#include <ATen/ops/abs.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/full.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <c10/core/GradMode.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adam.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <iostream>
#include <set>

#include <unistd.h>

using namespace lorafa;
using lorafa::test::allClose;

namespace {

std::string fixture(const std::string& name) { return std::string(LORAFA_FIXTURES_DIR "/models/") + name; }

std::shared_ptr<LanguageModel> loadFixture(const std::string& name) {
  auto model = loadModel(fixture(name), at::TensorOptions().dtype(at::kFloat));
  model->eval();
  return model;
}

ModelInputs referenceInputs(const SafetensorsFile& reference) {
  ModelInputs inputs;
  inputs.inputIds = reference.load("input_ids");
  inputs.attentionMask = reference.load("attention_mask");
  if (reference.contains("decoder_input_ids")) inputs.decoderInputIds = reference.load("decoder_input_ids");
  return inputs;
}

double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) { return at::abs(a - b).max().item<double>(); }

std::vector<std::string> targetsOf(const LanguageModel& model, const std::string& spec) {
  return matchTargets(TargetSpec::parse(spec), describeLinears(model));
}

std::vector<std::int64_t> buckets(std::vector<std::int64_t> relative, bool bidirectional,
                                  std::int64_t numBuckets, std::int64_t maxDistance) {
  const at::Tensor t = at::tensor(relative, at::TensorOptions().dtype(at::kLong));
  const at::Tensor b = t5RelativePositionBucket(t, bidirectional, numBuckets, maxDistance).contiguous();
  return std::vector<std::int64_t>(b.data_ptr<std::int64_t>(), b.data_ptr<std::int64_t>() + b.numel());
}

/// The loss each family trains on: cross-entropy of the class logits, or of T5's decoder logits
/// against the targets that the decoder inputs are shifted from.
struct Batch {
  ModelInputs inputs;
  at::Tensor labels;
};

Batch classificationBatch(const std::string& name) {
  const auto reference = SafetensorsFile::open(fixture(name) + "/reference.safetensors");
  Batch batch{referenceInputs(*reference), at::Tensor()};
  batch.labels = at::tensor(std::vector<std::int64_t>{1, 0}, at::TensorOptions().dtype(at::kLong));
  return batch;
}

Batch seq2seqBatch(const std::string& name, std::int64_t startToken, std::int64_t vocab) {
  const auto reference = SafetensorsFile::open(fixture(name) + "/reference.safetensors");
  Batch batch{referenceInputs(*reference), at::Tensor()};
  at::manual_seed(7);
  const std::int64_t rows = batch.inputs.inputIds.size(0);
  batch.labels = at::randint(2, vocab, {rows, 5}, at::TensorOptions().dtype(at::kLong));
  // decoder_input_ids = labels shifted right, starting with decoder_start_token_id (HF's _shift_right)
  batch.inputs.decoderInputIds =
      at::cat({at::full({rows, 1}, startToken, batch.labels.options()), batch.labels.slice(1, 0, -1)}, 1);
  return batch;
}

at::Tensor lossOf(LanguageModel& model, const Batch& batch) {
  const at::Tensor logits = model.forward(batch.inputs);
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                              batch.labels.reshape({-1}));
}

/// Three Adam steps over the trainable parameters; returns the loss before and after.
std::pair<double, double> threeAdamSteps(LanguageModel& model, const Batch& batch) {
  std::vector<at::Tensor> trainable;
  for (const auto& p : model.parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  torch::optim::Adam optimizer(trainable, torch::optim::AdamOptions(1e-2));
  const double before = lossOf(model, batch).item<double>();
  for (int step = 0; step < 3; ++step) {
    optimizer.zero_grad();
    lossOf(model, batch).backward();
    optimizer.step();
  }
  c10::NoGradGuard noGrad;
  return {before, lossOf(model, batch).item<double>()};
}

std::set<std::string> trainableNames(const LanguageModel& model) {
  std::set<std::string> names;
  for (const auto& item : model.named_parameters()) {
    if (item.value().requires_grad()) names.insert(item.key());
  }
  return names;
}

class BertT5Reference : public ::testing::TestWithParam<std::string> {};

} // namespace

TEST(T5RelativePositionBucket, MatchesHuggingFaceValues) {
  // Bidirectional, 32 buckets / 128: 16 per direction, exact below 8, then logarithmic.
  EXPECT_EQ(buckets({0, 1, -1, 7, -7, 8, -8, 20, -20, 100, -100, 200, -200}, true, 32, 128),
            (std::vector<std::int64_t>{0, 17, 1, 23, 7, 24, 8, 26, 10, 31, 15, 31, 15}));
  // Unidirectional (decoder): keys in the future share bucket 0.
  EXPECT_EQ(buckets({3, 0, -1, -15, -16, -20, -127, -1000}, false, 32, 128),
            (std::vector<std::int64_t>{0, 0, 1, 15, 16, 17, 31, 31}));
  EXPECT_EQ(buckets({0, 1, 2, 3, 5, 7, -1, -2, -7, 30}, true, 8, 16),
            (std::vector<std::int64_t>{0, 5, 6, 6, 6, 7, 1, 2, 3, 7}));
  EXPECT_EQ(buckets({2, -1, -3, -4, -5, -7}, false, 8, 16), (std::vector<std::int64_t>{0, 1, 3, 4, 4, 5}));
}

TEST_P(BertT5Reference, LogitsAndParameterNamesMatch) {
  const std::string dir = fixture(GetParam());
  LoadReport report;
  auto model = loadModel(dir, at::TensorOptions().dtype(at::kFloat), &report);
  model->eval();
  EXPECT_TRUE(report.unusedTensors.empty()) << "unused: " << report.unusedTensors.front();

  // The module tree's names are the checkpoint's, less the aliases a checkpoint may add.
  std::set<std::string> parameters;
  for (const auto& item : model->named_parameters())
    parameters.insert(item.key());
  std::set<std::string> stored;
  for (const std::string& name : CheckpointReader::openDirectory(dir).names()) {
    if (!model->isIgnoredCheckpointTensor(name)) stored.insert(name);
  }
  EXPECT_EQ(parameters, stored);

  const auto reference = SafetensorsFile::open(dir + "/reference.safetensors");
  const ModelInputs inputs = referenceInputs(*reference);
  c10::NoGradGuard noGrad;
  const at::Tensor logits = model->forward(inputs);
  const at::Tensor expected = reference->load("logits");
  ASSERT_EQ(logits.sizes(), expected.sizes());
  std::cout << "[ diff     ] " << GetParam()
            << ": max |logits - reference| = " << maxAbsDiff(logits, expected) << std::endl;
  EXPECT_TRUE(allClose(logits, expected, 1e-4, 1e-4));

  if (reference->contains("encoder_last_hidden_state")) {
    const at::Tensor encoded = model->encode(inputs);
    const at::Tensor expectedEncoded = reference->load("encoder_last_hidden_state");
    // Padded encoder positions are never attended to; compare the real ones.
    const at::Tensor real = inputs.attentionMask.to(at::kBool);
    EXPECT_TRUE(allClose(encoded.index({real}), expectedEncoded.index({real}), 1e-4, 1e-4));
    ModelInputs reuse = inputs;
    reuse.encoderHidden = encoded;
    reuse.inputIds = at::Tensor(); // not needed when the encoder output is given
    EXPECT_TRUE(allClose(model->forward(reuse), logits, 0.0, 0.0));
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BertT5Reference,
                         ::testing::Values("bert_cls", "roberta_cls", "t5_v1_0", "t5_v1_1"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(T5Cache, TokenByTokenDecodingMatchesTheFullPass) {
  for (const char* name : {"t5_v1_0", "t5_v1_1"}) {
    SCOPED_TRACE(name);
    auto model = loadFixture(name);
    const auto reference = SafetensorsFile::open(fixture(name) + "/reference.safetensors");
    const ModelInputs inputs = referenceInputs(*reference);
    c10::NoGradGuard noGrad;
    const at::Tensor full = model->forward(inputs);
    ModelInputs step = inputs;
    step.encoderHidden = model->encode(inputs);
    KvCache cache;
    step.cache = &cache;
    std::vector<at::Tensor> pieces;
    // Two tokens first, then one at a time: the relative bias must count the cached positions.
    std::int64_t done = 0;
    const std::int64_t length = inputs.decoderInputIds.size(1);
    for (std::int64_t width : {2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}) {
      if (done >= length) break;
      const std::int64_t end = std::min(length, done + width);
      step.decoderInputIds = inputs.decoderInputIds.slice(1, done, end);
      pieces.push_back(model->forward(step));
      done = end;
      EXPECT_EQ(cache.length(), done);
    }
    EXPECT_TRUE(allClose(at::cat(pieces, 1), full, 1e-5, 1e-5));
  }
}

TEST(BertCheckpoints, AcceptsPrefixlessAndLegacyNamesAndIgnoresPretrainingHeads) {
  auto bert = loadFixture("bert_cls");
  const auto names = bert->checkpointNames("bert.encoder.layer.0.attention.output.LayerNorm.weight");
  for (const char* alias : {"encoder.layer.0.attention.output.LayerNorm.weight",
                            "bert.encoder.layer.0.attention.output.LayerNorm.gamma",
                            "encoder.layer.0.attention.output.LayerNorm.gamma"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), alias), names.end()) << alias;
  }
  EXPECT_EQ(names.front(), "bert.encoder.layer.0.attention.output.LayerNorm.weight");
  EXPECT_TRUE(bert->isIgnoredCheckpointTensor("bert.embeddings.position_ids"));
  EXPECT_TRUE(bert->isIgnoredCheckpointTensor("cls.predictions.transform.dense.weight"));
  EXPECT_FALSE(bert->isIgnoredCheckpointTensor("bert.pooler.dense.weight"));
  auto roberta = loadFixture("roberta_cls");
  EXPECT_TRUE(roberta->isIgnoredCheckpointTensor("lm_head.dense.weight"));
  EXPECT_TRUE(roberta->isIgnoredCheckpointTensor("roberta.pooler.dense.weight"));
  EXPECT_TRUE(roberta->isIgnoredCheckpointTensor("roberta.embeddings.position_ids"));
  auto t5 = loadFixture("t5_v1_0");
  EXPECT_EQ(t5->checkpointNames("shared.weight"),
            (std::vector<std::string>{"shared.weight", "encoder.embed_tokens.weight",
                                      "decoder.embed_tokens.weight"}));
  EXPECT_TRUE(t5->isIgnoredCheckpointTensor("lm_head.weight")); // tied
  EXPECT_FALSE(loadFixture("t5_v1_1")->isIgnoredCheckpointTensor("lm_head.weight"));
}

namespace {

/// bert_cls rewritten as older or headless checkpoints store it, in a temporary directory.
class BertCheckpointVariants : public ::testing::Test {
protected:
  void SetUp() override {
    m_dir = std::filesystem::temp_directory_path() /
            ("lorafa-bert-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(m_dir);
    std::filesystem::create_directories(m_dir);
    std::filesystem::copy_file(fixture("bert_cls") + "/config.json", m_dir / "config.json");
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  /// Writes the fixture's tensors renamed by `rename` (an empty name drops the tensor) plus `extra`.
  void writeRenamed(const std::function<std::string(const std::string&)>& rename,
                    const std::vector<std::pair<std::string, at::Tensor>>& extra = {}) {
    const auto file = SafetensorsFile::open(fixture("bert_cls") + "/model.safetensors");
    std::vector<std::pair<std::string, at::Tensor>> tensors = extra;
    for (const auto& info : file->tensors()) {
      const std::string name = rename(info.name);
      if (!name.empty()) tensors.emplace_back(name, file->load(info.name));
    }
    writeSafetensors((m_dir / "model.safetensors").string(), tensors, {{"format", "pt"}});
  }

  std::filesystem::path m_dir;
};

std::string replaceSuffix(const std::string& name, const std::string& from, const std::string& to) {
  if (name.size() < from.size() || name.compare(name.size() - from.size(), from.size(), from) != 0)
    return name;
  return name.substr(0, name.size() - from.size()) + to;
}

} // namespace

TEST_F(BertCheckpointVariants, LegacyNamesAndPretrainingHeadsLoadToTheSameLogits) {
  // No "bert." prefix, TensorFlow-era gamma/beta, and the buffers and MLM head of a base checkpoint.
  writeRenamed(
      [](const std::string& name) {
        std::string out = name.rfind("bert.", 0) == 0 ? name.substr(5) : name;
        out = replaceSuffix(out, "LayerNorm.weight", "LayerNorm.gamma");
        return replaceSuffix(out, "LayerNorm.bias", "LayerNorm.beta");
      },
      {{"bert.embeddings.position_ids", at::arange(16, at::TensorOptions().dtype(at::kLong)).unsqueeze(0)},
       {"cls.predictions.bias", at::zeros({96})}});
  LoadReport report;
  auto model = loadModel(m_dir.string(), at::TensorOptions().dtype(at::kFloat), &report);
  model->eval();
  EXPECT_TRUE(report.unusedTensors.empty()) << "unused: " << report.unusedTensors.front();
  const auto reference = SafetensorsFile::open(fixture("bert_cls") + "/reference.safetensors");
  c10::NoGradGuard noGrad;
  EXPECT_TRUE(allClose(model->forward(referenceInputs(*reference)), reference->load("logits"), 1e-4, 1e-4));
}

TEST_F(BertCheckpointVariants, ABaseCheckpointGetsAFreshClassifierAndSaysSo) {
  // A pretrained encoder (bert-base) has no task head: the classifier is initialised as Hugging
  // Face initialises a new head, and the report names it; everything else still loads.
  writeRenamed(
      [](const std::string& name) { return name.rfind("classifier.", 0) == 0 ? std::string() : name; });
  LoadReport report;
  auto model = loadModel(m_dir.string(), at::TensorOptions().dtype(at::kFloat), &report);
  std::sort(report.initializedTensors.begin(), report.initializedTensors.end());
  EXPECT_EQ(report.initializedTensors, (std::vector<std::string>{"classifier.bias", "classifier.weight"}));
  const auto params = model->named_parameters();
  EXPECT_EQ(params["classifier.bias"].abs().max().item<double>(), 0.0);
  const double spread = params["classifier.weight"].std().item<double>();
  EXPECT_GT(spread, 0.01);
  EXPECT_LT(spread, 0.04); // N(0, 0.02²)
  // An encoder tensor missing is still an error.
  writeRenamed([](const std::string& name) {
    return name == "bert.encoder.layer.1.output.dense.weight" ? std::string() : name;
  });
  try {
    loadModel(m_dir.string(), at::TensorOptions().dtype(at::kFloat));
    FAIL() << "expected a FormatError";
  } catch (const FormatError& error) {
    EXPECT_NE(std::string(error.what()).find("bert.encoder.layer.1.output.dense.weight"), std::string::npos)
        << error.what();
  }
}

TEST(BertT5Targets, HeadsAreNeverAdapterTargets) {
  auto roberta = loadFixture("roberta_cls");
  AdapterConfig config;
  const auto adapted = prepareForTraining(*roberta, TargetSpec::parse("dense"), config);
  for (const std::string& name : adapted) EXPECT_EQ(name.rfind("classifier", 0), std::string::npos) << name;
  const auto params = roberta->named_parameters();
  EXPECT_FALSE(params.contains("classifier.dense.lora_A"));
  EXPECT_TRUE(params["classifier.dense.weight"].requires_grad()); // trained in full instead
}

TEST(BertT5Targets, RegexAndNoMatchOnEveryFamily) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"bert_cls", "bert\\.encoder\\.layer\\.1\\.attention\\.self\\.(query|value)"},
      {"roberta_cls", ".*layer\\.0\\.attention\\.self\\.key"},
      {"t5_v1_0", "decoder\\.block\\.[0-9]+\\.layer\\.1\\.EncDecAttention\\.q"},
      {"t5_v1_1", "encoder\\..*wi_0"}};
  const std::vector<std::size_t> expected = {2, 1, 2, 2};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].first);
    auto model = loadFixture(cases[i].first);
    const auto matched = matchTargets(TargetSpec::parse(cases[i].second), describeLinears(*model));
    EXPECT_EQ(matched.size(), expected[i]);
    try {
      matchTargets(TargetSpec::parse("q_proj,v_proj"), describeLinears(*model));
      FAIL() << "Llama names matched " << cases[i].first;
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find("available linear modules"), std::string::npos) << error.what();
    }
  }
}

TEST(BertT5Targets, AllLinearLeavesOutTheHeads) {
  auto bert = loadFixture("bert_cls");
  const auto bertAll = targetsOf(*bert, "all-linear");
  EXPECT_EQ(bertAll.size(), 2u * 6u + 1u); // 6 per layer + the pooler
  EXPECT_EQ(std::count(bertAll.begin(), bertAll.end(), "classifier"), 0);
  EXPECT_EQ(std::count(bertAll.begin(), bertAll.end(), "bert.pooler.dense"), 1);

  auto roberta = loadFixture("roberta_cls");
  const auto robertaAll = targetsOf(*roberta, "all-linear");
  EXPECT_EQ(robertaAll.size(), 2u * 6u);
  for (const auto& name : robertaAll)
    EXPECT_NE(name.rfind("classifier", 0), 0u) << name;

  auto t5 = loadFixture("t5_v1_1"); // untied: has an lm_head module
  const auto t5All = targetsOf(*t5, "all-linear");
  EXPECT_EQ(t5All.size(), 2u * (4u + 3u) + 2u * (4u + 4u + 3u)); // encoder + decoder blocks, gated FF
  EXPECT_EQ(std::count(t5All.begin(), t5All.end(), "lm_head"), 0);
  EXPECT_EQ(targetsOf(*loadFixture("t5_v1_0"), "all-linear").size(), 2u * (4u + 2u) + 2u * (4u + 4u + 2u));
}

TEST(BertT5Training, LoraFaTargetsHeadsAndThreeAdamStepsLowerTheLoss) {
  struct Case {
    const char* fixture;
    const char* targets;
    std::vector<std::string> expectedTargets;
    std::set<std::string> expectedHeads; // trained in full next to the adapters
  };
  const std::vector<Case> cases = {
      {"bert_cls",
       "query,value",
       {"bert.encoder.layer.0.attention.self.query", "bert.encoder.layer.0.attention.self.value",
        "bert.encoder.layer.1.attention.self.query", "bert.encoder.layer.1.attention.self.value"},
       {"classifier.weight", "classifier.bias"}},
      {"roberta_cls",
       "query,value",
       {"roberta.encoder.layer.0.attention.self.query", "roberta.encoder.layer.0.attention.self.value",
        "roberta.encoder.layer.1.attention.self.query", "roberta.encoder.layer.1.attention.self.value"},
       {"classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight",
        "classifier.out_proj.bias"}},
      {"t5_v1_0",
       "q,v",
       {"encoder.block.0.layer.0.SelfAttention.q", "encoder.block.0.layer.0.SelfAttention.v",
        "encoder.block.1.layer.0.SelfAttention.q", "encoder.block.1.layer.0.SelfAttention.v",
        "decoder.block.0.layer.0.SelfAttention.q", "decoder.block.0.layer.0.SelfAttention.v",
        "decoder.block.0.layer.1.EncDecAttention.q", "decoder.block.0.layer.1.EncDecAttention.v",
        "decoder.block.1.layer.0.SelfAttention.q", "decoder.block.1.layer.0.SelfAttention.v",
        "decoder.block.1.layer.1.EncDecAttention.q", "decoder.block.1.layer.1.EncDecAttention.v"},
       {}},
      {"t5_v1_1", "q,v", {}, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fixture);
    auto model = loadFixture(c.fixture);
    model->train();
    at::manual_seed(1234); // the frozen A matrices are drawn at random
    const auto adapted = prepareForTraining(*model, TargetSpec::parse(c.targets), AdapterConfig{});
    if (!c.expectedTargets.empty()) {
      EXPECT_EQ(adapted, c.expectedTargets);
    }
    std::set<std::string> expectedTrainable = c.expectedHeads;
    for (const auto& name : adapted)
      expectedTrainable.insert(name + ".lora_B");
    EXPECT_EQ(trainableNames(*model), expectedTrainable);

    const ModelConfig& config = model->config();
    const Batch batch = config.family == ModelFamily::T5
                            ? seq2seqBatch(c.fixture, config.decoderStartTokenId, config.vocabSize)
                            : classificationBatch(c.fixture);
    const auto [before, after] = threeAdamSteps(*model, batch);
    std::cout << "[ loss     ] " << c.fixture << ": " << before << " -> " << after << std::endl;
    EXPECT_LT(after, before);
  }
}
