#include "train/Trainer.h"

#include "TinyGpt2Runs.h"

#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/Dataset.h"
#include "lorafa/RunStore.h"
#include "lorafa/Tokenizer.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <thread>

namespace lorafa {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = LORAFA_FIXTURES_DIR;

/// A temporary folder with a tiny random GPT-2 and the base run configuration (TinyGpt2Runs.h).
class TrainerTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_folder = std::make_unique<test::TinyGpt2Folder>("lorafa-trainer-");
    m_root = m_folder->root();
    m_modelDir = m_folder->modelDir();
  }
  void TearDown() override { m_folder.reset(); }

  RunConfig config(const std::string& name) const { return m_folder->config(name); }

  // Every row in each step, no dropout, a large constant rate: the same data every step, so
  // the training loss must fall.
  RunConfig learningConfig(const std::string& name, std::int64_t steps) const {
    RunConfig c = config(name);
    c.adapter.dropout = 0.0;
    c.dataset.validationFraction = 0.0;
    c.train.batchSize = 16;
    c.train.gradAccumulation = 1;
    c.train.maxSteps = steps;
    c.adapter.alpha = 32;
    c.optim.learningRate = 3e-2;
    c.optim.schedule = LrSchedule::Constant;
    return c;
  }

  std::unique_ptr<test::TinyGpt2Folder> m_folder;
  fs::path m_root;
  std::string m_modelDir;
};

struct Recorder : TrainerObserver {
  std::vector<StepMetrics> steps;
  std::vector<EvalMetrics> evals;
  std::vector<TrainerState> states;
  std::int64_t stopAfter = 0;
  std::atomic<int> memorySamples{0};
  void onMemory(const MemorySample&) override { ++memorySamples; }
  void onStep(const StepMetrics& m) override { steps.push_back(m); }
  void onEval(const EvalMetrics& m) override { evals.push_back(m); }
  void onStateChange(TrainerState s, const std::string&) override { states.push_back(s); }
  bool shouldStop() override { return stopAfter > 0 && static_cast<std::int64_t>(steps.size()) >= stopAfter; }
};

TEST_F(TrainerTest, ResumingEqualsNeverStopping) {
  const std::int64_t total = 6, k = 4;
  Trainer straight(config("straight"));
  straight.setup();
  ASSERT_EQ(straight.totalSteps(), total);
  ASSERT_LT(straight.stepsPerEpoch(), k) << "k should fall in the second epoch, past an epoch boundary";
  EXPECT_EQ(straight.run().state, TrainerState::Completed);

  TrainerOptions stopEarly;
  stopEarly.stopAfterStep = k;
  Trainer first(config("resumed"), nullptr, stopEarly);
  first.setup();
  const TrainResult stopped = first.run();
  ASSERT_EQ(stopped.state, TrainerState::Stopped) << stopped.message;
  EXPECT_EQ(stopped.steps, k);
  const auto checkpoint = latestCheckpoint(config("resumed").outputDir + "/checkpoints");
  ASSERT_TRUE(checkpoint);
  EXPECT_EQ(fs::path(*checkpoint).filename(), "step-00000004");

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
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first << " differs after resuming";
    EXPECT_GT(a[i].second.abs().max().item<double>(), 0.0) << a[i].first << " never moved";
  }
  // LoRA-FA trains B only.
  for (const auto& [name, p] : a) EXPECT_NE(name.find("lora_B"), std::string::npos) << name;
}

TEST_F(TrainerTest, LoraFaLowersTheTrainingLoss) {
  RunConfig c = learningConfig("learn", 8);
  Recorder recorder;
  Trainer trainer(c, &recorder);
  trainer.setup();
  const auto started = std::chrono::steady_clock::now();
  const TrainResult result = trainer.run();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_EQ(result.state, TrainerState::Completed) << result.message;
  ASSERT_EQ(recorder.steps.size(), 8u);
  // At least two memory samples a second, whatever the length of a step.
  EXPECT_GE(recorder.memorySamples.load(), static_cast<int>(2.0 * seconds)) << seconds << " s";
  EXPECT_LT(recorder.steps.back().loss, recorder.steps.front().loss - 0.3)
      << "first " << recorder.steps.front().loss << ", last " << recorder.steps.back().loss;
  for (const StepMetrics& s : recorder.steps) {
    EXPECT_GT(s.tokens, 0);
    EXPECT_GT(s.tokensPerSecond, 0.0);
    EXPECT_GT(s.gradNorm, 0.0);
    EXPECT_DOUBLE_EQ(s.learningRate, 3e-2);

  }
}

