// Resume for real: `lorafa train` is killed with SIGKILL and `lorafa resume` finishes the run; the
// weights equal those of a run that never stopped, and the metric history has no gap and no
// duplicate.
#include "io/SafetensorsFile.h"
#include "lorafa/RunStore.h"
#include "lorafa/Tokenizer.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lorafa {
namespace {

namespace fs = std::filesystem;

int runCli(const std::vector<std::string>& args, bool wait = true, pid_t* childPid = nullptr) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(LORAFA_CLI));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, STDOUT_FILENO);
    execv(LORAFA_CLI, argv.data());
    _exit(127);
  }
  if (childPid) *childPid = pid;
  if (!wait) return 0;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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

TEST(TrainResumeTest, SigkilledRunResumesToTheSameWeightsWithAnUnbrokenHistory) {
  const fs::path root = fs::temp_directory_path() / ("lorafa-resume-" + std::to_string(std::random_device{}()));
  fs::create_directories(root);
  const std::string fixtures = LORAFA_FIXTURES_DIR;
  const auto tokenizer = Tokenizer::load(fixtures + "/tokenizers/gpt2");
  const std::string json = R"({"model_type": "gpt2", "vocab_size": )" + std::to_string(tokenizer->vocabSize()) +
                           R"(, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 128, "eos_token_id": 50256})";
  auto model = createModel(ModelConfig::fromJson(json, "<tiny gpt2>"), torch::dtype(torch::kFloat));
  initializeRandom(*model, 3);
  saveModelCheckpoint(*model, (root / "model").string());
  const std::int64_t total = 12;
  for (const std::string name : {"straight", "killed"}) {
    std::ofstream(root / (name + ".yaml"))
        << "model: model\ntokenizer: " << fixtures << "/tokenizers/gpt2\noutput_dir: out-" << name
        << "\ndataset:\n  path: " << fixtures << "/data/alpaca.jsonl\n  validation_fraction: 0.2\n"
        << "adapter:\n  rank: 4\n  dropout: 0.1\n  targets: c_attn,c_fc\n"
        << "optim:\n  lr: 5.0e-3\n  schedule: cosine\n  warmup_steps: 2\n"
        << "train:\n  max_steps: " << total << "\n  batch_size: 2\n  max_seq_len: 96\n  eval_every: 4\n"
        << "  save_every: 1\n  keep_last: 2\n  seed: 5\n  device: cpu\n";
  }
  const std::string straightDb = (root / "straight.db").string();
  const std::string killedDb = (root / "killed.db").string();
  ASSERT_EQ(runCli({"train", (root / "straight.yaml").string(), "--store", straightDb}), 0);

  pid_t pid = 0;
  runCli({"train", (root / "killed.yaml").string(), "--store", killedDb}, false, &pid);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (latestStep(root / "out-killed" / "checkpoints") < 5 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it could be killed";
  const std::int64_t killedAt = latestStep(root / "out-killed" / "checkpoints");
  ASSERT_LT(killedAt, total);

  ASSERT_EQ(runCli({"resume", "1", "--store", killedDb}), 0);

  const std::string last = "checkpoints/step-000000" + std::to_string(total);
  const auto a = SafetensorsFile::open((root / "out-straight" / last / "weights.safetensors").string());
  const auto b = SafetensorsFile::open((root / "out-killed" / last / "weights.safetensors").string());
  ASSERT_EQ(a->tensors().size(), b->tensors().size());
  for (const auto& info : a->tensors()) {
    EXPECT_TRUE(torch::equal(a->load(info.name), b->load(info.name))) << info.name << " differs after SIGKILL + resume";
  }

  RunStore straight(straightDb);
  RunStore killed(killedDb);
  EXPECT_EQ(killed.run(1)->status, RunStatus::Interrupted);
  ASSERT_TRUE(killed.run(2));
  EXPECT_EQ(killed.run(2)->resumedFrom, std::optional<std::int64_t>(1));
  EXPECT_EQ(killed.run(2)->status, RunStatus::Completed);
  // The history of the chain: run 1 up to the step run 2 continued from, then run 2.
  const auto second = killed.metrics(2, "train/loss");
  ASSERT_FALSE(second.empty());
  std::vector<MetricPoint> chain;
  for (const MetricPoint& p : killed.metrics(1, "train/loss")) {
    if (p.step < second.front().step) chain.push_back(p);
  }
  chain.insert(chain.end(), second.begin(), second.end());
  const auto reference = straight.metrics(1, "train/loss");
  ASSERT_EQ(chain.size(), static_cast<std::size_t>(total));
  ASSERT_EQ(reference.size(), static_cast<std::size_t>(total));
  for (std::int64_t i = 0; i < total; ++i) {
    EXPECT_EQ(chain[static_cast<std::size_t>(i)].step, i + 1);
    EXPECT_EQ(chain[static_cast<std::size_t>(i)].value, reference[static_cast<std::size_t>(i)].value) << "step " << i + 1;
  }
  fs::remove_all(root);
}

} // namespace
} // namespace lorafa
