// The Runs page on a real SQLite run store written through lorafa::RunStore, as the trainer and
// the CLI write it; real widgets driven with QTest under the offscreen platform.
#include "RunDraft.h"
#include "StudioContext.h"
#include "StudioSettings.h"
#include "StudioTestSupport.h"
#include "TrainingController.h"
#include "pages/RunsPage.h"

#include "lorafa/RunConfig.h"
#include "lorafa/RunStore.h"
#include "lorafa/TrainingSession.h"

#include "widgets/QCustomPlotInclude.h"
#include "widgets/RunStoreAccess.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSet>
#include <QTableView>
#include <QtTest/QtTest>

#include <gtest/gtest.h>

#include <memory>

#include <sys/wait.h>
#include <unistd.h>

using namespace lorafa;
using namespace lorafa::ui;

namespace {

constexpr int kWaitMs = 15000; // a generous bound for the page's background reads, not a timing check
constexpr qint64 kMiB = 1024 * 1024;

// A page on its own over a temporary store, wired like the main window wires it.
struct Studio {
  Studio()
      : paths(lorafa::ui::testing::temporaryPaths(dir)), settings(paths.settingsPath),
        controller(paths.runStorePath) {
    context.paths = paths;
    context.settings = &settings;
    context.draft = &draft;
    context.controller = &controller;
  }
  struct AppFirst {
    AppFirst() { lorafa::ui::testing::app(); } // the application exists before any QObject
  } appFirst;
  QTemporaryDir dir;
  StudioPaths paths;
  StudioSettings settings;
  RunDraft draft;
  TrainingController controller;
  StudioContext context;
};

RunConfig configFor(const QString& name, const QString& outputDir, TrainMethod method, int rank, double lr) {
  RunConfig c;
  c.name = name.toStdString();
  c.modelPath = "/models/tiny-llama";
  c.dataset.path = "/data/alpaca.jsonl";
  c.outputDir = outputDir.toStdString();
  c.adapter.method = method;
  c.adapter.rank = rank;
  c.optim.learningRate = lr;
  return c;
}

struct StoredRun {
  QString name;
  RunConfig config;
  RunStatus status = RunStatus::Completed;
  qint64 peakBytes = 0;
  int lossPoints = 0;
  int memoryPoints = 0;
  std::optional<double> bestEval;
};

qint64 writeRun(RunStore& store, const StoredRun& run) {
  NewRun created;
  created.name = run.name.toStdString();
  created.method = toString(run.config.adapter.method);
  created.modelPath = run.config.modelPath;
  created.datasetPath = run.config.dataset.path;
  created.configText = toJson(run.config);
  created.outputDir = run.config.outputDir;
  const qint64 id = store.createRun(created);
  store.startRun(id);
  for (int step = 1; step <= run.lossPoints; ++step) {
    store.appendMetrics(id, {{step, "train/loss", 3.0 - 0.1 * step}, {step, "train/lr", 1e-3}});
  }
  std::map<std::string, double> best;
  if (run.bestEval) {
    store.appendMetrics(id, {{run.lossPoints, "eval/loss", *run.bestEval}});
    best["eval/loss"] = *run.bestEval;
  }
  for (int i = 0; i < run.memoryPoints; ++i) {
    store.appendMemory(id, {1'700'000'000'000LL + 500 * i, i, run.peakBytes / (i + 1), 0, 0});
  }
  store.flush();
  if (run.status != RunStatus::Running) store.finishRun(id, run.status, "", best, best, run.peakBytes);
  return id;
}

struct ThreeRuns {
  qint64 alpha = 0, beta = 0, gamma = 0;
};

// alpha (LoRA-FA r8, 100 MiB), beta (LoRA r16, 2 GiB), gamma (full, failed, 9 MiB): as text the
// peaks sort "100.0 MiB" < "2.00 GiB" < "9.0 MiB", as numbers 9 MiB < 100 MiB < 2 GiB.
ThreeRuns writeThreeRuns(const Studio& studio) {
  RunStore store(studio.paths.runStorePath.toStdString());
  ThreeRuns ids;
  ids.alpha = writeRun(
      store, {"alpha", configFor("alpha", studio.dir.filePath("out-alpha"), TrainMethod::LoraFa, 8, 2e-4),
              RunStatus::Completed, 100 * kMiB, 5, 3, 1.25});
  ids.beta = writeRun(store, {"beta",
                              configFor("beta", studio.dir.filePath("out-beta"), TrainMethod::Lora, 16, 1e-3),
                              RunStatus::Completed, 2048 * kMiB, 7, 4, 0.75});
  ids.gamma = writeRun(
      store, {"gamma", configFor("gamma", studio.dir.filePath("out-gamma"), TrainMethod::Full, 8, 2e-4),
              RunStatus::Failed, 9 * kMiB, 2, 1, std::nullopt});
  return ids;
}

struct ShownPage {
  explicit ShownPage(Studio& studio) : page(studio.context) {
    page.resize(1200, 800);
    page.show();
    EXPECT_TRUE(QTest::qWaitForWindowExposed(&page));
    table = page.findChild<QTableView*>("runsTable");
    filter = page.findChild<QLineEdit*>("runsFilter");
    lossPlot = page.findChild<QCustomPlot*>("runsLossPlot");
    memoryPlot = page.findChild<QCustomPlot*>("runsMemoryPlot");
    diff = page.findChild<QPlainTextEdit*>("configDiff");
  }
  bool valid() const { return table && filter && lossPlot && memoryPlot && diff; }
  int rows() const { return table->model()->rowCount(); }
  QString cell(int row, int column) const { return table->model()->index(row, column).data().toString(); }
  int rowNamed(const QString& name) const {
    for (int r = 0; r < rows(); ++r) {
      if (cell(r, RunTableModel::Name) == name) return r;
    }
    return -1;
  }
  QStringList namesInOrder() const {
    QStringList names;
    for (int r = 0; r < rows(); ++r)
      names.push_back(cell(r, RunTableModel::Name));
    return names;
  }
  std::string order() const { return namesInOrder().join(',').toStdString(); } // readable in failures
  void clickRow(int row, Qt::KeyboardModifiers modifiers = {}) {
    const QRect rect = table->visualRect(table->model()->index(row, RunTableModel::Name));
    QTest::mouseClick(table->viewport(), Qt::LeftButton, modifiers, rect.center());
  }
  void clickHeader(int column) {
    QHeaderView* header = table->horizontalHeader();
    const int x = header->sectionViewportPosition(column) + header->sectionSize(column) / 2;
    QTest::mouseClick(header->viewport(), Qt::LeftButton, {}, QPoint(x, header->height() / 2));
  }
  QPushButton* button(const char* name) { return page.findChild<QPushButton*>(name); }

