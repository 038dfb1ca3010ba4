#pragma once

// Data-parallel training across processes (torch.distributed's c10d: Gloo over TCP, a TCP store
// for the rendezvous). Plain types only: the UI and the CLI include this header.
#include "lorafa/RunConfig.h"
#include "lorafa/TrainerObserver.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace lorafa {

class RunStore;
class TrainingSession;

/// Where this process sits in a data-parallel run. The global batch of one optimizer step is
/// train.batch_size × worldSize × train.grad_accumulation rows: every rank takes its own
/// batch_size rows of each global batch (the same shuffled order on every rank).
struct DistributedConfig {
  int rank = 0;
  int worldSize = 1;
  int localRank = 0; ///< index on this node: picks the CUDA device when train.device is cuda or auto
  std::string masterAddr = "127.0.0.1";
  int masterPort = 29500;
  /// Seconds a rank waits for the others (rendezvous, each all-reduce, barrier) before failing.
  int timeoutSeconds = 60;
  /// Gradients are all-reduced in flat buckets of at most this many bytes.
  std::int64_t bucketBytes = 25 << 20;

  bool enabled() const { return worldSize > 1; }
  bool isWriter() const { return rank == 0; }
};

/// Reads LORAFA_RANK, LORAFA_WORLD_SIZE, LORAFA_MASTER_ADDR, LORAFA_MASTER_PORT and
/// LORAFA_DIST_TIMEOUT (seconds); a world size of 1 (or none set) is a single process.
/// Throws std::invalid_argument naming the variable when one is malformed.
DistributedConfig distributedConfigFromEnvironment();

/// True when this LibTorch build has c10d's Gloo backend compiled in (and the engine was built with it).
bool distributedTrainingAvailable();

/// A training session that joins the process group described by `distributed` (rendezvous with
/// the other ranks happens here, and fails after the timeout with a message naming the master).
/// Only rank 0 should be given a store; checkpoints are written by rank 0 alone.
std::unique_ptr<TrainingSession> createDistributedSession(const RunConfig& config, TrainerObserver* observer,
                                                          const DistributedConfig& distributed,
                                                          RunStore* store = nullptr, std::int64_t runId = 0);

/// Bytes one optimizer step all-reduces for `trainableParameters` fp32 gradients (what a
/// ring all-reduce sends and receives per rank is about 2·(N−1)/N times this).
inline std::int64_t allReduceBytesPerStep(std::int64_t trainableParameters) { return trainableParameters * 4; }

} // namespace lorafa
