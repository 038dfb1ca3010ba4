// The run history on a real SQLite file: schema, lifecycle, batching, and crash survival.
#include "lorafa/RunStore.h"
#include "lorafa/StoreError.h"

#include <sqlite3.h>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

using namespace lorafa;

namespace {

class RunStoreTest : public ::testing::Test {
protected:
  void SetUp() override {
    m_dir = std::filesystem::temp_directory_path() /
            ("lorafa-store-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(m_dir);
    std::filesystem::create_directories(m_dir);
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }
  std::string db() const { return (m_dir / "history" / "runs.db").string(); }
  std::filesystem::path m_dir;
};

// An independent connection, for checks that must not go through RunStore.
struct RawDb {
  explicit RawDb(const std::string& path) { EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK); }
  ~RawDb() { sqlite3_close(db); }
  std::string text(const std::string& sql) const {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return out;
  }
  void exec(const std::string& sql) const {
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  }
  sqlite3* db = nullptr;
};

NewRun sampleRun(const std::string& name) {
  return {name, "lora-fa", "/models/tiny", "/data/alpaca.jsonl", "method: lora-fa\n", "/out/" + name, std::nullopt};
}

pid_t deadPid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child; // reaped: no such process any more
}

} // namespace

TEST_F(RunStoreTest, CreatesAVersionedWalDatabase) {
  { RunStore store(db()); }
  RawDb raw(db());
  EXPECT_EQ(raw.text("PRAGMA user_version"), std::to_string(RunStore::kSchemaVersion));
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.text("SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name)"),
            "events,memory_samples,metrics,runs");
}

TEST_F(RunStoreTest, RefusesADatabaseFromANewerVersionAndLeavesItAlone) {
  std::filesystem::create_directories(m_dir / "history");
  {
    RawDb raw(db());
    raw.exec("CREATE TABLE future(x); PRAGMA user_version = 99");
  }
  try {
    RunStore store(db());
    FAIL() << "opened a newer schema";
  } catch (const StoreError& error) {
    const std::string text = error.what();
    EXPECT_NE(text.find(db()), std::string::npos) << text;
    EXPECT_NE(text.find("newer"), std::string::npos) << text;
  }
  RawDb raw(db());
  EXPECT_EQ(raw.text("PRAGMA user_version"), "99");
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "delete") << "the journal mode was changed";
  EXPECT_EQ(raw.text("SELECT count(*) FROM sqlite_master WHERE name = 'runs'"), "0");
}

TEST_F(RunStoreTest, UnopenableFileIsAClearError) {
  std::filesystem::create_directories(m_dir / "history" / "runs.db"); // a folder where the file should be
  try {
    RunStore store(db());
    FAIL();
  } catch (const StoreError& error) {
    EXPECT_NE(std::string(error.what()).find(db()), std::string::npos) << error.what();
  }
}

TEST_F(RunStoreTest, RunLifecycleIsStoredAndReadBack) {
  std::int64_t id = 0;
  {
    RunStore store(db());
    id = store.createRun(sampleRun("first"));
    EXPECT_EQ(store.run(id)->status, RunStatus::Created);
    store.startRun(id);
    store.appendMetrics(id, {{0, "loss", 2.5}, {1, "loss", 2.0}, {1, "learning_rate", 1e-4}});
    store.appendMemory(id, {100, 1, 4096, 0, 0});
    store.appendEvent(id, {101, "info", "started"});
    store.finishRun(id, RunStatus::Completed, "", {{"eval_loss", 1.75}}, {{"eval_loss", 1.5}}, 123456);
  }
  RunStore store(db());
  EXPECT_TRUE(store.interruptedOnOpen().empty());
  const auto runs = store.listRuns();
  ASSERT_EQ(runs.size(), 1u);
  const RunInfo& r = runs[0];
  EXPECT_EQ(r.name, "first");
  EXPECT_EQ(r.status, RunStatus::Completed);
  EXPECT_EQ(r.method, "lora-fa");
  EXPECT_EQ(r.configText, "method: lora-fa\n");
  EXPECT_EQ(r.peakMemoryBytes, 123456);
  EXPECT_EQ(r.finalMetrics.at("eval_loss"), 1.75);
  EXPECT_EQ(r.bestMetrics.at("eval_loss"), 1.5);
  EXPECT_EQ(r.lastStep, 1);
  ASSERT_TRUE(r.startedAtMs && r.endedAtMs);
  EXPECT_LE(*r.startedAtMs, *r.endedAtMs);
  const auto loss = store.metrics(id, "loss");
  ASSERT_EQ(loss.size(), 2u);
  EXPECT_EQ(loss[1].value, 2.0);
  EXPECT_EQ(store.metrics(id).size(), 3u);
  ASSERT_EQ(store.memory(id).size(), 1u);
  EXPECT_EQ(store.memory(id)[0].cpuBytes, 4096);
  ASSERT_EQ(store.events(id).size(), 1u);
  EXPECT_EQ(store.events(id)[0].message, "started");
}

