#pragma once

#include "lorafa/RunConfig.h"

#include <QObject>
#include <QString>
#include <QVector>

namespace lorafa {
struct TrainResult;
}

namespace lorafa::ui {

class TrainingController;

/// A twin run: the same configuration trained with LoRA and then with LoRA-FA, one after the
/// other on the one TrainingController (same seed, data and steps), so their loss and memory can
/// be compared side by side. It only sequences the runs; whoever shows them listens to the
/// controller's signals and to phaseStarted().
class TrainTwinRun : public QObject {
  Q_OBJECT
public:
  explicit TrainTwinRun(TrainingController* controller, QObject* parent = nullptr);

  /// The two configurations a twin of `base` runs: LoRA then LoRA-FA, named `<name>-twin-lora`
  /// and `<name>-twin-lora-fa`, each with its own fresh output folder under `runsOutputDir`.
  static QVector<RunConfig> twinConfigs(const RunConfig& base, const QString& runsOutputDir);

  bool isActive() const { return m_phase >= 0; }
  /// 0 while the LoRA run trains, 1 while the LoRA-FA run trains, -1 when no twin is running.
  int phase() const { return m_phase; }
  /// Starts the first of `configs` now and each next one when the previous one completes.
  void start(const QVector<RunConfig>& configs);
  /// Runs no further configuration after the current one (which the caller stops itself).
  void cancel();

Q_SIGNALS:
  /// The controller was asked to start configuration `index` ("LoRA", "LoRA-FA").
  void phaseStarted(int index, const QString& label);
  /// Configuration `index` ended as run `runId` (0 when it failed before being recorded).
  void phaseFinished(int index, qint64 runId, const lorafa::TrainResult& result);
  /// All configurations completed (`completed`), or one did not and the rest were skipped.
  void finished(bool completed, const QVector<qint64>& runIds);

private:
  void onRunFinished(qint64 runId, const lorafa::TrainResult& result);
  void startPhase(int index);

  TrainingController* m_controller;
  QVector<RunConfig> m_configs;
  QVector<qint64> m_runIds;
  int m_phase = -1;
  bool m_cancelled = false;
};

/// "LoRA", "LoRA-FA" or "full fine-tuning": a method as the studio's labels show it.
QString methodLabel(TrainMethod method);

} // namespace lorafa::ui
