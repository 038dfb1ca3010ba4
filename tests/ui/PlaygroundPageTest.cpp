// The Playground on the bundled demo model: runs trained here for two steps with the engine's
// TrainingSession and recorded in a real run store, generation driven through the real widgets.
#include "RunDraft.h"
#include "StudioContext.h"
#include "StudioSettings.h"
#include "StudioTestSupport.h"
#include "TrainingController.h"
#include "pages/PlaygroundPage.h"
#include "widgets/RunInference.h"

#include "lorafa/RunConfig.h"
#include "lorafa/RunStore.h"
#include "lorafa/TrainingSession.h"

#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QtTest/QtTest>

#include <gtest/gtest.h>

#include <memory>

using namespace lorafa;
using namespace lorafa::ui;

namespace {

constexpr int kStoreWaitMs = 15000;
constexpr int kGenerateWaitMs = 300000; // loading and generating on a busy 2-core machine

RunConfig demoRun(const QString& outputDir, const std::string& name, double learningRate) {
  RunConfig c = loadRunConfig(findResourcesDir().toStdString() + "/examples/demo-kjv-lora-fa.yaml");
  c.name = name;
  c.outputDir = outputDir.toStdString();
  c.train.maxSteps = 2;
  c.train.batchSize = 2;
  c.train.maxSeqLen = 96;
  c.train.evalEvery = 0;
  c.dataset.validationFraction = 0.0; // no evaluation
  c.dataset.evalPath.clear();
  c.eval.generateMaxExamples = 0;
  c.optim.warmupSteps = 0;
  c.optim.schedule = LrSchedule::Constant;
  c.optim.learningRate = learningRate;
  return c;
}

// Trains like `lorafa train` and records the run the same way.
qint64 trainAndRecord(RunStore& store, const RunConfig& config) {
  auto session = TrainingSession::create(config, nullptr);
  session->setup();
  const TrainResult result = session->run();
  EXPECT_EQ(result.state, TrainerState::Completed) << result.message;
  EXPECT_TRUE(latestCheckpointIn(config.outputDir).has_value()) << "no checkpoint in " << config.outputDir;
  NewRun run{config.name,      toString(config.adapter.method),
             config.modelPath, config.dataset.path,
             toJson(config),   config.outputDir,
             std::nullopt};
  const qint64 id = store.createRun(run);
  store.startRun(id);
  store.finishRun(id, RunStatus::Completed, "", result.finalMetrics, result.bestMetrics,
                  result.peakMemoryBytes);
  return id;
}

class PlaygroundPageTest : public ::testing::Test {
protected:
  // Two runs, trained once for every test here: "near-zero" with a learning rate of 1e-30 (the
  // config requires lr > 0), whose B stays within ~1e-30 of its zero start, far below float32
  // resolution of the layer outputs, so its adapter adds exactly nothing; "trained" with the
  // demo's 2e-2.
  static void SetUpTestSuite() {
    lorafa::ui::testing::app();
    s_dir = new QTemporaryDir;
    RunStore store(s_dir->filePath("runs.db").toStdString());
    s_nearZero = trainAndRecord(store, demoRun(s_dir->filePath("near-zero"), "near-zero", 1e-30));
    s_trained = trainAndRecord(store, demoRun(s_dir->filePath("trained"), "trained", 2e-2));
  }
  static void TearDownTestSuite() {
    delete s_dir;
    s_dir = nullptr;
  }

  void SetUp() override {
    m_paths = lorafa::ui::testing::temporaryPaths(m_dir);
    m_paths.runStorePath = s_dir->filePath("runs.db");
    m_settings = std::make_unique<StudioSettings>(m_paths.settingsPath);
    m_controller = std::make_unique<TrainingController>(m_paths.runStorePath);
    m_context.paths = m_paths;
    m_context.settings = m_settings.get();
    m_context.draft = &m_draft;
    m_context.controller = m_controller.get();
    m_page = std::make_unique<PlaygroundPage>(m_context);
    m_page->resize(1000, 700);
    m_page->show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(m_page.get()));
    m_combo = m_page->findChild<QComboBox*>("runCombo");
    m_prompt = m_page->findChild<QPlainTextEdit*>("promptEdit");
    m_generate = m_page->findChild<QPushButton*>("generateButton");
    m_base = m_page->findChild<QPlainTextEdit*>("baseOutput");
    m_adapter = m_page->findChild<QPlainTextEdit*>("adapterOutput");
    m_maxTokens = m_page->findChild<QSpinBox*>("maxTokensSpin");
    m_status = m_page->findChild<QLabel*>("playgroundStatus");
    ASSERT_TRUE(m_combo && m_prompt && m_generate && m_base && m_adapter && m_maxTokens && m_status);
  }

