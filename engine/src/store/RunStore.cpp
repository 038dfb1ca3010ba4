#include "lorafa/RunStore.h"

#include "SqliteDatabase.h"
#include "lorafa/FaultInjection.h"
#include "lorafa/StoreError.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include <unistd.h>

namespace lorafa {
namespace {

constexpr int kOpenFlags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
constexpr std::size_t kBatchRows = 512;
constexpr auto kBatchDelay = std::chrono::milliseconds(100);

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string hostName() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

bool processAlive(std::int64_t pid) {
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

std::string metricsJson(const std::map<std::string, double>& metrics) { return nlohmann::json(metrics).dump(); }

std::map<std::string, double> parseMetrics(const std::string& text) {
  try {
    return nlohmann::json::parse(text).get<std::map<std::string, double>>();
  } catch (const std::exception&) {
    return {}; // written by us; an unreadable value is shown as no metrics rather than failing a listing
  }
}

// Each step brings the schema from version N-1 to N; all run in one transaction.
void migrate(const SqliteDatabase& db, int from) {
  if (from < 1) {
    db.exec(R"sql(
      CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        method TEXT NOT NULL DEFAULT '',
        model_path TEXT NOT NULL DEFAULT '',
        dataset_path TEXT NOT NULL DEFAULT '',
        config TEXT NOT NULL DEFAULT '',
        output_dir TEXT NOT NULL DEFAULT '',
        resumed_from INTEGER REFERENCES runs(id) ON DELETE SET NULL,
        created_at_ms INTEGER NOT NULL,
        started_at_ms INTEGER,
        ended_at_ms INTEGER,
        peak_memory_bytes INTEGER NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '',
        final_metrics TEXT NOT NULL DEFAULT '{}',
        best_metrics TEXT NOT NULL DEFAULT '{}',
        owner_pid INTEGER,
        owner_host TEXT
      );
      CREATE TABLE metrics (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        name TEXT NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (run_id, name, step)
      ) WITHOUT ROWID;
      CREATE TABLE memory_samples (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        timestamp_ms INTEGER NOT NULL,
        step INTEGER NOT NULL,
        cpu_bytes INTEGER NOT NULL,
        cuda_bytes INTEGER NOT NULL,
        device_bytes INTEGER NOT NULL
      );
      CREATE INDEX memory_samples_by_run ON memory_samples(run_id, timestamp_ms);
      CREATE TABLE events (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        timestamp_ms INTEGER NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL
      );
      CREATE INDEX events_by_run ON events(run_id, timestamp_ms);
    )sql");
  }
  db.setUserVersion(RunStore::kSchemaVersion);
}

void configure(const SqliteDatabase& db) {
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA synchronous = NORMAL"); // with WAL: durable at checkpoints, never corrupt
}

struct Pending {
  enum class Kind { Metric, Memory, Event } kind;
  std::int64_t runId;
  MetricPoint metric;
  MemoryPoint memory;
  RunEvent event;
};

} // namespace

const char* toString(RunStatus status) {
  switch (status) {
  case RunStatus::Created: return "created";
  case RunStatus::Running: return "running";
  case RunStatus::Completed: return "completed";
  case RunStatus::Failed: return "failed";
  case RunStatus::Stopped: return "stopped";
  case RunStatus::Interrupted: return "interrupted";
  }
  return "unknown";
}

std::optional<RunStatus> parseRunStatus(const std::string& text) {
  for (RunStatus s : {RunStatus::Created, RunStatus::Running, RunStatus::Completed, RunStatus::Failed,
                      RunStatus::Stopped, RunStatus::Interrupted}) {
    if (text == toString(s)) return s;
  }
  return std::nullopt;
}

struct RunStore::Impl {
  std::string path;
  std::unique_ptr<SqliteDatabase> db;     // run records and reads
  std::unique_ptr<SqliteDatabase> writer; // the writer thread's own connection
  std::vector<std::int64_t> interrupted;

  std::mutex mutex;
  std::condition_variable wake;
  std::condition_variable committed;
  std::deque<Pending> queue;
  std::uint64_t enqueued = 0;
  std::uint64_t written = 0;
  bool stopping = false;
  bool flushing = false;
  std::string writerError;
  std::thread thread;

