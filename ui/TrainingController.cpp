#include "TrainingController.h"

#include "BackgroundTask.h"
#include "lorafa/CheckpointIntegrity.h"
#include "lorafa/RunStore.h"
#include "lorafa/TrainingSession.h"

#include <QMetaObject>

#include <chrono>
#include <filesystem>

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace lorafa::ui {

/// Lives on the training thread's side: buffers what the trainer reports and posts the rare
/// events (log lines, state changes) to the controller's thread.
class TrainingController::Observer : public TrainerObserver {
public:
  explicit Observer(TrainingController& owner) : m_owner(owner) {}
  void onStep(const StepMetrics& m) override {
    std::lock_guard<std::mutex> lock(m_owner.m_bufferMutex);
    m_owner.m_steps.push_back(m);
  }
  void onEval(const EvalMetrics& m) override {
    std::lock_guard<std::mutex> lock(m_owner.m_bufferMutex);
    m_owner.m_evals.push_back(m);
  }
  void onMemory(const MemorySample& m) override {
    std::lock_guard<std::mutex> lock(m_owner.m_bufferMutex);
    m_owner.m_memory.push_back(m);
  }
  void onLog(LogLevel level, const std::string& message) override {
    TrainingController* owner = &m_owner;
    const QString text = QString::fromStdString(message);
    BackgroundTask::post(owner, [owner, level, text] {
      owner->flush();
      Q_EMIT owner->logArrived(level, text);
    });
  }
  void onStateChange(TrainerState state, const std::string& message) override {
    TrainingController* owner = &m_owner;
    const QString text = QString::fromStdString(message);
    BackgroundTask::post(owner, [owner, state, text] {
      owner->flush();
      Q_EMIT owner->stateChanged(state, text);
    });
  }
  bool shouldStop() override { return m_owner.m_stop.load(); }
  bool shouldPause() override { return m_owner.m_pause.load() && !m_owner.m_stop.load(); }

private:
  TrainingController& m_owner;
};

TrainingController::TrainingController(QString runStorePath, QObject* parent)
    : QObject(parent), m_storePath(std::move(runStorePath)), m_observer(std::make_unique<Observer>(*this)) {
  m_flushTimer.setInterval(kFlushIntervalMs);
  connect(&m_flushTimer, &QTimer::timeout, this, &TrainingController::flush);
}

TrainingController::~TrainingController() {
  m_stop = true;
  m_interrupted = true;
  if (m_thread.joinable()) m_thread.join();
}

void TrainingController::start(const RunConfig& config) { launch(withRunStartValues(config), 0); }

void TrainingController::resumeRun(qint64 runId) {
  if (m_active) return;
  RunConfig config;
  try {
    RunStore store(m_storePath.toStdString());
    const std::optional<RunInfo> info = store.run(runId);
    if (!info) throw std::runtime_error("no run " + std::to_string(runId) + " in " + store.path());
    config = parseRunConfig(info->configText, "run " + std::to_string(runId) + " config.json");
  } catch (const std::exception& e) {
    TrainResult result;
    result.state = TrainerState::Failed;
    result.message = e.what();
    Q_EMIT runFinished(0, result);
    return;
  }
  launch(config, runId);
}

void TrainingController::launch(const RunConfig& config, qint64 resumedFrom) {
  if (m_active) return;
  if (m_thread.joinable()) m_thread.join(); // the previous run's thread has already returned
  m_active = true;
  m_stop = false;
  m_interrupted = false;
  m_pause = false;
  m_runId = 0;
  m_flushTimer.start();
  const int nice = m_trainingNice;
  m_thread = std::thread([this, config, resumedFrom, nice] {
#if defined(__linux__)
    // Before LibTorch creates any worker thread from this one: they inherit it. Lowering needs
    // no privilege; a failure only leaves the default priority.
    if (nice > 0) setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice);
#else
    (void)nice;
#endif
    threadBody(config, resumedFrom);
  });
}

void TrainingController::pause() {
  if (!m_active || m_pause.exchange(true)) return;
  Q_EMIT pausedChanged(true);
}

