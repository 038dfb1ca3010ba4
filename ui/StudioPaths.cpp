#include "StudioPaths.h"

#include "lorafa/ModelLibrary.h"
#include "lorafa/RunStore.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QRegularExpression>

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
  paths.modelLibraryPath =
      QString::fromStdString(defaultModelLibraryPath(std::getenv("XDG_DATA_HOME"), std::getenv("HOME")));
  return paths;
}

QString StudioPaths::demoConfigPath() const {
  return resourcesDir.isEmpty() ? QString() : resourcesDir + "/examples/demo-kjv-lora-fa.yaml";
}

QString StudioPaths::freshRunDir(const QString& name) const {
  QString safeName = name.trimmed();
  safeName.replace(QRegularExpression("[^A-Za-z0-9._-]+"), "-");
  if (safeName.isEmpty()) safeName = "run";
  const QString base = runsOutputDir + "/" + safeName + "-" + QDateTime::currentDateTime().toString("yyyyMMdd-HHmmss");
  QString dir = base;
  for (int i = 2; QFileInfo::exists(dir); ++i) dir = base + "-" + QString::number(i);
  return dir;
}

} // namespace lorafa::ui
