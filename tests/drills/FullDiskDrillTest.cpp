// Full-disk drills (issue 11): a checkpoint write and an export that run out of space, with a real
// limit: RLIMIT_FSIZE set in the child before exec (SIGXFSZ ignored, so writes fail with EFBIG), and
// a small tmpfs filled up (ENOSPC) when the test may mount one. Each must end with a clear error
// naming the file and the system's reason, no crash, the previous checkpoint or export intact, no
// temporary files left, and the run resumable once space is back.
#include "DrillSupport.h"

#include <cerrno>
#include <cstring>

#include <sys/mount.h>
#include <sys/statvfs.h>

namespace lorafa::drills {
namespace {

struct Reference {
  TempRoot root;
  RunSpec spec;
  Reference(const std::string& name, RunSpec s) : root(name), spec(s) {
    writeTinyModel(root.path / "model");
    const fs::path config = writeRunConfig(root.path, "straight", root.path / "out-straight", spec);
    const ChildResult r = runLorafa({"train", config.string(), "--store", (root.path / "straight.db").string()}, root.path);
    EXPECT_EQ(r.exitCode, 0) << r.describe();
  }
  fs::path finalCheckpoint(const fs::path& outputDir) const { return outputDir / "checkpoints" / stepName(spec.maxSteps); }
};

bool mentionsCheckpointFile(const std::string& text) {
  for (const char* name : {"weights.safetensors", "optimizer.safetensors", "rng.safetensors", "trainer_state.json", "checksums.sha256"}) {
    if (text.find(name) != std::string::npos) return true;
  }
  return false;
}

// Trains to the first checkpoint (step 2) and dies there, so a previous good checkpoint exists.
void trainUntilFirstCheckpointAndKill(const fs::path& root, const fs::path& config, const fs::path& store) {
  ChildOptions options;
  options.faultKillAt = "checkpoint.committed:1";
  const ChildResult r = runLorafa({"train", config.string(), "--store", store.string()}, root, options);
  ASSERT_TRUE(r.killedBySigkill()) << r.describe();
}

// The resumed run fails writing its next checkpoint; everything else stays as it was.
void expectCheckpointWriteFailedCleanly(const ChildResult& r, const fs::path& out, const fs::path& store, const std::string& osError) {
  EXPECT_EQ(r.exitCode, 1) << r.describe();
  EXPECT_NE(r.err.find("cannot write checkpoint " + (out / "checkpoints" / stepName(4)).string()), std::string::npos) << r.err;
  EXPECT_TRUE(mentionsCheckpointFile(r.err)) << r.err;
  EXPECT_NE(r.err.find(osError), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the previous checkpoint " + (out / "checkpoints" / stepName(2)).string() + " is intact"), std::string::npos)
      << r.err;
  EXPECT_EQ(checkpointSteps(out), std::vector<std::int64_t>{2});
  EXPECT_EQ(expectAllCheckpointsVerify(out), 1);
  EXPECT_TRUE(entriesStartingWith(out / "checkpoints", ".partial-").empty()) << "temporary checkpoint folder left behind";
  StoreReader reader(store);
  EXPECT_EQ(reader.integrityCheck(), "ok");
}

void expectExportFailedCleanly(const ChildResult& r, const fs::path& target, const std::map<std::string, std::string>& previous,
                               const std::string& osError) {
  EXPECT_EQ(r.exitCode, 1) << r.describe();
  EXPECT_NE(r.err.find(osError), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(target.filename().string() + ".tmp-"), std::string::npos) << "the error names the file being written: " << r.err;
  EXPECT_EQ(folderDigest(target), previous) << "the previous export changed";
  EXPECT_TRUE(entriesStartingWith(target.parent_path(), target.filename().string() + ".tmp-").empty()) << "staging folder left behind";
  EXPECT_TRUE(entriesStartingWith(target.parent_path(), target.filename().string() + ".old-").empty());
}

TEST(FullDiskDrill, FileSizeLimitDuringACheckpointAndAnExport) {
  RunSpec spec;
  spec.method = "full"; // checkpoint and merged files of several MB, the run store far smaller
  spec.maxSteps = 6;
  Reference ref("fsize", spec);
  const fs::path& root = ref.root.path;
  const fs::path out = root / "out";
  const fs::path store = root / "runs.db";
  const fs::path config = writeRunConfig(root, "run", out, spec);
  trainUntilFirstCheckpointAndKill(root, config, store);
  ASSERT_GT(fs::file_size(out / "checkpoints" / stepName(2) / "weights.safetensors"), 4u << 20);

  ChildOptions limited;
  limited.fileSizeLimit = 2u << 20; // no file may grow past 2 MiB
  const ChildResult failed = runLorafa({"resume", "1", "--store", store.string()}, root, limited);
  expectCheckpointWriteFailedCleanly(failed, out, store, "File too large");

  // Space is back: the run continues from the intact checkpoint to the uninterrupted weights.
  const ChildResult resumed = runLorafa({"resume", "2", "--store", store.string()}, root);
  ASSERT_EQ(resumed.exitCode, 0) << resumed.describe();
  expectSameWeights(ref.finalCheckpoint(out), ref.finalCheckpoint(root / "out-straight"));

  // Export: a merged checkpoint replaced with --force while files may not grow past 2 MiB.
  const fs::path target = root / "merged";
  ASSERT_EQ(runLorafa({"export", "3", "--store", store.string(), "--merged", target.string(), "--no-verify"}, root).exitCode, 0);
  const auto previous = folderDigest(target);
  ASSERT_FALSE(previous.empty());
  const ChildResult exportFailed =
      runLorafa({"export", "3", "--store", store.string(), "--merged", target.string(), "--force", "--no-verify"}, root, limited);
  expectExportFailedCleanly(exportFailed, target, previous, "File too large");
  const ChildResult exported =
      runLorafa({"export", "3", "--store", store.string(), "--merged", target.string(), "--force"}, root);
  ASSERT_EQ(exported.exitCode, 0) << exported.describe();
}

// A tmpfs of `bytes` mounted at `dir` for the test's lifetime; skipped without root or mount.
struct Tmpfs {
  fs::path dir;
  bool mounted = false;
  std::string why;
  Tmpfs(fs::path d, std::size_t bytes) : dir(std::move(d)) {
    fs::create_directories(dir);
    if (::geteuid() != 0) {
      why = "not running as root, so no tmpfs can be mounted";
      return;
    }
    const std::string options = "size=" + std::to_string(bytes);
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      why = std::string("mount -t tmpfs failed: ") + std::strerror(errno);
      return;
    }
    mounted = true;
  }
  ~Tmpfs() {
    if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
  }
  // Fills the file system with `filler`, then frees `leave` bytes of it again.
  void fillLeaving(const fs::path& filler, std::size_t leave) const {
    {
      std::FILE* f = std::fopen(filler.c_str(), "wb");
      std::vector<char> block(1 << 16, 'x');
      while (std::fwrite(block.data(), 1, block.size(), f) == block.size()) {
      }
      std::fclose(f);
    }
    const auto size = fs::file_size(filler);
    fs::resize_file(filler, size > leave ? size - leave : 0);
  }
  std::uint64_t freeBytes() const {
    struct statvfs s {};
    ::statvfs(dir.c_str(), &s);
    return static_cast<std::uint64_t>(s.f_bavail) * s.f_frsize;
  }
};

TEST(FullDiskDrill, FullTmpfsDuringACheckpointAndAnExport) {
  RunSpec spec;
  spec.maxSteps = 6;
  Reference ref("tmpfs", spec);
  const fs::path& root = ref.root.path;
  Tmpfs disk(root / "disk", 24u << 20);
  if (!disk.mounted) GTEST_SKIP() << disk.why;
  const fs::path out = disk.dir / "out";
  const fs::path store = root / "runs.db"; // the store stays on the roomy disk
  const fs::path config = writeRunConfig(root, "run", out, spec);
  trainUntilFirstCheckpointAndKill(root, config, store);

  const fs::path filler = disk.dir / "filler";
  disk.fillLeaving(filler, 4096); // one page: less than one checkpoint needs
  ASSERT_LT(disk.freeBytes(), 64u << 10);
  const ChildResult failed = runLorafa({"resume", "1", "--store", store.string()}, root);
  expectCheckpointWriteFailedCleanly(failed, out, store, "No space left on device");

  fs::remove(filler);
  const ChildResult resumed = runLorafa({"resume", "2", "--store", store.string()}, root);
  ASSERT_EQ(resumed.exitCode, 0) << resumed.describe();
  expectSameWeights(ref.finalCheckpoint(out), ref.finalCheckpoint(root / "out-straight"));

  // Export: the merged model (several MB) replaced with --force on a disk with room for one copy.
  const fs::path target = disk.dir / "merged";
  const ChildResult first = runLorafa({"export", "3", "--store", store.string(), "--merged", target.string(), "--no-verify"}, root);
  ASSERT_EQ(first.exitCode, 0) << first.describe();
  const auto previous = folderDigest(target);
  disk.fillLeaving(filler, fs::file_size(target / "model.safetensors") / 2);
  const ChildResult exportFailed =
      runLorafa({"export", "3", "--store", store.string(), "--merged", target.string(), "--force", "--no-verify"}, root);
  expectExportFailedCleanly(exportFailed, target, previous, "No space left on device");
  fs::remove(filler);
  const ChildResult exported = runLorafa({"export", "3", "--store", store.string(), "--merged", target.string(), "--force"}, root);
  ASSERT_EQ(exported.exitCode, 0) << exported.describe();
}

} // namespace
} // namespace lorafa::drills
