#pragma once
// Shared by the GUI tests: one QApplication (offscreen, QStandardPaths test mode) and a studio
// whose settings, run store and run outputs live in a temporary folder.
#include "MainWindow.h"
#include "StudioPaths.h"

#include <QApplication>
#include <QStandardPaths>
#include <QTemporaryDir>

namespace lorafa::ui::testing {

inline QApplication& app() {
  static int argc = 1;
  static char name[] = "test_ui";
  static char* argv[] = {name, nullptr};
  static QApplication* instance = [] {
    QStandardPaths::setTestModeEnabled(true);
    return new QApplication(argc, argv);
  }();
  return *instance;
}

/// Paths inside `dir`; resources from the build tree (share/lorafa-studio next to tests/).
inline StudioPaths temporaryPaths(const QTemporaryDir& dir) {
  StudioPaths paths;
  paths.resourcesDir = findResourcesDir();
  paths.runStorePath = dir.filePath("runs.db");
  paths.settingsPath = dir.filePath("settings.ini");
  paths.runsOutputDir = dir.filePath("runs");
  return paths;
}

} // namespace lorafa::ui::testing