  RunsPage page;
  QTableView* table = nullptr;
  QLineEdit* filter = nullptr;
  QCustomPlot* lossPlot = nullptr;
  QCustomPlot* memoryPlot = nullptr;
  QPlainTextEdit* diff = nullptr;
};

// The bundled demo, cut down to a few tiny steps without evaluation.
RunConfig demoRun(const QString& outputDir, const std::string& name, std::int64_t steps) {
  RunConfig c = loadRunConfig(findResourcesDir().toStdString() + "/examples/demo-kjv-lora-fa.yaml");
  c.name = name;
  c.outputDir = outputDir.toStdString();
  c.train.maxSteps = steps;
  c.train.batchSize = 2;
  c.train.maxSeqLen = 96;
  c.train.evalEvery = 0;
  c.dataset.validationFraction = 0.0;
  c.dataset.evalPath.clear();
  c.eval.generateMaxExamples = 0;
  c.optim.warmupSteps = 0;
  return c;
}

// Asks the trainer to stop once `steps` steps are done, as the Stop button does.
class StopAfter : public TrainerObserver {
public:
  explicit StopAfter(std::int64_t steps) : m_steps(steps) {}
  void onStep(const StepMetrics&) override { ++m_done; }
  bool shouldStop() override { return m_done >= m_steps; }

private:
  std::int64_t m_steps;
  std::int64_t m_done = 0;
};

} // namespace

