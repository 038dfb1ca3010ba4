// The memory planner in the studio, with real widgets: the Method page's chart against the
// engine's own estimates, the warning Start gives over capacity (and its fix), and the calibration
// after a real run's first step.
#include "MainWindow.h"
#include "RunDraft.h"
#include "StudioContext.h"
#include "StudioTestSupport.h"
#include "TrainingController.h"
#include "pages/MethodPage.h"
#include "pages/TrainPage.h"
#include "widgets/MemoryBreakdownChart.h"
#include "widgets/OverCapacityDialog.h"
#include "widgets/QCustomPlotInclude.h"

#include "lorafa/MemoryEstimate.h"
#include "lorafa/RunStore.h"

#include <QAbstractSpinBox>
#include <QComboBox>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QtTest/QtTest>

#include <gtest/gtest.h>

#include <map>

#include <unistd.h>

using namespace lorafa;
using namespace lorafa::ui;
using lorafa::ui::testing::app;
using lorafa::ui::testing::temporaryPaths;
using lorafa::ui::testing::tinyDemoConfig;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr int kRunTimeoutMs = 180000;
// Bars hold MiB as doubles: a total of a dozen shares is exact to far below one byte of MiB; a
// kibibyte is the stated tolerance.
constexpr double kBarToleranceBytes = 1024.0;

template <typename W> W* child(QObject& root, const char* name) {
  W* w = root.findChild<W*>(name);
  EXPECT_NE(w, nullptr) << name;
  return w;
}

void typeInto(QAbstractSpinBox* spin, const QString& text) {
  spin->setFocus();
  spin->selectAll();
  QTest::keyClick(spin, Qt::Key_Backspace);
  QTest::keyClicks(spin, text);
}

/// The stacked bars' totals by x (1: full, 2: LoRA, 3: LoRA-FA), in bytes, read off the plot.
std::map<int, double> barTotals(QCustomPlot* plot) {
  std::map<int, double> totals;
  for (int i = 0; i < plot->plottableCount(); ++i) {
    auto* bars = qobject_cast<QCPBars*>(plot->plottable(i));
    if (bars == nullptr) continue;
    for (auto it = bars->data()->constBegin(); it != bars->data()->constEnd(); ++it)
      totals[static_cast<int>(std::lround(it->key))] += it->value * kMiB;
  }
  return totals;
}

/// The engine's peaks for the three methods of `config` on the CPU, computed here directly.
std::map<int, double> enginePeaks(const RunConfig& config) {
  MemoryPlan plan = MemoryPlan::fromRunConfig(config, "cpu");
  std::map<int, double> peaks;
  int x = 1;
  for (const TrainMethod method : {TrainMethod::Full, TrainMethod::Lora, TrainMethod::LoraFa}) {
    plan.method = method;
    peaks[x++] = static_cast<double>(estimateMemory(plan).peak);
  }
  return peaks;
}

bool barsMatch(QCustomPlot* plot, const std::map<int, double>& peaks) {
  const std::map<int, double> totals = barTotals(plot);
  if (totals.size() != 3) return false;
  for (const auto& [x, peak] : peaks) {
    const auto it = totals.find(x);
    if (it == totals.end() || std::abs(it->second - peak) > kBarToleranceBytes) return false;
  }
  return true;
}

QString tickLabel(QCustomPlot* plot, double x) {
  auto ticker = plot->xAxis->ticker().dynamicCast<QCPAxisTickerText>();
  return ticker ? ticker->ticks().value(x) : QString();
}

double physicalRamBytes() {
  return static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

/// Sets LORAFA_CAPACITY_BYTES for one test.
struct CapacityOverride {
  explicit CapacityOverride(std::int64_t bytes) { qputenv(kCapacityOverrideVariable, QByteArray::number(static_cast<qlonglong>(bytes))); }
  ~CapacityOverride() { qunsetenv(kCapacityOverrideVariable); }
};

/// A Method page on its own, its draft the bundled demo configuration, on the CPU.
struct MethodStudio {
  QTemporaryDir dir;
  QObject owner;
  StudioContext context;
  std::unique_ptr<MethodPage> page;
  MethodStudio() {
    app();
    context.paths = temporaryPaths(dir);
    context.engineInfo.defaultDevice = "cpu";
    context.engineInfo.cpuThreads = 2;
    context.draft = new RunDraft(&owner);
    context.draft->setConfig(loadRunConfig(context.paths.demoConfigPath().toStdString()));
    page = std::make_unique<MethodPage>(context);
    page->resize(900, 1400);
    page->show();
  }
  QCustomPlot* plot() { return page->findChild<QCustomPlot*>("memoryChart"); }
};

} // namespace

