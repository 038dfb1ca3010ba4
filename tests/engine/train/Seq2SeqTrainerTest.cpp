// Sequence-to-sequence (T5) training and the generation metrics of evaluation: BLEU and exact
// match for T5 on source-target pairs, exact match for a causal LM on instruction data.
#include "train/Trainer.h"

#include "lorafa/RunStore.h"
#include "lorafa/Tokenizer.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"
#include "train/TextMetrics.h"

#include <ATen/core/Reduction.h>
#include <ATen/ops/cross_entropy_loss.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/tensor.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace lorafa {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = LORAFA_FIXTURES_DIR;

struct Recorder : TrainerObserver {
  std::vector<StepMetrics> steps;
  std::vector<EvalMetrics> evals;
  void onStep(const StepMetrics& m) override { steps.push_back(m); }
  void onEval(const EvalMetrics& m) override { evals.push_back(m); }
};

/// A temporary folder with a tiny random T5 (untied head, ReLU feed-forward) over the BERT
/// tokenizer's vocabulary: [PAD] 0 is pad and decoder start, [SEP] 102 (which ends every target)
/// is EOS.
class Seq2SeqTrainerTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_root = fs::temp_directory_path() / ("lorafa-seq2seq-" + std::to_string(std::random_device{}()));
    fs::create_directories(m_root);
    const auto tokenizer = Tokenizer::load(kFixtures + "/tokenizers/bert");
    const std::string json =
        R"({"model_type": "t5", "architectures": ["T5ForConditionalGeneration"],
      "vocab_size": )" +
        std::to_string(tokenizer->vocabSize()) +
        R"(, "d_model": 32, "d_kv": 8, "d_ff": 48, "num_layers": 2, "num_decoder_layers": 2,
      "num_heads": 4, "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
      "feed_forward_proj": "relu", "tie_word_embeddings": false, "layer_norm_epsilon": 1e-6,
      "decoder_start_token_id": 0, "pad_token_id": 0, "eos_token_id": 102})";
    auto model = createModel(ModelConfig::fromJson(json, "<tiny t5>"), at::TensorOptions().dtype(at::kFloat));
    initializeRandom(*model, 7);
    {
      // At the initial scale the head's logits stay within a narrow range whatever the adapters
      // do to the hidden states, and the loss barely leaves ln(vocab) in a few steps.
      c10::NoGradGuard noGrad;
      model->named_parameters()["lm_head.weight"].mul_(10.0);
    }
    m_modelDir = (m_root / "t5").string();
    saveModelCheckpoint(*model, m_modelDir);
  }
  void TearDown() override { fs::remove_all(m_root); }

  RunConfig config(const std::string& name) const {
    RunConfig c;
    c.name = name;
    c.modelPath = m_modelDir;
    c.tokenizerPath = kFixtures + "/tokenizers/bert";
    c.dataset.path = kFixtures + "/data/en_fr_pairs.tsv";
    c.dataset.format = DatasetFormat::SourceTarget;
    c.dataset.sourceColumn = "english";
    c.dataset.targetColumn = "french";
    c.dataset.validationFraction = 0.25;
    c.outputDir = (m_root / name).string();
    c.adapter.method = TrainMethod::LoraFa;
    c.adapter.rank = 4;
    c.adapter.alpha = 8;
    c.adapter.dropout = 0.1; // draws from the RNG every step: resume must restore it
    c.targets = "q,k,v,o,wi,wo";
    c.optim.learningRate = 5e-3;
    c.train.batchSize = 2;
    c.train.gradAccumulation = 2;
    c.train.maxSeqLen = 32;
    c.train.maxSteps = 5;
    c.train.evalEvery = 2;
    c.train.seed = 13;
    c.train.device = "cpu";
    c.eval.generateMaxExamples = 2;
    c.eval.maxNewTokens = 6;
    return c;
  }

  fs::path m_root;
  std::string m_modelDir;
};