TEST_F(RunStoreTest, ReloggedStepReplacesInsteadOfDuplicating) {
  RunStore store(db());
  const std::int64_t id = store.createRun(sampleRun("resumed"));
  store.appendMetrics(id, {{5, "loss", 1.0}});
  store.appendMetrics(id, {{5, "loss", 0.9}}); // a resumed run logs step 5 again
  store.flush();
  const auto loss = store.metrics(id, "loss");
  ASSERT_EQ(loss.size(), 1u);
  EXPECT_EQ(loss[0].value, 0.9);
}

TEST_F(RunStoreTest, ManyMetricsAreBatchedAndAllCommittedByFlush) {
  RunStore store(db());
  const std::int64_t id = store.createRun(sampleRun("busy"));
  for (std::int64_t step = 0; step < 20000; ++step) store.appendMetrics(id, {{step, "loss", 1.0 / (step + 1)}});
  store.flush();
  RawDb raw(db());
  EXPECT_EQ(raw.text("SELECT count(*) FROM metrics WHERE run_id = " + std::to_string(id)), "20000");
  EXPECT_EQ(store.run(id)->lastStep, 19999);
}

TEST_F(RunStoreTest, AFewRowsBecomeVisibleToOtherConnectionsWithoutAFlush) {
  // A live run appends one metric per step: readers must see it soon, not after 512 rows.
  RunStore store(db());
  const std::int64_t id = store.createRun(sampleRun("live"));
  store.appendMetrics(id, {{1, "train/loss", 2.5}});
  store.appendMemory(id, MemoryPoint{1000, 1, 4096, 0, 0});
  RawDb raw(db());
  const std::string where = " WHERE run_id = " + std::to_string(id);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline &&
         (raw.text("SELECT count(*) FROM metrics" + where) != "1" ||
          raw.text("SELECT count(*) FROM memory_samples" + where) != "1")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(raw.text("SELECT count(*) FROM metrics" + where), "1");
  EXPECT_EQ(raw.text("SELECT count(*) FROM memory_samples" + where), "1");
}

TEST_F(RunStoreTest, DeleteRemovesTheRunAndItsRows) {
  RunStore store(db());
  const std::int64_t keep = store.createRun(sampleRun("keep"));
  const std::int64_t gone = store.createRun(sampleRun("gone"));
  store.appendMetrics(gone, {{0, "loss", 1.0}});
  store.appendMetrics(keep, {{0, "loss", 1.0}});
  store.deleteRun(gone);
  EXPECT_FALSE(store.run(gone).has_value());
  EXPECT_EQ(store.metrics(keep).size(), 1u);
  RawDb raw(db());
  EXPECT_EQ(raw.text("SELECT count(*) FROM metrics WHERE run_id = " + std::to_string(gone)), "0");
  EXPECT_THROW(store.deleteRun(gone), StoreError);
}

