// The Train page with real widgets and real (tiny) runs of the bundled demo model.
#include "MainWindow.h"
#include "RunDraft.h"
#include "StudioTestSupport.h"
#include "TrainingController.h"
#include "pages/TrainPage.h"
#include "widgets/QCustomPlotInclude.h"

#include "lorafa/RunStore.h"

#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QtTest/QtTest>

#include <gtest/gtest.h>

#include <unistd.h>

using namespace lorafa;
using namespace lorafa::ui;
using lorafa::ui::testing::app;
using lorafa::ui::testing::temporaryPaths;
using lorafa::ui::testing::tinyDemoConfig;

namespace {

constexpr int kRunTimeoutMs = 180000; // a tiny run takes seconds; a loaded 2-core machine more

template <typename T> T* child(QWidget& root, const char* name) {
  T* widget = root.findChild<T*>(name);
  EXPECT_NE(widget, nullptr) << "no " << name;
  return widget;
}

int points(QWidget& root, const char* plotName, int graph) {
  auto* plot = root.findChild<QCustomPlot*>(plotName);
  if (plot == nullptr || graph >= plot->graphCount()) return -1;
  return plot->graph(graph)->dataCount();
}

/// A studio in `dir` whose draft is the tiny demo run.
struct Studio {
  explicit Studio(const QTemporaryDir& dir, std::int64_t maxSteps = 2)
      : window(queryEngineInfo(), temporaryPaths(dir)) {
    window.context().draft->setConfig(tinyDemoConfig(window.context().paths, maxSteps));
    window.showPage("trainPage");
    window.show();
  }
  TrainPage& page() { return *window.trainPage(); }
  MainWindow window;
};

} // namespace

TEST(TrainPage, StartIsDisabledWithTheReasonWhileTheDraftHasAProblem) {
  app();
  QTemporaryDir dir;
  Studio studio(dir);
  auto* start = child<QPushButton>(studio.page(), "startButton");
  auto* twin = child<QPushButton>(studio.page(), "twinButton");
  auto* reason = child<QLabel>(studio.page(), "startBlockedReason");
  ASSERT_TRUE(start && twin && reason);
  EXPECT_TRUE(start->isEnabled());
  EXPECT_TRUE(reason->text().isEmpty());

  studio.window.context().draft->setProblem("method.rank", "must be between 1 and 256");
  EXPECT_FALSE(start->isEnabled());
  EXPECT_FALSE(twin->isEnabled());
  EXPECT_TRUE(reason->text().contains("rank: must be between 1 and 256")) << reason->text().toStdString();
  // Clicking a disabled Start starts nothing.
  QTest::mouseClick(start, Qt::LeftButton);
  EXPECT_FALSE(studio.window.context().controller->isActive());

  studio.window.context().draft->setProblem("method.rank", {});
  EXPECT_TRUE(start->isEnabled());
  EXPECT_TRUE(reason->text().isEmpty());
}

TEST(TrainPage, StartUsesAFreshOutputFolderNeverTheConfigs) {
  app();
  QTemporaryDir dir;
  Studio studio(dir);
  const RunConfig config = studio.page().configForStart();
  const QString out = QString::fromStdString(config.outputDir);
  EXPECT_NE(config.outputDir, studio.window.context().draft->config().outputDir);
  EXPECT_TRUE(out.startsWith(dir.filePath("runs") + "/demo-kjv-lora-fa-")) << out.toStdString();
  // <name>-yyyyMMdd-HHmmss
  EXPECT_TRUE(QRegularExpression("/demo-kjv-lora-fa-\\d{8}-\\d{6}$").match(out).hasMatch()) << out.toStdString();
  // A folder that exists is never reused.
  ASSERT_TRUE(QDir().mkpath(out));
  const QString second = QString::fromStdString(studio.page().configForStart().outputDir);
  EXPECT_NE(second, out);
  EXPECT_FALSE(QFileInfo::exists(second));
}