TEST_F(Seq2SeqTrainerTest, EachMethodLowersTheTrainingLoss) {
  for (TrainMethod method : {TrainMethod::LoraFa, TrainMethod::Lora, TrainMethod::Full}) {
    // Every row in each step, no dropout, a large constant rate: the loss must fall.
    RunConfig c = config(std::string("learn-") + toString(method));
    c.adapter.method = method;
    c.adapter.dropout = 0.0;
    c.adapter.alpha = 32;
    c.dataset.validationFraction = 0.0;
    c.train.batchSize = 16;
    c.train.gradAccumulation = 1;
    c.train.maxSteps = 8;
    c.optim.learningRate = method == TrainMethod::Full ? 1e-2 : 3e-2;
    c.optim.schedule = LrSchedule::Constant;
    Recorder recorder;
    Trainer trainer(c, &recorder);
    trainer.setup();
    EXPECT_EQ(trainer.trainRows().task, TaskType::Seq2Seq);
    const TrainResult result = trainer.run();
    ASSERT_EQ(result.state, TrainerState::Completed) << toString(method) << ": " << result.message;
    ASSERT_EQ(recorder.steps.size(), 8u);
    EXPECT_LT(recorder.steps.back().loss, recorder.steps.front().loss - 0.5)
        << toString(method) << ": first " << recorder.steps.front().loss << ", last "
        << recorder.steps.back().loss;
    bool sawA = false, sawB = false, sawWeight = false;
    for (const auto& [name, p] : trainer.trainableParameters()) {
      sawA = sawA || name.find("lora_A") != std::string::npos;
      sawB = sawB || name.find("lora_B") != std::string::npos;
      sawWeight = sawWeight || name.find("EncDecAttention.q.weight") != std::string::npos;
    }
    EXPECT_EQ(sawA, method == TrainMethod::Lora) << toString(method);
    EXPECT_EQ(sawB, method != TrainMethod::Full) << toString(method);
    EXPECT_EQ(sawWeight, method == TrainMethod::Full) << toString(method);
  }
}

TEST_F(Seq2SeqTrainerTest, EvalLossIsTheTokenMeanOverRowsDecodedOneByOne) {
  // Reference: each validation row alone (no padding anywhere), decoder inputs written out as
  // Hugging Face's _shift_right makes them: decoder_start_token_id, then the labels but the last.
  RunConfig c = config("eval-loss");
  Trainer trainer(c);
  trainer.setup();
  const double loss = trainer.evaluate().loss;
  LanguageModel& model = trainer.model();
  model.eval();
  c10::NoGradGuard noGrad;
  double sum = 0.0;
  std::int64_t tokens = 0;
  for (const TokenizedExample& row : trainer.validationRows().rows) {
    std::vector<std::int64_t> decoder{model.config().decoderStartTokenId};
    decoder.insert(decoder.end(), row.labels.begin(), row.labels.end() - 1);
    const std::vector<std::int64_t> source(row.inputIds.begin(), row.inputIds.end());
    const std::vector<std::int64_t> labels(row.labels.begin(), row.labels.end());
    ModelInputs inputs;
    inputs.inputIds = at::tensor(source, at::kLong).view({1, -1});
    inputs.decoderInputIds = at::tensor(decoder, at::kLong).view({1, -1});
    const at::Tensor logits = model.forward(inputs);
    sum += at::cross_entropy_loss(logits[0], at::tensor(labels, at::kLong), {}, at::Reduction::Sum)
               .item<double>();
    tokens += static_cast<std::int64_t>(labels.size());
  }
  ASSERT_EQ(trainer.validationRows().rows.size(), 3u);
  EXPECT_NEAR(loss, sum / static_cast<double>(tokens), 1e-5);
}

TEST_F(Seq2SeqTrainerTest, ResumingEqualsNeverStopping) {
  const std::int64_t total = 5, k = 4;
  Trainer straight(config("straight"));
  straight.setup();
  ASSERT_EQ(straight.totalSteps(), total);
  ASSERT_LT(straight.stepsPerEpoch(), k) << "k should fall in the second epoch, past an epoch boundary";
  ASSERT_EQ(straight.run().state, TrainerState::Completed);

  TrainerOptions stopEarly;
  stopEarly.stopAfterStep = k;
  Trainer first(config("resumed"), nullptr, stopEarly);
  first.setup();
  const TrainResult stopped = first.run();
  ASSERT_EQ(stopped.state, TrainerState::Stopped) << stopped.message;
  const auto checkpoint = latestCheckpoint(config("resumed").outputDir + "/checkpoints");
  ASSERT_TRUE(checkpoint);

  Trainer second(config("resumed"));
  second.setup();
  second.resumeFrom(*checkpoint);
  const TrainResult done = second.run();
  ASSERT_EQ(done.state, TrainerState::Completed) << done.message;
  EXPECT_EQ(done.steps, total);

  const NamedTensors& a = straight.trainableParameters();
  const NamedTensors& b = second.trainableParameters();
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  bool encoder = false, decoder = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first << " differs after resuming";
    EXPECT_GT(a[i].second.abs().max().item<double>(), 0.0) << a[i].first << " never moved";
    encoder = encoder || a[i].first.rfind("encoder.", 0) == 0;
    decoder = decoder || a[i].first.find("EncDecAttention") != std::string::npos;
  }
  EXPECT_TRUE(encoder);
  EXPECT_TRUE(decoder);
}