TEST(MemoryPlanner, TheMethodPageChartsTheThreeMethodsPeaksAgainstTheCapacity) {
  qunsetenv(kCapacityOverrideVariable);
  MethodStudio studio;
  QCustomPlot* plot = studio.plot();
  ASSERT_NE(plot, nullptr);
  const std::map<int, double> peaks = enginePeaks(studio.context.draft->config());
  ASSERT_TRUE(QTest::qWaitFor([&] { return barsMatch(plot, peaks); }, 30000))
      << "bars " << barTotals(plot)[1] << " " << barTotals(plot)[2] << " " << barTotals(plot)[3] << " vs "
      << peaks.at(1) << " " << peaks.at(2) << " " << peaks.at(3);
  EXPECT_TRUE(plot->isVisible());
  // The demo: full > LoRA > LoRA-FA.
  EXPECT_GT(peaks.at(1), peaks.at(2));
  EXPECT_GT(peaks.at(2), peaks.at(3));

  // The capacity line sits at this machine's RAM (sysconf here, independently of the UI).
  auto* line = child<QCPItemStraightLine>(*plot, "memoryCapacityLine");
  ASSERT_NE(line, nullptr);
  EXPECT_TRUE(line->visible());
  EXPECT_NEAR(line->point1->coords().y() * kMiB, physicalRamBytes(), 1.0);
  EXPECT_NEAR(line->point2->coords().y() * kMiB, physicalRamBytes(), 1.0);
  EXPECT_TRUE(child<QLabel>(*studio.page, "memoryCapacityLabel")->text().contains("CPU RAM"));

  // The selected method (LoRA-FA in the demo) is marked, and its peak is in the summary.
  EXPECT_TRUE(tickLabel(plot, 3).contains("selected")) << tickLabel(plot, 3).toStdString();
  EXPECT_FALSE(tickLabel(plot, 1).contains("selected"));
  const QString summary = child<QLabel>(*studio.page, "memorySummaryLabel")->text();
  EXPECT_TRUE(summary.contains(QString::number(peaks.at(3) / kMiB, 'f', 1))) << summary.toStdString();
  // Every element explains itself.
  EXPECT_FALSE(plot->toolTip().isEmpty());
  EXPECT_FALSE(child<QLabel>(*studio.page, "memorySummaryLabel")->toolTip().isEmpty());
  EXPECT_FALSE(child<QLabel>(*studio.page, "memoryCapacityLabel")->toolTip().isEmpty());
}

TEST(MemoryPlanner, ChangingRankMethodAndBatchOnThePageUpdatesTheBars) {
  qunsetenv(kCapacityOverrideVariable);
  MethodStudio studio;
  QCustomPlot* plot = studio.plot();
  ASSERT_NE(plot, nullptr);
  ASSERT_TRUE(QTest::qWaitFor([&] { return barsMatch(plot, enginePeaks(studio.context.draft->config())); }, 30000));
  const std::map<int, double> before = barTotals(plot);

  typeInto(child<QSpinBox>(*studio.page, "rankSpin"), "64");
  ASSERT_EQ(studio.context.draft->config().adapter.rank, 64);
  const std::map<int, double> rank64 = enginePeaks(studio.context.draft->config());
  QTRY_VERIFY_WITH_TIMEOUT(barsMatch(plot, rank64), 30000);
  EXPECT_NEAR(barTotals(plot)[1], before.at(1), kBarToleranceBytes) << "full fine-tuning has no rank";
  EXPECT_GT(barTotals(plot)[2], before.at(2) + kBarToleranceBytes);

  typeInto(child<QSpinBox>(*studio.page, "batchSpin"), "4");
  ASSERT_EQ(studio.context.draft->config().train.batchSize, 4);
  const std::map<int, double> batch4 = enginePeaks(studio.context.draft->config());
  QTRY_VERIFY_WITH_TIMEOUT(barsMatch(plot, batch4), 30000);
  EXPECT_LT(barTotals(plot)[3], rank64.at(3)); // 16 → 4 sequences per step

  auto* method = child<QComboBox>(*studio.page, "methodCombo");
  method->setCurrentIndex(method->findData("lora"));
  QTRY_VERIFY_WITH_TIMEOUT(tickLabel(plot, 2).contains("selected"), 30000);
  EXPECT_FALSE(tickLabel(plot, 3).contains("selected"));
  EXPECT_TRUE(barsMatch(plot, batch4)) << "the method marks a bar; the three bars stay";
}

