// Data-parallel LoRA-FA for real: `lorafa train --nproc 2` starts two processes that join a c10d
// Gloo process group on loopback (TCP store), each training its half of every global batch.
//  - Their checkpoint equals (within fp32 reordering, see kRelTol) one process trained on the
//    same global batch, and rank 0 alone writes the run store and the checkpoints.
//  - SIGKILL of rank 1 ends rank 0 with a clear error (no hang), and `lorafa resume` (which
//    relaunches two processes from the run's distributed.json) finishes the run.
#include "io/SafetensorsFile.h"
#include "lorafa/Distributed.h"
#include "lorafa/RunStore.h"
#include "lorafa/Tokenizer.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include <ATen/ops/abs.h>
#include <ATen/ops/max.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lorafa {
namespace {

namespace fs = std::filesystem;

/// Starts the CLI with stdout and stderr in files; waits for it unless `pid` is asked for.
int runCli(const std::vector<std::string>& args, const fs::path& log, pid_t* pid = nullptr) {
  const pid_t child = fork();
  if (child == 0) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(LORAFA_CLI));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    ::setenv("OMP_NUM_THREADS", "1", 1);
    execv(LORAFA_CLI, argv.data());
    _exit(127);
  }
  if (pid) {
    *pid = child;
    return 0;
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string readText(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::int64_t latestStep(const fs::path& checkpoints) {
  std::int64_t best = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(checkpoints, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("step-", 0) == 0 && fs::exists(e.path() / "trainer_state.json")) best = std::max<std::int64_t>(best, std::stoll(name.substr(5)));
  }
  return best;
}

/// The launcher's child whose environment says LORAFA_RANK=`rank`.
pid_t rankPid(pid_t launcher, int rank) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid != launcher) continue;
    const std::string environ = readText(e.path() / "environ");
    if (environ.find(std::string("LORAFA_RANK=") + std::to_string(rank) + '\0') != std::string::npos) return std::stoi(name);
  }
  return 0;
}

class DistributedTrainTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!distributedTrainingAvailable()) GTEST_SKIP() << "this build has no Gloo (Debian: libgloo-dev): no multi-process run";
    m_root = fs::temp_directory_path() / ("lorafa-dist-" + std::to_string(std::random_device{}()));
    fs::create_directories(m_root);
    const auto tokenizer = Tokenizer::load(fixtures() + "/tokenizers/gpt2");
    const std::string json = R"({"model_type": "gpt2", "vocab_size": )" + std::to_string(tokenizer->vocabSize()) +
                             R"(, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 128, "eos_token_id": 50256})";
    auto model = createModel(ModelConfig::fromJson(json, "<tiny gpt2>"), at::TensorOptions().dtype(at::kFloat));
    initializeRandom(*model, 3);
    saveModelCheckpoint(*model, (m_root / "model").string());
  }
  void TearDown() override {
    if (!m_root.empty()) fs::remove_all(m_root);
  }
  static std::string fixtures() { return LORAFA_FIXTURES_DIR; }

  /// LoRA-FA r4 without dropout (dropout draws per process: two ranks cannot draw one process's masks).
  fs::path writeConfig(const std::string& name, int batchSize, int steps, int saveEvery,
                       const std::string& method = "lora-fa") const {
    const fs::path path = m_root / (name + ".yaml");
    std::ofstream(path) << "model: model\ntokenizer: " << fixtures() << "/tokenizers/gpt2\noutput_dir: out-" << name
                        << "\nmethod: " << method << "\ndataset:\n  path: " << fixtures() << "/data/alpaca.jsonl\n  validation_fraction: 0.2\n"
                        << "adapter:\n  rank: 4\n  alpha: 8\n  dropout: 0.0\n  targets: c_attn,c_fc\n"
                        << "optim:\n  lr: 5.0e-3\n  weight_decay: 0.01\n  schedule: cosine\n  warmup_steps: 1\n"
                        << "train:\n  max_steps: " << steps << "\n  batch_size: " << batchSize << "\n  max_seq_len: 64\n"
                        << "  eval_every: 100\n  save_every: " << saveEvery << "\n  keep_last: 3\n  seed: 5\n  device: cpu\n";
    return path;
  }

  fs::path m_root;
};