  void writerLoop();
  void writeBatch(std::deque<Pending>& batch);
  void enqueue(Pending item);
  void checkWriter() {
    if (!writerError.empty()) throw StoreError(path + ": writing metrics failed: " + writerError);
  }
};

void RunStore::Impl::enqueue(Pending item) {
  std::lock_guard<std::mutex> lock(mutex);
  checkWriter();
  queue.push_back(std::move(item));
  ++enqueued;
  // The first row of a batch wakes the writer, which then gathers for kBatchDelay; without it a
  // trickle of rows (one metric per step, a few memory samples a second) would wait for a full
  // batch, and readers (the studio's Runs page, `lorafa runs show`) would see a live run stand still.
  if (queue.size() == 1 || queue.size() >= kBatchRows) wake.notify_one();
}

void RunStore::Impl::writeBatch(std::deque<Pending>& batch) {
  SqliteTransaction tx(*writer);
  SqliteStatement metric =
      writer->prepare("INSERT OR REPLACE INTO metrics(run_id, step, name, value) VALUES (?, ?, ?, ?)");
  SqliteStatement memorySample = writer->prepare(
      "INSERT INTO memory_samples(run_id, timestamp_ms, step, cpu_bytes, cuda_bytes, device_bytes) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  SqliteStatement event = writer->prepare("INSERT INTO events(run_id, timestamp_ms, level, message) VALUES (?, ?, ?, ?)");
  for (const Pending& p : batch) {
    switch (p.kind) {
    case Pending::Kind::Metric:
      metric.bind(1, p.runId).bind(2, p.metric.step).bind(3, p.metric.name).bind(4, p.metric.value).run();
      metric.reset();
      break;
    case Pending::Kind::Memory:
      memorySample.bind(1, p.runId)
          .bind(2, p.memory.timestampMs)
          .bind(3, p.memory.step)
          .bind(4, p.memory.cpuBytes)
          .bind(5, p.memory.cudaBytes)
          .bind(6, p.memory.deviceBytes)
          .run();
      memorySample.reset();
      break;
    case Pending::Kind::Event:
      event.bind(1, p.runId).bind(2, p.event.timestampMs).bind(3, p.event.level).bind(4, p.event.message).run();
      event.reset();
      break;
    }
  }
  faultPoint("store.before-commit"); // crash drills: the batch is written, not yet committed
  tx.commit();
}

void RunStore::Impl::writerLoop() {
  std::unique_lock<std::mutex> lock(mutex);
  for (;;) {
    wake.wait(lock, [&] { return stopping || flushing || !queue.empty(); });
    if (!stopping && !flushing && queue.size() < kBatchRows) {
      // Let a batch gather; a flush or a full batch cuts the wait short.
      wake.wait_for(lock, kBatchDelay, [&] { return stopping || flushing || queue.size() >= kBatchRows; });
    }
    std::deque<Pending> batch;
    batch.swap(queue);
    const std::uint64_t upTo = enqueued;
    if (!batch.empty() && writerError.empty()) {
      lock.unlock();
      std::string error;
      try {
        writeBatch(batch);
      } catch (const std::exception& e) {
        error = e.what();
      }
      lock.lock();
      if (!error.empty()) writerError = error;
    }
    written = upTo;
    flushing = false;
    committed.notify_all();
    if (stopping && queue.empty()) return;
  }
}

RunStore::RunStore(const std::string& path) : m_impl(std::make_unique<Impl>()) {
  Impl& s = *m_impl;
  s.path = path;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) throw StoreError(path + ": cannot create its folder: " + ec.message());
  }
  s.db = std::make_unique<SqliteDatabase>(path, kOpenFlags);
  // A file from a newer version is refused before anything (even the journal mode) changes.
  const int version = s.db->userVersion();
  if (version > kSchemaVersion) {
    throw StoreError(path + ": the run history was written by a newer LoRA-FA Studio (schema " +
                     std::to_string(version) + ", this version reads up to " + std::to_string(kSchemaVersion) +
                     "); it was left untouched");
  }
  const std::string journal = [&] {
    SqliteStatement mode = s.db->prepare("PRAGMA journal_mode = WAL");
    mode.step();
    return mode.text(0);
  }();
  if (journal != "wal") throw StoreError(path + ": cannot switch the database to WAL mode (got " + journal + ")");
  configure(*s.db);
  {
    SqliteTransaction tx(*s.db);
    const int current = s.db->userVersion(); // again, inside the transaction: another process may have migrated
    if (current < kSchemaVersion) migrate(*s.db, current);

    // Runs left running by a process on this machine that no longer exists were interrupted.
    const std::string host = hostName();
    SqliteStatement running = s.db->prepare("SELECT id, owner_pid, owner_host FROM runs WHERE status = 'running'");
    while (running.step()) {
      const std::optional<std::int64_t> pid = running.optionalInteger(1);
      const bool sameHost = running.isNull(2) || running.text(2) == host;
      if (sameHost && !(pid && processAlive(*pid))) s.interrupted.push_back(running.integer(0));
    }
    SqliteStatement mark = s.db->prepare(
        "UPDATE runs SET status = 'interrupted', ended_at_ms = ?, owner_pid = NULL, "
        "message = 'the process running it ended without finishing it (crash, kill or power loss)' WHERE id = ?");
    for (std::int64_t id : s.interrupted) {
      mark.bind(1, nowMs()).bind(2, id).run();
      mark.reset();
    }
    tx.commit();
  }
  s.writer = std::make_unique<SqliteDatabase>(path, kOpenFlags);
  configure(*s.writer);
  s.thread = std::thread([&s] { s.writerLoop(); });
}

