// DistributedContext's collectives on two ranks of one process (two threads, each its own Gloo
// process group over a loopback TCP store): bucketed gradient sums against sums computed here,
// with buckets small enough that tensors are split over several.
#include "distributed/DistributedContext.h"

#include <ATen/ops/allclose.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>
#include <gtest/gtest.h>

#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace lorafa {
namespace {

int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// Rank r's "gradients": shapes of several sizes, values that differ per rank and element.
std::vector<at::Tensor> gradsOf(int rank) {
  std::vector<at::Tensor> grads;
  const std::vector<std::vector<std::int64_t>> shapes = {{3, 5}, {7}, {2, 2, 4}, {40}, {1}};
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    std::int64_t numel = 1;
    for (auto d : shapes[i]) numel *= d;
    grads.push_back(at::arange(numel, at::kFloat).mul(0.25 * (rank + 1)).add(static_cast<double>(i)).view(shapes[i]));
  }
  return grads;
}

TEST(DistributedContextTest, BucketedAllReduceSumsBroadcastAndBarrierOnTwoRanks) {
  if (!distributedTrainingAvailable()) GTEST_SKIP() << "built without Gloo";
  const int port = freePort();
  std::vector<std::vector<at::Tensor>> results(2), broadcasts(2);
  std::vector<std::vector<double>> sums(2);
  std::vector<std::int64_t> buckets(2), bytes(2);
  std::vector<std::string> errors(2);
  auto rankMain = [&](int rank) {
    try {
      DistributedConfig config;
      config.rank = rank;
      config.worldSize = 2;
      config.masterPort = port;
      config.timeoutSeconds = 60;
      config.bucketBytes = 64; // 16 floats: most tensors get a bucket of their own, some share one
      DistributedContext context(config);
      results[static_cast<std::size_t>(rank)] = gradsOf(rank);
      context.allReduceGradients(results[static_cast<std::size_t>(rank)]);
      buckets[static_cast<std::size_t>(rank)] = context.lastBucketCount();
      bytes[static_cast<std::size_t>(rank)] = context.lastGradientBytes();
      sums[static_cast<std::size_t>(rank)] = context.allReduceSum({1.5 * rank, 10.0});
      broadcasts[static_cast<std::size_t>(rank)] = {at::full({4}, static_cast<double>(rank + 7)), at::full({2, 3}, -1.0 * rank)};
      context.broadcast(broadcasts[static_cast<std::size_t>(rank)], 0);
      context.barrier();
    } catch (const std::exception& e) {
      errors[static_cast<std::size_t>(rank)] = e.what();
    }
  };
  std::thread other(rankMain, 1);
  rankMain(0);
  other.join();
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");
  const std::vector<at::Tensor> a = gradsOf(0), b = gradsOf(1);
  std::int64_t expectedBytes = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const at::Tensor expected = a[i].add(b[i]);
    expectedBytes += expected.numel() * 4;
    for (int rank = 0; rank < 2; ++rank) {
      const at::Tensor& got = results[static_cast<std::size_t>(rank)][i];
      EXPECT_TRUE(got.sizes().equals(expected.sizes())) << "tensor " << i;
      // Sums of two exactly representable values (multiples of 0.25 below 2^20): exact.
      EXPECT_TRUE(at::equal(got, expected)) << "tensor " << i << " on rank " << rank;
    }
  }
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(bytes[static_cast<std::size_t>(rank)], expectedBytes);
    EXPECT_GE(buckets[static_cast<std::size_t>(rank)], 3); // 15, 7, 16, 40, 1 floats in 64-byte buckets
    EXPECT_EQ(sums[static_cast<std::size_t>(rank)], (std::vector<double>{1.5, 20.0}));
    EXPECT_TRUE(at::equal(broadcasts[static_cast<std::size_t>(rank)][0], at::full({4}, 7.0)));
    EXPECT_TRUE(at::equal(broadcasts[static_cast<std::size_t>(rank)][1], at::full({2, 3}, 0.0)));
  }
}

} // namespace
} // namespace lorafa