// Tolerance. The all-reduce adds the two halves' fp32 gradients, where one process accumulates all
// rows' contributions in one backward: the same terms summed in another order, ~1e-7 relative
// apart. AdamW then divides each element by its own running RMS, which amplifies that noise for
// elements whose gradient is near zero (B starts at zero), so the weights after 4 steps agree to
// ~1e-5 of a tensor's largest weight, not to ulps (measured: 1.7e-5 at worst, on elements ~1e-2).
// Bound: 1e-4 relative to the tensor's largest |w| plus 1e-6 absolute (2e-4 of one lr-sized
// update). A shard mistake (ranks training the same rows) moves B by whole updates (~lr = 5e-3)
// and fails it; AdamW hides a gradient's scale, so the missing average (2× gradients) is caught by
// the grad-norm comparison below instead.
constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-6;

TEST_F(DistributedTrainTest, TwoProcessesMatchOneProcessWithTheSameGlobalBatch) {
  const int steps = 4;
  const fs::path single = writeConfig("single", 4, steps, 0);
  const fs::path dist = writeConfig("dist", 2, steps, 0); // 2 rows per rank × 2 ranks = the same 4 rows
  ASSERT_EQ(runCli({"train", single.string(), "--store", (m_root / "single.db").string()}, m_root / "single.log"), 0)
      << readText(m_root / "single.log");
  ASSERT_EQ(runCli({"train", dist.string(), "--store", (m_root / "dist.db").string(), "--nproc", "2", "--dist-timeout", "60"},
                   m_root / "dist.log"),
            0)
      << readText(m_root / "dist.log");
  const std::string log = readText(m_root / "dist.log");

  char last[64];
  std::snprintf(last, sizeof last, "checkpoints/step-%08d", steps);
  const auto a = SafetensorsFile::open((m_root / "out-single" / last / "weights.safetensors").string());
  const auto b = SafetensorsFile::open((m_root / "out-dist" / last / "weights.safetensors").string());
  ASSERT_EQ(a->tensors().size(), b->tensors().size());
  std::int64_t trainable = 0;
  double worst = 0.0;
  for (const auto& info : a->tensors()) {
    const at::Tensor x = a->load(info.name);
    const at::Tensor y = b->load(info.name);
    ASSERT_TRUE(x.sizes().equals(y.sizes())) << info.name;
    const double scale = x.abs().max().item<double>();
    const double diff = (x - y).abs().max().item<double>();
    if (diff / std::max(scale, 1e-12) > worst) {
      worst = diff / std::max(scale, 1e-12);
      std::cout << info.name << ": max |Δ| " << diff << " of max |w| " << scale << "\n";
    }
    EXPECT_LE(diff, kRelTol * scale + kAbsTol) << info.name << " differs: max |Δ| " << diff << " of max |w| " << scale;
    if (info.name.find(".lora_B") != std::string::npos) trainable += x.numel();
  }
  std::cout << "largest relative difference between 2 ranks and 1 process: " << worst << "\n";
  ASSERT_GT(trainable, 0);

  // The all-reduce sends exactly the trainable gradients (LoRA-FA: B only), fp32.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex("data parallel: ([0-9]+) bytes of gradients all-reduced per step"))) << log;
  EXPECT_EQ(std::stoll(m[1].str()), trainable * 4);

  // Rank 0 alone writes: one run in the store, one "run 1:" line, the same losses as one process.
  RunStore one((m_root / "single.db").string());
  RunStore two((m_root / "dist.db").string());
  ASSERT_EQ(two.listRuns().size(), 1u);
  EXPECT_EQ(two.run(1)->status, RunStatus::Completed);
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n') > 0, true);
  EXPECT_EQ(log.find("run 1:"), log.rfind("run 1:"));
  for (const char* metric : {"train/loss", "train/grad_norm"}) {
    const auto reference = one.metrics(1, metric);
    const auto values = two.metrics(1, metric);
    ASSERT_EQ(reference.size(), static_cast<std::size_t>(steps)) << metric;
    ASSERT_EQ(values.size(), reference.size()) << metric;
    for (std::size_t i = 0; i < values.size(); ++i) {
      EXPECT_NEAR(values[i].value, reference[i].value, 1e-4 * std::abs(reference[i].value)) << metric << " at step " << i + 1;
    }
  }

  // Resuming the one-process run on 2 ranks is allowed, with a warning that the global batch changes.
  ASSERT_EQ(runCli({"resume", "1", "--store", (m_root / "single.db").string(), "--nproc", "2"}, m_root / "resume.log"), 0)
      << readText(m_root / "resume.log");
  EXPECT_NE(readText(m_root / "resume.log").find("warning: the checkpoint was trained by 1 process(es), this run has 2"),
            std::string::npos)
      << readText(m_root / "resume.log");
}

