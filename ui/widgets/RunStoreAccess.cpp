#include "RunStoreAccess.h"

#include "RunConfigDiff.h"

#include "lorafa/RunConfig.h"
#include "lorafa/RunStore.h"
#include "lorafa/TrainingSession.h"

#include <QDateTime>

#include <algorithm>

namespace lorafa::ui {
namespace {

std::int64_t engineBytes(const MemoryPoint& p) { return p.cudaBytes > 0 ? p.cudaBytes : p.cpuBytes; }

} // namespace

RunStoreAccess::RunStoreAccess(QString path) : m_path(std::move(path)) {}

RunStoreAccess::~RunStoreAccess() = default;

RunStore& RunStoreAccess::store() {
  if (!m_store) {
    m_store = std::make_unique<RunStore>(m_path.toStdString());
    m_openedAtMs = QDateTime::currentMSecsSinceEpoch();
  }
  return *m_store;
}

QString RunStoreAccess::checkpointOf(const QString& outputDir) {
  if (outputDir.isEmpty()) return {};
  try {
    const auto checkpoint = latestCheckpointIn(outputDir.toStdString());
    return checkpoint ? QString::fromStdString(*checkpoint) : QString();
  } catch (const std::exception&) {
    return {}; // an unreadable folder has no usable checkpoint
  }
}

QVector<RunRow> RunStoreAccess::rows() {
  std::lock_guard<std::mutex> lock(m_mutex);
  RunStore& s = store();
  const qint64 nowMs = QDateTime::currentMSecsSinceEpoch();
  QVector<RunRow> rows;
  bool anyRunning = false;
  for (const RunInfo& info : s.listRuns()) {
    anyRunning = anyRunning || info.status == RunStatus::Running;
    RunRow r;
    r.id = info.id;
    r.name = QString::fromStdString(info.name);
    r.method = QString::fromStdString(info.method);
    r.status = QString::fromLatin1(toString(info.status));
    r.lastStep = info.lastStep;
    r.outputDir = QString::fromStdString(info.outputDir);
    r.configText = QString::fromStdString(info.configText);
    r.message = QString::fromStdString(info.message);
    r.peakMemoryBytes = info.peakMemoryBytes;
    if (const auto it = info.bestMetrics.find("eval/loss"); it != info.bestMetrics.end())
      r.bestEvalLoss = it->second;
    if (info.status == RunStatus::Running) {
      // Finished runs have both in their record; a running one only in its rows so far.
      for (const MetricPoint& p : s.metrics(info.id, "eval/loss")) {
        r.bestEvalLoss = r.bestEvalLoss ? std::min(*r.bestEvalLoss, p.value) : p.value;
      }
      for (const MemoryPoint& p : s.memory(info.id))
        r.peakMemoryBytes = std::max<qint64>(r.peakMemoryBytes, engineBytes(p));
    }
    r.startedAtMs = info.startedAtMs;
    if (info.startedAtMs) {
      if (info.endedAtMs)
        r.durationMs = *info.endedAtMs - *info.startedAtMs;
      else if (info.status == RunStatus::Running)
        r.durationMs = std::max<qint64>(0, nowMs - *info.startedAtMs);
    }
    auto parsed = m_parsed.find(info.id);
    if (parsed == m_parsed.end() || parsed->text != info.configText) {
      ParsedConfig p;
      p.text = info.configText;
      try {
        const RunConfig config =
            parseRunConfig(info.configText, "run " + std::to_string(info.id) + " config");
        if (config.adapter.method != TrainMethod::Full) p.rank = config.adapter.rank;
      } catch (const std::exception&) {
        // An unreadable stored config leaves the rank unknown; the diff shows nothing for it.
      }
      p.flat = RunConfigDiff::flatten(info.configText);
      parsed = m_parsed.insert(info.id, std::move(p));
    }
    r.rank = parsed->rank;
    r.flatConfig = parsed->flat;
    r.checkpoint = checkpointOf(r.outputDir);
    rows.push_back(std::move(r));
  }
  // Opening the store marks runs whose process died (a CLI run killed, or out of memory) as
  // interrupted; an open connection never looks again. While something is listed as running,
  // reopen now and then, so such a run does not stay "running" (undeletable) until a restart.
  if (anyRunning && nowMs - m_openedAtMs >= kReopenWhileRunningMs) m_store.reset();
  return rows;
}

QVector<RunCurve> RunStoreAccess::curves(const QVector<RunRow>& runs) {
  std::lock_guard<std::mutex> lock(m_mutex);
  RunStore& s = store();
  QVector<RunCurve> curves;
  for (const RunRow& run : runs) {
    RunCurve c;
    c.id = run.id;
    c.name = run.name;
    for (const MetricPoint& p : s.metrics(run.id, "train/loss")) {
      c.lossSteps.push_back(static_cast<double>(p.step));
      c.losses.push_back(p.value);
    }
    const std::vector<MemoryPoint> memory = s.memory(run.id);
    const std::int64_t t0 = memory.empty() ? 0 : memory.front().timestampMs;
    for (const MemoryPoint& p : memory) {
      c.memorySeconds.push_back(static_cast<double>(p.timestampMs - t0) / 1000.0);
      c.memoryMiB.push_back(static_cast<double>(engineBytes(p)) / (1024.0 * 1024.0));
    }
    curves.push_back(std::move(c));
  }
  return curves;
}

void RunStoreAccess::modify(const std::function<void(RunStore&)>& change) {
  std::lock_guard<std::mutex> lock(m_mutex);
  change(store());
}

} // namespace lorafa::ui