TEST(RunsPage, ShowsEveryStoredRunWithItsColumns) {
  Studio studio;
  writeThreeRuns(studio);
  ShownPage shown(studio);
  ASSERT_TRUE(shown.valid());
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 3; }, kWaitMs)) << shown.rows() << " rows";
  const int alpha = shown.rowNamed("alpha"), beta = shown.rowNamed("beta"), gamma = shown.rowNamed("gamma");
  ASSERT_GE(alpha, 0);
  ASSERT_GE(beta, 0);
  ASSERT_GE(gamma, 0);
  EXPECT_EQ(shown.cell(alpha, RunTableModel::Method), "lora-fa");
  EXPECT_EQ(shown.cell(beta, RunTableModel::Method), "lora");
  EXPECT_EQ(shown.cell(alpha, RunTableModel::Rank), "8");
  EXPECT_EQ(shown.cell(beta, RunTableModel::Rank), "16");
  EXPECT_EQ(shown.cell(gamma, RunTableModel::Rank), "–"); // full fine-tuning has no rank
  EXPECT_EQ(shown.cell(gamma, RunTableModel::Status), "failed");
  EXPECT_EQ(shown.cell(alpha, RunTableModel::Status), "completed");
  EXPECT_EQ(shown.cell(alpha, RunTableModel::BestEval), "1.2500");
  EXPECT_EQ(shown.cell(beta, RunTableModel::BestEval), "0.7500");
  EXPECT_EQ(shown.cell(gamma, RunTableModel::BestEval), "–");
  EXPECT_EQ(shown.cell(alpha, RunTableModel::PeakMemory), "100.0 MiB");
  EXPECT_EQ(shown.cell(beta, RunTableModel::PeakMemory), "2.00 GiB");
  EXPECT_EQ(shown.cell(alpha, RunTableModel::Step), "5");
}

TEST(RunsPage, SortsPeakMemoryAsNumbers) {
  Studio studio;
  writeThreeRuns(studio);
  ShownPage shown(studio);
  ASSERT_TRUE(shown.valid());
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 3; }, kWaitMs));
  shown.clickHeader(RunTableModel::PeakMemory);
  QHeaderView* header = shown.table->horizontalHeader();
  ASSERT_EQ(header->sortIndicatorSection(), RunTableModel::PeakMemory);
  const bool ascending = header->sortIndicatorOrder() == Qt::AscendingOrder;
  EXPECT_EQ(shown.order(), ascending ? "gamma,alpha,beta" : "beta,alpha,gamma"); // 9 MiB, 100 MiB, 2 GiB
  shown.clickHeader(RunTableModel::PeakMemory);                                  // the other way round
  EXPECT_EQ(shown.order(), ascending ? "beta,alpha,gamma" : "gamma,alpha,beta");
  // Best eval sorts numerically too; the run without one goes last when ascending.
  shown.clickHeader(RunTableModel::BestEval);
  if (header->sortIndicatorOrder() == Qt::DescendingOrder) shown.clickHeader(RunTableModel::BestEval);
  EXPECT_EQ(shown.order(), "beta,alpha,gamma");
}

TEST(RunsPage, FilterMatchesNameMethodAndStatus) {
  Studio studio;
  writeThreeRuns(studio);
  ShownPage shown(studio);
  ASSERT_TRUE(shown.valid());
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 3; }, kWaitMs));
  QTest::keyClicks(shown.filter, "LORA"); // methods lora-fa and lora, any case
  QStringList loraRuns = shown.namesInOrder();
  loraRuns.sort();
  EXPECT_EQ(loraRuns.join(',').toStdString(), "alpha,beta");
  shown.filter->clear();
  QTest::keyClicks(shown.filter, "fail"); // status
  EXPECT_EQ(shown.order(), "gamma");
  shown.filter->clear();
  QTest::keyClicks(shown.filter, "bet"); // name
  EXPECT_EQ(shown.order(), "beta");
  shown.filter->clear();
  EXPECT_EQ(shown.rows(), 3);
}