TEST(TrainPage, ARunFillsProgressPlotsAndLog) {
  app();
  QTemporaryDir dir;
  Studio studio(dir, 3);
  TrainingController* controller = studio.window.context().controller;
  QSignalSpy finished(controller, &TrainingController::runFinished);
  QSignalSpy steps(controller, &TrainingController::stepsArrived);
  auto* start = child<QPushButton>(studio.page(), "startButton");
  auto* stop = child<QPushButton>(studio.page(), "stopButton");
  auto* pause = child<QPushButton>(studio.page(), "pauseButton");
  auto* reason = child<QLabel>(studio.page(), "startBlockedReason");
  ASSERT_TRUE(start && stop && pause && reason);
  EXPECT_FALSE(stop->isEnabled());
  EXPECT_FALSE(pause->isEnabled());

  QTest::mouseClick(start, Qt::LeftButton);
  EXPECT_TRUE(controller->isActive());
  EXPECT_FALSE(start->isEnabled()) << "Start stays disabled while a run is active";
  EXPECT_TRUE(stop->isEnabled());
  EXPECT_TRUE(reason->text().contains("in progress")) << reason->text().toStdString();

  ASSERT_TRUE(QTest::qWaitFor([&] { return finished.count() == 1; }, kRunTimeoutMs));
  const auto runId = finished.at(0).at(0).value<qint64>();
  const auto result = finished.at(0).at(1).value<TrainResult>();
  ASSERT_GT(runId, 0) << result.message;
  EXPECT_EQ(result.state, TrainerState::Completed) << result.message;

  // Every step is on the plots, though they arrived in batches (at most one signal a step).
  EXPECT_EQ(points(studio.page(), "lossPlot", 0), 3);
  EXPECT_EQ(points(studio.page(), "lossPlot", 1), 0) << "no evaluation in this run";
  EXPECT_EQ(points(studio.page(), "lrPlot", 0), 3);
  EXPECT_EQ(points(studio.page(), "throughputPlot", 0), 3);
  EXPECT_LE(steps.count(), 3);
  EXPECT_GE(points(studio.page(), "memoryPlot", 0), 1) << "engine memory";
  EXPECT_GE(points(studio.page(), "memoryPlot", 1), 1) << "process RSS";
  // The loss plotted is the loss the store recorded.
  RunStore store(studio.window.context().paths.runStorePath.toStdString());
  const auto stored = store.metrics(runId, "train/loss");
  ASSERT_EQ(stored.size(), 3u);
  auto* lossPlot = studio.page().findChild<QCustomPlot*>("lossPlot");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(lossPlot->graph(0)->data()->at(i)->key, static_cast<double>(stored[i].step));
    EXPECT_NEAR(lossPlot->graph(0)->data()->at(i)->value, stored[i].value, 1e-9);
  }
  // The capacity line of a CPU run is this machine's RAM, in MiB.
  auto* memoryPlot = studio.page().findChild<QCustomPlot*>("memoryPlot");
  ASSERT_GE(memoryPlot->itemCount(), 1);
  auto* line = qobject_cast<QCPItemStraightLine*>(memoryPlot->item(0));
  ASSERT_NE(line, nullptr);
  EXPECT_TRUE(line->visible());
  const double ramMiB = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
  EXPECT_NEAR(line->point1->coords().y(), ramMiB, 1.0);

  auto* progress = child<QProgressBar>(studio.page(), "progressBar");
  EXPECT_EQ(progress->maximum(), 3);
  EXPECT_EQ(progress->value(), 3);
  EXPECT_TRUE(child<QLabel>(studio.page(), "etaLabel")->text().startsWith("done")) << child<QLabel>(studio.page(), "etaLabel")->text().toStdString();
  const QString log = child<QPlainTextEdit>(studio.page(), "logView")->toPlainText();
  EXPECT_TRUE(log.contains("state: running")) << log.toStdString();
  EXPECT_TRUE(log.contains(QString("run %1 completed").arg(runId))) << log.toStdString();
  EXPECT_TRUE(child<QLabel>(studio.page(), "liveRunLabel")->text().contains(QString("run %1").arg(runId)));
  EXPECT_TRUE(start->isEnabled());
  EXPECT_FALSE(stop->isEnabled());
  // The run wrote to the fresh folder under the studio's runs folder.
  const std::optional<RunInfo> info = store.run(runId);
  ASSERT_TRUE(info);
  EXPECT_TRUE(QString::fromStdString(info->outputDir).startsWith(dir.filePath("runs/demo-kjv-lora-fa-")));
  EXPECT_EQ(info->status, RunStatus::Completed);
}