TEST_F(TrainerTest, ReportsToObserverAndRunStoreAndKeepsLastCheckpoints) {
  RunConfig c = config("store");
  c.train.saveEvery = 1;
  c.train.keepLast = 2;
  c.optim.warmupSteps = 2;
  RunStore store((m_root / "runs.db").string());
  const std::int64_t runId = store.createRun(NewRun{"store", "lora-fa", c.modelPath, c.dataset.path, toJson(c), c.outputDir, {}});
  store.startRun(runId);
  TrainerOptions options;
  options.store = &store;
  options.runId = runId;
  Recorder recorder;
  Trainer trainer(c, &recorder, options);
  trainer.setup();
  const TrainResult result = trainer.run();
  ASSERT_EQ(result.state, TrainerState::Completed) << result.message;
  store.finishRun(runId, RunStatus::Completed, result.message, result.finalMetrics, result.bestMetrics, result.peakMemoryBytes);

  ASSERT_EQ(recorder.steps.size(), 6u);
  EXPECT_DOUBLE_EQ(recorder.steps[0].learningRate, 0.0); // warmup starts at 0, as Hugging Face's
  EXPECT_DOUBLE_EQ(recorder.steps[1].learningRate, 2.5e-3);
  EXPECT_DOUBLE_EQ(recorder.steps[2].learningRate, 5e-3);
  ASSERT_EQ(recorder.evals.size(), 4u); // the baseline at step 0, then every 2 steps
  EXPECT_EQ(recorder.evals[0].step, 0);
  EXPECT_LT(recorder.evals.back().loss, recorder.evals.front().loss) << "training should lower the validation loss";
  for (const EvalMetrics& e : recorder.evals) EXPECT_NEAR(e.perplexity, std::exp(e.loss), 1e-9 * e.perplexity);
  EXPECT_EQ(recorder.states.front(), TrainerState::Preparing);
  EXPECT_EQ(recorder.states.back(), TrainerState::Completed);
  EXPECT_TRUE(result.finalMetrics.count("eval/loss"));
  EXPECT_TRUE(result.bestMetrics.count("eval/loss"));

  store.flush();
  EXPECT_EQ(store.metrics(runId, "train/loss").size(), 6u);
  EXPECT_EQ(store.metrics(runId, "eval/loss").size(), 4u);
  EXPECT_FALSE(store.memory(runId).empty());
  EXPECT_FALSE(store.events(runId).empty());
  EXPECT_EQ(store.run(runId)->status, RunStatus::Completed);

  std::vector<std::string> kept;
  for (const auto& e : fs::directory_iterator(c.outputDir + "/checkpoints")) kept.push_back(e.path().filename().string());
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(kept, (std::vector<std::string>{"step-00000005", "step-00000006"}));
}

