#include "TrainCommand.h"

#include "LaunchCommand.h"
#include "ProgressBar.h"
#include "lorafa/Distributed.h"

#include "lorafa/CheckpointIntegrity.h"
#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/EngineInfo.h"
#include "lorafa/MemoryEstimate.h"
#include "lorafa/RunConfig.h"
#include "lorafa/RunStore.h"
#include "lorafa/TrainingSession.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <iostream>
#include <optional>
#include <sstream>

#include <unistd.h>

namespace lorafa::cli {
namespace {

std::atomic<bool> g_stopRequested{false};

extern "C" void onStopSignal(int) { g_stopRequested = true; }

std::string fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

std::string scientific(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.3e", value);
  return text;
}

std::string duration(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char text[32];
  if (s >= 3600) std::snprintf(text, sizeof text, "%lldh%02lldm", s / 3600, s / 60 % 60);
  else std::snprintf(text, sizeof text, "%lldm%02llds", s / 60, s % 60);
  return text;
}

/// The memory planner's peak for the run's method on the device it will use; nullopt with the
/// reason when the planner cannot read the model.
std::optional<std::int64_t> predictedPeak(const RunConfig& config, std::string& reason) {
  std::string device = config.train.device;
  if (device.empty() || device == "auto") device = queryEngineInfo().defaultDevice;
  try {
    return estimateMemory(MemoryPlan::fromRunConfig(config, device.empty() ? "cpu" : device)).peak;
  } catch (const std::exception& e) {
    reason = e.what();
    return std::nullopt;
  }
}

/// "memory after step 1: predicted 194.0 MiB, measured 190.2 MiB (+2.0%)", as the studio's Train
/// page shows it; the percentage is (predicted − measured) / measured.
std::string calibrationLine(std::int64_t step, const std::optional<std::int64_t>& predicted, std::int64_t measured,
                            const std::string& reason) {
  const auto mib = [](std::int64_t bytes) { return fixed(static_cast<double>(bytes) / (1024.0 * 1024.0), 1) + " MiB"; };
  std::string line = "memory after step " + std::to_string(step) + ": ";
  if (!predicted) return line + "no prediction" + (reason.empty() ? "" : " (" + reason + ")") + ", measured " + mib(measured);
  line += "predicted " + mib(*predicted) + ", measured " + mib(measured);
  if (measured > 0) {
    const double error = 100.0 * static_cast<double>(*predicted - measured) / static_cast<double>(measured);
    line += " (" + std::string(error >= 0 ? "+" : "") + fixed(error, 1) + "%)";
  }
  return line;
}

/// On a terminal: one progress line redrawn in place (bar, ETA, live loss and memory). Otherwise
/// plain log lines, one per step and evaluation, for log files and pipes.
class PrintingObserver : public TrainerObserver {
public:
  PrintingObserver(std::ostream& out, bool terminal) : m_out(out), m_terminal(terminal) {}
  ~PrintingObserver() override { endBar(); }
  /// After the first step, the measured peak is printed next to this prediction once.
  void setPrediction(std::optional<std::int64_t> peakBytes, std::string reason) {
    m_predictedPeak = peakBytes;
    m_noPredictionReason = std::move(reason);
  }
  void onStep(const StepMetrics& m) override {
    printStep(m);
    if (!m_calibrationPrinted) {
      endBar();
      m_out << calibrationLine(m.step, m_predictedPeak, m.memoryPeakBytes, m_noPredictionReason) << std::endl;
      m_calibrationPrinted = true;
    }
  }
  void printStep(const StepMetrics& m) {
    if (m_terminal) {
      drawBar(m);
      return;
    }
    m_out << "step " << m.step << "/" << m.totalSteps << " epoch " << m.epoch << " loss " << fixed(m.loss, 4) << " lr "
          << scientific(m.learningRate) << " grad_norm " << fixed(m.gradNorm, 3) << " tokens/s "
          << fixed(m.tokensPerSecond, 0) << " step_ms " << fixed(m.stepTimeMs, 0) << " mem "
          << formatBytes(m.memoryCurrentBytes) << " peak " << formatBytes(m.memoryPeakBytes) << std::endl;
  }
  void onEval(const EvalMetrics& m) override {
    endBar();
    m_out << "eval step " << m.step << " loss " << fixed(m.loss, 4) << " perplexity " << fixed(m.perplexity, 3);
    if (m.accuracy) m_out << " accuracy " << fixed(*m.accuracy, 4);
    if (m.f1) m_out << " f1 " << fixed(*m.f1, 4);
    if (m.bleu) m_out << " bleu " << fixed(*m.bleu, 2);
    if (m.exactMatch) m_out << " exact_match " << fixed(*m.exactMatch, 4);
    m_out << " rows " << m.rows;
    if (m.generatedRows > 0) m_out << " generated " << m.generatedRows;
    m_out << std::endl;
  }
  void onLog(LogLevel level, const std::string& message) override {
    endBar();
    m_out << (level == LogLevel::Info ? "info: " : level == LogLevel::Warning ? "warning: " : "error: ") << message
          << std::endl;
  }
  bool shouldStop() override { return g_stopRequested; }

private:
  void drawBar(const StepMetrics& m) {
    m_secondsSum += m.stepTimeMs / 1000.0;
    ++m_stepsSeen;
    const double eta = m_secondsSum / static_cast<double>(m_stepsSeen) * static_cast<double>(m.totalSteps - m.step);
    std::ostringstream line;
    line << progressBar(m.step, m.totalSteps) << " " << m.step << "/" << m.totalSteps << " loss " << fixed(m.loss, 4)
         << " lr " << scientific(m.learningRate) << " " << fixed(m.tokensPerSecond, 0) << " tok/s mem "
         << formatBytes(m.memoryCurrentBytes) << " ETA " << duration(eta);
    m_bar.draw(line.str());
  }
  void endBar() { m_bar.end(); }

