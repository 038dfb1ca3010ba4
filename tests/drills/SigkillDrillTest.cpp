// SIGKILL drills (issue 11): `lorafa train`, `lorafa resume` and `lorafa export` killed for real,
// at seeded-random moments and at named points inside checkpoint, export and SQLite writes. After
// every kill: SQLite's integrity check passes, every metric row another connection saw committed
// is still there, every checkpoint verifies, and `lorafa resume` ends with the weights of a run
// that was never interrupted, bit for bit.
#include "DrillSupport.h"

namespace lorafa::drills {
namespace {

struct DrillRun {
  TempRoot root;
  fs::path reference; // output folder of the uninterrupted run
  RunSpec spec;
  explicit DrillRun(const std::string& name, RunSpec s) : root(name), spec(s) {
    writeTinyModel(root.path / "model");
    const fs::path config = writeRunConfig(root.path, "straight", root.path / "out-straight", spec);
    const ChildResult r = runLorafa({"train", config.string(), "--store", (root.path / "straight.db").string()}, root.path);
    EXPECT_EQ(r.exitCode, 0) << r.describe();
    reference = root.path / "out-straight";
  }
  fs::path finalCheckpoint(const fs::path& outputDir) const { return outputDir / "checkpoints" / stepName(spec.maxSteps); }
};

// The metric history of a chain of runs (run i+1 resumed from run i): per step, the value of the
// latest run that reached it. Values a killed run recorded for steps its successor repeated must
// be the same (a repeated step computes the same numbers).
std::map<std::int64_t, double> chainedLosses(const fs::path& store) {
  StoreReader reader(store);
  const auto rows = reader.metrics();
  std::map<std::int64_t, std::map<std::int64_t, double>> byRun;
  if (rows) {
    for (const auto& [run, step, name, value] : *rows) {
      if (name == "train/loss") byRun[run][step] = value;
    }
  }
  std::map<std::int64_t, double> chain;
  for (const auto& [run, losses] : byRun) {
    for (const auto& [step, value] : losses) {
      const auto earlier = chain.find(step);
      if (earlier != chain.end()) {
        EXPECT_EQ(earlier->second, value) << "run " << run << " repeated step " << step << " differently";
      }
      chain[step] = value;
    }
  }
  return chain;
}

void expectSameHistory(const fs::path& store, const fs::path& referenceStore, std::int64_t steps) {
  const auto chain = chainedLosses(store);
  const auto reference = chainedLosses(referenceStore);
  ASSERT_EQ(reference.size(), static_cast<std::size_t>(steps));
  ASSERT_EQ(chain.size(), static_cast<std::size_t>(steps)) << "steps missing from the history";
  for (const auto& [step, value] : reference) EXPECT_EQ(chain.at(step), value) << "train/loss of step " << step;
}

TEST(SigkillDrill, RandomKillsDuringTrainingLoseNothingAndResumeToTheSameWeights) {
  RunSpec spec;
  // 48 steps: on an idle machine a run gets through about three steps between kills, so 24 steps
  // could end before the 8th kill (seen in CI); the drill stops killing after 10 anyway.
  spec.maxSteps = 48;
  spec.saveEvery = 1;
  spec.keepLast = 2;
  spec.evalEvery = 6;
  DrillRun setup("random", spec);
  const fs::path& root = setup.root.path;
  const fs::path out = root / "out-killed";
  const fs::path store = root / "killed.db";
  const fs::path config = writeRunConfig(root, "killed", out, spec);
  std::mt19937 random(20261129); // seeded: the same kill moments on every run of the drill
  const int wantedKills = 10;
  int kills = 0;
  std::int64_t runId = 1;
  std::int64_t lastStep = 0;
  bool finished = false;
  while (!finished) {
    const std::vector<std::string> args =
        kills == 0 ? std::vector<std::string>{"train", config.string(), "--store", store.string()}
                                 : std::vector<std::string>{"resume", std::to_string(runId), "--store", store.string()};
    Child child(args, root);
    CommittedWatcher watcher(store);
    bool killed = false;
    if (kills < wantedKills) {
      // Wait for progress past the previous kill, then let a random 0-400 ms pass: the kill lands
      // anywhere in a step, an evaluation, a checkpoint write or a metrics commit.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (child.running() && std::chrono::steady_clock::now() < deadline) {
        const auto steps = checkpointSteps(out);
        if (!steps.empty() && steps.back() > lastStep) break;
        watcher.poll();
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
      }
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(random() % 400);
      while (child.running() && std::chrono::steady_clock::now() < until) {
        watcher.poll();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (child.running()) {
        watcher.poll(); // the last view of what is committed, then the kill
        child.sigkill();
        killed = true;
      }
    }
    const ChildResult r = child.wait();
    if (killed && r.killedBySigkill()) {
      ++kills;
      expectStoreKeptCommittedRows(store, watcher.committed());
      ASSERT_GE(expectAllCheckpointsVerify(out), 1) << "no checkpoint after kill " << kills;
      const auto steps = checkpointSteps(out);
      EXPECT_GE(steps.back(), lastStep) << "a checkpoint that existed before the kill is gone";
      // Every step up to the newest checkpoint has its loss committed (the trainer flushes the
      // store before it writes a checkpoint).
      std::set<std::int64_t> logged;
      const auto rows = StoreReader(store).metrics();
      ASSERT_TRUE(rows);
      for (const auto& [run, step, name, value] : *rows) {
        if (name == "train/loss") logged.insert(step);
      }
      for (std::int64_t s = 1; s <= steps.back(); ++s) EXPECT_EQ(logged.count(s), 1u) << "train/loss of step " << s << " lost";
      lastStep = steps.back();
      runId = StoreReader(store).newestRunId(); // the killed run: the next resume continues it
      std::cout << "[ drill    ] kill " << kills << " of run " << runId << ": newest checkpoint step " << lastStep << std::endl;
    } else {
      ASSERT_EQ(r.exitCode, 0) << r.describe();
      finished = true;
    }
  }
  EXPECT_GE(kills, 8) << "the run finished before the drill could kill it often enough";
  expectSameWeights(setup.finalCheckpoint(out), setup.finalCheckpoint(setup.reference));
  expectSameHistory(store, root / "straight.db", spec.maxSteps);
  for (const std::string prefix : {".partial-", ".pruned-"}) {
    EXPECT_TRUE(entriesStartingWith(out / "checkpoints", prefix).empty()) << "temporary checkpoint folders left behind: " << prefix;
  }
  StoreReader reader(store);
  EXPECT_EQ(reader.integrityCheck(), "ok");
}

struct PointCase {
  const char* point;       // LORAFA_FAULT_KILL_AT
  std::int64_t newestStep; // the newest complete checkpoint after the kill (save_every 2)
  const char* leftover;    // prefix of the folder left for the next write to remove ("" for none)
};

class CheckpointPointDrill : public ::testing::TestWithParam<PointCase> {};

TEST_P(CheckpointPointDrill, KillInsideACheckpointWriteKeepsThePreviousOneAndResumes) {
  const PointCase c = GetParam();
  RunSpec spec; // 8 steps, a checkpoint every 2
  DrillRun setup(std::string("point-") + c.point, spec);
  const fs::path& root = setup.root.path;
  const fs::path out = root / "out-killed";
  const fs::path store = root / "killed.db";
  const fs::path config = writeRunConfig(root, "killed", out, spec);
  ChildOptions options;
  options.faultKillAt = c.point;
  const ChildResult killed = runLorafa({"train", config.string(), "--store", store.string()}, root, options);
  ASSERT_TRUE(killed.killedBySigkill()) << killed.describe();
  EXPECT_NE(killed.err.find(std::string("SIGKILL at ") + std::string(c.point).substr(0, std::string(c.point).find(':'))),
            std::string::npos);
  StoreReader reader(store);
  EXPECT_EQ(reader.integrityCheck(), "ok");
  EXPECT_EQ(expectAllCheckpointsVerify(out), c.newestStep / 2 > 2 ? 2 : static_cast<int>(c.newestStep / 2));
  ASSERT_FALSE(checkpointSteps(out).empty());
  EXPECT_EQ(checkpointSteps(out).back(), c.newestStep);
  for (const std::string prefix : {".partial-", ".pruned-"}) {
    EXPECT_EQ(!entriesStartingWith(out / "checkpoints", prefix).empty(), prefix == c.leftover) << prefix;
  }

  const ChildResult resumed = runLorafa({"resume", "1", "--store", store.string()}, root);
  ASSERT_EQ(resumed.exitCode, 0) << resumed.describe();
  EXPECT_NE(resumed.out.find("(checksums verified)"), std::string::npos) << resumed.out;
  expectSameWeights(setup.finalCheckpoint(out), setup.finalCheckpoint(setup.reference));
  expectSameHistory(store, root / "straight.db", spec.maxSteps);
  for (const std::string prefix : {".partial-", ".pruned-"}) {
    EXPECT_TRUE(entriesStartingWith(out / "checkpoints", prefix).empty()) << "the next write did not clean up " << prefix;
  }
}

INSTANTIATE_TEST_SUITE_P(Points, CheckpointPointDrill,
                         ::testing::Values(PointCase{"checkpoint.after-weights:2", 2, ".partial-"},
                                           PointCase{"checkpoint.before-checksums:2", 2, ".partial-"},
                                           // the 2nd checkpoint's 2nd file (optimizer), before its rename
                                           PointCase{"atomic-file.before-rename:7", 2, ".partial-"},
                                           PointCase{"checkpoint.before-swap:2", 2, ".partial-"},
                                           PointCase{"checkpoint.committed:2", 4, ""},
                                           // step 6 written, step 2 renamed aside and not yet deleted
                                           PointCase{"checkpoint.pruning:1", 6, ".pruned-"}),
                         [](const auto& info) {
                           std::string name = info.param.point;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

TEST(SigkillDrill, KillInsideASqliteCommitKeepsTheStoreSoundAndEveryCommittedRow) {
  RunSpec spec;
  DrillRun setup("sqlite", spec);
  const fs::path& root = setup.root.path;
  const fs::path out = root / "out-killed";
  const fs::path store = root / "killed.db";
  const fs::path config = writeRunConfig(root, "killed", out, spec);
  // Run 1 dies right after its first checkpoint; run 2 (its resume) dies inside a metrics commit:
  // the batch is written into the WAL, not yet committed. Besides its timed batches (about every
  // 100 ms), the writer commits whatever is queued before each checkpoint, and run 2 saves steps
  // 4, 6 and 8 with the metrics of new steps queued each time: its 3rd commit happens by the
  // flush before step 8 at the latest, however fast or slow the machine (a 6th one did not
  // always come on a fast one).
  ChildOptions first;
  first.faultKillAt = "checkpoint.committed:1";
  ASSERT_TRUE(runLorafa({"train", config.string(), "--store", store.string()}, root, first).killedBySigkill());
  ChildOptions inCommit;
  inCommit.faultKillAt = "store.before-commit:3";
  Child child({"resume", "1", "--store", store.string()}, root, inCommit);
  CommittedWatcher watcher(store);
  watcher.poll();
  const std::size_t before = watcher.committed().size();
  while (child.running()) {
    watcher.poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const ChildResult r = child.wait();
  ASSERT_TRUE(r.killedBySigkill()) << r.describe();
  EXPECT_NE(r.err.find("SIGKILL at store.before-commit"), std::string::npos) << r.err;
  EXPECT_GT(before, 0u) << "run 1's rows were not seen committed";
  expectStoreKeptCommittedRows(store, watcher.committed());
  expectAllCheckpointsVerify(out);
  const ChildResult resumed = runLorafa({"resume", "2", "--store", store.string()}, root);
  ASSERT_EQ(resumed.exitCode, 0) << resumed.describe();
  expectSameWeights(setup.finalCheckpoint(out), setup.finalCheckpoint(setup.reference));
  expectSameHistory(store, root / "straight.db", spec.maxSteps);
}

// Exports: `lorafa export --force` over an earlier export, killed inside the write. The target is
// always either the previous export, byte for byte, or the complete new one; never half-written.
struct ExportCase {
  const char* point;
  bool targetIsNew; // after the kill, the target holds the new export (else the previous one)
};

class ExportPointDrill : public ::testing::TestWithParam<ExportCase> {};

TEST_P(ExportPointDrill, KillInsideAnExportLeavesThePreviousOrTheNewFolderWhole) {
  const ExportCase c = GetParam();
  TempRoot rootDir(std::string("export-") + c.point);
  const fs::path& root = rootDir.path;
  writeTinyModel(root / "model");
  RunSpec spec;
  spec.maxSteps = 4;
  spec.keepLast = 2;
  const fs::path out = root / "out";
  const fs::path store = root / "runs.db";
  const fs::path config = writeRunConfig(root, "run", out, spec);
  ASSERT_EQ(runLorafa({"train", config.string(), "--store", store.string()}, root).exitCode, 0);
  const fs::path target = root / "exported";
  const fs::path fresh = root / "exported-reference";
  // The previous export from step 2, the reference of the new one from step 4.
  const ChildResult first = runLorafa({"export", "1", "--store", store.string(), "--adapter", target.string(), "--checkpoint",
                                       (out / "checkpoints" / stepName(2)).string(), "--no-verify"},
                                      root);
  ASSERT_EQ(first.exitCode, 0) << first.describe();
  ASSERT_EQ(runLorafa({"export", "1", "--store", store.string(), "--adapter", fresh.string(), "--no-verify"}, root).exitCode, 0);
  const auto previous = folderDigest(target);
  const auto next = folderDigest(fresh);
  ASSERT_NE(previous.at("adapter_model.safetensors"), next.at("adapter_model.safetensors"));

  ChildOptions options;
  options.faultKillAt = c.point;
  const ChildResult killed =
      runLorafa({"export", "1", "--store", store.string(), "--adapter", target.string(), "--force", "--no-verify"}, root, options);
  ASSERT_TRUE(killed.killedBySigkill()) << killed.describe();
  const auto after = folderDigest(target);
  if (c.targetIsNew) {
    EXPECT_EQ(after.at("adapter_model.safetensors"), next.at("adapter_model.safetensors"));
    EXPECT_EQ(after.at("adapter_config.json"), next.at("adapter_config.json"));
  } else {
    EXPECT_EQ(after, previous) << "the previous export was changed by a killed export";
  }
  // A retry cleans up what the killed one left and writes the new export whole.
  const ChildResult retry =
      runLorafa({"export", "1", "--store", store.string(), "--adapter", target.string(), "--force", "--no-verify"}, root);
  ASSERT_EQ(retry.exitCode, 0) << retry.describe();
  EXPECT_EQ(folderDigest(target).at("adapter_model.safetensors"), next.at("adapter_model.safetensors"));
  EXPECT_TRUE(entriesStartingWith(root, "exported.tmp-").empty()) << "staging folders left behind";
  EXPECT_TRUE(entriesStartingWith(root, "exported.old-").empty()) << "previous copies left behind";
  StoreReader reader(store);
  EXPECT_EQ(reader.integrityCheck(), "ok");
}

INSTANTIATE_TEST_SUITE_P(Points, ExportPointDrill,
                         ::testing::Values(ExportCase{"atomic-file.before-rename:1", false},
                                           ExportCase{"export.before-commit", false},
                                           ExportCase{"export.after-swap", true}),
                         [](const auto& info) {
                           std::string name = info.param.point;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

} // namespace
} // namespace lorafa::drills
