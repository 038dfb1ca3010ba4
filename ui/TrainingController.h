#pragma once

#include "lorafa/RunConfig.h"
#include "lorafa/TrainerObserver.h"

#include <QObject>
#include <QString>
#include <QTimer>
#include <QVector>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

namespace lorafa::ui {

/// Runs one training session at a time on its own thread and reports it to the UI thread
/// (DESIGN §2, CONVENTIONS 3–5). The trainer's callbacks go into a buffer under a mutex; a timer
/// on the UI thread drains it every kFlushIntervalMs and emits one signal per kind with everything
/// that arrived, so a fast run never floods the event loop. The training thread never waits for
/// the UI; the UI never waits for training (except in the destructor, which stops and joins).
/// The run is recorded in the run store like a CLI run (created once setup succeeded, started,
/// finished with its status), so the Runs page and `lorafa runs list` both see it.
class TrainingController : public QObject {
  Q_OBJECT
public:
  static constexpr int kFlushIntervalMs = 150;
  /// The nice value of the training thread (Linux), which LibTorch's worker threads, created from
  /// it, inherit. 0: the UI's priority. Measured (tests/ui/UiStallTest.cpp) on a loaded 2-core
  /// machine, nice 10 did not shorten the UI's stalls (the UI thread's own work between two ticks
  /// stays under ~5 ms; the stalls are waits for a core) and slowed training against other
  /// niced processes, so it is not the default.
  static constexpr int kDefaultTrainingNice = 0;

  explicit TrainingController(QString runStorePath, QObject* parent = nullptr);
  ~TrainingController() override;

  bool isActive() const { return m_active; }
  bool isPaused() const { return m_pause.load(); }
  qint64 currentRunId() const { return m_runId.load(); }
  const QString& runStorePath() const { return m_storePath; }
  /// The nice value later runs' training threads take (0: the UI's own priority). Linux only.
  void setTrainingNice(int nice) { m_trainingNice = nice; }
  int trainingNice() const { return m_trainingNice; }

public Q_SLOTS:
  /// Starts a run of `config` (outputDir must be set). Ignored while a run is active.
  void start(const lorafa::RunConfig& config);
  /// Continues a stored run from its latest checkpoint, as `lorafa resume RUN` does.
  void resumeRun(qint64 runId);
  void pause();
  void resume();
  /// Asks the trainer to stop after the current step and write a checkpoint. With
  /// `interrupted`, the run is recorded `interrupted` (the window closed) instead of `stopped`.
  void stop(bool interrupted = false);

Q_SIGNALS:
  /// Setup succeeded and the run is in the store.
  void runStarted(qint64 runId, const QString& name, qint64 totalSteps);
  void stepsArrived(const QVector<lorafa::StepMetrics>& steps);
  void evalsArrived(const QVector<lorafa::EvalMetrics>& evals);
  void memoryArrived(const QVector<lorafa::MemorySample>& samples);
  void logArrived(lorafa::LogLevel level, const QString& message);
  void stateChanged(lorafa::TrainerState state, const QString& message);
  void pausedChanged(bool paused);
  /// The run ended (completed, stopped, failed or interrupted); runId 0 when setup failed.
  void runFinished(qint64 runId, const lorafa::TrainResult& result);

private:
  class Observer;
  void launch(const lorafa::RunConfig& config, qint64 resumedFrom);
  void flush();
  void threadBody(lorafa::RunConfig config, qint64 resumedFrom);

  QString m_storePath;
  int m_trainingNice = kDefaultTrainingNice;
  QTimer m_flushTimer;
  bool m_active = false;
  std::thread m_thread;
  std::atomic<bool> m_stop{false};
  std::atomic<bool> m_interrupted{false};
  std::atomic<bool> m_pause{false};
  std::atomic<qint64> m_runId{0};

  std::mutex m_bufferMutex; // guards the buffers below, filled by the training thread
  QVector<lorafa::StepMetrics> m_steps;
  QVector<lorafa::EvalMetrics> m_evals;
  QVector<lorafa::MemorySample> m_memory;
  std::unique_ptr<Observer> m_observer;
};

} // namespace lorafa::ui
