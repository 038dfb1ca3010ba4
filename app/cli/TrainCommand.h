#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace lorafa::cli {

/// Exit codes of `lorafa train` and `lorafa resume` (also in --help).
enum ExitCode : int {
  kExitOk = 0,            ///< the run completed
  kExitFailed = 1,        ///< the run failed (NaN, out of memory, I/O) or another error
  kExitBadConfig = 2,     ///< the configuration, model, data or targets cannot be used; no run was recorded
  kExitStopped = 3,       ///< stopped by SIGINT/SIGTERM after writing a checkpoint
};

struct TrainCommandOptions {
  std::string configPath; ///< train: the YAML/JSON run config
  std::int64_t runId = 0; ///< resume: the run to continue
  std::string storePath;  ///< empty: defaultRunStorePath
  std::string outputDir;  ///< train: replaces the config's output_dir when not empty
  std::int64_t maxSteps = -1; ///< train: replaces train.max_steps when ≥ 0
};

/// `lorafa train CONFIG`: validates and sets everything up before recording a run, so a bad
/// configuration leaves no run behind; then trains, printing one plain line per step (step, loss,
/// lr, tokens/s, memory) and per evaluation, and records metrics in the run store.
int runTrain(const TrainCommandOptions& options, std::ostream& out, std::ostream& err);

/// `lorafa resume RUN`: continues run RUN from the newest checkpoint in its output folder, as a
/// new run whose resumed-from is RUN.
int runResume(const TrainCommandOptions& options, std::ostream& out, std::ostream& err);

/// `lorafa eval CONFIG` and `lorafa generate CONFIG --prompt TEXT`: the run's model with the
/// adapter of `checkpoint` (empty: the newest in output_dir; "none": untrained).
struct InferenceOptions {
  std::string configPath;
  std::string checkpoint;
  std::string prompt;
  std::int64_t maxNewTokens = 64;
  double temperature = 0.0;
  std::uint64_t seed = 0;
};
int runEval(const InferenceOptions& options, std::ostream& out, std::ostream& err);
int runGenerate(const InferenceOptions& options, std::ostream& out, std::ostream& err);

/// `lorafa runs list|show|delete|rename`.
int runRunsList(const std::string& storePath, std::ostream& out);
int runRunsShow(const std::string& storePath, std::int64_t runId, std::ostream& out, std::ostream& err);
int runRunsDelete(const std::string& storePath, std::int64_t runId, std::ostream& out, std::ostream& err);
int runRunsRename(const std::string& storePath, std::int64_t runId, const std::string& name, std::ostream& out,
                  std::ostream& err);

/// The store path to use: `given`, else the default under $XDG_DATA_HOME or ~/.local/share.
std::string resolveStorePath(const std::string& given);

} // namespace lorafa::cli
