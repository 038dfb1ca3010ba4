#include "LaunchCommand.h"

#include "TrainCommand.h"
#include "lorafa/RunStore.h"
#include "lorafa/TrainingSession.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lorafa::cli {
namespace {

std::atomic<int> g_forwardSignal{0};
extern "C" void onLauncherSignal(int signal) { g_forwardSignal = signal; }
std::atomic<bool> g_followerStop{false};
extern "C" void onFollowerSignal(int) { g_followerStop = true; }

int freeLocalPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 29500;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  int port = 29500;
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

bool isLaunchFlag(const std::string& arg, bool& takesValue) {
  for (const char* flag : {"--nproc", "--nnodes", "--node-rank", "--master-addr", "--master-port", "--dist-timeout"}) {
    const std::string f(flag);
    if (arg == f) {
      takesValue = true;
      return true;
    }
    if (arg.rfind(f + "=", 0) == 0) {
      takesValue = false;
      return true;
    }
  }
  return false;
}

std::string describeStatus(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int s = WTERMSIG(status);
    const char* name = ::strsignal(s);
    return "was killed by signal " + std::to_string(s) + (name ? std::string(" (") + name + ")" : std::string());
  }
  return "ended (status " + std::to_string(status) + ")";
}

class FollowerObserver : public TrainerObserver {
public:
  FollowerObserver(std::ostream& err, int rank) : m_err(err), m_rank(rank) {}
  void onStep(const StepMetrics&) override {}
  void onEval(const EvalMetrics&) override {}
  void onLog(LogLevel level, const std::string& message) override {
    if (level == LogLevel::Error) m_err << "lorafa: rank " << m_rank << ": error: " << message << std::endl;
  }
  bool shouldStop() override { return g_followerStop; }

private:
  std::ostream& m_err;
  int m_rank;
};

} // namespace

bool isLaunchedRank() {
  const char* world = std::getenv("LORAFA_WORLD_SIZE");
  return world != nullptr && *world != '\0';
}

bool wantsLaunch(const LaunchOptions& options) { return !isLaunchedRank() && std::max(1, options.nproc) * options.nnodes > 1; }

int storedLocalWorldSize(const std::string& storePath, std::int64_t runId) {
  std::optional<RunInfo> info;
  {
    RunStore store(resolveStorePath(storePath));
    info = store.run(runId);
  }
  if (!info) return 0;
  std::ifstream in(std::filesystem::path(info->outputDir) / "distributed.json");
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  const auto at = s.find("\"local_world_size\":");
  const auto world = s.find("\"world_size\":");
  if (at == std::string::npos || world == std::string::npos) return 0;
  const int local = std::atoi(s.c_str() + at + 19);
  const int all = std::atoi(s.c_str() + world + 13);
  if (local != all) {
    throw std::invalid_argument("run " + std::to_string(runId) + " trained on " + std::to_string(all / std::max(1, local)) +
                                " nodes: resume it with --nproc, --nnodes, --node-rank, --master-addr and --master-port on each node");
  }
  return local > 1 ? local : 0;
}

void recordDistributedLayout(const std::string& outputDir, const DistributedConfig& distributed, bool resumed,
                             std::ostream& err) {
  const std::filesystem::path file = std::filesystem::path(outputDir) / "distributed.json";
  std::error_code ec;
  if (resumed) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    const auto at = s.find("\"world_size\":");
    const int before = at == std::string::npos ? 1 : std::atoi(s.c_str() + at + 13);
    if (before != distributed.worldSize) {
      err << "lorafa: warning: the checkpoint was trained by " << before << " process(es), this run has "
          << distributed.worldSize << ": the global batch changes from batch_size x " << before << " to batch_size x "
          << distributed.worldSize << " and the rest of this epoch's data order differs (resume with --nproc " << before
          << " to continue exactly)" << std::endl;
    }
  }
  if (!distributed.enabled()) {
    std::filesystem::remove(file, ec);
    return;
  }
  std::filesystem::create_directories(outputDir, ec);
  const char* local = std::getenv("LORAFA_LOCAL_WORLD_SIZE");
  std::ofstream(file) << "{\"world_size\": " << distributed.worldSize
                      << ", \"local_world_size\": " << (local && *local ? std::atoi(local) : distributed.worldSize)
                      << ", \"master_addr\": \"" << distributed.masterAddr << "\"}\n";
}

int runFollowerRank(const RunConfig& config, bool resume, const DistributedConfig& distributed, std::ostream& err) {
  FollowerObserver observer(err, distributed.rank);
  std::unique_ptr<TrainingSession> session;
  std::optional<std::string> checkpoint;
  try {
    session = createDistributedSession(config, &observer, distributed);
    if (resume) checkpoint = latestCheckpointIn(config.outputDir);
    session->setup();
    if (checkpoint) session->resumeFrom(*checkpoint);
  } catch (const std::exception& e) {
    err << "lorafa: rank " << distributed.rank << ": error: " << e.what() << "\n";
    return kExitBadConfig;
  }
  std::signal(SIGINT, onFollowerSignal);
  std::signal(SIGTERM, onFollowerSignal);
  const TrainResult result = session->run();
  if (result.state == TrainerState::Failed) {
    err << "lorafa: rank " << distributed.rank << ": error: " << result.message << std::endl;
  }
  return result.state == TrainerState::Completed ? kExitOk : result.state == TrainerState::Stopped ? kExitStopped : kExitFailed;
}

