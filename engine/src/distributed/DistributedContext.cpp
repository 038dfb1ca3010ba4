#include "distributed/DistributedContext.h"

#include "distributed/NcclGroup.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/zeros.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>

#ifdef LORAFA_HAVE_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace lorafa {
namespace {

int envInt(const char* name, int fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 0 || value > 1'000'000) {
    throw std::invalid_argument(std::string(name) + "=" + text + ": expected a non-negative integer");
  }
  return static_cast<int>(value);
}

[[maybe_unused]] std::string messageOf(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

} // namespace

DistributedConfig distributedConfigFromEnvironment() {
  DistributedConfig c;
  c.worldSize = std::max(1, envInt("LORAFA_WORLD_SIZE", 1));
  c.rank = envInt("LORAFA_RANK", 0);
  c.localRank = envInt("LORAFA_LOCAL_RANK", c.rank);
  if (c.rank >= c.worldSize) {
    throw std::invalid_argument("LORAFA_RANK=" + std::to_string(c.rank) + " is not below LORAFA_WORLD_SIZE=" +
                                std::to_string(c.worldSize));
  }
  if (const char* addr = std::getenv("LORAFA_MASTER_ADDR"); addr != nullptr && *addr != '\0') c.masterAddr = addr;
  c.masterPort = envInt("LORAFA_MASTER_PORT", c.masterPort);
  if (c.masterPort <= 0 || c.masterPort > 65535) {
    throw std::invalid_argument("LORAFA_MASTER_PORT=" + std::to_string(c.masterPort) + ": expected a port 1..65535");
  }
  c.timeoutSeconds = std::max(1, envInt("LORAFA_DIST_TIMEOUT", c.timeoutSeconds));
  return c;
}

bool distributedTrainingAvailable() {
#ifdef LORAFA_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

#ifdef LORAFA_HAVE_GLOO

// Collectives on CPU tensors go through Gloo; those on CUDA tensors through NCCL, whose group is
// made the first time a CUDA tensor is reduced (every rank reaches that call at the same point, on
// its own device), as torch.distributed's "cpu:gloo,cuda:nccl" does.
struct DistributedContext::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  c10::intrusive_ptr<c10d::Backend> nccl;

  c10d::Backend& groupFor(const at::Tensor& t, const DistributedConfig& config) {
    if (!t.is_cuda()) return *group;
    if (!nccl) {
      auto prefixed = c10::make_intrusive<c10d::PrefixStore>("lorafa-nccl", store);
      nccl = createNcclGroup(prefixed, config.rank, config.worldSize,
                             std::chrono::milliseconds(static_cast<std::int64_t>(config.timeoutSeconds) * 1000),
                             t.get_device());
    }
    return *nccl;
  }
};

DistributedContext::DistributedContext(const DistributedConfig& config) : m_config(config), m_impl(std::make_unique<Impl>()) {
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(config.timeoutSeconds) * 1000);
  const std::string where = config.masterAddr + ":" + std::to_string(config.masterPort);
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(config.masterPort);
    options.isServer = config.rank == 0;
    options.numWorkers = static_cast<std::size_t>(config.worldSize);
    options.waitWorkers = true;
    options.timeout = timeout;
    m_impl->store = c10::make_intrusive<c10d::TCPStore>(config.masterAddr, options);
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("lorafa", m_impl->store);
    auto groupOptions = c10d::ProcessGroupGloo::Options::create(timeout);
    // Loopback for a local run; otherwise the address this host reaches the master by.
    const bool loopback = config.masterAddr == "127.0.0.1" || config.masterAddr == "localhost";
    groupOptions->devices.push_back(loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                             : c10d::ProcessGroupGloo::createDefaultDevice());
    groupOptions->threads = 2;
    m_impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, config.rank, config.worldSize, groupOptions);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(config.rank) + " of " + std::to_string(config.worldSize) +
                             ": could not join the process group at " + where + " within " +
                             std::to_string(config.timeoutSeconds) + " s: " + messageOf(e));
  }
}