  bool chooseRun(qint64 id) {
    if (!QTest::qWaitFor([&] { return m_combo->findData(id) >= 0; }, kStoreWaitMs)) return false;
    m_combo->setCurrentIndex(m_combo->findData(id));
    return true;
  }
  // Types the prompt, clicks Generate and waits for the answer.
  bool generate(const QString& prompt, int maxTokens) {
    m_prompt->clear();
    QTest::keyClicks(m_prompt, prompt);
    m_maxTokens->setValue(maxTokens);
    m_base->clear();
    m_adapter->clear();
    QTest::mouseClick(m_generate, Qt::LeftButton);
    if (!m_page->isBusy() || m_generate->isEnabled()) return false; // the busy state shows at once
    return QTest::qWaitFor([&] { return !m_page->isBusy(); }, kGenerateWaitMs);
  }

  static QTemporaryDir* s_dir;
  static qint64 s_nearZero;
  static qint64 s_trained;
  QTemporaryDir m_dir;
  StudioPaths m_paths;
  std::unique_ptr<StudioSettings> m_settings;
  RunDraft m_draft;
  std::unique_ptr<TrainingController> m_controller;
  StudioContext m_context;
  std::unique_ptr<PlaygroundPage> m_page;
  QComboBox* m_combo = nullptr;
  QPlainTextEdit* m_prompt = nullptr;
  QPushButton* m_generate = nullptr;
  QPlainTextEdit* m_base = nullptr;
  QPlainTextEdit* m_adapter = nullptr;
  QSpinBox* m_maxTokens = nullptr;
  QLabel* m_status = nullptr;
};

QTemporaryDir* PlaygroundPageTest::s_dir = nullptr;
qint64 PlaygroundPageTest::s_nearZero = 0;
qint64 PlaygroundPageTest::s_trained = 0;

} // namespace

TEST_F(PlaygroundPageTest, ListsOnlyRunsWithACheckpoint) {
  {
    RunStore store(m_paths.runStorePath.toStdString());
    NewRun none{"no-checkpoint", "lora-fa", "/m", "/d", "{}", m_dir.filePath("empty").toStdString(),
                std::nullopt};
    store.createRun(none);
  }
  ASSERT_TRUE(QTest::qWaitFor(
      [&] { return m_combo->findData(s_nearZero) >= 0 && m_combo->findData(s_trained) >= 0; }, kStoreWaitMs));
  EXPECT_EQ(m_combo->count(), 3); // base model only + the two trained runs
  EXPECT_EQ(m_combo->itemData(0).toLongLong(), 0);
  EXPECT_EQ(m_combo->findText("no-checkpoint", Qt::MatchStartsWith), -1);
}

TEST_F(PlaygroundPageTest, AnUntrainedAdapterGeneratesExactlyWhatTheBaseModelDoes) {
  ASSERT_TRUE(chooseRun(s_nearZero));
  const QString prompt = "And God said unto Moses,";
  ASSERT_TRUE(generate(prompt, 8)) << m_status->text().toStdString();
  const QString base = m_base->toPlainText();
  ASSERT_FALSE(base.isEmpty()) << m_status->text().toStdString();
  EXPECT_EQ(m_adapter->toPlainText(), base); // greedy, B ≈ 0
  // The page's "base" is the run's model with untrained adapters; the plain model (full
  // fine-tuning settings: no adapter layers at all) gives the same text.
  RunConfig plain = demoRun(m_dir.filePath("plain"), "plain", 2e-2);
  plain.adapter.method = TrainMethod::Full;
  m_draft.setConfig(plain);
  m_combo->setCurrentIndex(0);
  ASSERT_TRUE(generate(prompt, 8)) << m_status->text().toStdString();
  EXPECT_EQ(m_base->toPlainText(), base) << m_status->text().toStdString();
  EXPECT_TRUE(m_adapter->toPlainText().isEmpty()); // no run: no adapter output
}

TEST_F(PlaygroundPageTest, ATrainedAdapterAnswersNextToTheBaseAndStaysLoaded) {
  ASSERT_TRUE(chooseRun(s_trained));
  ASSERT_TRUE(generate("In the beginning", 6)) << m_status->text().toStdString();
  EXPECT_FALSE(m_base->toPlainText().isEmpty()) << m_status->text().toStdString();
  EXPECT_FALSE(m_adapter->toPlainText().isEmpty()) << m_status->text().toStdString();
  EXPECT_TRUE(m_status->text().startsWith("Done")) << m_status->text().toStdString();
  // A second prompt reuses the loaded sessions and still gives both.
  ASSERT_TRUE(generate("And the LORD spake", 4)) << m_status->text().toStdString();
  EXPECT_FALSE(m_base->toPlainText().isEmpty());
  EXPECT_FALSE(m_adapter->toPlainText().isEmpty());
}