TEST_F(TrainerTest, NonFiniteLossStopsWithAClearStateAndNoUpdate) {
  RunConfig c = config("nan");
  c.train.saveEvery = 1;
  Recorder recorder;
  recorder.stopAfter = 0;
  TrainerOptions options;
  options.stopAfterStep = 2;
  {
    Trainer trainer(c, nullptr, options);
    trainer.setup();
    ASSERT_EQ(trainer.run().state, TrainerState::Stopped);
  }
  Trainer trainer(c, &recorder);
  trainer.setup();
  const std::string good = *latestCheckpoint(c.outputDir + "/checkpoints");
  trainer.resumeFrom(good);
  at::Tensor& poisoned = const_cast<at::Tensor&>(trainer.trainableParameters()[0].second);
  {
    torch::NoGradGuard noGrad;
    poisoned.fill_(std::numeric_limits<float>::quiet_NaN());
  }
  const TrainResult result = trainer.run();
  EXPECT_EQ(result.state, TrainerState::Failed);
  EXPECT_NE(result.message.find("NaN at step 3"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find(good), std::string::npos) << result.message;
  EXPECT_EQ(result.steps, 2);
  EXPECT_EQ(*latestCheckpoint(c.outputDir + "/checkpoints"), good);
  EXPECT_EQ(recorder.states.back(), TrainerState::Failed);
}

TEST_F(TrainerTest, ShouldStopEndsBetweenStepsWithACheckpoint) {
  Recorder recorder;
  recorder.stopAfter = 3;
  Trainer trainer(config("stop"), &recorder);
  trainer.setup();
  const TrainResult result = trainer.run();
  EXPECT_EQ(result.state, TrainerState::Stopped);
  EXPECT_EQ(result.steps, 3);
  EXPECT_EQ(fs::path(result.lastCheckpoint).filename(), "step-00000003");
  const CheckpointData data = readCheckpoint(result.lastCheckpoint);
  EXPECT_EQ(data.position.step, 3);
  EXPECT_EQ(data.optimizerStep, 3);
  EXPECT_FALSE(data.rngStates.empty());
  // LoRA-FA's frozen A is saved too, so that B means the same thing when loaded.
  bool hasA = false;
  for (const auto& [name, t] : data.weights) hasA = hasA || name.find("lora_A") != std::string::npos;
  EXPECT_TRUE(hasA);
}

TEST_F(TrainerTest, FullAndLoraMethodsTrainTheirParameters) {
  for (TrainMethod method : {TrainMethod::Lora, TrainMethod::Full}) {
    RunConfig c = config(std::string("m-") + toString(method));
    c.adapter.method = method;
    c.train.maxSteps = 2;
    Trainer trainer(c);
    trainer.setup();
    EXPECT_EQ(trainer.run().state, TrainerState::Completed);
    bool sawA = false, sawWeight = false;
    for (const auto& [name, p] : trainer.trainableParameters()) {
      sawA = sawA || name.find("lora_A") != std::string::npos;
      sawWeight = sawWeight || name.find("c_attn.weight") != std::string::npos;
    }
    EXPECT_EQ(sawA, method == TrainMethod::Lora);
    EXPECT_EQ(sawWeight, method == TrainMethod::Full);
  }
}

TEST_F(TrainerTest, SetupErrorsNameTheProblem) {
  RunConfig c = config("bad");
  c.targets = "q_proj";
  Trainer noTargets(c);
  try {
    noTargets.setup();
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("c_attn"), std::string::npos) << e.what(); // lists what exists
  }
  c = config("bad2");
  c.dataset.path = (m_root / "missing.jsonl").string();
  Trainer noData(c);
  try {
    noData.setup();
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("missing.jsonl"), std::string::npos) << e.what();
  }
  c = config("bad3");
  c.adapter.rank = 40; // above min(in, out) = 32 of c_attn/c_proj
  Trainer bigRank(c);
  try {
    bigRank.setup();
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("40"), std::string::npos) << e.what();
  }
  c = config("bad4");
  c.modelPath = (m_root / "no-model").string();
  c.tokenizerPath = kFixtures + "/tokenizers/gpt2";
  Trainer noModel(c);
  try {
    noModel.setup();
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("no-model"), std::string::npos) << e.what();
  }
}

TEST_F(TrainerTest, ProjectedBUpdateTrainsLoraFa) {
  RunConfig c = learningConfig("projected", 4);
  c.optim.projectedB = true;
  Recorder recorder;
  Trainer trainer(c, &recorder);
  trainer.setup();
  ASSERT_EQ(trainer.run().state, TrainerState::Completed);
  ASSERT_EQ(recorder.steps.size(), 4u);
  EXPECT_LT(recorder.steps.back().loss, recorder.steps.front().loss);
}