TEST(RunsPage, TwoSelectedRunsOverlayTheirCurvesAndDiffTheirSettings) {
  Studio studio;
  const ThreeRuns ids = writeThreeRuns(studio);
  ShownPage shown(studio);
  ASSERT_TRUE(shown.valid());
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 3; }, kWaitMs));
  shown.clickRow(shown.rowNamed("alpha"));
  shown.clickRow(shown.rowNamed("beta"), Qt::ControlModifier);
  EXPECT_EQ(shown.page.selectedRunIds(), (QList<qint64>{ids.alpha, ids.beta}));
  ASSERT_TRUE(QTest::qWaitFor(
      [&] { return shown.lossPlot->graphCount() == 2 && shown.memoryPlot->graphCount() == 2; }, kWaitMs))
      << shown.lossPlot->graphCount() << " loss graphs";
  // Graphs in run id order: alpha (5 losses, 3 memory samples), beta (7, 4); eval/loss and
  // train/lr are not train loss.
  EXPECT_EQ(shown.lossPlot->graph(0)->name(), "alpha");
  EXPECT_EQ(shown.lossPlot->graph(1)->name(), "beta");
  EXPECT_EQ(shown.lossPlot->graph(0)->data()->size(), 5);
  EXPECT_EQ(shown.lossPlot->graph(1)->data()->size(), 7);
  EXPECT_EQ(shown.memoryPlot->graph(0)->data()->size(), 3);
  EXPECT_EQ(shown.memoryPlot->graph(1)->data()->size(), 4);
  EXPECT_DOUBLE_EQ(shown.lossPlot->graph(1)->data()->at(6)->value, 3.0 - 0.1 * 7);
  // Memory in MiB against seconds since the first sample: beta's first sample is its 2 GiB peak.
  EXPECT_DOUBLE_EQ(shown.memoryPlot->graph(1)->data()->at(0)->value, 2048.0);
  EXPECT_DOUBLE_EQ(shown.memoryPlot->graph(1)->data()->at(3)->key, 1.5);
  EXPECT_NE(shown.lossPlot->graph(0)->pen().color(), shown.lossPlot->graph(1)->pen().color());
  EXPECT_EQ(shown.lossPlot->graph(0)->pen().color(), shown.memoryPlot->graph(0)->pen().color());
  EXPECT_EQ(shown.lossPlot->graph(1)->pen().color(), shown.memoryPlot->graph(1)->pen().color());
  EXPECT_TRUE(shown.lossPlot->legend->visible());

  // The diff lists exactly the settings configFor() made different: name, output folder, method,
  // rank and learning rate.
  const QStringList lines = shown.diff->toPlainText().split('\n');
  ASSERT_GE(lines.size(), 2) << shown.diff->toPlainText().toStdString();
  EXPECT_EQ(lines[0], "key\talpha\tbeta");
  QStringList keys;
  for (int i = 1; i < lines.size(); ++i)
    keys.push_back(lines[i].section('\t', 0, 0));
  keys.sort();
  EXPECT_EQ(keys.join(',').toStdString(), "adapter.rank,method,name,optim.lr,output_dir");
  EXPECT_TRUE(lines.contains("adapter.rank\t8\t16")) << shown.diff->toPlainText().toStdString();
  EXPECT_TRUE(lines.contains("method\tlora-fa\tlora")) << shown.diff->toPlainText().toStdString();

  // Deselecting one leaves one graph per plot.
  shown.clickRow(shown.rowNamed("beta"), Qt::ControlModifier);
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.lossPlot->graphCount() == 1; }, kWaitMs));
  EXPECT_EQ(shown.lossPlot->graph(0)->name(), "alpha");
}

TEST(RunsPage, SelectRunsSlotSelectsByIdAndKeepsTheSelectionAcrossRefreshes) {
  Studio studio;
  const ThreeRuns ids = writeThreeRuns(studio);
  ShownPage shown(studio);
  ASSERT_TRUE(shown.valid());
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 3; }, kWaitMs));
  shown.page.selectRuns({ids.gamma, ids.alpha});
  EXPECT_EQ(shown.page.selectedRunIds(), (QList<qint64>{ids.alpha, ids.gamma}));
  // A run added meanwhile (another process) comes in with the next refresh; the selection stays.
  {
    RunStore other(studio.paths.runStorePath.toStdString());
    writeRun(other,
             {"delta", configFor("delta", studio.dir.filePath("out-delta"), TrainMethod::LoraFa, 4, 2e-4),
              RunStatus::Completed, kMiB, 1, 1, std::nullopt});
  }
  shown.page.refresh();
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 4; }, kWaitMs));
  EXPECT_EQ(shown.page.selectedRunIds(), (QList<qint64>{ids.alpha, ids.gamma}));
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.lossPlot->graphCount() == 2; }, kWaitMs));
  // A run that is not in the table yet is selected once a refresh brings it.
  qint64 epsilon = 0;
  {
    RunStore other(studio.paths.runStorePath.toStdString());
    epsilon = writeRun(other, {"epsilon",
                               configFor("epsilon", studio.dir.filePath("out-e"), TrainMethod::Lora, 4, 2e-4),
                               RunStatus::Completed, kMiB, 2, 1, std::nullopt});
  }
  shown.page.selectRuns({ids.beta, epsilon});
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.page.selectedRunIds().size() == 2; }, kWaitMs));
  EXPECT_EQ(shown.page.selectedRunIds(), (QList<qint64>{ids.beta, epsilon}));
}