void TrainingController::resume() {
  if (!m_pause.exchange(false)) return;
  Q_EMIT pausedChanged(false);
}

void TrainingController::stop(bool interrupted) {
  if (!m_active) return;
  if (interrupted) m_interrupted = true;
  m_stop = true;
}

void TrainingController::flush() {
  QVector<StepMetrics> steps;
  QVector<EvalMetrics> evals;
  QVector<MemorySample> memory;
  {
    std::lock_guard<std::mutex> lock(m_bufferMutex);
    steps.swap(m_steps);
    evals.swap(m_evals);
    memory.swap(m_memory);
  }
  if (!steps.isEmpty()) Q_EMIT stepsArrived(steps);
  if (!evals.isEmpty()) Q_EMIT evalsArrived(evals);
  if (!memory.isEmpty()) Q_EMIT memoryArrived(memory);
}

void TrainingController::threadBody(RunConfig config, qint64 resumedFrom) {
  TrainResult result;
  qint64 runId = 0;
  auto finish = [&] {
    BackgroundTask::post(this, [this, runId, result] {
      flush();
      m_flushTimer.stop();
      m_active = false;
      if (m_pause.exchange(false)) Q_EMIT pausedChanged(false);
      Q_EMIT runFinished(runId, result);
    });
  };
  try {
    RunStore store(m_storePath.toStdString());
    std::unique_ptr<TrainingSession> session = TrainingSession::create(config, m_observer.get());
    std::optional<std::string> checkpoint;
    if (resumedFrom > 0) {
      // As `lorafa resume`: the newest checkpoint that verifies; a damaged newer one is named in
      // the log and skipped (docs/RELIABILITY.md: that only repeats the steps since the one before).
      const IntactCheckpoint intact = newestIntactCheckpointIn(config.outputDir);
      for (const std::string& rejected : intact.rejected)
        m_observer->onLog(LogLevel::Warning, "skipping a damaged checkpoint: " + rejected);
      checkpoint = intact.directory;
      if (!checkpoint)
        throw std::runtime_error("run " + std::to_string(resumedFrom) + " has no " +
                                 (intact.rejected.empty() ? "" : "intact ") + "checkpoint in " + config.outputDir +
                                 "/checkpoints");
      if (!intact.rejected.empty())
        m_observer->onLog(LogLevel::Info, "resuming from the previous intact checkpoint " + *checkpoint);
    }
    session->setup();
    NewRun run;
    run.name = config.name.empty() ? std::filesystem::path(config.outputDir).filename().string() : config.name;
    run.method = toString(config.adapter.method);
    run.modelPath = config.modelPath;
    run.datasetPath = config.dataset.path;
    run.configText = toJson(config);
    run.outputDir = config.outputDir;
    if (resumedFrom > 0) run.resumedFrom = resumedFrom;
    runId = store.createRun(run);
    m_runId = runId;
    session->setRunStore(&store, runId);
    if (checkpoint) {
      try {
        session->resumeFrom(*checkpoint);
      } catch (const std::exception& e) {
        store.finishRun(runId, RunStatus::Failed, e.what());
        throw;
      }
    }
    store.startRun(runId);
    const QString name = QString::fromStdString(run.name);
    const qint64 totalSteps = session->totalSteps();
    BackgroundTask::post(this, [this, runId, name, totalSteps] { Q_EMIT runStarted(runId, name, totalSteps); });
    result = session->run();
    RunStatus status = result.state == TrainerState::Completed ? RunStatus::Completed
                       : result.state == TrainerState::Stopped ? RunStatus::Stopped
                                                                : RunStatus::Failed;
    if (status == RunStatus::Stopped && m_interrupted) {
      status = RunStatus::Interrupted;
      result.message = "the studio was closed during the run; " + result.message;
    }
    store.finishRun(runId, status, result.message, result.finalMetrics, result.bestMetrics, result.peakMemoryBytes);
  } catch (const std::exception& e) {
    result.state = TrainerState::Failed;
    result.message = e.what();
  }
  finish();
}

} // namespace lorafa::ui
