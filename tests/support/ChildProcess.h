#pragma once
// Test helpers shared by the model library tests and the crash drills: a temporary folder, whole
// files read and written, and a real child process started with a chosen environment (and, for
// the full-disk drills, a file size limit), whose stdout and stderr land in files. Free of
// LibTorch and Qt.

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lorafa::testing {

namespace fs = std::filesystem;

/// A fresh folder "lorafa-NAME-PID-RANDOM" under the system's temporary folder, removed at the end.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() /
             ("lorafa-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()))) {
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

inline std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void writeFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

/// How a child process ended and what it printed.
struct ProcessResult {
  bool exited = false;
  int exitCode = -1; ///< -1 when it did not exit normally
  bool signaled = false;
  int signal = 0;
  std::string out;
  std::string err;
  bool killedBySigkill() const { return signaled && signal == SIGKILL; }
  std::string describe() const {
    return (exited ? "exit " + std::to_string(exitCode) : signaled ? "signal " + std::to_string(signal) : std::string("?")) +
           "\n--- stdout\n" + out + "\n--- stderr\n" + err;
  }
};

/// A child process: `argv[0]` (a path) runs with the parent's environment plus `setEnv` (an empty
/// value removes the variable); stdout and stderr go to files in `logDir`. `fileSizeLimit`:
/// RLIMIT_FSIZE in bytes with SIGXFSZ ignored, so writes past it fail with EFBIG. Killed with
/// SIGKILL if still running when destroyed.
class ChildProcess {
public:
  ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& setEnv,
               const fs::path& logDir, std::optional<rlim_t> fileSizeLimit = std::nullopt) {
    static int counter = 0;
    const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(++counter);
    m_outPath = logDir / ("child-" + tag + ".out");
    m_errPath = logDir / ("child-" + tag + ".err");
    // Everything is allocated before fork: the parent may have threads (LibTorch), so the child
    // makes only async-signal-safe calls until exec.
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry(*e);
      if (setEnv.count(entry.substr(0, entry.find('='))) == 0) env.push_back(entry);
    }
    for (const auto& [name, value] : setEnv) {
      if (!value.empty()) env.push_back(name + "=" + value);
    }
    std::vector<std::string> args = argv;
    std::vector<char*> envp, argp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    for (std::string& a : args) argp.push_back(a.data());
    argp.push_back(nullptr);
    const std::string outPath = m_outPath.string(), errPath = m_errPath.string();
    const bool limit = fileSizeLimit.has_value();
    const rlimit fileSize{limit ? *fileSizeLimit : 0, limit ? *fileSizeLimit : 0};
    m_pid = ::fork();
    if (m_pid == 0) {
      const int out = ::open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, STDOUT_FILENO);
      ::dup2(err, STDERR_FILENO);
      if (limit) {
        ::signal(SIGXFSZ, SIG_IGN); // kept across exec
        ::setrlimit(RLIMIT_FSIZE, &fileSize);
      }
      ::execve(argp[0], argp.data(), envp.data());
      _exit(127);
    }
  }
  ~ChildProcess() {
    if (m_pid > 0 && !m_reaped) {
      ::kill(m_pid, SIGKILL);
      wait();
    }
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return m_pid; }
  void signal(int sig) {
    if (!m_reaped) ::kill(m_pid, sig);
  }
  void sigkill() { signal(SIGKILL); }
  /// Whether it is still running (reaps it when it ended).
  bool running() {
    if (m_reaped) return false;
    int status = 0;
    if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
      record(status);
      return false;
    }
    return true;
  }
  ProcessResult wait() {
    if (!m_reaped) {
      int status = 0;
      ::waitpid(m_pid, &status, 0);
      record(status);
    }
    m_result.out = readFile(m_outPath);
    m_result.err = readFile(m_errPath);
    return m_result;
  }
  std::string outputSoFar() const { return readFile(m_outPath); }
  std::string errorSoFar() const { return readFile(m_errPath); }

private:
  void record(int status) {
    m_reaped = true;
    m_result.exited = WIFEXITED(status);
    m_result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    m_result.signaled = WIFSIGNALED(status);
    m_result.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  }
  pid_t m_pid = -1;
  bool m_reaped = false;
  ProcessResult m_result;
  fs::path m_outPath, m_errPath;
};

inline ProcessResult runProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& setEnv,
                                const fs::path& logDir) {
  ChildProcess child(argv, setEnv, logDir);
  return child.wait();
}

} // namespace lorafa::testing