TEST(RunsPage, RenameWritesTheStore) {
  Studio studio;
  const ThreeRuns ids = writeThreeRuns(studio);
  ShownPage shown(studio);
  ASSERT_TRUE(shown.valid());
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 3; }, kWaitMs));
  shown.clickRow(shown.rowNamed("beta"));
  QPushButton* rename = shown.button("renameButton");
  ASSERT_NE(rename, nullptr);
  ASSERT_TRUE(rename->isEnabled());
  QTest::mouseClick(rename, Qt::LeftButton);
  QInputDialog* dialog = nullptr;
  ASSERT_TRUE(QTest::qWaitFor(
      [&] { return (dialog = shown.page.findChild<QInputDialog*>("renameDialog")) != nullptr; }, kWaitMs));
  EXPECT_EQ(dialog->textValue(), "beta");
  dialog->setTextValue("beta, rank 16");
  dialog->accept();
  auto storedName = [&] {
    RunStore fresh(studio.paths.runStorePath.toStdString());
    return QString::fromStdString(fresh.run(ids.beta)->name);
  };
  ASSERT_TRUE(QTest::qWaitFor([&] { return storedName() == "beta, rank 16"; }, kWaitMs))
      << storedName().toStdString();
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rowNamed("beta, rank 16") >= 0; }, kWaitMs));
  EXPECT_EQ(shown.rowNamed("beta"), -1);
  EXPECT_EQ(shown.page.selectedRunIds(), QList<qint64>{ids.beta}); // still selected after the refresh
}

TEST(RunsPage, DeleteAsksThenRemovesOnlyThatRecord) {
  Studio studio;
  const ThreeRuns ids = writeThreeRuns(studio);
  QDir().mkpath(studio.dir.filePath("out-gamma"));
  ShownPage shown(studio);
  ASSERT_TRUE(shown.valid());
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 3; }, kWaitMs));
  shown.clickRow(shown.rowNamed("gamma"));
  QTest::mouseClick(shown.button("deleteButton"), Qt::LeftButton);
  QMessageBox* box = nullptr;
  ASSERT_TRUE(QTest::qWaitFor(
      [&] { return (box = shown.page.findChild<QMessageBox*>("deleteConfirm")) != nullptr; }, kWaitMs));
  // "No" keeps it.
  QTest::mouseClick(box->button(QMessageBox::No), Qt::LeftButton);
  QTest::qWait(200);
  EXPECT_TRUE(RunStore(studio.paths.runStorePath.toStdString()).run(ids.gamma).has_value());
  QTest::mouseClick(shown.button("deleteButton"), Qt::LeftButton);
  ASSERT_TRUE(QTest::qWaitFor(
      [&] {
        box = shown.page.findChild<QMessageBox*>("deleteConfirm");
        return box != nullptr && box->isVisible();
      },
      kWaitMs));
  QTest::mouseClick(box->button(QMessageBox::Yes), Qt::LeftButton);
  ASSERT_TRUE(QTest::qWaitFor(
      [&] { return !RunStore(studio.paths.runStorePath.toStdString()).run(ids.gamma).has_value(); },
      kWaitMs));
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 2; }, kWaitMs));
  EXPECT_EQ(shown.rowNamed("gamma"), -1);
  RunStore fresh(studio.paths.runStorePath.toStdString());
  EXPECT_TRUE(fresh.run(ids.alpha).has_value());
  EXPECT_TRUE(fresh.run(ids.beta).has_value());
  EXPECT_TRUE(QFileInfo(studio.dir.filePath("out-gamma")).isDir()); // files are left alone
}

