#pragma once
// Shared by the GUI tests: one QApplication (offscreen, QStandardPaths test mode) and a studio
// whose settings, run store and run outputs live in a temporary folder.
#include "MainWindow.h"
#include "StudioPaths.h"

#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/EngineInfo.h"
#include "lorafa/RunConfig.h"

#include <QApplication>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QThreadPool>

#include <cstdlib>

namespace lorafa::ui::testing {

inline QApplication& app() {
  static int argc = 1;
  static char name[] = "test_ui";
  static char* argv[] = {name, nullptr};
  static QApplication* instance = [] {
    QStandardPaths::setTestModeEnabled(true);
    // The Model page's library scans the Hugging Face cache: never this machine's own (tests that
    // want one set HF_HUB_CACHE themselves). Set before any thread exists.
    static QTemporaryDir emptyHubCache;
    qputenv("HF_HUB_CACHE", emptyHubCache.filePath("hub").toUtf8());
    // As lorafa-studio's main() does: live CPU memory needs the tracker before any tensor exists.
    CpuMemoryTracker::instance().install();
    // OMP_NUM_THREADS as LibTorch itself honours it (the ThreadSanitizer run sets 1); else all cores.
    configureComputeThreads(std::getenv("OMP_NUM_THREADS") ? std::atoi(std::getenv("OMP_NUM_THREADS")) : 0);
    auto* application = new QApplication(argc, argv);
    // The application is never destroyed, so nothing would wait for the pages' background work
    // (model inspection, dataset analysis) still running in the global pool when a test process
    // exits; it then raced the static destructors (heap corruption at exit, seen in CI). The
    // studio's own QApplication waits for the pool in its destructor; this does the same.
    std::atexit([] { QThreadPool::globalInstance()->waitForDone(); });
    return application;
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
  paths.modelLibraryPath = dir.filePath("model-library.json");
  return paths;
}

/// The bundled demo configuration (demo model, KJV dataset) cut down to a run of a few seconds:
/// `maxSteps` steps of 2 rows of at most 96 tokens, no evaluation, a checkpoint at the end.
inline RunConfig tinyDemoConfig(const StudioPaths& paths, std::int64_t maxSteps = 2) {
  RunConfig config = loadRunConfig(paths.demoConfigPath().toStdString());
  config.train.maxSteps = maxSteps;
  config.train.batchSize = 2;
  config.train.maxSeqLen = 96; // shorter cuts the answers of some verses to nothing
  config.train.evalEvery = 0;
  config.train.saveEvery = 0;
  config.dataset.evalPath.clear();
  config.dataset.validationFraction = 0.0;
  config.eval.generateMaxExamples = 0;
  return config;
}

} // namespace lorafa::ui::testing