RunStore::~RunStore() {
  {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    m_impl->stopping = true;
  }
  m_impl->wake.notify_one();
  m_impl->thread.join();
}

const std::string& RunStore::path() const { return m_impl->path; }
const std::vector<std::int64_t>& RunStore::interruptedOnOpen() const { return m_impl->interrupted; }

std::int64_t RunStore::createRun(const NewRun& run) {
  SqliteStatement insert = m_impl->db->prepare(
      "INSERT INTO runs(name, status, method, model_path, dataset_path, config, output_dir, resumed_from, "
      "created_at_ms) VALUES (?, 'created', ?, ?, ?, ?, ?, ?, ?)");
  insert.bind(1, run.name)
      .bind(2, run.method)
      .bind(3, run.modelPath)
      .bind(4, run.datasetPath)
      .bind(5, run.configText)
      .bind(6, run.outputDir)
      .bind(7, run.resumedFrom)
      .bind(8, nowMs())
      .run();
  return sqlite3_last_insert_rowid(m_impl->db->handle());
}

void RunStore::startRun(std::int64_t runId) {
  SqliteStatement update = m_impl->db->prepare(
      "UPDATE runs SET status = 'running', started_at_ms = COALESCE(started_at_ms, ?), owner_pid = ?, "
      "owner_host = ?, message = '' WHERE id = ?");
  update.bind(1, nowMs()).bind(2, static_cast<std::int64_t>(::getpid())).bind(3, hostName()).bind(4, runId).run();
  if (sqlite3_changes(m_impl->db->handle()) == 0) throw StoreError(m_impl->path + ": no run " + std::to_string(runId));
}

void RunStore::finishRun(std::int64_t runId, RunStatus status, const std::string& message,
                         const std::map<std::string, double>& finalMetrics,
                         const std::map<std::string, double>& bestMetrics, std::int64_t peakMemoryBytes) {
  flush();
  SqliteStatement update = m_impl->db->prepare(
      "UPDATE runs SET status = ?, message = ?, final_metrics = ?, best_metrics = ?, ended_at_ms = ?, "
      "peak_memory_bytes = MAX(peak_memory_bytes, ?), owner_pid = NULL WHERE id = ?");
  update.bind(1, std::string(toString(status)))
      .bind(2, message)
      .bind(3, metricsJson(finalMetrics))
      .bind(4, metricsJson(bestMetrics))
      .bind(5, nowMs())
      .bind(6, peakMemoryBytes)
      .bind(7, runId)
      .run();
  if (sqlite3_changes(m_impl->db->handle()) == 0) throw StoreError(m_impl->path + ": no run " + std::to_string(runId));
}

void RunStore::deleteRun(std::int64_t runId) {
  flush();
  SqliteStatement del = m_impl->db->prepare("DELETE FROM runs WHERE id = ?");
  del.bind(1, runId).run();
  if (sqlite3_changes(m_impl->db->handle()) == 0) throw StoreError(m_impl->path + ": no run " + std::to_string(runId));
}

void RunStore::renameRun(std::int64_t runId, const std::string& name) {
  SqliteStatement update = m_impl->db->prepare("UPDATE runs SET name = ? WHERE id = ?");
  update.bind(1, name).bind(2, runId).run();
  if (sqlite3_changes(m_impl->db->handle()) == 0) throw StoreError(m_impl->path + ": no run " + std::to_string(runId));
}

void RunStore::appendMetrics(std::int64_t runId, const std::vector<MetricPoint>& points) {
  for (const MetricPoint& p : points) m_impl->enqueue(Pending{Pending::Kind::Metric, runId, p, {}, {}});
}

void RunStore::appendMemory(std::int64_t runId, const MemoryPoint& point) {
  m_impl->enqueue(Pending{Pending::Kind::Memory, runId, {}, point, {}});
}

