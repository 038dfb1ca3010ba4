#include "TrainTwinRun.h"

#include "StudioPaths.h"
#include "TrainingController.h"

#include "lorafa/TrainerObserver.h"

#include <QTimer>

namespace lorafa::ui {

QString methodLabel(TrainMethod method) {
  switch (method) {
  case TrainMethod::LoraFa: return QStringLiteral("LoRA-FA");
  case TrainMethod::Lora: return QStringLiteral("LoRA");
  case TrainMethod::Full: return QObject::tr("full fine-tuning");
  case TrainMethod::Frozen: return QObject::tr("frozen");
  }
  return {};
}

TrainTwinRun::TrainTwinRun(TrainingController* controller, QObject* parent)
    : QObject(parent), m_controller(controller) {
  connect(m_controller, &TrainingController::runFinished, this, &TrainTwinRun::onRunFinished);
}

QVector<RunConfig> TrainTwinRun::twinConfigs(const RunConfig& base, const QString& runsOutputDir) {
  StudioPaths paths;
  paths.runsOutputDir = runsOutputDir;
  const QString name = base.name.empty() ? QStringLiteral("run") : QString::fromStdString(base.name);
  QVector<RunConfig> configs;
  for (TrainMethod method : {TrainMethod::Lora, TrainMethod::LoraFa}) {
    RunConfig config = base;
    config.adapter.method = method;
    config.name = (name + "-twin-" + QString::fromLatin1(toString(method))).toStdString();
    config.outputDir = paths.freshRunDir(QString::fromStdString(config.name)).toStdString();
    configs.push_back(config);
  }
  return configs;
}

void TrainTwinRun::start(const QVector<RunConfig>& configs) {
  if (isActive() || configs.isEmpty() || m_controller->isActive()) return;
  m_configs = configs;
  m_runIds.clear();
  m_cancelled = false;
  startPhase(0);
}

void TrainTwinRun::cancel() {
  if (isActive()) m_cancelled = true;
}

void TrainTwinRun::startPhase(int index) {
  m_phase = index;
  Q_EMIT phaseStarted(index, methodLabel(m_configs[index].adapter.method));
  m_controller->start(m_configs[index]);
}

void TrainTwinRun::onRunFinished(qint64 runId, const TrainResult& result) {
  if (!isActive()) return;
  const int index = m_phase;
  m_runIds.push_back(runId);
  Q_EMIT phaseFinished(index, runId, result);
  const bool completed = result.state == TrainerState::Completed;
  if (completed && !m_cancelled && index + 1 < m_configs.size()) {
    // Once every listener has seen this run end (the Train page resets its live view).
    QTimer::singleShot(0, this, [this, index] {
      if (m_cancelled) {
        m_phase = -1;
        Q_EMIT finished(false, m_runIds);
      } else {
        startPhase(index + 1);
      }
    });
    return;
  }
  m_phase = -1;
  Q_EMIT finished(completed && !m_cancelled && index + 1 == m_configs.size(), m_runIds);
}

} // namespace lorafa::ui
