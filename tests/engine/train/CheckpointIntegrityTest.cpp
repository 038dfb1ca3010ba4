// Checkpoint checksums: written last, in sha256sum's format, verified on load; a damaged,
// incomplete or malformed checkpoint is named; an old one without checksums loads unverified.
#include "io/Sha256.h"
#include "lorafa/CheckpointIntegrity.h"
#include "lorafa/FaultInjection.h"
#include "train/Checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lorafa {
namespace {

namespace fs = std::filesystem;

struct Dir {
  fs::path path = fs::temp_directory_path() / ("lorafa-ckpt-integrity-" + std::to_string(std::random_device{}()));
  Dir() { fs::create_directories(path); }
  ~Dir() { fs::remove_all(path); }
};

CheckpointData sample(float value) {
  CheckpointData data;
  data.position.step = 3;
  data.weights.emplace_back("layer.lora_B", torch::full({4, 3}, value));
  data.optimizerState.emplace_back("layer.lora_B/exp_avg", torch::full({4, 3}, value / 2));
  data.optimizerState.emplace_back("layer.lora_B/exp_avg_sq", torch::full({4, 3}, value / 4));
  data.rngStates.emplace_back("cpu", torch::arange(16, torch::kUInt8));
  data.configJson = "{}";
  return data;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(CheckpointIntegrityTest, ChecksumsAreWrittenInSha256sumFormatAndVerify) {
  Dir dir;
  const std::string folder = checkpointFolder(dir.path.string(), 3);
  writeCheckpoint(folder, sample(1.0f));
  const std::string list = slurp(fs::path(folder) / kCheckpointChecksumsFile);
  for (const char* name : {"optimizer.safetensors", "rng.safetensors", "trainer_state.json", "weights.safetensors"}) {
    const std::string line = Sha256::hexOfFile((fs::path(folder) / name).string()) + "  " + name + "\n";
    EXPECT_NE(list.find(line), std::string::npos) << name;
  }
  EXPECT_EQ(std::count(list.begin(), list.end(), '\n'), 4);
  EXPECT_EQ(verifyCheckpoint(folder), CheckpointIntegrity::Verified);
  EXPECT_EQ(readCheckpoint(folder).integrity, CheckpointIntegrity::Verified);
  // The list checks with the standard tool too, when it is there.
  if (std::system("command -v sha256sum >/dev/null 2>&1") == 0) {
    EXPECT_EQ(std::system(("cd '" + folder + "' && sha256sum --quiet -c checksums.sha256").c_str()), 0);
  }
}

TEST(CheckpointIntegrityTest, AFlippedByteIsNamedWithBothChecksums) {
  Dir dir;
  const std::string folder = checkpointFolder(dir.path.string(), 3);
  writeCheckpoint(folder, sample(1.0f));
  const fs::path file = fs::path(folder) / "rng.safetensors";
  const std::string expected = Sha256::hexOfFile(file.string());
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');
  }
  const std::string found = Sha256::hexOfFile(file.string());
  try {
    readCheckpoint(folder);
    FAIL() << "a damaged checkpoint loaded";
  } catch (const CheckpointCorruptError& e) {
    EXPECT_EQ(e.path(), file.string());
    const std::string what = e.what();
    EXPECT_NE(what.find("checksum mismatch in checkpoint " + folder), std::string::npos) << what;
    EXPECT_NE(what.find("expected " + expected), std::string::npos) << what;
    EXPECT_NE(what.find("found " + found), std::string::npos) << what;
  }
}

TEST(CheckpointIntegrityTest, ResumeSearchSkipsADamagedNewestCheckpoint) {
  Dir dir;
  const fs::path checkpoints = dir.path / "checkpoints";
  writeCheckpoint(checkpointFolder(checkpoints.string(), 2), sample(1.0f));
  writeCheckpoint(checkpointFolder(checkpoints.string(), 4), sample(2.0f));
  EXPECT_EQ(newestIntactCheckpointIn(dir.path.string()).directory, checkpointFolder(checkpoints.string(), 4));
  fs::remove(fs::path(checkpointFolder(checkpoints.string(), 4)) / "weights.safetensors");
  const IntactCheckpoint intact = newestIntactCheckpointIn(dir.path.string());
  EXPECT_EQ(intact.directory, checkpointFolder(checkpoints.string(), 2));
  ASSERT_EQ(intact.rejected.size(), 1u);
  EXPECT_NE(intact.rejected[0].find("weights.safetensors: missing from checkpoint"), std::string::npos) << intact.rejected[0];
}

TEST(CheckpointIntegrityTest, MalformedOrIncompleteListsAreRejected) {
  Dir dir;
  const std::string folder = checkpointFolder(dir.path.string(), 3);
  writeCheckpoint(folder, sample(1.0f));
  const fs::path list = fs::path(folder) / kCheckpointChecksumsFile;
  const std::string good = slurp(list);
  std::ofstream(list, std::ios::binary) << good.substr(0, good.size() - 1); // last line cut
  EXPECT_THROW(verifyCheckpoint(folder), CheckpointCorruptError);
  std::ofstream(list, std::ios::binary) << "xyz  weights.safetensors\n";
  try {
    verifyCheckpoint(folder);
    FAIL();
  } catch (const CheckpointCorruptError& e) {
    EXPECT_NE(std::string(e.what()).find("line 1: expected"), std::string::npos) << e.what();
  }
  std::ofstream(list, std::ios::binary) << good.substr(good.find('\n') + 1); // one file not listed
  try {
    verifyCheckpoint(folder);
    FAIL();
  } catch (const CheckpointCorruptError& e) {
    EXPECT_NE(std::string(e.what()).find("does not list optimizer.safetensors"), std::string::npos) << e.what();
  }
  fs::remove(list);
  EXPECT_THROW(verifyCheckpoint(folder), CheckpointCorruptError); // declared in trainer_state.json
}

TEST(CheckpointIntegrityTest, ACheckpointFromBeforeChecksumsLoadsUnverified) {
  Dir dir;
  const std::string folder = checkpointFolder(dir.path.string(), 3);
  writeCheckpoint(folder, sample(1.0f));
  fs::remove(fs::path(folder) / kCheckpointChecksumsFile);
  const fs::path state = fs::path(folder) / "trainer_state.json";
  std::string text = slurp(state);
  const std::size_t key = text.find(",\n  \"checksums\"");
  ASSERT_NE(key, std::string::npos);
  text.erase(key, text.find('\n', key + 2) - key);
  std::ofstream(state, std::ios::binary) << text;
  EXPECT_EQ(verifyCheckpoint(folder), CheckpointIntegrity::Unverified);
  const CheckpointData data = readCheckpoint(folder);
  EXPECT_EQ(data.integrity, CheckpointIntegrity::Unverified);
  EXPECT_EQ(data.position.step, 3);
}

TEST(CheckpointIntegrityTest, RewritingAStepSwapsWholeFoldersAndLeavesNoTemporaries) {
  Dir dir;
  const std::string folder = checkpointFolder(dir.path.string(), 3);
  writeCheckpoint(folder, sample(1.0f));
  writeCheckpoint(folder, sample(5.0f));
  EXPECT_TRUE(torch::equal(readCheckpoint(folder).weights[0].second, torch::full({4, 3}, 5.0f)));
  for (const auto& e : fs::directory_iterator(dir.path)) {
    EXPECT_EQ(e.path().filename().string(), "step-00000003") << "left behind: " << e.path();
  }
}

TEST(CheckpointIntegrityTest, LeftoversOfADeadWriterAreRemovedByTheNextWrite) {
  Dir dir;
  // A pid that is certainly dead: a child that has exited and been reaped.
  const pid_t child = ::fork();
  if (child == 0) _exit(0);
  ::waitpid(child, nullptr, 0);
  const fs::path stale = dir.path / (".partial-step-00000002-" + std::to_string(child) + "-123");
  const fs::path mine = dir.path / (".partial-step-00000009-" + std::to_string(::getppid()) + "-9"); // a live process
  fs::create_directories(stale);
  fs::create_directories(mine);
  writeCheckpoint(checkpointFolder(dir.path.string(), 3), sample(1.0f));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(mine)) << "a live writer's folder must not be touched";
}