TEST_F(TrainerTest, OutOfMemoryFailsTheRunAndLeavesTheProcessUsable) {
  CpuMemoryTracker::instance().install();
  RunConfig c = config("oom");
  c.train.maxSteps = 2;
  Trainer trainer(c);
  trainer.setup();
  TrainResult result;
  {
    // Room for a few small tensors, not for a step's activations and logits.
    ScopedMemoryBudget budget(CpuMemoryTracker::instance().currentBytes() + (1 << 20));
    result = trainer.run();
  }
  EXPECT_EQ(result.state, TrainerState::Failed);
  EXPECT_NE(result.message.find("out of memory at step 1"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find("peak"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find("smaller batch_size"), std::string::npos) << result.message;

  Trainer again(config("after-oom"));
  again.setup();
  EXPECT_EQ(again.run().state, TrainerState::Completed);
}

TEST_F(TrainerTest, ClassificationReportsAccuracy) {
  const auto tokenizer = Tokenizer::load(kFixtures + "/tokenizers/bert");
  const std::string json = R"({"model_type": "bert", "architectures": ["BertForSequenceClassification"],
    "vocab_size": )" + std::to_string(tokenizer->vocabSize()) +
                           R"(, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
    "num_attention_heads": 4, "max_position_embeddings": 64, "type_vocab_size": 2, "pad_token_id": 0,
    "id2label": {"0": "ham", "1": "spam"}, "label2id": {"ham": 0, "spam": 1}})";
  auto model = createModel(ModelConfig::fromJson(json, "<tiny bert>"), torch::dtype(torch::kFloat));
  initializeRandom(*model, 5);
  const std::string modelDir = (m_root / "bert").string();
  saveModelCheckpoint(*model, modelDir);
  const std::string data = (m_root / "spam.csv").string();
  {
    std::ofstream csv(data);
    csv << "text,label\n";
    for (int i = 0; i < 8; ++i) {
      csv << "\"win a free prize now, click here " << i << "\",spam\n";
      csv << "\"see you at the meeting on monday " << i << "\",ham\n";
    }
  }
  RunConfig c = config("cls");
  c.modelPath = modelDir;
  c.tokenizerPath = kFixtures + "/tokenizers/bert";
  c.dataset.path = data;
  c.dataset.format = DatasetFormat::Classification;
  c.dataset.validationFraction = 0.25;
  c.targets = "query,value";
  c.adapter.dropout = 0.0;
  c.train.maxSteps = 4;
  c.train.batchSize = 4;
  c.train.gradAccumulation = 1;
  c.train.maxSeqLen = 32;
  c.train.evalEvery = 4;
  Recorder recorder;
  Trainer trainer(c, &recorder);
  trainer.setup();
  const TrainResult result = trainer.run();
  ASSERT_EQ(result.state, TrainerState::Completed) << result.message;
  ASSERT_EQ(recorder.evals.size(), 2u);
  const EvalMetrics& e = recorder.evals[1];
  ASSERT_TRUE(e.accuracy.has_value());
  ASSERT_TRUE(e.f1.has_value());
  EXPECT_GE(*e.accuracy, 0.0);
  EXPECT_LE(*e.accuracy, 1.0);
  EXPECT_GE(*e.f1, 0.0);
  EXPECT_LE(*e.f1, 1.0);
  EXPECT_EQ(e.rows, 4);
  EXPECT_TRUE(result.finalMetrics.count("eval/accuracy"));
  EXPECT_TRUE(result.finalMetrics.count("eval/f1"));
  // The classifier head trains next to the adapters (PEFT's modules_to_save).
  bool head = false;
  for (const auto& [name, p] : trainer.trainableParameters()) head = head || name.find("classifier") != std::string::npos;
  EXPECT_TRUE(head);
}

TEST_F(TrainerTest, ALlamaCausalLmClassifiesThroughANewScoreHead) {
  const auto tokenizer = Tokenizer::load(kFixtures + "/tokenizers/gpt2");
  const std::string json = R"({"model_type": "llama", "vocab_size": )" + std::to_string(tokenizer->vocabSize()) +
                           R"(, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64, "tie_word_embeddings": true})";
  auto model = createModel(ModelConfig::fromJson(json, "<tiny llama>"), torch::dtype(torch::kFloat));
  initializeRandom(*model, 5);
  const std::string modelDir = (m_root / "llama").string();
  saveModelCheckpoint(*model, modelDir);
  const std::string data = (m_root / "spam.jsonl").string();
  {
    std::ofstream out(data);
    for (int i = 0; i < 12; ++i) {
      out << R"({"text": "win a free prize now, click here )" << i << R"(", "label": "spam"})" << "\n";
      out << R"({"text": "see you at the meeting on monday )" << i << R"(", "label": "ham"})" << "\n";
    }
  }
  RunConfig c = learningConfig("llama-cls", 12);
  c.modelPath = modelDir;
  c.dataset.path = data;
  c.dataset.evalPath = data;
  c.dataset.format = DatasetFormat::Classification;
  c.targets = "all-linear";
  c.train.batchSize = 8;
  c.train.maxSeqLen = 32;
  c.train.evalEvery = 12;
  Recorder recorder;
  Trainer trainer(c, &recorder);
  trainer.setup();
  EXPECT_EQ(trainer.model().config().architecture, "LlamaForSequenceClassification");
  {
    // The new head is drawn from the run's seed, whatever the process drew before.
    torch::randn({97});
    Trainer again(c);
    again.setup();
    EXPECT_TRUE(torch::equal(again.model().named_parameters()["score.weight"],
                             trainer.model().named_parameters()["score.weight"]));
  }
  const TrainResult result = trainer.run();
  ASSERT_EQ(result.state, TrainerState::Completed) << result.message;
  ASSERT_EQ(recorder.evals.size(), 2u);
  EXPECT_LT(recorder.evals[1].loss, recorder.evals[0].loss) << "training should lower the validation loss";
  ASSERT_TRUE(recorder.evals[1].accuracy.has_value());
  EXPECT_EQ(recorder.evals[1].rows, 24);
  bool score = false, b = false, a = false;
  for (const auto& [name, p] : trainer.trainableParameters()) {
    score = score || name == "score.weight";
    b = b || name.find("lora_B") != std::string::npos;
    a = a || name.find("lora_A") != std::string::npos;
  }
  EXPECT_TRUE(score) << "the new head trains in full (PEFT's modules_to_save)";
  EXPECT_TRUE(b);
  EXPECT_FALSE(a) << "LoRA-FA keeps A frozen";
}

