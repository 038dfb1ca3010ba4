// The acceptance flow through the real studio: the demo preselected on first start, a
// LoRA-FA run started from the Train page whose loss plot gains points, stopped, found on the Runs
// page as stopped; a second run; both selected and overlaid; an invalid rank disables Start.
#include "MainWindow.h"
#include "RunDraft.h"
#include "StudioTestSupport.h"
#include "TrainingController.h"
#include "widgets/QCustomPlotInclude.h"
#include "widgets/RunTableModel.h"

#include <QComboBox>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QtTest/QtTest>

#include <gtest/gtest.h>

using namespace lorafa;
using namespace lorafa::ui;
using lorafa::ui::testing::app;
using lorafa::ui::testing::temporaryPaths;

namespace {

constexpr int kRunTimeoutMs = 180000;

int graphPoints(QWidget& root, const char* plotName, int graph) {
  auto* plot = root.findChild<QCustomPlot*>(plotName);
  if (plot == nullptr || graph >= plot->graphCount()) return -1;
  return plot->graph(graph)->dataCount();
}

/// The runsTable row (in the view's model) of run `id`, or -1.
int tableRowOf(QTableView& table, qint64 id) {
  QAbstractItemModel* model = table.model();
  for (int row = 0; row < model->rowCount(); ++row)
    if (model->index(row, 0).data(RunTableModel::kIdRole).toLongLong() == id) return row;
  return -1;
}

QString tableText(QTableView& table, int row, int column) {
  return table.model()->index(row, column).data(Qt::DisplayRole).toString();
}

void chooseMethod(QComboBox& combo, const QString& label) {
  const int index = combo.findText(label);
  ASSERT_GE(index, 0) << "no " << label.toStdString() << " in methodCombo";
  combo.setCurrentIndex(index); // what picking it from the list does (activated aside)
}

} // namespace

