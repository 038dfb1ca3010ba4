// What the crash and full-disk drills share: a tiny GPT-2 and run configs on disk, the `lorafa`
// CLI started as a real child process (with fault injection, a file size limit or a SIGKILL at a
// chosen moment), and independent checks of what it left behind: SQLite's own integrity check,
// the metric rows another connection saw committed, checkpoint checksums and weights compared
// with an uninterrupted run.
#pragma once

#include "io/SafetensorsFile.h"
#include "io/Sha256.h"
#include "lorafa/CheckpointIntegrity.h"
#include "lorafa/Tokenizer.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include "ChildProcess.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <torch/torch.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lorafa::drills {

namespace fs = std::filesystem;

using testing::readFile;
using ChildResult = testing::ProcessResult;

/// A fresh folder "lorafa-drill-NAME-…" under the system's temporary folder, removed at the end.
struct TempRoot : testing::TempDir {
  explicit TempRoot(const std::string& name) : TempDir("drill-" + name) {}
};

struct ChildOptions {
  std::string faultKillAt;          ///< LORAFA_FAULT_KILL_AT for the child (none when empty)
  std::optional<rlim_t> fileSizeLimit; ///< RLIMIT_FSIZE in bytes, SIGXFSZ ignored: writes fail with EFBIG
};

/// A running `lorafa` child.
class Child : public testing::ChildProcess {
public:
  Child(const std::vector<std::string>& args, const fs::path& logDir, const ChildOptions& options = {})
      : ChildProcess(cliArguments(args), {{"LORAFA_FAULT_KILL_AT", options.faultKillAt}}, logDir,
                     options.fileSizeLimit) {}

private:
  static std::vector<std::string> cliArguments(const std::vector<std::string>& args) {
    std::vector<std::string> argv{LORAFA_CLI};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
};

inline ChildResult runLorafa(const std::vector<std::string>& args, const fs::path& logDir, const ChildOptions& options = {}) {
  Child child(args, logDir, options);
  return child.wait();
}

/// A tiny random GPT-2 over the GPT-2 tokenizer, saved as a Hugging Face folder `dir`.
inline void writeTinyModel(const fs::path& dir) {
  const std::string fixtures = LORAFA_FIXTURES_DIR;
  const auto tokenizer = Tokenizer::load(fixtures + "/tokenizers/gpt2");
  const std::string json = R"({"model_type": "gpt2", "vocab_size": )" + std::to_string(tokenizer->vocabSize()) +
                           R"(, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 128, "eos_token_id": 50256})";
  auto model = createModel(ModelConfig::fromJson(json, "<tiny gpt2>"), torch::dtype(torch::kFloat));
  initializeRandom(*model, 3);
  saveModelCheckpoint(*model, dir.string());
}

struct RunSpec {
  std::string method = "lora-fa";
  std::int64_t maxSteps = 8;
  std::int64_t saveEvery = 2;
  std::int64_t keepLast = 2;
  std::int64_t evalEvery = 4;
};

/// A run config `<root>/<name>.yaml` training `<root>/model` into `outputDir`.
inline fs::path writeRunConfig(const fs::path& root, const std::string& name, const fs::path& outputDir, const RunSpec& spec) {
  const std::string fixtures = LORAFA_FIXTURES_DIR;
  const fs::path path = root / (name + ".yaml");
  std::ofstream(path) << "name: " << name << "\nmodel: " << (root / "model").string() << "\ntokenizer: " << fixtures
                      << "/tokenizers/gpt2\noutput_dir: " << outputDir.string() << "\nmethod: " << spec.method
                      << "\ndataset:\n  path: " << fixtures << "/data/alpaca.jsonl\n  validation_fraction: 0.2\n"
                      << "adapter:\n  rank: 4\n  dropout: 0.1\n  targets: c_attn,c_fc\n"
                      << "optim:\n  lr: " << (spec.method == "full" ? "1.0e-3" : "5.0e-3")
                      << "\n  schedule: cosine\n  warmup_steps: 2\n"
                      << "train:\n  max_steps: " << spec.maxSteps << "\n  batch_size: 2\n  max_seq_len: 64\n  eval_every: "
                      << spec.evalEvery << "\n  save_every: " << spec.saveEvery << "\n  keep_last: " << spec.keepLast
                      << "\n  seed: 5\n  device: cpu\n";
  return path;
}

inline std::string stepName(std::int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%08lld", static_cast<long long>(step));
  return name;
}

/// Steps of the complete checkpoint folders (`step-*` with a trainer_state.json), ascending.
inline std::vector<std::int64_t> checkpointSteps(const fs::path& outputDir) {
  std::vector<std::int64_t> steps;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(outputDir / "checkpoints", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("step-", 0) == 0 && fs::exists(e.path() / "trainer_state.json")) steps.push_back(std::stoll(name.substr(5)));
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

/// Names in `dir` starting with `prefix` (leftovers of interrupted writes).
inline std::vector<std::string> entriesStartingWith(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) found.push_back(name);
  }
  return found;
}