TEST(MemoryPlanner, AModelFolderWithoutConfigJsonIsExplainedInsteadOfTheChart) {
  MethodStudio studio;
  QTemporaryDir empty;
  studio.context.draft->edit([&](RunConfig& c) { c.modelPath = empty.path().toStdString(); });
  auto* summary = child<QLabel>(*studio.page, "memorySummaryLabel");
  QTRY_VERIFY_WITH_TIMEOUT(summary->text().contains("config.json"), 30000);
  EXPECT_TRUE(summary->text().contains(empty.path())) << summary->text().toStdString();
  EXPECT_FALSE(studio.plot()->isVisible());
  EXPECT_TRUE(studio.page->memoryChart()->estimates().empty());
}

TEST(MemoryPlanner, StartOverCapacityOffersTheLargestBatchThatFitsAndStartsWithIt) {
  app();
  QTemporaryDir dir;
  MainWindow window(queryEngineInfo(), temporaryPaths(dir));
  RunConfig config = tinyDemoConfig(window.context().paths, 2);
  config.train.batchSize = 8;
  config.train.device = "cpu";
  window.context().draft->setConfig(config);
  // A capacity between the peaks of batch 3 and batch 8: the prediction says the run does not fit.
  MemoryPlan plan = MemoryPlan::fromRunConfig(config, "cpu");
  const std::int64_t peak8 = estimateMemory(plan).peak;
  plan.batchSize = 3;
  const std::int64_t capacity = (estimateMemory(plan).peak + peak8) / 2;
  plan.batchSize = 8;
  const std::optional<std::int64_t> expectedBatch = largestThatFits(plan, MemoryKnob::BatchSize, capacity, 8);
  ASSERT_TRUE(expectedBatch);
  ASSERT_GE(*expectedBatch, 3);
  ASSERT_LT(*expectedBatch, 8);
  CapacityOverride override(capacity);

  window.showPage("trainPage");
  window.show();
  auto* start = child<QPushButton>(window, "startButton");
  ASSERT_NE(start, nullptr);
  ASSERT_TRUE(QTest::qWaitFor([&] { return start->isEnabled(); }, 30000))
      << window.context().draft->firstProblem().toStdString();
  TrainingController* controller = window.context().controller;
  QSignalSpy finished(controller, &TrainingController::runFinished);

  // Cancel first: nothing starts, nothing changes.
  QTest::mouseClick(start, Qt::LeftButton);
  OverCapacityDialog* dialog = window.trainPage()->overCapacityDialog();
  ASSERT_NE(dialog, nullptr);
  EXPECT_EQ(dialog->objectName(), "overCapacityDialog");
  EXPECT_TRUE(dialog->isVisible());
  EXPECT_FALSE(controller->isActive());
  EXPECT_FALSE(start->isEnabled()) << "one decision at a time";
  const QString message = child<QLabel>(*dialog, "overCapacityMessage")->text();
  EXPECT_TRUE(message.contains(QString::number(static_cast<double>(peak8 - capacity) / kMiB, 'f', 1)))
      << "says by how much: " << message.toStdString();
  QTest::mouseClick(child<QPushButton>(*dialog, "cancelButton"), Qt::LeftButton);
  QTRY_VERIFY(window.trainPage()->overCapacityDialog() == nullptr);
  EXPECT_FALSE(controller->isActive());
  EXPECT_EQ(window.context().draft->config().train.batchSize, 8);
  QTRY_VERIFY(start->isEnabled());

  // Again, and take the largest batch that fits.
  QTest::mouseClick(start, Qt::LeftButton);
  dialog = window.trainPage()->overCapacityDialog();
  ASSERT_NE(dialog, nullptr);
  QTRY_VERIFY_WITH_TIMEOUT(dialog->findChild<QPushButton*>("fitBatchButton") != nullptr, 60000);
  EXPECT_NE(dialog->findChild<QPushButton*>("startAnywayButton"), nullptr);
  // Rank and LoRA-FA: the demo already trains LoRA-FA, so that choice is not offered.
  EXPECT_EQ(dialog->findChild<QPushButton*>("fitLoraFaButton"), nullptr);
  QTest::mouseClick(dialog->findChild<QPushButton*>("fitBatchButton"), Qt::LeftButton);
  EXPECT_EQ(window.context().draft->config().train.batchSize, *expectedBatch);
  EXPECT_TRUE(controller->isActive());
  ASSERT_TRUE(QTest::qWaitFor([&] { return finished.count() == 1; }, kRunTimeoutMs));
  const auto result = finished.at(0).at(1).value<TrainResult>();
  EXPECT_EQ(result.state, TrainerState::Completed) << result.message;
  RunStore store(window.context().paths.runStorePath.toStdString());
  const auto run = store.run(finished.at(0).at(0).value<qint64>());
  ASSERT_TRUE(run);
  EXPECT_EQ(parseRunConfig(run->configText, "stored").train.batchSize, *expectedBatch);
  EXPECT_EQ(window.trainPage()->overCapacityDialog(), nullptr);
}