TEST(RunsPage, UseTheseSettingsLoadsTheRunIntoTheDraft) {
  Studio studio;
  writeThreeRuns(studio);
  ShownPage shown(studio);
  ASSERT_TRUE(shown.valid());
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 3; }, kWaitMs));
  shown.clickRow(shown.rowNamed("beta"));
  QSignalSpy changed(&studio.draft, &RunDraft::changed);
  QTest::mouseClick(shown.button("useSettingsButton"), Qt::LeftButton);
  EXPECT_EQ(changed.count(), 1);
  EXPECT_EQ(studio.draft.config().name, "beta");
  EXPECT_EQ(studio.draft.config().adapter.method, TrainMethod::Lora);
  EXPECT_EQ(studio.draft.config().adapter.rank, 16);
  EXPECT_DOUBLE_EQ(studio.draft.config().optim.learningRate, 1e-3);
}

TEST(RunsPage, ARunWrittenByAnotherProcessAppearsAndUpdatesLive) {
  Studio studio;
  writeThreeRuns(studio);
  ShownPage shown(studio);
  ASSERT_TRUE(shown.valid());
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 3; }, kWaitMs));
  // What `lorafa train` does, through its own connection: no call into the page.
  RunStore cli(studio.paths.runStorePath.toStdString());
  const RunConfig config = configFor("cli-run", studio.dir.filePath("out-cli"), TrainMethod::LoraFa, 4, 2e-4);
  const qint64 id = writeRun(cli, {"cli-run", config, RunStatus::Running, 0, 3, 2, std::nullopt});
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rowNamed("cli-run") >= 0; }, kWaitMs))
      << "the timer's refresh did not bring it";
  auto cliCell = [&](int column) { return shown.cell(shown.rowNamed("cli-run"), column); };
  EXPECT_EQ(cliCell(RunTableModel::Status), "running");
  EXPECT_EQ(cliCell(RunTableModel::Step), "3");
  EXPECT_EQ(cliCell(RunTableModel::BestEval), "–");
  // It trains on: steps, an evaluation and memory samples arrive.
  cli.appendMetrics(
      id, {{4, "train/loss", 2.5}, {5, "train/loss", 2.4}, {5, "eval/loss", 2.75}, {6, "train/loss", 2.3}});
  cli.appendMemory(id, {1'700'000'010'000LL, 6, 0, 300 * kMiB, 0}); // on a GPU: CUDA bytes count
  cli.flush();
  ASSERT_TRUE(QTest::qWaitFor([&] { return cliCell(RunTableModel::Step) == "6"; }, kWaitMs));
  EXPECT_EQ(cliCell(RunTableModel::BestEval), "2.7500");
  EXPECT_EQ(cliCell(RunTableModel::PeakMemory), "300.0 MiB");
  cli.appendMetrics(id, {{8, "eval/loss", 2.5}});
  cli.flush();
  cli.finishRun(id, RunStatus::Completed, "", {{"eval/loss", 2.5}}, {{"eval/loss", 2.5}}, 300 * kMiB);
  ASSERT_TRUE(QTest::qWaitFor([&] { return cliCell(RunTableModel::Status) == "completed"; }, kWaitMs));
  EXPECT_EQ(cliCell(RunTableModel::BestEval), "2.5000");
  EXPECT_EQ(cliCell(RunTableModel::Step), "8");
}