TEST_F(RunStoreTest, RenameChangesOnlyThatRunsName) {
  std::int64_t renamed = 0, other = 0;
  {
    RunStore store(db());
    renamed = store.createRun(sampleRun("before"));
    other = store.createRun(sampleRun("other"));
    store.appendMetrics(renamed, {{3, "train/loss", 0.5}});
    store.renameRun(renamed, "after \xC3\xA9 'quoted'");
    EXPECT_THROW(store.renameRun(other + 100, "x"), StoreError);
  }
  // A fresh connection (as another process would open it) sees the new name, the rest unchanged.
  RunStore reopened(db());
  EXPECT_EQ(reopened.run(renamed)->name, "after \xC3\xA9 'quoted'");
  EXPECT_EQ(reopened.run(renamed)->outputDir, "/out/before");
  EXPECT_EQ(reopened.run(renamed)->lastStep, 3);
  EXPECT_EQ(reopened.run(other)->name, "other");
  RawDb raw(db());
  EXPECT_EQ(raw.text("SELECT name FROM runs WHERE id = " + std::to_string(renamed)), "after \xC3\xA9 'quoted'");
}

TEST_F(RunStoreTest, RunsOfDeadProcessesAreMarkedInterruptedOnOpen) {
  std::int64_t orphan = 0, alive = 0;
  {
    RunStore store(db());
    orphan = store.createRun(sampleRun("orphan"));
    alive = store.createRun(sampleRun("alive"));
    store.startRun(orphan);
    store.startRun(alive);
  }
  {
    RawDb raw(db()); // the orphan's owner is gone; the other is owned by this (living) process
    raw.exec("UPDATE runs SET owner_pid = " + std::to_string(deadPid()) + " WHERE id = " + std::to_string(orphan));
  }
  RunStore store(db());
  EXPECT_EQ(store.interruptedOnOpen(), std::vector<std::int64_t>{orphan});
  EXPECT_EQ(store.run(orphan)->status, RunStatus::Interrupted);
  EXPECT_NE(store.run(orphan)->message.find("ended without finishing"), std::string::npos);
  EXPECT_EQ(store.run(alive)->status, RunStatus::Running);
}

TEST_F(RunStoreTest, SurvivesSigkillDuringHeavyWriting) {
  std::filesystem::create_directories(m_dir / "history");
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  const pid_t child = fork();
  if (child == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    execl(LORAFA_STORE_CRASH_CHILD, LORAFA_STORE_CRASH_CHILD, db().c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  FILE* lines = fdopen(out[0], "r");
  std::int64_t run = -1, lastCommitted = -1;
  char buffer[128];
  while (lastCommitted < 3000 && std::fgets(buffer, sizeof buffer, lines) != nullptr) {
    long long value = 0;
    if (std::sscanf(buffer, "run %lld", &value) == 1) run = value;
    if (std::sscanf(buffer, "committed %lld", &value) == 1) lastCommitted = value;
  }
  ::kill(child, SIGKILL); // in the middle of writing: it never stops between batches
  int status = 0;
  waitpid(child, &status, 0);
  std::fclose(lines);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the writer ended on its own";
  ASSERT_GE(lastCommitted, 3000) << "the child did not get far enough";

  {
    RawDb raw(db());
    EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
  }
  RunStore store(db());
  EXPECT_EQ(store.interruptedOnOpen(), std::vector<std::int64_t>{run});
  EXPECT_EQ(store.run(run)->status, RunStatus::Interrupted);
  // Every step reported committed is there, with no gap before it and no duplicate.
  const auto loss = store.metrics(run, "loss");
  ASSERT_GE(static_cast<std::int64_t>(loss.size()), lastCommitted + 1);
  for (std::int64_t step = 0; step < static_cast<std::int64_t>(loss.size()); ++step) {
    ASSERT_EQ(loss[step].step, step);
    EXPECT_DOUBLE_EQ(loss[step].value, 1.0 / (1.0 + step));
  }
}

TEST(RunStorePath, FollowsXdgDataHome) {
  EXPECT_EQ(defaultRunStorePath("/x/data", "/home/u"), "/x/data/lorafa-studio/runs.db");
  EXPECT_EQ(defaultRunStorePath(nullptr, "/home/u"), "/home/u/.local/share/lorafa-studio/runs.db");
  EXPECT_EQ(defaultRunStorePath("relative", "/home/u"), "/home/u/.local/share/lorafa-studio/runs.db");
}