/// Every checkpoint folder verifies against its checksums; returns how many there are.
inline int expectAllCheckpointsVerify(const fs::path& outputDir) {
  int count = 0;
  for (std::int64_t step : checkpointSteps(outputDir)) {
    const fs::path folder = outputDir / "checkpoints" / stepName(step);
    try {
      EXPECT_EQ(verifyCheckpoint(folder.string()), CheckpointIntegrity::Verified) << folder;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "checkpoint does not verify: " << e.what();
    }
    ++count;
  }
  return count;
}

using MetricRow = std::tuple<std::int64_t, std::int64_t, std::string, double>; // run, step, name, value

/// The run store read with SQLite directly (not RunStore, which would mark a running run
/// interrupted): what another connection sees is what is committed.
class StoreReader {
public:
  explicit StoreReader(const fs::path& path, bool readOnly = true) {
    const int flags = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (sqlite3_open_v2(path.c_str(), &m_db, flags, nullptr) != SQLITE_OK) {
      m_error = m_db ? sqlite3_errmsg(m_db) : "cannot open";
    } else {
      sqlite3_busy_timeout(m_db, 2000);
    }
  }
  ~StoreReader() { sqlite3_close(m_db); }
  bool ok() const { return m_error.empty(); }
  const std::string& error() const { return m_error; }

  /// Every metric row; nullopt when the database could not be read right now (busy, not yet created).
  std::optional<std::set<MetricRow>> metrics() {
    if (!ok()) return std::nullopt;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(m_db, "SELECT run_id, step, name, value FROM metrics", -1, &stmt, nullptr) != SQLITE_OK) return std::nullopt;
    std::set<MetricRow> rows;
    int rc = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      rows.emplace(sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1),
                   reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2)), sqlite3_column_double(stmt, 3));
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) return std::nullopt;
    return rows;
  }

  /// The highest run id; 0 when there is none.
  std::int64_t newestRunId() {
    sqlite3_stmt* stmt = nullptr;
    std::int64_t id = 0;
    if (ok() && sqlite3_prepare_v2(m_db, "SELECT max(id) FROM runs", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      id = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return id;
  }

  /// PRAGMA integrity_check's answer ("ok" when the file is sound).
  std::string integrityCheck() {
    if (!ok()) return "cannot open: " + m_error;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(m_db, "PRAGMA integrity_check", -1, &stmt, nullptr) != SQLITE_OK) return sqlite3_errmsg(m_db);
    std::string result;
    while (sqlite3_step(stmt) == SQLITE_ROW) result += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return result;
  }

private:
  sqlite3* m_db = nullptr;
  std::string m_error;
};

/// Polls the store from another connection while a child writes to it; keeps the last snapshot.
class CommittedWatcher {
public:
  explicit CommittedWatcher(fs::path store) : m_store(std::move(store)) {}
  /// One more snapshot (call it right before a kill too).
  void poll() {
    if (!fs::exists(m_store)) return;
    StoreReader reader(m_store);
    if (auto rows = reader.metrics(); rows && rows->size() >= m_rows.size()) m_rows = std::move(*rows);
  }
  const std::set<MetricRow>& committed() const { return m_rows; }

private:
  fs::path m_store;
  std::set<MetricRow> m_rows;
};

/// Every row seen committed before the kill is still in the store, and SQLite finds the file sound.
inline void expectStoreKeptCommittedRows(const fs::path& store, const std::set<MetricRow>& committedBefore) {
  StoreReader reader(store, false);
  EXPECT_EQ(reader.integrityCheck(), "ok") << store;
  const auto after = reader.metrics();
  ASSERT_TRUE(after) << "cannot read the metrics of " << store;
  std::size_t lost = 0;
  for (const MetricRow& row : committedBefore) {
    if (after->count(row) == 0) ++lost;
  }
  EXPECT_EQ(lost, 0u) << "metric rows committed before the kill are missing (of " << committedBefore.size() << ")";
}

/// The weights of a checkpoint folder equal, bit for bit, those of another.
inline void expectSameWeights(const fs::path& a, const fs::path& b) {
  const auto x = SafetensorsFile::open((a / "weights.safetensors").string());
  const auto y = SafetensorsFile::open((b / "weights.safetensors").string());
  ASSERT_EQ(x->tensors().size(), y->tensors().size());
  for (const auto& info : x->tensors()) {
    ASSERT_TRUE(y->contains(info.name)) << info.name;
    EXPECT_TRUE(torch::equal(x->load(info.name), y->load(info.name))) << info.name << " differs from the uninterrupted run";
  }
}

/// SHA-256 of every file in a folder (name → digest): a folder's exact content.
inline std::map<std::string, std::string> folderDigest(const fs::path& dir) {
  std::map<std::string, std::string> digest;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file()) digest[e.path().filename().string()] = Sha256::hexOfFile(e.path().string());
  }
  return digest;
}

/// Flips one byte of a file in place (at `offset` from the end).
inline void flipByte(const fs::path& file, std::uintmax_t offsetFromEnd = 1) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  const auto size = fs::file_size(file);
  f.seekg(static_cast<std::streamoff>(size - offsetFromEnd));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5A);
  f.seekp(static_cast<std::streamoff>(size - offsetFromEnd));
  f.write(&c, 1);
}

} // namespace lorafa::drills