TEST_F(TrainerTest, PretrainStartsFromRandomWeightsOfTheConfig) {
  RunConfig c = config("pretrain");
  c.pretrain = true;
  c.adapter.method = TrainMethod::Full;
  c.train.maxSteps = 2;
  Trainer a(c), b(c);
  a.setup();
  b.setup();
  // Same seed, same start; and not the checkpoint's weights.
  const auto loaded = loadModel(m_modelDir, torch::dtype(torch::kFloat));
  const at::Tensor fromCheckpoint = loaded->named_parameters()["transformer.h.0.attn.c_attn.weight"];
  const at::Tensor random = a.model().named_parameters()["transformer.h.0.attn.c_attn.weight"];
  EXPECT_TRUE(torch::equal(random, b.model().named_parameters()["transformer.h.0.attn.c_attn.weight"]));
  EXPECT_FALSE(torch::equal(random, fromCheckpoint));
  EXPECT_EQ(a.run().state, TrainerState::Completed);
}

TEST_F(TrainerTest, EarlyStoppingEndsAfterPatienceEvaluationsWithoutImprovement) {
  // A learning rate of 0 leaves every validation loss equal to the baseline's: none is better.
  RunConfig c = config("early");
  c.optim.learningRate = 0.0;
  c.train.maxSteps = 10;
  c.train.evalEvery = 1;
  c.train.saveEvery = 0;
  c.train.earlyStoppingPatience = 2;
  Recorder recorder;
  Trainer trainer(c, &recorder);
  trainer.setup();
  const TrainResult result = trainer.run();
  EXPECT_EQ(result.state, TrainerState::Completed);
  EXPECT_EQ(result.steps, 2);
  EXPECT_NE(result.message.find("early stopping"), std::string::npos) << result.message;
  ASSERT_EQ(recorder.evals.size(), 3u); // baseline, step 1, step 2
  EXPECT_EQ(recorder.evals[1].loss, recorder.evals[0].loss);
  EXPECT_EQ(fs::path(result.lastCheckpoint).filename(), "step-00000002") << "the stop must leave a checkpoint";

  // The count of evaluations without improvement is part of the checkpoint: a run stopped after
  // step 1 and resumed stops at step 2 as well, not at step 3.
  RunConfig r = config("early-resumed");
  r.optim = c.optim;
  r.train = c.train;
  TrainerOptions stopEarly;
  stopEarly.stopAfterStep = 1;
  {
    Trainer first(r, nullptr, stopEarly);
    first.setup();
    ASSERT_EQ(first.run().state, TrainerState::Stopped);
  }
  Trainer second(r);
  second.setup();
  second.resumeFrom(*latestCheckpoint(r.outputDir + "/checkpoints"));
  const TrainResult resumed = second.run();
  EXPECT_EQ(resumed.state, TrainerState::Completed);
  EXPECT_EQ(resumed.steps, 2);
  EXPECT_NE(resumed.message.find("early stopping"), std::string::npos) << resumed.message;

  // Without patience the same run goes to the end.
  RunConfig off = c;
  off.name = "early-off";
  off.outputDir = (m_root / "early-off").string();
  off.train.earlyStoppingPatience = 0;
  off.train.maxSteps = 4;
  Trainer all(off);
  all.setup();
  EXPECT_EQ(all.run().steps, 4);
}

