// Security checks of issue 11 that are about where data goes, not about parsing (the parsers are
// fuzzed in tests/fuzz): SQL only through prepared statements with literal text, hostile names
// stored verbatim, and a whole train + export run from the CLI writing nothing outside the
// folders the user chose.
#include "lorafa/RunStore.h"
#include "store/SqliteDatabase.h"

#include <sqlite3.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace lorafa;

// SQL text can only be a literal: run-time strings do not convert (compile-time guarantee; if
// someone adds such a constructor these fail to compile).
static_assert(std::is_constructible_v<SqlText, const char (&)[9]>, "a literal is SQL text");
static_assert(!std::is_constructible_v<SqlText, std::string>, "a std::string must not become SQL text");
static_assert(!std::is_constructible_v<SqlText, const std::string&>, "a std::string must not become SQL text");
static_assert(!std::is_constructible_v<SqlText, const char*>, "a run-time char pointer must not become SQL text");
static_assert(!std::is_constructible_v<SqlText, char (&)[16]>, "a writable buffer must not become SQL text");

namespace {

fs::path freshDir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("lorafa-security-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

int countRows(const std::string& db, const char* table) {
  sqlite3* handle = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  const std::string sql = std::string("SELECT COUNT(*) FROM ") + table; // test code, fixed table names
  int count = -1;
  if (sqlite3_prepare_v2(handle, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
    count = sqlite3_column_int(stmt, 0);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(handle);
  return count;
}

const char* const kHostileTexts[] = {
    "x'); DROP TABLE runs; --",
    "\"; DELETE FROM metrics; --",
    "Robert'); UPDATE runs SET status='failed' WHERE 1=1; --",
    "a percent %s %n, a backslash \\ and a quote '",
    "ünïcödé ✓ — and a newline\nsecond line",
};

} // namespace

TEST(SqlInjection, HostileNamesAndTextsAreStoredVerbatimAndRunNothing) {
  const fs::path dir = freshDir("sql");
  const std::string db = (dir / "runs.db").string();
  std::vector<std::int64_t> ids;
  {
    RunStore store(db);
    for (const char* text : kHostileTexts) {
      NewRun run;
      run.name = text;
      run.method = text;
      run.modelPath = text;
      run.datasetPath = text;
      run.configText = text;
      run.outputDir = text;
      const std::int64_t id = store.createRun(run);
      ids.push_back(id);
      store.appendMetrics(id, {{1, text, 0.5}});
      store.appendEvent(id, {1, "info", text});
      store.renameRun(id, std::string(text) + " (renamed)");
      store.finishRun(id, RunStatus::Stopped, text, {{text, 1.0}}, {{text, 2.0}}, 7);
    }
    store.flush();
  }
  // Every table still there with every row, read through an independent connection.
  const std::size_t n = std::size(kHostileTexts);
  EXPECT_EQ(countRows(db, "runs"), static_cast<int>(n));
  EXPECT_EQ(countRows(db, "metrics"), static_cast<int>(n));
  EXPECT_EQ(countRows(db, "events"), static_cast<int>(n));

  RunStore store(db);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string text = kHostileTexts[i];
    const auto run = store.run(ids[i]);
    ASSERT_TRUE(run.has_value());
    EXPECT_EQ(run->name, text + " (renamed)");
    EXPECT_EQ(run->configText, text);
    EXPECT_EQ(run->outputDir, text);
    EXPECT_EQ(run->message, text);
    EXPECT_EQ(run->status, RunStatus::Stopped);
    ASSERT_EQ(run->finalMetrics.count(text), 1u);
    const auto metrics = store.metrics(ids[i], text);
    ASSERT_EQ(metrics.size(), 1u);
    EXPECT_EQ(metrics[0].name, text);
    const auto events = store.events(ids[i]);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].message, text);
  }
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// A whole run from the command line — train, adapter export, merged export — in a sandbox whose
// HOME, XDG folders, TMPDIR and working directory are all inside one temporary root: afterwards
// every file under the root lies in the folders the user named (the run's output folder, the run
// history, the two export targets), nothing is left in TMPDIR or HOME, and the bundled model and
// dataset the run read are byte for byte and time for time as they were.

namespace {

struct FileState {
  std::uintmax_t size = 0;
  fs::file_time_type mtime;
  bool operator==(const FileState& o) const { return size == o.size && mtime == o.mtime; }
};

std::map<std::string, FileState> snapshot(const fs::path& root) {
  std::map<std::string, FileState> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) {
      files[fs::relative(entry.path(), root).string()] = {entry.file_size(), entry.last_write_time()};
    }
  }
  return files;
}

struct CliResult {
  int exitCode = -1;
  std::string output;
};

CliResult runCli(const std::vector<std::string>& args, const fs::path& cwd, const std::vector<std::string>& env,
                 const fs::path& logFile) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    const int fd = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) ::_exit(126);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CliResult r;
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(logFile);
  std::stringstream text;
  text << in.rdbuf();
  r.output = text.str();
  return r;
}