TEST_F(DistributedTrainTest, KilledRankEndsTheOtherWithAClearErrorAndResumeFinishes) {
  const int steps = 10;
  const fs::path config = writeConfig("killed", 2, steps, 1);
  const fs::path db = m_root / "killed.db";
  pid_t launcher = 0;
  runCli({"train", config.string(), "--store", db.string(), "--nproc", "2", "--dist-timeout", "20"}, m_root / "killed.log",
         &launcher);
  const fs::path checkpoints = m_root / "out-killed" / "checkpoints";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (latestStep(checkpoints) < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const pid_t rank1 = rankPid(launcher, 1);
  ASSERT_GT(rank1, 0) << "rank 1 not found: " << readText(m_root / "killed.log");
  ASSERT_EQ(::kill(rank1, SIGKILL), 0);
  // No hang: the launcher must end (its ranks' collectives fail at once or after the 20 s timeout,
  // and it kills what is left 25 s after the first failure); 300 s is only this test's safety net.
  int status = 0;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  pid_t done = 0;
  while ((done = waitpid(launcher, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (done == 0) {
    ::kill(launcher, SIGKILL);
    waitpid(launcher, &status, 0);
    FAIL() << "the launcher hung after rank 1 was killed: " << readText(m_root / "killed.log");
  }
  const std::string log = readText(m_root / "killed.log");
  for (std::size_t at = log.find("error"); at != std::string::npos; at = log.find("error", log.find('\n', at))) {
    std::cout << log.substr(log.rfind('\n', at) + 1, log.find('\n', at) - log.rfind('\n', at)); // the errors, for the record
  }
  ASSERT_TRUE(WIFEXITED(status)) << log;
  EXPECT_EQ(WEXITSTATUS(status), 1) << log;
  EXPECT_NE(log.find("rank 1 (pid " + std::to_string(rank1) + ") was killed by signal 9"), std::string::npos) << log;
  const std::int64_t killedAt = latestStep(checkpoints);
  ASSERT_LT(killedAt, steps) << log;
  {
    RunStore store(db.string());
    ASSERT_TRUE(store.run(1));
    EXPECT_EQ(store.run(1)->status, RunStatus::Failed) << store.run(1)->message;
    EXPECT_NE(store.run(1)->message.find("another rank ended"), std::string::npos) << store.run(1)->message;
  }

  // resume relaunches 2 processes (the run's distributed.json) and finishes from the checkpoint.
  ASSERT_EQ(runCli({"resume", "1", "--store", db.string()}, m_root / "resume.log"), 0) << readText(m_root / "resume.log");
  const std::string resumed = readText(m_root / "resume.log");
  EXPECT_NE(resumed.find("data parallel: rank 0 of 2"), std::string::npos) << resumed;
  EXPECT_NE(resumed.find("resumed from"), std::string::npos) << resumed;
  EXPECT_EQ(resumed.find("warning: the checkpoint was trained by"), std::string::npos) << resumed;
  EXPECT_EQ(latestStep(checkpoints), steps);
  RunStore store(db.string());
  ASSERT_TRUE(store.run(2));
  EXPECT_EQ(store.run(2)->resumedFrom, std::optional<std::int64_t>(1));
  EXPECT_EQ(store.run(2)->status, RunStatus::Completed);
  const auto losses = store.metrics(2, "train/loss");
  ASSERT_FALSE(losses.empty());
  EXPECT_EQ(losses.front().step, killedAt + 1);
  EXPECT_EQ(losses.back().step, steps);
}

// SIGTERM to the launcher (as Ctrl-C reaches every rank): the ranks agree on one step, rank 0 writes
// the checkpoint and every process exits with 3 (stopped), resumable.
TEST_F(DistributedTrainTest, SigtermStopsEveryRankAtOneStepWithACheckpoint) {
  const fs::path config = writeConfig("stopped", 2, 200, 0);
  const fs::path db = m_root / "stopped.db";
  const fs::path logPath = m_root / "stopped.log";
  pid_t launcher = 0;
  runCli({"train", config.string(), "--store", db.string(), "--nproc", "2"}, logPath, &launcher);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (readText(logPath).find("step 2/200") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(::kill(launcher, SIGTERM), 0);
  int status = 0;
  waitpid(launcher, &status, 0);
  const std::string log = readText(logPath);
  ASSERT_TRUE(WIFEXITED(status)) << log;
  EXPECT_EQ(WEXITSTATUS(status), 3) << log;
  const std::int64_t stoppedAt = latestStep(m_root / "out-stopped" / "checkpoints");
  EXPECT_GE(stoppedAt, 2) << log;
  EXPECT_LT(stoppedAt, 200) << log;
  RunStore store(db.string());
  EXPECT_EQ(store.run(1)->status, RunStatus::Stopped) << store.run(1)->message;
  EXPECT_EQ(log.find("data-parallel run failed"), std::string::npos) << log;
}

// What the all-reduce really sends, per method, on the tiny GPT-2 (one step, 2 ranks): exactly the
// fp32 gradients of the tensors the checkpoint holds as trainable (full: all; LoRA: A and B; LoRA-FA: B).
TEST_F(DistributedTrainTest, EachMethodAllReducesExactlyItsTrainableGradients) {
  for (const std::string method : {"full", "lora", "lora-fa"}) {
    const fs::path config = writeConfig("bytes-" + method, 2, 1, 0, method);
    const fs::path log = m_root / ("bytes-" + method + ".log");
    ASSERT_EQ(runCli({"train", config.string(), "--store", (m_root / (method + ".db")).string(), "--nproc", "2"}, log), 0)
        << readText(log);
    const auto weights = SafetensorsFile::open((m_root / ("out-bytes-" + method) / "checkpoints/step-00000001/weights.safetensors").string());
    std::int64_t trainable = 0;
    for (const auto& info : weights->tensors()) {
      const bool a = info.name.find(".lora_A") != std::string::npos, b = info.name.find(".lora_B") != std::string::npos;
      if (method == "full" || b || (method == "lora" && a)) trainable += weights->load(info.name).numel();
    }
    const std::string text = readText(log);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(text, m, std::regex("data parallel: ([0-9]+) bytes of gradients all-reduced per step in ([0-9]+) bucket")))
        << text;
    EXPECT_EQ(std::stoll(m[1].str()), 4 * trainable) << method;
    std::cout << "tiny GPT-2 (n_embd 32, 2 layers, r 4, c_attn,c_fc), " << method << ": measured " << m[1].str()
              << " bytes per step in " << m[2].str() << " bucket(s); 4 x " << trainable << " trainable = " << 4 * trainable << "\n";
  }
}

} // namespace
} // namespace lorafa