TEST(CheckpointIntegrityTest, AFileSizeLimitFailsTheWriteAndKeepsThePreviousCheckpoint) {
  Dir dir;
  const std::string folder = checkpointFolder(dir.path.string(), 3);
  writeCheckpoint(folder, sample(1.0f));
  CheckpointData big = sample(2.0f);
  big.weights.emplace_back("big", torch::ones({64 * 1024}));
  // In a child process: RLIMIT_FSIZE applies to the whole process.
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{64 * 1024, 64 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    try {
      writeCheckpoint(folder, big);
      _exit(10);
    } catch (const std::system_error& e) {
      const std::string what = e.what();
      _exit(e.code().value() == EFBIG && what.find("weights.safetensors") != std::string::npos ? 0 : 11);
    } catch (...) {
      _exit(12);
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: no error, 11: not EFBIG naming the file, 12: another exception";
  EXPECT_EQ(verifyCheckpoint(folder), CheckpointIntegrity::Verified);
  EXPECT_TRUE(torch::equal(readCheckpoint(folder).weights[0].second, torch::full({4, 3}, 1.0f)));
  for (const auto& e : fs::directory_iterator(dir.path)) EXPECT_EQ(e.path().filename().string(), "step-00000003");
}

TEST(CheckpointIntegrityTest, FaultSpecsAreParsedStrictly) {
  EXPECT_THROW(armFaultKillFromSpec("checkpoint.committed:"), std::invalid_argument);
  EXPECT_THROW(armFaultKillFromSpec("checkpoint.committed:0"), std::invalid_argument);
  EXPECT_THROW(armFaultKillFromSpec("checkpoint.committed:x"), std::invalid_argument);
  EXPECT_THROW(armFaultKillFromSpec(":2"), std::invalid_argument);
  // Armed for a point this process never reaches (it would kill the test otherwise).
  EXPECT_NO_THROW(armFaultKillFromSpec("test.never-reached:3"));
  faultPoint("checkpoint.committed");
}

} // namespace
} // namespace lorafa