DistributedContext::~DistributedContext() = default;

namespace {

template <typename Fn>
void collective(const DistributedConfig& c, const char* what, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(c.rank) + " of " + std::to_string(c.worldSize) + ": " + what +
                             " failed: another rank ended or did not answer within " + std::to_string(c.timeoutSeconds) +
                             " s (" + messageOf(e) + ")");
  }
}

} // namespace

void DistributedContext::allReduceGradients(std::vector<at::Tensor>& grads) {
  m_lastGradientBytes = 0;
  m_lastBuckets = 0;
  std::size_t begin = 0;
  while (begin < grads.size()) {
    // One bucket: consecutive gradients up to bucketBytes (at least one).
    std::size_t end = begin;
    std::int64_t bytes = 0;
    std::vector<at::Tensor> flat;
    while (end < grads.size()) {
      at::Tensor& g = grads[end];
      const std::int64_t size = g.numel() * static_cast<std::int64_t>(g.element_size());
      if (end > begin && bytes + size > m_config.bucketBytes) break;
      flat.push_back(g.reshape({-1}));
      bytes += size;
      ++end;
    }
    std::vector<at::Tensor> bucket{flat.size() == 1 ? flat.front().clone() : at::cat(flat)};
    collective(m_config, "the gradient all-reduce",
               [&] { m_impl->groupFor(bucket.front(), m_config).allreduce(bucket)->wait(); });
    std::int64_t offset = 0;
    for (std::size_t i = begin; i < end; ++i) {
      const std::int64_t n = grads[i].numel();
      grads[i].copy_(bucket.front().narrow(0, offset, n).view(grads[i].sizes()));
      offset += n;
    }
    m_lastGradientBytes += bytes;
    ++m_lastBuckets;
    begin = end;
  }
  m_gradientBytes += m_lastGradientBytes;
}

std::vector<double> DistributedContext::allReduceSum(const std::vector<double>& values) {
  std::vector<double> copy(values);
  std::vector<at::Tensor> tensor{
      at::from_blob(copy.data(), {static_cast<std::int64_t>(copy.size())}, at::TensorOptions().dtype(at::kDouble)).clone()};
  collective(m_config, "an all-reduce", [&] { m_impl->group->allreduce(tensor)->wait(); });
  const at::Tensor& t = tensor.front();
  for (std::size_t i = 0; i < copy.size(); ++i) copy[i] = t[static_cast<std::int64_t>(i)].item<double>();
  return copy;
}

void DistributedContext::broadcast(std::vector<at::Tensor>& tensors, int root) {
  for (at::Tensor& t : tensors) {
    std::vector<at::Tensor> one{t.contiguous()};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    collective(m_config, "a broadcast", [&] { m_impl->groupFor(one.front(), m_config).broadcast(one, options)->wait(); });
    if (!one.front().is_same(t)) t.copy_(one.front());
  }
}

void DistributedContext::barrier() {
  collective(m_config, "a barrier", [&] { m_impl->group->barrier()->wait(); });
}

#else // no Gloo in this build

struct DistributedContext::Impl {};

DistributedContext::DistributedContext(const DistributedConfig& config) : m_config(config) {
  throw std::runtime_error("this build of lorafa has no Gloo (c10d) backend: data-parallel training across " +
                           std::to_string(config.worldSize) + " processes is not available; install libgloo-dev and rebuild");
}
DistributedContext::~DistributedContext() = default;
void DistributedContext::allReduceGradients(std::vector<at::Tensor>&) {}
std::vector<double> DistributedContext::allReduceSum(const std::vector<double>& values) { return values; }
void DistributedContext::broadcast(std::vector<at::Tensor>&, int) {}
void DistributedContext::barrier() {}

#endif

} // namespace lorafa