void RunStore::appendEvent(std::int64_t runId, const RunEvent& event) {
  m_impl->enqueue(Pending{Pending::Kind::Event, runId, {}, {}, event});
}

void RunStore::flush() {
  Impl& s = *m_impl;
  std::unique_lock<std::mutex> lock(s.mutex);
  const std::uint64_t target = s.enqueued;
  s.flushing = true;
  s.wake.notify_one();
  s.committed.wait(lock, [&] { return s.written >= target; });
  s.checkWriter();
}

namespace {

RunInfo readRun(const SqliteStatement& q) {
  RunInfo r;
  r.id = q.integer(0);
  r.name = q.text(1);
  r.status = parseRunStatus(q.text(2)).value_or(RunStatus::Interrupted);
  r.method = q.text(3);
  r.modelPath = q.text(4);
  r.datasetPath = q.text(5);
  r.configText = q.text(6);
  r.outputDir = q.text(7);
  r.resumedFrom = q.optionalInteger(8);
  r.createdAtMs = q.integer(9);
  r.startedAtMs = q.optionalInteger(10);
  r.endedAtMs = q.optionalInteger(11);
  r.peakMemoryBytes = q.integer(12);
  r.message = q.text(13);
  r.finalMetrics = parseMetrics(q.text(14));
  r.bestMetrics = parseMetrics(q.text(15));
  r.lastStep = q.isNull(16) ? -1 : q.integer(16);
  return r;
}

// A macro so that the queries below stay single literals (SqlText): joined at compile time.
#define LORAFA_RUN_COLUMNS \
  "SELECT id, name, status, method, model_path, dataset_path, config, output_dir, resumed_from, created_at_ms, " \
  "started_at_ms, ended_at_ms, peak_memory_bytes, message, final_metrics, best_metrics, " \
  "(SELECT MAX(step) FROM metrics WHERE metrics.run_id = runs.id) FROM runs"

} // namespace

std::vector<RunInfo> RunStore::listRuns() const {
  SqliteStatement q = m_impl->db->prepare(LORAFA_RUN_COLUMNS " ORDER BY id DESC");
  std::vector<RunInfo> runs;
  while (q.step()) runs.push_back(readRun(q));
  return runs;
}

std::optional<RunInfo> RunStore::run(std::int64_t runId) const {
  SqliteStatement q = m_impl->db->prepare(LORAFA_RUN_COLUMNS " WHERE id = ?");
  q.bind(1, runId);
  if (!q.step()) return std::nullopt;
  return readRun(q);
}

std::vector<MetricPoint> RunStore::metrics(std::int64_t runId, const std::string& name) const {
  SqliteStatement q = m_impl->db->prepare(
      "SELECT step, name, value FROM metrics WHERE run_id = ? AND (? = '' OR name = ?) ORDER BY step, name");
  q.bind(1, runId).bind(2, name).bind(3, name);
  std::vector<MetricPoint> out;
  while (q.step()) out.push_back({q.integer(0), q.text(1), q.real(2)});
  return out;
}

std::vector<MemoryPoint> RunStore::memory(std::int64_t runId) const {
  SqliteStatement q = m_impl->db->prepare(
      "SELECT timestamp_ms, step, cpu_bytes, cuda_bytes, device_bytes FROM memory_samples WHERE run_id = ? "
      "ORDER BY timestamp_ms, rowid");
  q.bind(1, runId);
  std::vector<MemoryPoint> out;
  while (q.step()) out.push_back({q.integer(0), q.integer(1), q.integer(2), q.integer(3), q.integer(4)});
  return out;
}

std::vector<RunEvent> RunStore::events(std::int64_t runId) const {
  SqliteStatement q =
      m_impl->db->prepare("SELECT timestamp_ms, level, message FROM events WHERE run_id = ? ORDER BY timestamp_ms, rowid");
  q.bind(1, runId);
  std::vector<RunEvent> out;
  while (q.step()) out.push_back({q.integer(0), q.text(1), q.text(2)});
  return out;
}

std::string defaultRunStorePath(const char* xdgDataHome, const char* home) {
  std::filesystem::path base;
  if (xdgDataHome != nullptr && xdgDataHome[0] == '/') {
    base = xdgDataHome; // the XDG spec ignores relative values
  } else {
    base = std::filesystem::path(home != nullptr && home[0] != '\0' ? home : ".") / ".local" / "share";
  }
  return (base / "lorafa-studio" / "runs.db").string();
}

} // namespace lorafa