TEST(TrainPage, PauseAndResume) {
  app();
  QTemporaryDir dir;
  Studio studio(dir, 3);
  TrainingController* controller = studio.window.context().controller;
  QSignalSpy finished(controller, &TrainingController::runFinished);
  QSignalSpy states(controller, &TrainingController::stateChanged);
  auto* pause = child<QPushButton>(studio.page(), "pauseButton");
  QTest::mouseClick(child<QPushButton>(studio.page(), "startButton"), Qt::LeftButton);
  ASSERT_TRUE(QTest::qWaitFor([&] { return points(studio.page(), "lossPlot", 0) >= 1 || finished.count() > 0; }, kRunTimeoutMs));
  ASSERT_EQ(finished.count(), 0);
  QTest::mouseClick(pause, Qt::LeftButton);
  EXPECT_EQ(pause->text(), "Resume");
  auto pausedSeen = [&] {
    for (const auto& args : states)
      if (args.at(0).value<TrainerState>() == TrainerState::Paused) return true;
    return false;
  };
  ASSERT_TRUE(QTest::qWaitFor(pausedSeen, kRunTimeoutMs));
  const int stepsWhenPaused = points(studio.page(), "lossPlot", 0);
  QTest::qWait(500);
  EXPECT_EQ(points(studio.page(), "lossPlot", 0), stepsWhenPaused) << "no step while paused";
  EXPECT_EQ(child<QLabel>(studio.page(), "etaLabel")->text(), "paused");
  QTest::mouseClick(pause, Qt::LeftButton);
  EXPECT_EQ(pause->text(), "Pause");
  ASSERT_TRUE(QTest::qWaitFor([&] { return finished.count() == 1; }, kRunTimeoutMs));
  EXPECT_EQ(finished.at(0).at(1).value<TrainResult>().state, TrainerState::Completed);
  EXPECT_EQ(points(studio.page(), "lossPlot", 0), 3);
}

TEST(TrainPage, TwinRunTrainsLoraThenLoraFaAndOverlaysThem) {
  app();
  QTemporaryDir dir;
  Studio studio(dir, 2);
  studio.window.context().draft->edit([](RunConfig& c) { c.adapter.method = TrainMethod::Full; });
  QSignalSpy twinDone(&studio.page(), &TrainPage::twinFinished);
  QTest::mouseClick(child<QPushButton>(studio.page(), "twinButton"), Qt::LeftButton);
  EXPECT_FALSE(child<QPushButton>(studio.page(), "startButton")->isEnabled());
  ASSERT_TRUE(QTest::qWaitFor([&] { return twinDone.count() == 1; }, 2 * kRunTimeoutMs));
  EXPECT_TRUE(twinDone.at(0).at(0).toBool());
  const auto runIds = twinDone.at(0).at(1).value<QVector<qint64>>();
  ASSERT_EQ(runIds.size(), 2);

  RunStore store(studio.window.context().paths.runStorePath.toStdString());
  const auto lora = store.run(runIds[0]);
  const auto loraFa = store.run(runIds[1]);
  ASSERT_TRUE(lora && loraFa);
  EXPECT_EQ(lora->method, "lora");
  EXPECT_EQ(loraFa->method, "lora-fa");
  EXPECT_EQ(lora->status, RunStatus::Completed);
  EXPECT_EQ(loraFa->status, RunStatus::Completed);
  EXPECT_NE(lora->outputDir, loraFa->outputDir);
  const RunConfig loraConfig = parseRunConfig(lora->configText, "lora");
  const RunConfig loraFaConfig = parseRunConfig(loraFa->configText, "lora-fa");
  EXPECT_EQ(loraConfig.train.seed, loraFaConfig.train.seed);
  EXPECT_EQ(loraConfig.dataset.path, loraFaConfig.dataset.path);
  EXPECT_EQ(loraConfig.adapter.rank, loraFaConfig.adapter.rank);

  // Both curves, distinct colours, named in the legend, with the stored losses.
  for (const char* plotName : {"twinLossPlot", "twinMemoryPlot"}) {
    auto* plot = studio.page().findChild<QCustomPlot*>(plotName);
    ASSERT_NE(plot, nullptr);
    ASSERT_EQ(plot->graphCount(), 2);
    EXPECT_EQ(plot->graph(0)->name(), "LoRA");
    EXPECT_EQ(plot->graph(1)->name(), "LoRA-FA");
    EXPECT_NE(plot->graph(0)->pen().color(), plot->graph(1)->pen().color());
    EXPECT_TRUE(plot->legend->visible());
    EXPECT_GE(plot->graph(0)->dataCount(), 1) << plotName;
    EXPECT_GE(plot->graph(1)->dataCount(), 1) << plotName;
  }
  auto* twinLoss = studio.page().findChild<QCustomPlot*>("twinLossPlot");
  for (int g = 0; g < 2; ++g) {
    const auto stored = store.metrics(runIds[g], "train/loss");
    ASSERT_EQ(twinLoss->graph(g)->dataCount(), static_cast<int>(stored.size()));
    for (std::size_t i = 0; i < stored.size(); ++i)
      EXPECT_NEAR(twinLoss->graph(g)->data()->at(static_cast<int>(i))->value, stored[i].value, 1e-9);
  }
  EXPECT_TRUE(child<QLabel>(studio.page(), "twinSummary")->text().contains("LoRA-FA (run"));
  // The draft itself is left as it was.
  EXPECT_EQ(studio.window.context().draft->config().adapter.method, TrainMethod::Full);
}