TEST(StudioFlow, DemoRunStopFindCompareAndAnInvalidRank) {
  app();
  QTemporaryDir dir;
  MainWindow window(queryEngineInfo(), temporaryPaths(dir));
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  StudioContext& context = window.context();

  // First start: the bundled demo model and dataset are preselected.
  const RunConfig& draft = context.draft->config();
  EXPECT_TRUE(QString::fromStdString(draft.modelPath).endsWith("demo/model")) << draft.modelPath;
  EXPECT_TRUE(QString::fromStdString(draft.dataset.path).endsWith("kjv_books_train.jsonl")) << draft.dataset.path;
  auto* modelPath = window.findChild<QLineEdit*>("modelPathEdit");
  auto* datasetPath = window.findChild<QLineEdit*>("datasetPathEdit");
  ASSERT_TRUE(modelPath && datasetPath);
  EXPECT_TRUE(modelPath->text().endsWith("demo/model")) << modelPath->text().toStdString();
  EXPECT_TRUE(datasetPath->text().endsWith("kjv_books_train.jsonl")) << datasetPath->text().toStdString();
  // Tiny runs: a few steps of 2 short rows, no evaluation (the flow, not the model, is tested).
  context.draft->edit([](RunConfig& c) {
    c.train.maxSteps = 40;
    c.train.batchSize = 2;
    c.train.maxSeqLen = 96;
    c.train.evalEvery = 0;
    c.dataset.evalPath.clear();
    c.dataset.validationFraction = 0.0;
    c.eval.generateMaxExamples = 0;
  });

  // Method page: LoRA-FA.
  window.showPage("methodPage");
  auto* method = window.findChild<QComboBox*>("methodCombo");
  ASSERT_NE(method, nullptr);
  chooseMethod(*method, "LoRA");
  EXPECT_EQ(context.draft->config().adapter.method, TrainMethod::Lora);
  chooseMethod(*method, "LoRA-FA");
  EXPECT_EQ(context.draft->config().adapter.method, TrainMethod::LoraFa);

  // Train page: Start, watch the loss plot gain a point, Stop.
  window.showPage("trainPage");
  auto* start = window.findChild<QPushButton*>("startButton");
  auto* stop = window.findChild<QPushButton*>("stopButton");
  ASSERT_TRUE(start && stop);
  ASSERT_TRUE(start->isEnabled()) << window.findChild<QLabel*>("startBlockedReason")->text().toStdString();
  TrainingController* controller = context.controller;
  QSignalSpy finished(controller, &TrainingController::runFinished);
  QTest::mouseClick(start, Qt::LeftButton);
  ASSERT_TRUE(QTest::qWaitFor([&] { return graphPoints(window, "lossPlot", 0) >= 1 || finished.count() > 0; },
                              kRunTimeoutMs));
  ASSERT_EQ(finished.count(), 0) << finished.at(0).at(1).value<TrainResult>().message;
  ASSERT_TRUE(stop->isEnabled());
  QTest::mouseClick(stop, Qt::LeftButton);
  ASSERT_TRUE(QTest::qWaitFor([&] { return finished.count() == 1; }, kRunTimeoutMs));
  const auto firstId = finished.at(0).at(0).value<qint64>();
  ASSERT_GT(firstId, 0);
  EXPECT_EQ(finished.at(0).at(1).value<TrainResult>().state, TrainerState::Stopped);

  // Runs page: the run is there, stopped, LoRA-FA.
  window.showPage("runsPage");
  auto* table = window.findChild<QTableView*>("runsTable");
  ASSERT_NE(table, nullptr);
  auto statusOf = [&](qint64 id) {
    const int row = tableRowOf(*table, id);
    return row >= 0 ? tableText(*table, row, RunTableModel::Status).toStdString() : std::string("<not listed>");
  };
  // The table refreshes from the store off the UI thread: wait for it to show the end of the run.
  EXPECT_TRUE(QTest::qWaitFor([&] { return statusOf(firstId) == "stopped"; }, 10000));
  EXPECT_EQ(statusOf(firstId), "stopped");
  ASSERT_GE(tableRowOf(*table, firstId), 0);
  EXPECT_EQ(tableText(*table, tableRowOf(*table, firstId), RunTableModel::Method).toStdString(), "lora-fa");

  // A second short run (LoRA this time), to completion.
  context.draft->edit([](RunConfig& c) { c.train.maxSteps = 2; });
  window.showPage("methodPage");
  chooseMethod(*method, "LoRA");
  window.showPage("trainPage");
  ASSERT_TRUE(start->isEnabled());
  QTest::mouseClick(start, Qt::LeftButton);
  ASSERT_TRUE(QTest::qWaitFor([&] { return finished.count() == 2; }, kRunTimeoutMs));
  const auto secondId = finished.at(1).at(0).value<qint64>();
  ASSERT_GT(secondId, firstId) << finished.at(1).at(1).value<TrainResult>().message;
  EXPECT_EQ(finished.at(1).at(1).value<TrainResult>().state, TrainerState::Completed);

  // Select both rows (a click, then a Ctrl+click): their loss curves are overlaid.
  window.showPage("runsPage");
  EXPECT_TRUE(QTest::qWaitFor([&] { return statusOf(secondId) == "completed"; }, 10000));
  EXPECT_EQ(statusOf(secondId), "completed");
  ASSERT_GE(tableRowOf(*table, secondId), 0);
  table->scrollTo(table->model()->index(tableRowOf(*table, firstId), 0));
  QTest::mouseClick(table->viewport(), Qt::LeftButton, Qt::NoModifier,
                    table->visualRect(table->model()->index(tableRowOf(*table, firstId), 0)).center());
  QTest::mouseClick(table->viewport(), Qt::LeftButton, Qt::ControlModifier,
                    table->visualRect(table->model()->index(tableRowOf(*table, secondId), 0)).center());
  EXPECT_EQ(table->selectionModel()->selectedRows().size(), 2);
  auto* runsLoss = window.findChild<QCustomPlot*>("runsLossPlot");
  ASSERT_NE(runsLoss, nullptr);
  auto overlaid = [&] {
    if (runsLoss->graphCount() != 2) return false;
    return runsLoss->graph(0)->dataCount() > 0 && runsLoss->graph(1)->dataCount() > 0;
  };
  EXPECT_TRUE(QTest::qWaitFor(overlaid, 10000)) << "runsLossPlot has " << runsLoss->graphCount() << " graphs";
  if (runsLoss->graphCount() == 2) {
    EXPECT_NE(runsLoss->graph(0)->pen().color(), runsLoss->graph(1)->pen().color());
  }

  // An invalid rank disables Start and says why.
  window.showPage("methodPage");
  auto* rank = window.findChild<QSpinBox*>("rankSpin");
  ASSERT_NE(rank, nullptr);
  rank->setFocus();
  QTest::keyClick(rank, Qt::Key_A, Qt::ControlModifier);
  QTest::keyClicks(rank, "0");
  EXPECT_EQ(rank->value(), 0);
  window.showPage("trainPage");
  EXPECT_FALSE(start->isEnabled());
  auto* reason = window.findChild<QLabel*>("startBlockedReason");
  ASSERT_NE(reason, nullptr);
  EXPECT_TRUE(reason->text().contains("rank")) << reason->text().toStdString();
  EXPECT_FALSE(reason->isHidden());
  // A valid rank enables it again.
  window.showPage("methodPage");
  QTest::keyClick(rank, Qt::Key_A, Qt::ControlModifier);
  QTest::keyClicks(rank, "8");
  EXPECT_TRUE(start->isEnabled()) << reason->text().toStdString();
}