TEST_F(Seq2SeqTrainerTest, EvaluationReportsBleuAndExactMatchEverywhere) {
  RunConfig c = config("metrics");
  c.train.maxSteps = 2;
  RunStore store((m_root / "runs.db").string());
  const std::int64_t runId =
      store.createRun(NewRun{"metrics", "lora-fa", c.modelPath, c.dataset.path, toJson(c), c.outputDir, {}});
  store.startRun(runId);
  TrainerOptions options;
  options.store = &store;
  options.runId = runId;
  Recorder recorder;
  Trainer trainer(c, &recorder, options);
  trainer.setup();
  ASSERT_EQ(trainer.validationRows().rows.size(), 3u);
  const TrainResult result = trainer.run();
  ASSERT_EQ(result.state, TrainerState::Completed) << result.message;
  ASSERT_EQ(recorder.evals.size(), 2u); // step 0 and step 2
  for (const EvalMetrics& e : recorder.evals) {
    ASSERT_TRUE(e.bleu.has_value());
    ASSERT_TRUE(e.exactMatch.has_value());
    EXPECT_EQ(e.generatedRows, 2); // eval.generate_max_examples
    EXPECT_EQ(e.rows, 3);
    EXPECT_GE(*e.bleu, 0.0);
    EXPECT_LE(*e.bleu, 100.0);
    EXPECT_FALSE(e.accuracy.has_value());
  }
  // The metrics are those of the answers the trainer generated, against the raw targets.
  const auto& pairs = trainer.lastGenerations();
  ASSERT_EQ(pairs.size(), 2u);
  std::vector<std::string> answers, references;
  for (const auto& [answer, reference] : pairs) {
    answers.push_back(answer);
    references.push_back(reference);
  }
  for (const std::string& r : references)
    EXPECT_FALSE(r.empty());
  EXPECT_DOUBLE_EQ(*recorder.evals.back().bleu, corpusBleu(answers, references).score);
  EXPECT_DOUBLE_EQ(*recorder.evals.back().exactMatch, exactMatch(answers, references));
  EXPECT_TRUE(result.finalMetrics.count("eval/bleu"));
  EXPECT_TRUE(result.finalMetrics.count("eval/exact_match"));
  store.flush();
  EXPECT_EQ(store.metrics(runId, "eval/bleu").size(), 2u);
  EXPECT_EQ(store.metrics(runId, "eval/exact_match").size(), 2u);

  // eval.generate_max_examples: 0 turns generation off.
  c = config("no-generation");
  c.eval.generateMaxExamples = 0;
  Trainer quiet(c);
  quiet.setup();
  const EvalMetrics e = quiet.evaluate();
  EXPECT_FALSE(e.bleu.has_value());
  EXPECT_FALSE(e.exactMatch.has_value());
  EXPECT_GT(e.loss, 0.0);
}

TEST(EvalConfigKeys, ParseCheckAndRoundTrip) {
  const std::string base = "model: m\noutput_dir: o\ndataset:\n  path: d.jsonl\n";
  RunConfig c = parseRunConfig(base, "a.yaml");
  EXPECT_EQ(c.eval.generateMaxExamples, 64);
  EXPECT_EQ(c.eval.maxNewTokens, 0);
  c = parseRunConfig(base + "eval:\n  generate_max_examples: 5\n  max_new_tokens: 7\n", "a.yaml");
  EXPECT_EQ(c.eval.generateMaxExamples, 5);
  EXPECT_EQ(c.eval.maxNewTokens, 7);
  EXPECT_EQ(parseRunConfig(toJson(c), "a.json").eval.maxNewTokens, 7);
  try {
    parseRunConfig(base + "eval:\n  generate_max_examples: -1\n  beams: 2\n", "a.yaml");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.problems().size(), 2u) << e.what();
    EXPECT_NE(e.problems()[0].find("eval.generate_max_examples: must be at least 0"), std::string::npos)
        << e.what();
    EXPECT_NE(e.problems()[1].find("eval.beams: unknown key"), std::string::npos) << e.what();
  }
}