int launchRanks(int argc, char** argv, const LaunchOptions& options, std::ostream& err) {
  const int nproc = std::max(1, options.nproc);
  const int world = nproc * options.nnodes;
  if (options.nodeRank < 0 || options.nodeRank >= options.nnodes) {
    err << "lorafa: error: --node-rank " << options.nodeRank << " must be below --nnodes " << options.nnodes << "\n";
    return kExitBadConfig;
  }
  const int port = options.masterPort > 0 ? options.masterPort : options.nnodes == 1 ? freeLocalPort() : 29500;
  std::vector<std::string> args;
  for (int i = 0; i < argc; ++i) {
    bool takesValue = false;
    if (i > 0 && isLaunchFlag(argv[i], takesValue)) {
      if (takesValue) ++i;
      continue;
    }
    args.emplace_back(argv[i]);
  }
  std::vector<pid_t> pids(static_cast<std::size_t>(nproc), 0);
  std::signal(SIGINT, onLauncherSignal);
  std::signal(SIGTERM, onLauncherSignal);
  for (int local = 0; local < nproc; ++local) {
    const int rank = options.nodeRank * nproc + local;
    const pid_t pid = ::fork();
    if (pid < 0) {
      err << "lorafa: error: could not start rank " << rank << ": " << std::strerror(errno) << "\n";
      for (pid_t p : pids) {
        if (p > 0) ::kill(p, SIGKILL);
      }
      return kExitFailed;
    }
    if (pid == 0) {
      std::signal(SIGINT, SIG_DFL);
      std::signal(SIGTERM, SIG_DFL);
      ::setenv("LORAFA_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LORAFA_LOCAL_RANK", std::to_string(local).c_str(), 1);
      ::setenv("LORAFA_WORLD_SIZE", std::to_string(world).c_str(), 1);
      ::setenv("LORAFA_LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LORAFA_MASTER_ADDR", options.masterAddr.c_str(), 1);
      ::setenv("LORAFA_MASTER_PORT", std::to_string(port).c_str(), 1);
      ::setenv("LORAFA_DIST_TIMEOUT", std::to_string(options.timeoutSeconds).c_str(), 1);
      std::vector<char*> childArgv;
      for (std::string& a : args) childArgv.push_back(a.data());
      childArgv.push_back(nullptr);
      ::execv("/proc/self/exe", childArgv.data());
      ::execvp(childArgv.front(), childArgv.data());
      _exit(127);
    }
    pids[static_cast<std::size_t>(local)] = pid;
  }
  // Wait for every rank; after the first failure, the rest get the timeout to end on their own
  // (their collectives fail), then are killed.
  std::vector<int> statuses(pids.size(), -1);
  std::size_t running = pids.size();
  std::string firstFailure;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  bool terminated = false;
  while (running > 0) {
    if (const int s = g_forwardSignal.exchange(0); s != 0) {
      for (std::size_t i = 0; i < pids.size(); ++i) {
        if (statuses[i] == -1) ::kill(pids[i], SIGTERM);
      }
    }
    int status = 0;
    const pid_t done = ::waitpid(-1, &status, WNOHANG);
    if (done > 0) {
      for (std::size_t i = 0; i < pids.size(); ++i) {
        if (pids[i] != done) continue;
        statuses[i] = status;
        --running;
        const bool ok = WIFEXITED(status) && (WEXITSTATUS(status) == kExitOk || WEXITSTATUS(status) == kExitStopped);
        if (!ok && firstFailure.empty()) {
          firstFailure = "rank " + std::to_string(options.nodeRank * nproc + static_cast<int>(i)) + " (pid " +
                         std::to_string(done) + ") " + describeStatus(status);
          deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options.timeoutSeconds + 5);
        }
      }
      continue;
    }
    if (deadline && std::chrono::steady_clock::now() > *deadline) {
      for (std::size_t i = 0; i < pids.size(); ++i) {
        if (statuses[i] == -1) ::kill(pids[i], terminated ? SIGKILL : SIGTERM);
      }
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
      terminated = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (firstFailure.empty()) {
    for (const int s : statuses) {
      if (WEXITSTATUS(s) == kExitStopped) return kExitStopped; // stopped by Ctrl-C / SIGTERM after a checkpoint
    }
    return kExitOk;
  }
  err << "lorafa: error: data-parallel run failed: " << firstFailure << "; ";
  for (std::size_t i = 0; i < pids.size(); ++i) {
    err << "rank " << options.nodeRank * nproc + static_cast<int>(i) << " " << describeStatus(statuses[i])
        << (i + 1 < pids.size() ? ", " : "");
  }
  err << ". Continue from the last checkpoint with: lorafa resume RUN (see lorafa runs list)" << std::endl;
  const int rank0 = statuses.front();
  if (WIFEXITED(rank0) && (WEXITSTATUS(rank0) == kExitBadConfig || WEXITSTATUS(rank0) == kExitStopped)) return WEXITSTATUS(rank0);
  return kExitFailed;
}

} // namespace lorafa::cli
