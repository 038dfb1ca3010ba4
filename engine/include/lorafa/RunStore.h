#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lorafa {

enum class RunStatus { Created, Running, Completed, Failed, Stopped, Interrupted };

const char* toString(RunStatus status);
std::optional<RunStatus> parseRunStatus(const std::string& text);

/// What a new run is, as the caller knows it when it starts.
struct NewRun {
  std::string name;
  std::string method; ///< lora-fa, lora, full
  std::string modelPath;
  std::string datasetPath;
  std::string configText; ///< the run config as given (YAML or JSON)
  std::string outputDir;
  std::optional<std::int64_t> resumedFrom; ///< the run this one continues
};

/// One run as stored.
struct RunInfo {
  std::int64_t id = 0;
  std::string name;
  RunStatus status = RunStatus::Created;
  std::string method;
  std::string modelPath;
  std::string datasetPath;
  std::string configText;
  std::string outputDir;
  std::optional<std::int64_t> resumedFrom;
  std::int64_t createdAtMs = 0; ///< Unix time, milliseconds
  std::optional<std::int64_t> startedAtMs;
  std::optional<std::int64_t> endedAtMs;
  std::int64_t peakMemoryBytes = 0;
  std::string message; ///< why it failed / stopped / was interrupted
  std::map<std::string, double> finalMetrics;
  std::map<std::string, double> bestMetrics;
  std::int64_t lastStep = -1; ///< highest step with a stored metric, -1 when none
};

struct MetricPoint {
  std::int64_t step = 0;
  std::string name;
  double value = 0.0;
};

struct MemoryPoint {
  std::int64_t timestampMs = 0;
  std::int64_t step = 0;
  std::int64_t cpuBytes = 0;
  std::int64_t cudaBytes = 0;
  std::int64_t deviceBytes = 0;
};

struct RunEvent {
  std::int64_t timestampMs = 0;
  std::string level; ///< info, warning, error
  std::string message;
};

/// Run history in one SQLite file (WAL): runs, metrics, memory samples, events. Versioned schema
/// (PRAGMA user_version) migrated step by step in one transaction. Metrics, memory samples and
/// events are queued and written in batches by a writer thread; run records are written at once.
/// Opening marks runs left `running` by a process that no longer exists as `interrupted`.
class RunStore {
public:
  static constexpr int kSchemaVersion = 1;

  /// Opens or creates the database; throws StoreError naming the file on failure, including a
  /// file written by a newer version (user_version above kSchemaVersion).
  explicit RunStore(const std::string& path);
  ~RunStore(); ///< flushes queued rows
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const std::string& path() const;
  /// Runs this open found `running` with a dead owner and marked `interrupted`.
  const std::vector<std::int64_t>& interruptedOnOpen() const;

  std::int64_t createRun(const NewRun& run);
  /// Marks the run running and owned by this process.
  void startRun(std::int64_t runId);
  /// Ends a run: status, message, final/best metrics and peak memory. Flushes queued rows first.
  void finishRun(std::int64_t runId, RunStatus status, const std::string& message,
                 const std::map<std::string, double>& finalMetrics = {},
                 const std::map<std::string, double>& bestMetrics = {}, std::int64_t peakMemoryBytes = 0);
  void deleteRun(std::int64_t runId);
  /// Gives a run another name (shown in the history); throws StoreError when there is no such run.
  void renameRun(std::int64_t runId, const std::string& name);

  /// Queued; written by the writer thread within a fraction of a second.
  void appendMetrics(std::int64_t runId, const std::vector<MetricPoint>& points);
  void appendMemory(std::int64_t runId, const MemoryPoint& point);
  void appendEvent(std::int64_t runId, const RunEvent& event);
  /// Returns once everything queued so far is committed.
  void flush();

  std::vector<RunInfo> listRuns() const; ///< newest first
  std::optional<RunInfo> run(std::int64_t runId) const;
  /// All metrics of a run ordered by step and name; `name` empty for every name.
  std::vector<MetricPoint> metrics(std::int64_t runId, const std::string& name = {}) const;
  std::vector<MemoryPoint> memory(std::int64_t runId) const;
  std::vector<RunEvent> events(std::int64_t runId) const;

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

/// Where the run history lives by default: $XDG_DATA_HOME/lorafa-studio/runs.db, else
/// ~/.local/share/lorafa-studio/runs.db. The caller passes the environment's values.
std::string defaultRunStorePath(const char* xdgDataHome, const char* home);

} // namespace lorafa