TEST(RunsPage, ResumeContinuesAStoppedRunFromItsCheckpoint) {
  Studio studio;
  const RunConfig config = demoRun(studio.dir.filePath("out-stopped"), "stopped", 3);
  qint64 stopped = 0;
  {
    RunStore store(studio.paths.runStorePath.toStdString());
    StopAfter observer(2);
    auto session = TrainingSession::create(config, &observer);
    session->setup();
    const TrainResult result = session->run();
    ASSERT_EQ(result.state, TrainerState::Stopped) << result.message;
    ASSERT_TRUE(latestCheckpointIn(config.outputDir).has_value());
    stopped = store.createRun({config.name, "lora-fa", config.modelPath, config.dataset.path, toJson(config),
                               config.outputDir, std::nullopt});
    store.startRun(stopped);
    store.finishRun(stopped, RunStatus::Stopped, result.message, result.finalMetrics, result.bestMetrics,
                    result.peakMemoryBytes);
  }
  ShownPage shown(studio);
  ASSERT_TRUE(shown.valid());
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 1; }, kWaitMs));
  QPushButton* resume = shown.button("resumeButton");
  ASSERT_NE(resume, nullptr);
  EXPECT_FALSE(resume->isEnabled()); // nothing selected
  shown.clickRow(shown.rowNamed("stopped"));
  ASSERT_TRUE(resume->isEnabled()) << resume->toolTip().toStdString();
  QSignalSpy finished(&studio.controller, &TrainingController::runFinished);
  QTest::mouseClick(resume, Qt::LeftButton);
  EXPECT_FALSE(resume->isEnabled()); // one run at a time
  ASSERT_TRUE(QTest::qWaitFor([&] { return finished.count() == 1; }, 300000));
  // The continuation is a run of its own, resumed from the stopped one, and took the last step.
  std::optional<RunInfo> continued;
  for (const RunInfo& r : RunStore(studio.paths.runStorePath.toStdString()).listRuns()) {
    if (r.resumedFrom == stopped) continued = r;
  }
  ASSERT_TRUE(continued.has_value());
  EXPECT_EQ(continued->status, RunStatus::Completed) << continued->message;
  EXPECT_EQ(continued->lastStep, 3);
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 2; }, kWaitMs));
  // A completed run has nothing to resume.
  shown.clickRow(shown.rowNamed(QString::fromStdString(continued->name)));
  ASSERT_EQ(shown.page.selectedRunIds(), QList<qint64>{continued->id});
  EXPECT_FALSE(resume->isEnabled());
}

TEST(RunsPage, KeepsTheFilterAndTheSortForTheNextStart) {
  Studio studio;
  writeThreeRuns(studio);
  {
    ShownPage shown(studio);
    ASSERT_TRUE(shown.valid());
    ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 3; }, kWaitMs));
    QTest::keyClicks(shown.filter, "a"); // every name has an "a"
    shown.clickHeader(RunTableModel::PeakMemory);
    if (shown.table->horizontalHeader()->sortIndicatorOrder() != Qt::AscendingOrder) {
      shown.clickHeader(RunTableModel::PeakMemory);
    }
  }
  ShownPage again(studio);
  ASSERT_TRUE(again.valid());
  EXPECT_EQ(again.filter->text(), "a");
  EXPECT_EQ(again.table->horizontalHeader()->sortIndicatorSection(), RunTableModel::PeakMemory);
  EXPECT_EQ(again.table->horizontalHeader()->sortIndicatorOrder(), Qt::AscendingOrder);
  ASSERT_TRUE(QTest::qWaitFor([&] { return again.rows() == 3; }, kWaitMs));
  EXPECT_EQ(again.order(), "gamma,alpha,beta");
}

TEST(RunsPage, AReadErrorIsShownAndClearedOnceTheStoreReadsAgain) {
  Studio studio;
  auto writeFile = [](const QString& path, const QByteArray& bytes) {
    QFile file(path);
    return file.open(QIODevice::WriteOnly | QIODevice::Truncate) && file.write(bytes) == bytes.size();
  };
  ASSERT_TRUE(
      writeFile(studio.paths.runStorePath, QByteArray("this is not an SQLite database\n").repeated(64)));
  ShownPage shown(studio);
  ASSERT_TRUE(shown.valid());
  auto* message = shown.page.findChild<QLabel*>("runsMessage");
  ASSERT_NE(message, nullptr);
  ASSERT_TRUE(
      QTest::qWaitFor([&] { return message->text().startsWith("Cannot read the run history"); }, kWaitMs))
      << message->text().toStdString();
  EXPECT_TRUE(message->text().contains(QFileInfo(studio.paths.runStorePath).fileName()))
      << message->text().toStdString();
  EXPECT_EQ(shown.rows(), 0);
  // The file is replaced by a good store: the next refresh lists its run and drops the error.
  ASSERT_TRUE(QFile::remove(studio.paths.runStorePath));
  {
    RunStore store(studio.paths.runStorePath.toStdString());
    writeRun(store,
             {"alpha", configFor("alpha", studio.dir.filePath("out-alpha"), TrainMethod::LoraFa, 8, 2e-4),
              RunStatus::Completed, kMiB, 1, 1, std::nullopt});
  }
  shown.page.refresh();
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 1; }, kWaitMs));
  EXPECT_TRUE(message->text().isEmpty()) << message->text().toStdString();
}

