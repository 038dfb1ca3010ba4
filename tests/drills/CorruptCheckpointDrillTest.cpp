// Corrupt-checkpoint drills (issue 11): a byte flipped in a real checkpoint written by `lorafa
// train` is found by its SHA-256 on load. `lorafa export` refuses, naming the folder, the file
// and the expected and found checksums; `lorafa resume` names it and continues from the previous
// intact checkpoint (or refuses when none is intact). Checkpoints written before checksums
// existed still load, reported as unverified.
#include "DrillSupport.h"

#include <nlohmann/json.hpp>

namespace lorafa::drills {
namespace {

struct KilledRun {
  TempRoot root;
  RunSpec spec;
  fs::path out, store;
  // An uninterrupted run, and a second one killed right after its checkpoint at `killAfterStep`.
  KilledRun(const std::string& name, RunSpec s, std::int64_t checkpointsBeforeKill) : root(name), spec(s) {
    writeTinyModel(root.path / "model");
    const fs::path straight = writeRunConfig(root.path, "straight", root.path / "out-straight", spec);
    EXPECT_EQ(runLorafa({"train", straight.string(), "--store", (root.path / "straight.db").string()}, root.path).exitCode, 0);
    out = root.path / "out";
    store = root.path / "runs.db";
    const fs::path config = writeRunConfig(root.path, "run", out, spec);
    ChildOptions options;
    options.faultKillAt = "checkpoint.committed:" + std::to_string(checkpointsBeforeKill);
    const ChildResult r = runLorafa({"train", config.string(), "--store", store.string()}, root.path, options);
    EXPECT_TRUE(r.killedBySigkill()) << r.describe();
  }
  fs::path checkpoint(std::int64_t step) const { return out / "checkpoints" / stepName(step); }
  fs::path finalCheckpoint(const fs::path& outputDir) const { return outputDir / "checkpoints" / stepName(spec.maxSteps); }
};

std::string recordedSum(const fs::path& checkpoint, const std::string& file) {
  std::istringstream list(readFile(checkpoint / kCheckpointChecksumsFile));
  std::string line;
  while (std::getline(list, line)) {
    if (line.size() > 66 && line.substr(66) == file) return line.substr(0, 64);
  }
  return {};
}

TEST(CorruptCheckpointDrill, AFlippedByteIsNamedAndResumeFallsBackToThePreviousCheckpoint) {
  KilledRun run("flip", RunSpec{}, 2); // checkpoints at steps 2 and 4
  ASSERT_EQ(checkpointSteps(run.out), (std::vector<std::int64_t>{2, 4}));
  const fs::path damaged = run.checkpoint(4) / "weights.safetensors";
  const std::string expected = recordedSum(run.checkpoint(4), "weights.safetensors");
  ASSERT_EQ(expected.size(), 64u);
  flipByte(damaged);
  const std::string found = Sha256::hexOfFile(damaged.string());
  ASSERT_NE(found, expected);

  // Export reads the newest checkpoint and refuses it.
  const ChildResult exported = runLorafa(
      {"export", "1", "--store", run.store.string(), "--adapter", (run.root.path / "adapter").string(), "--no-verify"}, run.root.path);
  EXPECT_EQ(exported.exitCode, 1) << exported.describe();
  EXPECT_NE(exported.err.find(damaged.string() + ": checksum mismatch in checkpoint " + run.checkpoint(4).string()),
            std::string::npos)
      << exported.err;
  EXPECT_NE(exported.err.find("expected " + expected), std::string::npos) << exported.err;
  EXPECT_NE(exported.err.find("found " + found), std::string::npos) << exported.err;
  EXPECT_FALSE(fs::exists(run.root.path / "adapter"));

  // Resume names the damaged checkpoint and continues from step 2 to the uninterrupted weights.
  const ChildResult resumed = runLorafa({"resume", "1", "--store", run.store.string()}, run.root.path);
  ASSERT_EQ(resumed.exitCode, 0) << resumed.describe();
  EXPECT_NE(resumed.err.find("skipping a damaged checkpoint: " + damaged.string() + ": checksum mismatch"), std::string::npos)
      << resumed.err;
  EXPECT_NE(resumed.out.find("resuming from the previous intact checkpoint " + run.checkpoint(2).string()), std::string::npos)
      << resumed.out;
  EXPECT_NE(resumed.out.find("resumed from " + run.checkpoint(2).string() + " at step 2 (checksums verified)"), std::string::npos)
      << resumed.out;
  expectSameWeights(run.finalCheckpoint(run.out), run.finalCheckpoint(run.root.path / "out-straight"));
  EXPECT_EQ(expectAllCheckpointsVerify(run.out), 2); // the damaged step 4 was written anew
}

TEST(CorruptCheckpointDrill, ResumeRefusesWhenNoCheckpointIsIntact) {
  RunSpec spec;
  spec.keepLast = 1;
  KilledRun run("only", spec, 1); // killed right after its first checkpoint: the only one
  ASSERT_EQ(checkpointSteps(run.out), (std::vector<std::int64_t>{2}));
  const fs::path damaged = run.checkpoint(2) / "optimizer.safetensors";
  flipByte(damaged, fs::file_size(damaged) / 2);
  const ChildResult resumed = runLorafa({"resume", "1", "--store", run.store.string()}, run.root.path);
  EXPECT_EQ(resumed.exitCode, 2) << resumed.describe();
  EXPECT_NE(resumed.err.find(damaged.string() + ": checksum mismatch"), std::string::npos) << resumed.err;
  EXPECT_NE(resumed.err.find("run 1 has no intact checkpoint in " + run.out.string()), std::string::npos) << resumed.err;
  EXPECT_TRUE(fs::exists(run.checkpoint(2))) << "a damaged checkpoint is reported, never deleted";
}

TEST(CorruptCheckpointDrill, AMissingChecksumListIsReportedAndAnOldCheckpointLoadsUnverified) {
  KilledRun run("legacy", RunSpec{}, 2);
  // Step 4 loses its list although its trainer_state.json declares one: damaged.
  fs::remove(run.checkpoint(4) / kCheckpointChecksumsFile);
  const ChildResult exported = runLorafa(
      {"export", "1", "--store", run.store.string(), "--adapter", (run.root.path / "adapter").string(), "--no-verify"}, run.root.path);
  EXPECT_EQ(exported.exitCode, 1) << exported.describe();
  EXPECT_NE(exported.err.find((run.checkpoint(4) / kCheckpointChecksumsFile).string() + ": missing, although trainer_state.json"),
            std::string::npos)
      << exported.err;
  // Step 4 as written before checksums existed: no list and no declaration. It loads, unverified.
  const fs::path statePath = run.checkpoint(4) / "trainer_state.json";
  nlohmann::ordered_json state = nlohmann::ordered_json::parse(readFile(statePath));
  state.erase("checksums");
  std::ofstream(statePath) << state.dump(2) << "\n";
  const ChildResult resumed = runLorafa({"resume", "1", "--store", run.store.string()}, run.root.path);
  ASSERT_EQ(resumed.exitCode, 0) << resumed.describe();
  EXPECT_NE(resumed.out.find("resumed from " + run.checkpoint(4).string() + " at step 4 (unverified"), std::string::npos)
      << resumed.out;
  expectSameWeights(run.finalCheckpoint(run.out), run.finalCheckpoint(run.root.path / "out-straight"));
}

} // namespace
} // namespace lorafa::drills
