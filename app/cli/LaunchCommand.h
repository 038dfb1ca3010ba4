#pragma once

// `lorafa train CONFIG --nproc N` and `lorafa resume RUN --nproc N`: data-parallel training in N
// local processes (one per device), and across nodes with --nnodes/--node-rank/--master-addr/
// --master-port. The launcher runs this executable once per local rank with LORAFA_RANK,
// LORAFA_WORLD_SIZE, LORAFA_MASTER_ADDR, LORAFA_MASTER_PORT and LORAFA_DIST_TIMEOUT set, and
// waits: when one rank dies, the others end within the timeout (their collectives fail), and any
// still running after it are killed.
#include "lorafa/Distributed.h"
#include "lorafa/RunConfig.h"

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace lorafa::cli {

struct LaunchOptions {
  int nproc = 0;          ///< local processes; 0: not given (1, or a resumed run's own)
  int nnodes = 1;
  int nodeRank = 0;
  std::string masterAddr = "127.0.0.1";
  int masterPort = 0;     ///< 0: a free local port (one node) or 29500
  int timeoutSeconds = 60;
};

/// True when this process is a rank started by the launcher (it must never launch again).
bool isLaunchedRank();

/// True when `options` asks for more than one process in all.
bool wantsLaunch(const LaunchOptions& options);

/// resume without --nproc: the number of local processes the run `runId` trained with (read from
/// its output_dir/distributed.json); 0 when it ran as one process.
int storedLocalWorldSize(const std::string& storePath, std::int64_t runId);

/// Starts the local ranks (this executable with `argv` less the launch flags) and waits for them.
/// Returns rank 0's exit code when all succeed, else a failure code after printing which rank
/// ended how.
int launchRanks(int argc, char** argv, const LaunchOptions& options, std::ostream& err);

/// Rank 0 records the layout of a data-parallel run in output_dir/distributed.json (resume
/// relaunches as many processes); a single-process run removes a stale one. A resumed run whose
/// world size differs from the checkpoint's gets a warning on `err`: its global batch and the rest
/// of the epoch's data order change.
void recordDistributedLayout(const std::string& outputDir, const DistributedConfig& distributed, bool resumed,
                             std::ostream& err);

/// A rank other than 0: trains its shard silently (errors go to `err`), writes nothing.
int runFollowerRank(const RunConfig& config, bool resume, const DistributedConfig& distributed, std::ostream& err);

} // namespace lorafa::cli