TEST(MemoryPlanner, AfterStepOneTheTrainPageShowsPredictedAndMeasuredMemory) {
  qunsetenv(kCapacityOverrideVariable);
  app();
  QTemporaryDir dir;
  MainWindow window(queryEngineInfo(), temporaryPaths(dir));
  RunConfig config = tinyDemoConfig(window.context().paths, 2);
  config.train.device = "cpu";
  window.context().draft->setConfig(config);
  window.showPage("trainPage");
  window.show();
  auto* start = child<QPushButton>(window, "startButton");
  auto* label = child<QLabel>(window, "memoryCalibrationLabel");
  ASSERT_TRUE(start && label);
  ASSERT_TRUE(QTest::qWaitFor([&] { return start->isEnabled(); }, 30000));
  TrainingController* controller = window.context().controller;
  QSignalSpy finished(controller, &TrainingController::runFinished);
  QSignalSpy steps(controller, &TrainingController::stepsArrived);
  QTest::mouseClick(start, Qt::LeftButton);
  ASSERT_TRUE(controller->isActive()) << "the demo fits: no dialog";
  ASSERT_TRUE(QTest::qWaitFor([&] { return finished.count() == 1; }, kRunTimeoutMs));
  const auto result = finished.at(0).at(1).value<TrainResult>();
  ASSERT_EQ(result.state, TrainerState::Completed) << result.message;

  // Independently: the planner's peak for the run's configuration, the peak the run reported with
  // its first step, and the run's recorded peak.
  const auto firstStep = steps.at(0).at(0).value<QVector<StepMetrics>>().front();
  ASSERT_EQ(firstStep.step, 1);
  ASSERT_GT(firstStep.memoryPeakBytes, 0);
  RunStore store(window.context().paths.runStorePath.toStdString());
  const auto run = store.run(finished.at(0).at(0).value<qint64>());
  ASSERT_TRUE(run);
  const RunConfig ran = parseRunConfig(run->configText, "stored");
  const std::int64_t predicted = estimateMemory(MemoryPlan::fromRunConfig(ran, "cpu")).peak;
  const QString predictedText = QString::number(static_cast<double>(predicted) / kMiB, 'f', 1) + " MiB";
  const QString measuredText = QString::number(static_cast<double>(firstStep.memoryPeakBytes) / kMiB, 'f', 1) + " MiB";
  QTRY_VERIFY_WITH_TIMEOUT(label->text().startsWith("memory after step 1: predicted"), 30000);
  EXPECT_TRUE(label->text().contains("predicted " + predictedText)) << label->text().toStdString();
  EXPECT_TRUE(label->text().contains("measured " + measuredText)) << label->text().toStdString();
  const double error = 100.0 * static_cast<double>(predicted - firstStep.memoryPeakBytes) /
                       static_cast<double>(firstStep.memoryPeakBytes);
  EXPECT_TRUE(label->text().contains(QString::number(error, 'f', 1) + "%")) << label->text().toStdString();
  // The run's recorded peak is the peak of the whole run: at least step 1's, and for two steps of
  // the same shape within 10% of it (the second batch's rows may be a little longer).
  EXPECT_GE(run->peakMemoryBytes, firstStep.memoryPeakBytes);
  EXPECT_LE(static_cast<double>(run->peakMemoryBytes), 1.10 * static_cast<double>(firstStep.memoryPeakBytes));
}
