// The main window with real widgets under the offscreen platform.
#include "MainWindow.h"
#include "StudioTestSupport.h"

#include <QAction>
#include <QApplication>
#include <QLabel>
#include <QStandardPaths>
#include <QStatusBar>
#include <QtTest/QtTest>

#include <gtest/gtest.h>

using lorafa::EngineInfo;
using lorafa::ui::MainWindow;

namespace {

using lorafa::ui::testing::app;
using lorafa::ui::testing::temporaryPaths;

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
