// The main window with real widgets under the offscreen platform.
#include "MainWindow.h"
#include "RunDraft.h"
#include "StudioTestSupport.h"
#include "TrainingController.h"
#include "pages/TrainPage.h"
#include "widgets/QCustomPlotInclude.h"

#include "lorafa/RunStore.h"
#include "lorafa/TrainingSession.h"

#include <QAction>
#include <QApplication>
#include <QDialog>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QtTest/QtTest>

#include <gtest/gtest.h>

using lorafa::EngineInfo;
using lorafa::ui::MainWindow;

namespace {

using lorafa::ui::testing::app;
using lorafa::ui::testing::temporaryPaths;
using lorafa::ui::testing::tinyDemoConfig;

EngineInfo sampleInfo() {
  EngineInfo info;
  info.version = "1.2.3";
  info.libtorchVersion = "2.4.0";
  info.cudaBuilt = true;
  info.cudaAvailable = true;
  info.cudaDeviceCount = 1;
  info.cpuThreads = 8;
  info.defaultDevice = "cuda:0";
  info.gpus.push_back({0, "Example GPU", 80LL << 30});
  return info;
}

QString labelText(const QWidget& root, const char* objectName) {
  const auto* label = root.findChild<QLabel*>(objectName);
  return label != nullptr ? label->text() : QString("<no label %1>").arg(objectName);
}

} // namespace

TEST(MainWindow, ShowsVersionLibTorchAndDevice) {
  app();
  QTemporaryDir dir;
  MainWindow window(sampleInfo(), temporaryPaths(dir));
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  EXPECT_EQ(window.windowTitle(), "LoRA-FA Studio 1.2.3");
  EXPECT_EQ(labelText(window, "versionValue"), "1.2.3");
  EXPECT_EQ(labelText(window, "libtorchValue"), "2.4.0 (CUDA build)");
  EXPECT_TRUE(labelText(window, "deviceValue").startsWith("cuda:0")) << labelText(window, "deviceValue").toStdString();
  EXPECT_EQ(labelText(window, "cpuThreadsValue"), "8");
  EXPECT_EQ(labelText(window, "gpu0Value"), "Example GPU, 80.00 GiB");
  EXPECT_EQ(labelText(window, "statusDevice"), "Device: cuda:0");
}

TEST(MainWindow, ShowsTheRealEngine) {
  app();
  const EngineInfo info = lorafa::queryEngineInfo();
  QTemporaryDir dir;
  MainWindow window(info, temporaryPaths(dir));
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  EXPECT_TRUE(labelText(window, "libtorchValue").startsWith(QString::fromStdString(info.libtorchVersion)));
  EXPECT_EQ(labelText(window, "statusDevice"), QString("Device: %1").arg(QString::fromStdString(info.defaultDevice)));
}

TEST(MainWindow, QuitShortcutClosesTheWindow) {
  app();
  QTemporaryDir dir;
  MainWindow window(sampleInfo(), temporaryPaths(dir));
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  window.activateWindow();
  QTest::keyClick(&window, Qt::Key_Q, Qt::ControlModifier);
  EXPECT_TRUE(QTest::qWaitFor([&] { return !window.isVisible(); }, 2000)) << "Quit did not close the window";
}

TEST(MainWindow, AboutBoxShowsTheVersionsOfAppQtLibTorchAndCuda) {
  app();
  QTemporaryDir dir;
  MainWindow window(sampleInfo(), temporaryPaths(dir));
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  auto* dialog = window.findChild<QDialog*>("aboutDialog");
  ASSERT_NE(dialog, nullptr);
  EXPECT_FALSE(dialog->isVisible());
  auto* about = window.findChild<QAction*>("aboutAction");
  ASSERT_NE(about, nullptr);
  about->trigger();
  ASSERT_TRUE(QTest::qWaitFor([&] { return dialog->isVisible(); }, 2000));
  EXPECT_EQ(labelText(*dialog, "versionValue"), "1.2.3");
  EXPECT_EQ(labelText(*dialog, "qtValue"), QString::fromLatin1(qVersion()));
  EXPECT_EQ(labelText(*dialog, "libtorchValue"), "2.4.0 (CUDA build)");
  EXPECT_EQ(labelText(*dialog, "cudaValue"), "available");
  for (const char* name : {"versionValue", "qtValue", "libtorchValue", "cudaValue"})
    EXPECT_TRUE(dialog->findChild<QLabel*>(name)->isVisible()) << name;
  dialog->reject();
  EXPECT_FALSE(dialog->isVisible());
}

