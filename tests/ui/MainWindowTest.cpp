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
  info.cudaStatus = lorafa::CudaStatus::Available;
  info.cudaVersion = "12.4";
  info.cudaDriverVersion = "12.6";
  info.cudnnVersion = "9.1.0";
  info.cudnnRuntimeVersion = "9.1.0";
  info.ncclVersion = "2.21.5";
  info.cpuThreads = 8;
  info.defaultDevice = "cuda:0";
  info.gpus.push_back({0, "Example GPU", 80LL << 30, "9.0"});
  return info;
}

// A CUDA build on a machine without an NVIDIA driver.
EngineInfo noDriverInfo() {
  EngineInfo info;
  info.version = "1.2.3";
  info.libtorchVersion = "2.13.0";
  info.cudaBuilt = true;
  info.cudaStatus = lorafa::CudaStatus::NoDriver;
  info.cudaVersion = "13.0";
  info.cudnnVersion = "9.20.0";
  info.cudnnRuntimeVersion = "9.20.0";
  info.ncclVersion = "2.29.7";
  info.cudaUnavailableReason = "no NVIDIA driver: libcuda.so.1 cannot be loaded (libcuda.so.1: cannot open shared "
                               "object file: No such file or directory); cudaGetDeviceCount: "
                               "cudaErrorInsufficientDriver (35): CUDA driver version is insufficient for CUDA "
                               "runtime version";
  info.cpuThreads = 2;
  info.defaultDevice = "cpu";
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
  EXPECT_EQ(labelText(window, "gpu0Value"), "Example GPU, 80.00 GiB, compute capability 9.0");
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
  if (info.cudaBuilt) {
    EXPECT_TRUE(labelText(window, "cudaValue").startsWith(QString::fromStdString(info.cudaVersion)))
        << labelText(window, "cudaValue").toStdString();
    EXPECT_NE(window.findChild<QLabel*>("cudnnValue"), nullptr);
    EXPECT_NE(window.findChild<QLabel*>("ncclValue"), nullptr);
  } else {
    EXPECT_EQ(labelText(window, "cudaValue"), "not built in");
  }
  if (info.cudaAvailable) {
    EXPECT_EQ(window.findChild<QLabel*>("noGpuValue"), nullptr);
  } else {
    EXPECT_EQ(labelText(window, "noGpuValue"), QString::fromStdString(info.cudaUnavailableReason));
  }
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
  EXPECT_EQ(labelText(*dialog, "cudaValue"), "12.4 (available)");
  EXPECT_EQ(labelText(*dialog, "cudnnValue"), "9.1.0");
  EXPECT_EQ(labelText(*dialog, "ncclValue"), "2.21.5");
  EXPECT_EQ(labelText(*dialog, "driverValue"), "supports CUDA 12.6");
  EXPECT_EQ(labelText(*dialog, "gpu0Value"), "Example GPU, 80.00 GiB, compute capability 9.0");
  EXPECT_EQ(dialog->findChild<QLabel*>("noGpuValue"), nullptr);
  for (const char* name : {"versionValue", "qtValue", "libtorchValue", "cudaValue", "cudnnValue", "ncclValue",
                           "driverValue", "gpu0Value"})
    EXPECT_TRUE(dialog->findChild<QLabel*>(name)->isVisible()) << name;
  dialog->reject();
  EXPECT_FALSE(dialog->isVisible());
}

TEST(MainWindow, AboutBoxSaysWhyThereIsNoGpu) {
  app();
  QTemporaryDir dir;
  const EngineInfo info = noDriverInfo();
  MainWindow window(info, temporaryPaths(dir));
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  auto* dialog = window.findChild<QDialog*>("aboutDialog");
  ASSERT_NE(dialog, nullptr);
  window.findChild<QAction*>("aboutAction")->trigger();
  ASSERT_TRUE(QTest::qWaitFor([&] { return dialog->isVisible(); }, 2000));
  EXPECT_EQ(labelText(*dialog, "libtorchValue"), "2.13.0 (CUDA build)");
  EXPECT_EQ(labelText(*dialog, "cudaValue"), "13.0 (no GPU)");
  EXPECT_EQ(labelText(*dialog, "cudnnValue"), "9.20.0");
  EXPECT_EQ(labelText(*dialog, "ncclValue"), "2.29.7");
  EXPECT_EQ(labelText(*dialog, "driverValue"), "none found");
  EXPECT_EQ(labelText(*dialog, "deviceValue"), "cpu");
  EXPECT_EQ(labelText(*dialog, "noGpuValue"), QString::fromStdString(info.cudaUnavailableReason));
  auto* why = dialog->findChild<QLabel*>("noGpuValue");
  ASSERT_NE(why, nullptr);
  EXPECT_TRUE(why->isVisible());
  EXPECT_TRUE(why->wordWrap());
  EXPECT_EQ(dialog->findChild<QLabel*>("gpu0Value"), nullptr);
  dialog->reject();
}

TEST(MainWindow, AboutBoxMarksGpusTheDriverShowsButCudaCannotUse) {
  app();
  QTemporaryDir dir;
  EngineInfo info = noDriverInfo();
  info.cudaStatus = lorafa::CudaStatus::DriverTooOld;
  info.cudaDriverVersion = "12.2";
  info.cudaUnavailableReason = "NVIDIA driver too old: it supports CUDA 12.2, LibTorch's runtime is CUDA 13.0";
  info.gpus.push_back({0, "Older GPU", 24LL << 30, "8.6"}); // as NVML names it
  MainWindow window(info, temporaryPaths(dir));
  auto* dialog = window.findChild<QDialog*>("aboutDialog");
  ASSERT_NE(dialog, nullptr);
  EXPECT_EQ(labelText(*dialog, "driverValue"), "supports CUDA 12.2");
  EXPECT_EQ(labelText(*dialog, "noGpuValue"), QString::fromStdString(info.cudaUnavailableReason));
  EXPECT_EQ(labelText(*dialog, "gpu0Value"), "Older GPU, 24.00 GiB, compute capability 8.6 (not usable)");
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