  std::ostream& m_out;
  bool m_terminal;
  InPlaceLine m_bar{m_out};
  bool m_calibrationPrinted = false;
  std::optional<std::int64_t> m_predictedPeak;
  std::string m_noPredictionReason;
  double m_secondsSum = 0.0;
  std::int64_t m_stepsSeen = 0;
};

RunStatus statusOf(TrainerState state) {
  switch (state) {
  case TrainerState::Completed: return RunStatus::Completed;
  case TrainerState::Stopped: return RunStatus::Stopped;
  default: return RunStatus::Failed;
  }
}

int exitCodeOf(TrainerState state) {
  return state == TrainerState::Completed ? kExitOk : state == TrainerState::Stopped ? kExitStopped : kExitFailed;
}

/// Sets up, records the run, trains, finishes the record. Setup errors return kExitBadConfig
/// before anything is recorded.
int train(const RunConfig& requested, const std::string& storePath, const std::optional<std::int64_t>& resumedFrom,
          std::ostream& out, std::ostream& err) {
  const RunConfig config = withRunStartValues(requested); // a resume's stored config has them already
  // Data parallel (`--nproc`, LaunchCommand.h): rank 0 prints, records the run and writes the
  // checkpoints; the other ranks train their shards silently.
  DistributedConfig distributed;
  try {
    distributed = distributedConfigFromEnvironment();
  } catch (const std::exception& e) {
    err << "lorafa: error: " << e.what() << "\n";
    return kExitBadConfig;
  }
  if (distributed.enabled() && !distributed.isWriter()) return runFollowerRank(config, resumedFrom.has_value(), distributed, err);
  CpuMemoryTracker::instance().install(); // memory figures on the CPU
  PrintingObserver observer(out, &out == &std::cout && ::isatty(STDOUT_FILENO));
  RunStore store(storePath);
  std::int64_t runId = 0;
  std::unique_ptr<TrainingSession> session;
  std::optional<std::string> checkpoint;
  try {
    session = distributed.enabled() ? createDistributedSession(config, &observer, distributed)
                                    : TrainingSession::create(config, &observer);
    if (resumedFrom) {
      // The newest checkpoint that verifies; a damaged newer one is named and skipped (see
      // docs/RELIABILITY.md: resuming from the one before only repeats steps).
      const IntactCheckpoint intact = newestIntactCheckpointIn(config.outputDir);
      for (const std::string& rejected : intact.rejected) err << "lorafa: warning: skipping a damaged checkpoint: " << rejected << "\n";
      checkpoint = intact.directory;
      if (!checkpoint) {
        err << "lorafa: error: run " << *resumedFrom << " has no " << (intact.rejected.empty() ? "" : "intact ")
            << "checkpoint in " << config.outputDir << "/checkpoints\n";
        return kExitBadConfig;
      }
      if (!intact.rejected.empty()) out << "resuming from the previous intact checkpoint " << *checkpoint << std::endl;
    }
    session->setup();
  } catch (const std::exception& e) {
    err << "lorafa: error: " << e.what() << "\n";
    return kExitBadConfig;
  }
  NewRun run;
  run.name = config.name.empty() ? std::filesystem::path(config.outputDir).filename().string() : config.name;
  run.method = toString(config.adapter.method);
  run.modelPath = config.modelPath;
  run.datasetPath = config.dataset.path;
  run.configText = toJson(config); // resolved paths: `lorafa resume` can rebuild the run from it
  run.outputDir = config.outputDir;
  run.resumedFrom = resumedFrom;
  runId = store.createRun(run);
  session->setRunStore(&store, runId);
  recordDistributedLayout(config.outputDir, distributed, resumedFrom.has_value(), err);
  if (checkpoint) {
    try {
      session->resumeFrom(*checkpoint);
    } catch (const std::exception& e) {
      store.finishRun(runId, RunStatus::Failed, e.what());
      err << "lorafa: error: " << e.what() << "\n";
      return kExitFailed;
    }
  }
  store.startRun(runId);
  {
    std::string reason;
    const std::optional<std::int64_t> peak = predictedPeak(config, reason);
    observer.setPrediction(peak, reason);
  }
  out << "run " << runId << ": " << run.name << " (" << run.method << "), " << session->trainRows() << " training rows, "
      << session->validationRows() << " validation rows, " << session->totalSteps() << " steps; store " << store.path()
      << std::endl;
  std::signal(SIGINT, onStopSignal);
  std::signal(SIGTERM, onStopSignal);
  const TrainResult result = session->run();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  store.finishRun(runId, statusOf(result.state), result.message, result.finalMetrics, result.bestMetrics,
                  result.peakMemoryBytes);
  (result.state == TrainerState::Completed ? out : err)
      << "run " << runId << " " << toString(statusOf(result.state)) << ": " << result.message
      << (result.lastCheckpoint.empty() ? "" : "; checkpoint " + result.lastCheckpoint) << std::endl;
  return exitCodeOf(result.state);
}

std::string formatTime(std::int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M", &tm);
  return text;
}

} // namespace

std::string resolveStorePath(const std::string& given) {
  return given.empty() ? defaultRunStorePath(std::getenv("XDG_DATA_HOME"), std::getenv("HOME")) : given;
}

int runTrain(const TrainCommandOptions& options, std::ostream& out, std::ostream& err) {
  RunConfig config;
  try {
    config = loadRunConfig(options.configPath);
  } catch (const ConfigError& e) {
    err << "lorafa: error: " << e.what() << "\n";
    return kExitBadConfig;
  }
  // Command-line overrides, so a shipped configuration runs unchanged elsewhere or shorter.
  if (!options.outputDir.empty()) config.outputDir = std::filesystem::absolute(options.outputDir).lexically_normal().string();
  if (options.maxSteps >= 0) config.train.maxSteps = options.maxSteps;
  return train(config, resolveStorePath(options.storePath), std::nullopt, out, err);
}

int runResume(const TrainCommandOptions& options, std::ostream& out, std::ostream& err) {
  const std::string storePath = resolveStorePath(options.storePath);
  std::optional<RunInfo> info;
  {
    RunStore store(storePath);
    info = store.run(options.runId);
  }
  if (!info) {
    err << "lorafa: error: no run " << options.runId << " in " << storePath << "\n";
    return kExitBadConfig;
  }
  RunConfig config;
  try {
    config = parseRunConfig(info->configText, "run " + std::to_string(options.runId) + " config.json");
  } catch (const ConfigError& e) {
    err << "lorafa: error: " << e.what() << "\n";
    return kExitBadConfig;
  }
  return train(config, storePath, options.runId, out, err);
}

namespace {

/// Sets a session up for `options` and loads the chosen checkpoint; nullptr after printing why.
std::unique_ptr<TrainingSession> inferenceSession(const InferenceOptions& options, std::ostream& out, std::ostream& err) {
  try {
    const RunConfig config = loadRunConfig(options.configPath);
    auto session = TrainingSession::create(config, nullptr);
    session->setup();
    std::optional<std::string> checkpoint;
    if (options.checkpoint.empty()) checkpoint = latestCheckpointIn(config.outputDir);
    else if (options.checkpoint != "none") checkpoint = options.checkpoint;
    if (checkpoint) {
      session->resumeFrom(*checkpoint);
      out << "checkpoint: " << *checkpoint << "\n";
    } else {
      out << "checkpoint: none (the model with untrained adapters)\n";
    }
    return session;
  } catch (const std::exception& e) {
    err << "lorafa: error: " << e.what() << "\n";
    return nullptr;
  }
}

} // namespace

int runEval(const InferenceOptions& options, std::ostream& out, std::ostream& err) {
  const auto session = inferenceSession(options, out, err);
  if (!session) return kExitBadConfig;
  if (session->validationRows() == 0) {
    err << "lorafa: error: no validation rows: set dataset.validation_fraction above 0\n";
    return kExitBadConfig;
  }
  const EvalMetrics m = session->evaluate();
  out << "eval loss " << fixed(m.loss, 4) << " perplexity " << fixed(m.perplexity, 3);
  if (m.accuracy) out << " accuracy " << fixed(*m.accuracy, 4);
  if (m.f1) out << " f1 " << fixed(*m.f1, 4);
  if (m.bleu) out << " bleu " << fixed(*m.bleu, 2);
  if (m.exactMatch) out << " exact_match " << fixed(*m.exactMatch, 4);
  out << " rows " << m.rows;
  if (m.generatedRows > 0) out << " generated " << m.generatedRows;
  out << "\n";
  return kExitOk;
}

int runGenerate(const InferenceOptions& options, std::ostream& out, std::ostream& err) {
  const auto session = inferenceSession(options, out, err);
  if (!session) return kExitBadConfig;
  try {
    out << session->generate(options.prompt, options.maxNewTokens, options.temperature, options.seed) << "\n";
  } catch (const std::exception& e) {
    err << "lorafa: error: " << e.what() << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

int runRunsList(const std::string& storePath, std::ostream& out) {
  RunStore store(resolveStorePath(storePath));
  const std::vector<RunInfo> runs = store.listRuns();
  if (runs.empty()) {
    out << "no runs in " << store.path() << "\n";
    return kExitOk;
  }
  char line[512];
  std::snprintf(line, sizeof line, "%-5s %-12s %-8s %-16s %6s %10s %10s  %s\n", "id", "status", "method", "created",
                "step", "train/loss", "eval/loss", "name");
  out << line;
  for (const RunInfo& r : runs) {
    auto metric = [&](const char* name) {
      const auto it = r.finalMetrics.find(name);
      return it == r.finalMetrics.end() ? std::string("-") : fixed(it->second, 4);
    };
    std::snprintf(line, sizeof line, "%-5lld %-12s %-8s %-16s %6lld %10s %10s  %s\n", static_cast<long long>(r.id),
                  toString(r.status), r.method.c_str(), formatTime(r.createdAtMs).c_str(),
                  static_cast<long long>(r.lastStep), metric("train/loss").c_str(), metric("eval/loss").c_str(),
                  r.name.c_str());
    out << line;
  }
  return kExitOk;
}

int runRunsShow(const std::string& storePath, std::int64_t runId, std::ostream& out, std::ostream& err) {
  RunStore store(resolveStorePath(storePath));
  const std::optional<RunInfo> r = store.run(runId);
  if (!r) {
    err << "lorafa: error: no run " << runId << " in " << store.path() << "\n";
    return kExitFailed;
  }
  out << "run " << r->id << ": " << r->name << "\n"
      << "status: " << toString(r->status) << (r->message.empty() ? "" : " (" + r->message + ")") << "\n"
      << "method: " << r->method << "\n"
      << "model: " << r->modelPath << "\n"
      << "dataset: " << r->datasetPath << "\n"
      << "output: " << r->outputDir << "\n"
      << "created: " << formatTime(r->createdAtMs) << "\n";
  if (r->resumedFrom) out << "resumed from: run " << *r->resumedFrom << "\n";
  out << "last step: " << r->lastStep << "\n"
      << "peak memory: " << formatBytes(r->peakMemoryBytes) << "\n";
  for (const auto& [name, value] : r->finalMetrics) out << "final " << name << ": " << fixed(value, 4) << "\n";
  for (const auto& [name, value] : r->bestMetrics) out << "best " << name << ": " << fixed(value, 4) << "\n";
  std::map<std::string, std::pair<std::size_t, MetricPoint>> series;
  for (const MetricPoint& p : store.metrics(runId)) {
    auto& s = series[p.name];
    ++s.first;
    s.second = p;
  }
  for (const auto& [name, s] : series) {
    out << "metric " << name << ": " << s.first << " points, last " << fixed(s.second.value, 4) << " at step "
        << s.second.step << "\n";
  }
  for (const RunEvent& e : store.events(runId)) out << formatTime(e.timestampMs) << " " << e.level << ": " << e.message << "\n";
  return kExitOk;
}

int runRunsDelete(const std::string& storePath, std::int64_t runId, std::ostream& out, std::ostream& err) {
  RunStore store(resolveStorePath(storePath));
  if (!store.run(runId)) {
    err << "lorafa: error: no run " << runId << " in " << store.path() << "\n";
    return kExitFailed;
  }
  store.deleteRun(runId);
  out << "deleted run " << runId << " (its output folder is kept)\n";
  return kExitOk;
}

int runRunsRename(const std::string& storePath, std::int64_t runId, const std::string& name, std::ostream& out,
                  std::ostream& err) {
  RunStore store(resolveStorePath(storePath));
  if (!store.run(runId)) {
    err << "lorafa: error: no run " << runId << " in " << store.path() << "\n";
    return kExitFailed;
  }
  if (name.empty()) {
    err << "lorafa: error: a run's name cannot be empty\n";
    return kExitBadConfig;
  }
  store.renameRun(runId, name);
  out << "renamed run " << runId << " to " << name << "\n";
  return kExitOk;
}

} // namespace lorafa::cli