TEST(MainWindow, RunMenuHasTheTrainingShortcuts) {
  app();
  QTemporaryDir dir;
  MainWindow window(sampleInfo(), temporaryPaths(dir));
  auto shortcut = [&](const char* name) {
    auto* action = window.findChild<QAction*>(name);
    return action != nullptr ? action->shortcut() : QKeySequence();
  };
  EXPECT_EQ(shortcut("startAction"), QKeySequence(Qt::CTRL | Qt::Key_Return));
  EXPECT_EQ(shortcut("stopAction"), QKeySequence(Qt::CTRL | Qt::Key_Period));
  EXPECT_EQ(shortcut("pauseAction"), QKeySequence(Qt::CTRL | Qt::Key_P));
  EXPECT_EQ(shortcut("goAction4"), QKeySequence(Qt::CTRL | Qt::Key_4));
  ASSERT_NE(window.findChild<QAction*>("twinAction"), nullptr);
  // Nothing runs, so there is nothing to pause or stop.
  EXPECT_FALSE(window.findChild<QAction*>("stopAction")->isEnabled());
  EXPECT_FALSE(window.findChild<QAction*>("pauseAction")->isEnabled());
  // A problem in the draft disables Start in the menu as on the page.
  window.context().draft->setProblem("method.rank", "must be between 1 and 256");
  EXPECT_FALSE(window.findChild<QAction*>("startAction")->isEnabled());
  EXPECT_FALSE(window.findChild<QAction*>("twinAction")->isEnabled());
  window.context().draft->setProblem("method.rank", {});
  EXPECT_TRUE(window.findChild<QAction*>("startAction")->isEnabled());
}

// Closing during a run asks (without a nested event loop), stops with a checkpoint, records the
// run `interrupted` and closes when it has ended; the run can then be resumed.
TEST(MainWindow, ClosingDuringARunAsksThenInterruptsItResumably) {
  app();
  QTemporaryDir dir;
  MainWindow window(lorafa::queryEngineInfo(), temporaryPaths(dir));
  window.context().draft->setConfig(tinyDemoConfig(window.context().paths, 6));
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  window.activateWindow();
  lorafa::ui::TrainingController* controller = window.context().controller;
  QSignalSpy steps(controller, &lorafa::ui::TrainingController::stepsArrived);
  QSignalSpy finished(controller, &lorafa::ui::TrainingController::runFinished);
  // Ctrl+Return starts the run from any page.
  window.showPage("modelPage");
  QTest::keyClick(&window, Qt::Key_Return, Qt::ControlModifier);
  ASSERT_TRUE(controller->isActive()) << "Ctrl+Return did not start a run";
  EXPECT_EQ(window.currentPageName(), "trainPage");
  ASSERT_TRUE(QTest::qWaitFor([&] { return steps.count() > 0 || finished.count() > 0; }, 180000));
  ASSERT_EQ(finished.count(), 0);

  // "No" keeps the window and the run.
  window.close();
  ASSERT_NE(window.closeQuestion(), nullptr);
  QMessageBox* box = window.closeQuestion();
  EXPECT_TRUE(window.isVisible());
  QTest::mouseClick(box->button(QMessageBox::No), Qt::LeftButton);
  EXPECT_TRUE(QTest::qWaitFor([&] { return window.closeQuestion() == nullptr; }, 2000));
  EXPECT_TRUE(window.isVisible());
  EXPECT_TRUE(controller->isActive() || finished.count() == 1);
  if (finished.count() == 1) GTEST_SKIP() << "the run ended before the second question";

  window.close();
  box = window.closeQuestion();
  ASSERT_NE(box, nullptr);
  EXPECT_TRUE(box->isVisible());
  QTest::mouseClick(box->button(QMessageBox::Yes), Qt::LeftButton);
  EXPECT_TRUE(window.isVisible()) << "the window waits for the run to end";
  ASSERT_TRUE(QTest::qWaitFor([&] { return finished.count() == 1; }, 180000));
  ASSERT_TRUE(QTest::qWaitFor([&] { return !window.isVisible(); }, 5000)) << "the window closes after the run";
  const auto runId = finished.at(0).at(0).value<qint64>();
  const auto result = finished.at(0).at(1).value<lorafa::TrainResult>();
  ASSERT_GT(runId, 0);
  EXPECT_EQ(result.state, lorafa::TrainerState::Stopped) << result.message;
  {
    lorafa::RunStore store(window.context().paths.runStorePath.toStdString());
    const auto info = store.run(runId);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->status, lorafa::RunStatus::Interrupted) << info->message;
    EXPECT_TRUE(lorafa::latestCheckpointIn(info->outputDir).has_value()) << info->outputDir;
  }

  // Resumable: the controller continues it to the end.
  QSignalSpy resumed(controller, &lorafa::ui::TrainingController::runFinished);
  controller->resumeRun(runId);
  ASSERT_TRUE(QTest::qWaitFor([&] { return resumed.count() == 1; }, 180000));
  const auto resumedId = resumed.at(0).at(0).value<qint64>();
  EXPECT_EQ(resumed.at(0).at(1).value<lorafa::TrainResult>().state, lorafa::TrainerState::Completed)
      << resumed.at(0).at(1).value<lorafa::TrainResult>().message;
  lorafa::RunStore store(window.context().paths.runStorePath.toStdString());
  const auto info = store.run(resumedId);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->resumedFrom.value_or(0), runId);
  EXPECT_EQ(info->lastStep, 6);
}