TEST_F(Seq2SeqTrainerTest, AMemorisedAnswerScoresFullMarks) {
  // The same lowercase pair in every row (the BERT tokenizer is uncased): after full training the
  // validation rows, copies of the training rows, are answered word for word.
  const std::string data = (m_root / "same.tsv").string();
  {
    std::ofstream tsv(data);
    tsv << "source\ttarget\n";
    for (int i = 0; i < 8; ++i)
      tsv << "good morning\tbonjour tout le monde\n";
  }
  RunConfig c = config("memorise");
  c.dataset.path = data;
  c.dataset.sourceColumn = "source";
  c.dataset.targetColumn = "target";
  c.adapter.method = TrainMethod::Full;
  c.adapter.dropout = 0.0;
  c.optim.learningRate = 1e-2;
  c.optim.schedule = LrSchedule::Constant;
  c.train.batchSize = 8;
  c.train.gradAccumulation = 1;
  c.train.maxSteps = 30;
  c.train.evalEvery = 30;
  c.eval.maxNewTokens = 0; // the reference's length + 16: the model must stop at [SEP] itself
  Recorder recorder;
  Trainer trainer(c, &recorder);
  trainer.setup();
  ASSERT_EQ(trainer.run().state, TrainerState::Completed);
  ASSERT_EQ(recorder.evals.size(), 2u);
  EXPECT_DOUBLE_EQ(*recorder.evals.front().exactMatch, 0.0);
  EXPECT_DOUBLE_EQ(*recorder.evals.front().bleu, 0.0);
  ASSERT_FALSE(trainer.lastGenerations().empty());
  EXPECT_EQ(trainer.lastGenerations()[0].first, "bonjour tout le monde");
  EXPECT_DOUBLE_EQ(*recorder.evals.back().exactMatch, 1.0);
  EXPECT_NEAR(*recorder.evals.back().bleu, 100.0, 1e-9);
}

TEST_F(Seq2SeqTrainerTest, T5NeedsSourceTargetOrAlpacaData) {
  RunConfig c = config("chat");
  c.dataset.path = kFixtures + "/data/chat.jsonl";
  c.dataset.format = DatasetFormat::Chat;
  Trainer trainer(c);
  try {
    trainer.setup();
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("sequence-to-sequence"), std::string::npos) << e.what();
  }
}

TEST_F(Seq2SeqTrainerTest, CausalLmOnInstructionDataReportsExactMatch) {
  const auto tokenizer = Tokenizer::load(kFixtures + "/tokenizers/gpt2");
  const std::string json =
      R"({"model_type": "gpt2", "vocab_size": )" + std::to_string(tokenizer->vocabSize()) +
      R"(, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 128, "eos_token_id": 50256})";
  auto model = createModel(ModelConfig::fromJson(json, "<tiny gpt2>"), at::TensorOptions().dtype(at::kFloat));
  initializeRandom(*model, 3);
  const std::string modelDir = (m_root / "gpt2").string();
  saveModelCheckpoint(*model, modelDir);
  RunConfig c = config("causal");
  c.modelPath = modelDir;
  c.tokenizerPath = kFixtures + "/tokenizers/gpt2";
  c.dataset.path = kFixtures + "/data/alpaca.jsonl";
  c.dataset.format = DatasetFormat::Auto;
  c.targets = "c_attn";
  c.train.maxSeqLen = 96;
  c.eval.generateMaxExamples = 64;
  c.eval.maxNewTokens = 0; // the reference's length + 16
  Trainer trainer(c);
  trainer.setup();
  const EvalMetrics e = trainer.evaluate();
  ASSERT_TRUE(e.exactMatch.has_value());
  EXPECT_FALSE(e.bleu.has_value());
  EXPECT_EQ(e.generatedRows, static_cast<std::int64_t>(trainer.validationRows().rows.size()));
  EXPECT_GE(*e.exactMatch, 0.0);
  EXPECT_LE(*e.exactMatch, 1.0);
  // Each reference is an Alpaca output; the answer continues the prompt, greedily, from the
  // untrained model, and matches none of them.
  const auto& pairs = trainer.lastGenerations();
  ASSERT_EQ(pairs.size(), static_cast<std::size_t>(e.generatedRows));
  for (const auto& [answer, reference] : pairs) {
    EXPECT_FALSE(reference.empty());
    EXPECT_NE(reference.find_first_not_of(" \n"), std::string::npos);
  }
  EXPECT_DOUBLE_EQ(*e.exactMatch, 0.0);

  // The loss covers prompt tokens too: the response cannot be told apart, so no exact match.
  c.dataset.trainOnPrompt = true;
  c.outputDir = (m_root / "causal-prompt").string();
  Trainer onPrompt(c);
  onPrompt.setup();
  EXPECT_FALSE(onPrompt.evaluate().exactMatch.has_value());
}

} // namespace
} // namespace lorafa