bool isUnder(const std::string& relative, const std::string& folder) {
  return relative == folder || relative.rfind(folder + "/", 0) == 0;
}

} // namespace

TEST(WritesStayInChosenFolders, TrainAndExportFromTheCliWriteOnlyWhereTheUserSaid) {
  const fs::path root = freshDir("sandbox");
  const fs::path logs = freshDir("sandbox-logs"); // the test's own captured output, outside root
  for (const char* d : {"home", "data", "config", "cache", "tmp", "work", "exports"}) fs::create_directories(root / d);
  const fs::path resources = LORAFA_RESOURCES_DIR;
  const fs::path model = resources / "demo" / "model";
  const fs::path data = resources / "demo" / "data";

  // The run config a user would write, with a hostile name; output_dir relative to the config.
  const fs::path config = root / "work" / "run.yaml";
  std::ofstream(config) << "name: \"x'); DROP TABLE runs; --\"\n"
                        << "model: " << model.string() << "\n"
                        << "output_dir: ../runs/demo\n"
                        << "method: lora-fa\n"
                        << "dataset:\n  path: " << (data / "kjv_books_train.jsonl").string() << "\n"
                        << "  eval_path: " << (data / "kjv_books_test.jsonl").string() << "\n"
                        << "  format: alpaca\n  template: plain\n"
                        << "adapter:\n  rank: 4\n  alpha: 8\n  targets: all-linear\n"
                        << "train:\n  max_steps: 2\n  batch_size: 4\n  max_seq_len: 64\n  eval_every: 2\n"
                        << "  save_every: 1\n  device: cpu\n"
                        << "eval:\n  generate_max_examples: 2\n  max_new_tokens: 2\n";

  const auto resourcesBefore = snapshot(resources / "demo");
  const auto before = snapshot(root);
  const std::vector<std::string> env = {
      "HOME=" + (root / "home").string(),          "XDG_DATA_HOME=" + (root / "data").string(),
      "XDG_CONFIG_HOME=" + (root / "config").string(), "XDG_CACHE_HOME=" + (root / "cache").string(),
      "TMPDIR=" + (root / "tmp").string(),         "PATH=/usr/bin:/bin",
      "OMP_NUM_THREADS=1",
  };
  const std::string cli = LORAFA_CLI;

  const CliResult train = runCli({cli, "train", config.string()}, root / "work", env, logs / "train.log");
  ASSERT_EQ(train.exitCode, 0) << train.output;
  const CliResult adapter =
      runCli({cli, "export", "1", "--adapter", (root / "exports" / "adapter").string()}, root / "work", env,
             logs / "adapter.log");
  ASSERT_EQ(adapter.exitCode, 0) << adapter.output;
  const CliResult merged =
      runCli({cli, "export", "1", "--merged", (root / "exports" / "merged").string()}, root / "work", env,
             logs / "merged.log");
  ASSERT_EQ(merged.exitCode, 0) << merged.output;

  // The folders the user named: the config's output_dir, the run history, the export targets.
  const std::vector<std::string> allowed = {"runs/demo", "data/lorafa-studio", "exports/adapter", "exports/merged"};
  const auto after = snapshot(root);
  int written = 0;
  for (const auto& [path, state] : after) {
    const auto old = before.find(path);
    if (old != before.end() && old->second == state) continue; // untouched
    ++written;
    const bool ok = std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) { return isUnder(path, a); });
    EXPECT_TRUE(ok) << "written outside the chosen folders: " << path;
  }
  EXPECT_GT(written, 10) << "the run and the exports wrote almost nothing: the check would prove nothing";
  EXPECT_TRUE(fs::exists(root / "runs/demo/checkpoints"));
  EXPECT_TRUE(fs::exists(root / "exports/adapter/adapter_model.safetensors"));
  EXPECT_TRUE(fs::exists(root / "exports/merged/config.json"));
  EXPECT_TRUE(fs::exists(root / "data/lorafa-studio/runs.db"));
  // Nothing left behind: no staging folders beside the targets, nothing in TMPDIR or HOME.
  std::vector<std::string> exportsEntries;
  for (const auto& e : fs::directory_iterator(root / "exports")) exportsEntries.push_back(e.path().filename().string());
  std::sort(exportsEntries.begin(), exportsEntries.end());
  EXPECT_EQ(exportsEntries, (std::vector<std::string>{"adapter", "merged"}));
  EXPECT_TRUE(fs::is_empty(root / "tmp"));
  EXPECT_TRUE(fs::is_empty(root / "home"));
  // The model and data the run read are unchanged.
  EXPECT_TRUE(snapshot(resources / "demo") == resourcesBefore) << "the bundled demo model or data changed";
  // The hostile name is just a name: the history has the run, under that name, finished.
  RunStore store((root / "data/lorafa-studio/runs.db").string());
  const auto runs = store.listRuns();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].name, "x'); DROP TABLE runs; --");
  EXPECT_EQ(runs[0].status, RunStatus::Completed);
  fs::remove_all(root);
  fs::remove_all(logs);
}