/// Asks for a pause after `pauseAfter` steps and lifts it from another thread `pauseMs` after the
/// trainer has paused.
struct PausingRecorder : Recorder {
  std::int64_t pauseAfter = 0;
  int pauseMs = 300;
  std::atomic<bool> paused{false};
  std::atomic<bool> stopWhilePaused{false};
  std::int64_t stepsWhenPaused = -1;
  std::int64_t stepsWhenResumed = -1;
  std::thread releaser;
  void onStep(const StepMetrics& m) override {
    Recorder::onStep(m);
    if (m.step == pauseAfter) paused = true;
  }
  void onStateChange(TrainerState s, const std::string& m) override {
    Recorder::onStateChange(s, m);
    if (s == TrainerState::Paused) {
      stepsWhenPaused = static_cast<std::int64_t>(steps.size());
      // Lifted only once the trainer has really paused, however long the step's evaluation took.
      if (!stopWhilePaused && !releaser.joinable()) {
        releaser = std::thread([this] {
          std::this_thread::sleep_for(std::chrono::milliseconds(pauseMs));
          paused = false;
        });
      }
    }
    if (s == TrainerState::Running && stepsWhenPaused >= 0 && stepsWhenResumed < 0) {
      stepsWhenResumed = static_cast<std::int64_t>(steps.size());
    }
  }
  bool shouldPause() override { return paused; }
  bool shouldStop() override { return stopWhilePaused && paused && stepsWhenPaused >= 0; }
  ~PausingRecorder() override {
    if (releaser.joinable()) releaser.join();
  }
};

TEST_F(TrainerTest, EvalPathEvaluatesAWholeSeparateFile) {
  RunConfig c = config("eval-path");
  c.dataset.path = kFixtures + "/data/alpaca.jsonl";
  c.dataset.evalPath = kFixtures + "/data/alpaca.jsonl";
  c.dataset.validationFraction = 0.5; // not used when eval_path is set
  c.adapter.dropout = 0.0;
  c.train.maxSteps = 1;
  Recorder recorder;
  Trainer trainer(c, &recorder);
  trainer.setup();
  ASSERT_EQ(trainer.run().state, TrainerState::Completed);
  const Dataset all = loadDataset(c.dataset.path, DatasetOptions{});
  ASSERT_FALSE(recorder.evals.empty());
  EXPECT_EQ(recorder.evals[0].rows, static_cast<std::int64_t>(all.examples.size()));

  RunConfig missing = config("eval-path-missing");
  missing.dataset.evalPath = (m_root / "no-such.jsonl").string();
  Trainer broken(missing);
  try {
    broken.setup();
    FAIL() << "a missing eval_path must be refused";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("no-such.jsonl"), std::string::npos) << e.what();
  }
}

TEST_F(TrainerTest, PauseHoldsBetweenStepsAndChangesNothing) {
  Recorder straight;
  {
    Trainer trainer(config("unpaused"), &straight);
    trainer.setup();
    ASSERT_EQ(trainer.run().state, TrainerState::Completed);
  }
  PausingRecorder recorder;
  recorder.pauseAfter = 2;
  Trainer trainer(config("paused"), &recorder);
  trainer.setup();
  const auto started = std::chrono::steady_clock::now();
  const TrainResult result = trainer.run();
  const auto elapsedMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  ASSERT_EQ(result.state, TrainerState::Completed) << result.message;
  EXPECT_GE(elapsedMs, recorder.pauseMs); // it did wait (a lower bound only: never an upper one)
  EXPECT_NE(std::find(recorder.states.begin(), recorder.states.end(), TrainerState::Paused), recorder.states.end());
  EXPECT_EQ(recorder.stepsWhenPaused, 2) << "the pause must begin right after the step that asked for it";
  EXPECT_EQ(recorder.stepsWhenResumed, 2) << "no step may run while paused";
  ASSERT_EQ(recorder.steps.size(), straight.steps.size());
  for (std::size_t i = 0; i < straight.steps.size(); ++i) {
    EXPECT_EQ(recorder.steps[i].loss, straight.steps[i].loss) << "step " << i + 1;
  }
}

TEST_F(TrainerTest, StopWhilePausedEndsWithACheckpoint) {
  PausingRecorder recorder;
  recorder.pauseAfter = 3;
  recorder.stopWhilePaused = true;
  Trainer trainer(config("stop-paused"), &recorder);
  trainer.setup();
  const TrainResult result = trainer.run();
  EXPECT_EQ(result.state, TrainerState::Stopped) << result.message;
  EXPECT_EQ(result.steps, 3);
  EXPECT_EQ(fs::path(result.lastCheckpoint).filename(), "step-00000003");
}

} // namespace
} // namespace lorafa
