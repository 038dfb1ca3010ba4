#include "StudioPaths.h"

#include "lorafa/RunStore.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>

#include <cstdlib>

namespace lorafa::ui {

QString findResourcesDir() {
  QStringList candidates;
  const QString fromEnv = qEnvironmentVariable("LORAFA_RESOURCES_DIR");
  if (!fromEnv.isEmpty()) candidates << fromEnv;
  const QString bin = QCoreApplication::applicationDirPath();
  candidates << bin + "/../share/lorafa-studio" << bin + "/../../share/lorafa-studio";
  for (const QString& dir : candidates) {
    if (QFileInfo::exists(dir + "/examples") && QFileInfo::exists(dir + "/demo/model/config.json"))
      return QDir(dir).canonicalPath();
  }
  return {};
}

StudioPaths StudioPaths::standard() {
  StudioPaths paths;
  paths.resourcesDir = findResourcesDir();
  paths.runStorePath = QString::fromStdString(defaultRunStorePath(std::getenv("XDG_DATA_HOME"), std::getenv("HOME")));
  paths.runsOutputDir = QFileInfo(paths.runStorePath).absolutePath() + "/runs";
  return paths;
}

QString StudioPaths::demoConfigPath() const {
  return resourcesDir.isEmpty() ? QString() : resourcesDir + "/examples/demo-kjv-lora-fa.yaml";
}

} // namespace lorafa::ui
