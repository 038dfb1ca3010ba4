// lorafa-studio: the desktop application.
#include "MainWindow.h"

#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/EngineInfo.h"
#include "lorafa/Version.h"

#include <QApplication>

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("lorafa-studio");
  QApplication::setApplicationDisplayName("LoRA-FA Studio");
  QApplication::setOrganizationName("lorafa-studio");
  QApplication::setApplicationVersion(lorafa::versionString());
  lorafa::CpuMemoryTracker::instance().install();
  lorafa::configureComputeThreads(); // live memory needs it before any tensor exists

  lorafa::ui::MainWindow window(lorafa::queryEngineInfo());
  window.show();
  return QApplication::exec();
}