// `lorafa train` killed (or out of memory) while the Studio is open: its run must not stay
// "running" — undeletable, its duration growing — until the Studio restarts.
TEST(RunsPage, ARunWhoseProcessDiedBecomesInterruptedWithoutARestart) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer cannot follow this fork of a multi-threaded process: the child dies
  // (die_after_fork), or aborts with "dup thread with used id" (die_after_fork=0).
  GTEST_SKIP() << "not under ThreadSanitizer: it cannot follow a fork of a multi-threaded process";
#endif
  Studio studio;
  writeThreeRuns(studio);
  // The other process, forked before the page starts any thread of its own: it records a running
  // run, reports it, and dies without finishing it when told to.
  int started[2], die[2];
  ASSERT_EQ(::pipe(started), 0);
  ASSERT_EQ(::pipe(die), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(started[0]);
    ::close(die[1]);
    qint64 id = 0;
    {
      RunStore store(studio.paths.runStorePath.toStdString());
      const RunConfig c = configFor("killed", studio.dir.filePath("out-k"), TrainMethod::LoraFa, 4, 2e-4);
      id = store.createRun({"killed", "lora-fa", c.modelPath, c.dataset.path, toJson(c), c.outputDir, {}});
      store.startRun(id);
    }
    char byte = 0;
    const bool told = ::write(started[1], &byte, 1) == 1 && ::read(die[0], &byte, 1) >= 0;
    ::_exit(told ? 0 : 1); // no destructors, no finishRun: as a kill would leave it
  }
  ::close(started[1]);
  ::close(die[0]);
  char byte = 0;
  ASSERT_EQ(::read(started[0], &byte, 1), 1);
  ShownPage shown(studio);
  ASSERT_TRUE(shown.valid());
  auto killedStatus = [&] {
    const int row = shown.rowNamed("killed");
    return row < 0 ? QString() : shown.cell(row, RunTableModel::Status);
  };
  // While its process lives, it is running (and keeps its record).
  ASSERT_TRUE(QTest::qWaitFor([&] { return killedStatus() == "running"; }, kWaitMs));
  shown.clickRow(shown.rowNamed("killed"));
  EXPECT_FALSE(shown.button("deleteButton")->isEnabled());
  ASSERT_EQ(::write(die[1], &byte, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // A reopen of the store finds its process gone (within the reopen interval and a refresh or two).
  ASSERT_TRUE(QTest::qWaitFor([&] { return killedStatus() == "interrupted"; },
                              RunStoreAccess::kReopenWhileRunningMs + 60000))
      << killedStatus().toStdString();
  EXPECT_TRUE(shown.button("deleteButton")->isEnabled());
  ::close(started[0]);
  ::close(die[1]);
}

TEST(RunsPage, RenamingARunDeletedMeanwhileSaysItFailed) {
  Studio studio;
  const ThreeRuns ids = writeThreeRuns(studio);
  ShownPage shown(studio);
  ASSERT_TRUE(shown.valid());
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 3; }, kWaitMs));
  shown.clickRow(shown.rowNamed("beta"));
  QTest::mouseClick(shown.button("renameButton"), Qt::LeftButton);
  QInputDialog* dialog = nullptr;
  ASSERT_TRUE(QTest::qWaitFor(
      [&] { return (dialog = shown.page.findChild<QInputDialog*>("renameDialog")) != nullptr; }, kWaitMs));
  RunStore(studio.paths.runStorePath.toStdString()).deleteRun(ids.beta); // `lorafa runs delete`
  dialog->setTextValue("beta again");
  dialog->accept();
  auto* message = shown.page.findChild<QLabel*>("runsMessage");
  ASSERT_NE(message, nullptr);
  ASSERT_TRUE(QTest::qWaitFor([&] { return !message->text().isEmpty(); }, kWaitMs));
  EXPECT_TRUE(message->text().startsWith(QString("Could not rename run %1: ").arg(ids.beta)))
      << message->text().toStdString();
  EXPECT_FALSE(message->text().contains("Renamed")) << message->text().toStdString();
  ASSERT_TRUE(QTest::qWaitFor([&] { return shown.rows() == 2; }, kWaitMs));
}
