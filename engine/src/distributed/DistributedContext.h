#pragma once

// The process group of a data-parallel run (c10d Gloo over a TCP store) and the few collectives
// the trainer needs. Every call is collective: all ranks make the same calls in the same order.
#include "lorafa/Distributed.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace lorafa {

class DistributedContext {
public:
  /// Rendezvous with the other ranks through the TCP store at masterAddr:masterPort (rank 0 hosts
  /// it). Throws std::runtime_error after the timeout, naming the master address.
  explicit DistributedContext(const DistributedConfig& config);
  ~DistributedContext();
  DistributedContext(const DistributedContext&) = delete;
  DistributedContext& operator=(const DistributedContext&) = delete;

  const DistributedConfig& config() const { return m_config; }
  int rank() const { return m_config.rank; }
  int worldSize() const { return m_config.worldSize; }

  /// Sums `grads` (fp32, any shapes, on one device) over all ranks in place, packed into flat
  /// buckets of at most config().bucketBytes; an undefined gradient counts as zeros and is defined
  /// afterwards. Adds the payload bytes to gradientBytes().
  void allReduceGradients(std::vector<at::Tensor>& grads);
  /// Sums a few doubles over all ranks (loss, token counts, flags).
  std::vector<double> allReduceSum(const std::vector<double>& values);
  /// Copies rank `root`'s tensors into every rank's.
  void broadcast(std::vector<at::Tensor>& tensors, int root = 0);
  /// Waits until every rank has arrived (or the timeout).
  void barrier();

  /// Gradient payload bytes all-reduced so far, and in the last allReduceGradients call.
  std::int64_t gradientBytes() const { return m_gradientBytes; }
  std::int64_t lastGradientBytes() const { return m_lastGradientBytes; }
  std::int64_t lastBucketCount() const { return m_lastBuckets; }

private:
  struct Impl;
  DistributedConfig m_config;
  std::unique_ptr<Impl> m_impl;
  std::int64_t m_gradientBytes = 0;
  std::int64_t m_lastGradientBytes = 0;
  std::int64_t m_lastBuckets = 0;
};

} // namespace lorafa