TEST_F(PlaygroundPageTest, FormatsAnInstructionWithTheRunsTemplate) {
  ASSERT_TRUE(chooseRun(s_trained));
  auto* instruction = m_page->findChild<QCheckBox*>("instructionCheck");
  auto* input = m_page->findChild<QLineEdit*>("instructionInputEdit");
  ASSERT_TRUE(instruction && input);
  EXPECT_FALSE(input->isEnabled());
  QTest::mouseClick(instruction, Qt::LeftButton);
  ASSERT_TRUE(input->isEnabled());
  QTest::keyClicks(input, "In the beginning God created the heaven and the earth.");
  const QString question = "Which book of the Bible is this verse from? Answer with the name of the book.";
  ASSERT_TRUE(generate(question, 4)) << m_status->text().toStdString();
  EXPECT_FALSE(m_adapter->toPlainText().isEmpty()) << m_status->text().toStdString();
  // The demo trains with `template: plain`: the user message (instruction, blank line, input)
  // then a newline, where the answer starts.
  EXPECT_EQ(m_status->toolTip(),
            "Prompt sent:\n" + question + "\n\nIn the beginning God created the heaven and the earth.\n");
}

TEST_F(PlaygroundPageTest, AnEmptyPromptOrABrokenRunIsAMessage) {
  QTest::mouseClick(m_generate, Qt::LeftButton);
  EXPECT_FALSE(m_page->isBusy());
  EXPECT_EQ(m_status->text(), "Type a prompt first.");
  // The draft points at a model folder that does not exist: the error names it.
  RunConfig broken = demoRun(m_dir.filePath("broken"), "broken", 2e-2);
  broken.modelPath = m_dir.filePath("no-such-model").toStdString();
  m_draft.setConfig(broken);
  m_combo->setCurrentIndex(0);
  ASSERT_TRUE(generate("Hello", 2));
  EXPECT_TRUE(m_status->text().startsWith("Generation failed")) << m_status->text().toStdString();
  EXPECT_TRUE(m_status->text().contains("no-such-model")) << m_status->text().toStdString();
  EXPECT_TRUE(m_generate->isEnabled());
}

TEST_F(PlaygroundPageTest, KeepsTheLastChoicesForTheNextStart) {
  ASSERT_TRUE(chooseRun(s_trained));
  m_maxTokens->setValue(17);
  m_prompt->setPlainText("Let there be light");
  QTest::mouseClick(m_generate, Qt::LeftButton);
  ASSERT_TRUE(QTest::qWaitFor([&] { return !m_page->isBusy(); }, kGenerateWaitMs));
  m_page.reset();
  PlaygroundPage again(m_context);
  again.show();
  auto* combo = again.findChild<QComboBox*>("runCombo");
  EXPECT_EQ(again.findChild<QSpinBox*>("maxTokensSpin")->value(), 17);
  EXPECT_EQ(again.findChild<QPlainTextEdit*>("promptEdit")->toPlainText(), "Let there be light");
  ASSERT_TRUE(QTest::qWaitFor([&] { return combo->currentData().toLongLong() == s_trained; }, kStoreWaitMs))
      << combo->currentText().toStdString();
}

// The "base model" of a run that started from an imported PEFT adapter (adapter.init_from) is the
// model without that adapter: the same text as the plain model of full fine-tuning settings, and
// the import folder need not exist any more (here it never did: setup() would refuse it).
TEST(RunInference, TheBaseOfARunStartedFromAnImportedAdapterIsThePlainModel) {
  lorafa::ui::testing::app(); // finds the bundled resources
  QTemporaryDir dir;
  GenerationRequest imported;
  imported.runId = 7;
  imported.config = demoRun(dir.filePath("imported"), "imported", 2e-2);
  imported.config.adapterInitFrom = dir.filePath("no-such-peft-adapter").toStdString();
  imported.prompt = "And God said unto Moses,";
  imported.maxNewTokens = 6;
  GenerationRequest plain = imported;
  plain.runId = 0;
  plain.config.adapterInitFrom.clear();
  plain.config.adapter.method = TrainMethod::Full;
  RunInference inference;
  const GenerationResult fromImported = inference.generate(imported);
  ASSERT_TRUE(fromImported.error.isEmpty()) << fromImported.error.toStdString();
  EXPECT_FALSE(fromImported.hasAdapter);
  ASSERT_FALSE(fromImported.base.isEmpty());
  const GenerationResult fromPlain = inference.generate(plain);
  ASSERT_TRUE(fromPlain.error.isEmpty()) << fromPlain.error.toStdString();
  EXPECT_EQ(fromImported.base, fromPlain.base);
}
