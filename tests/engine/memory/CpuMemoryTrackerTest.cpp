#include "lorafa/CpuMemoryTracker.h"

#include "adapters/LoraFaLinear.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

using namespace lorafa;

namespace {

class CpuMemoryTrackerTest : public ::testing::Test {
protected:
  void SetUp() override { CpuMemoryTracker::instance().install(); }
  CpuMemoryTracker& tracker = CpuMemoryTracker::instance();
};

} // namespace

TEST_F(CpuMemoryTrackerTest, CountsEveryTensorByteAndItsRelease) {
  const std::int64_t before = tracker.currentBytes();
  {
    const at::Tensor t = torch::empty({1000}, torch::kFloat);
    EXPECT_EQ(tracker.currentBytes() - before, 4000);
    const at::Tensor u = torch::empty({10, 10}, torch::kDouble);
    EXPECT_EQ(tracker.currentBytes() - before, 4800);
  }
  EXPECT_EQ(tracker.currentBytes(), before);
}

TEST_F(CpuMemoryTrackerTest, PeakRemembersTheHighestPointUntilReset) {
  tracker.resetPeak();
  const std::int64_t before = tracker.currentBytes();
  EXPECT_EQ(tracker.peakBytes(), before);
  { const at::Tensor big = torch::empty({1 << 20}, torch::kFloat); }
  EXPECT_EQ(tracker.currentBytes(), before);
  EXPECT_GE(tracker.peakBytes() - before, 4 << 20);
  tracker.resetPeak();
  EXPECT_EQ(tracker.peakBytes(), before);
}

TEST_F(CpuMemoryTrackerTest, ResizeAndCopiesAreCounted) {
  const std::int64_t before = tracker.currentBytes();
  at::Tensor t = torch::zeros({16}, torch::kFloat);
  t.resize_({1024});
  EXPECT_EQ(tracker.currentBytes() - before, 4096);
  const at::Tensor c = t.clone();
  EXPECT_EQ(tracker.currentBytes() - before, 8192);
}

TEST_F(CpuMemoryTrackerTest, OverBudgetAllocationFailsClearlyAndTheProcessRecovers) {
  torch::manual_seed(0);
  AdapterConfig config;
  config.rank = 8;
  LoraFaLinear layer(torch::randn({256, 256}), torch::randn({256}), config);
  auto step = [&](std::int64_t tokens) {
    const at::Tensor x = torch::randn({tokens, 256});
    const at::Tensor loss = layer.forward(x).square().mean();
    loss.backward();
  };
  const std::int64_t before = tracker.currentBytes();
  const std::int64_t budget = before + (4 << 20);
  {
    ScopedMemoryBudget scoped(budget);
    tracker.resetPeak();
    try {
      step(16384); // the input alone is 16 MiB
      FAIL() << "a step 4x over the budget succeeded";
    } catch (const OutOfMemoryError& error) {
      const std::string text = error.what();
      EXPECT_NE(text.find("out of memory"), std::string::npos) << text;
      EXPECT_NE(text.find("budget"), std::string::npos) << text;
      EXPECT_EQ(error.budgetBytes(), budget);
      EXPECT_GT(error.requestedBytes() + error.currentBytes(), budget);
    }
    EXPECT_EQ(tracker.currentBytes(), before) << "the failed step leaked memory";
    // The same process, the same budget, a smaller step: it runs.
    EXPECT_NO_THROW(step(512));
    EXPECT_TRUE(layer.named_parameters()["lora_B"].grad().defined());
    EXPECT_LE(tracker.peakBytes(), budget) << "memory went over the budget";
  }
  EXPECT_EQ(tracker.budgetBytes(), 0) << "ScopedMemoryBudget did not remove the budget";
}

TEST_F(CpuMemoryTrackerTest, OverBudgetInBackwardAlsoFailsClearly) {
  torch::manual_seed(1);
  AdapterConfig config;
  config.method = TrainMethod::LoraFa;
  LoraFaLinear layer(torch::randn({1024, 1024}), at::Tensor(), config);
  const at::Tensor x = torch::randn({2048, 1024}).requires_grad_(true); // 8 MiB
  const at::Tensor y = layer.forward(x);                                 // 8 MiB
  // backward needs dx [2048, 1024] (8 MiB) and more: allow only 1 MiB over what is held now.
  ScopedMemoryBudget scoped(tracker.currentBytes() + (1 << 20));
  try {
    y.sum().backward();
    FAIL() << "backward over the budget succeeded";
  } catch (const std::exception& error) {
    EXPECT_NE(std::string(error.what()).find("out of memory"), std::string::npos) << error.what();
  }
}

TEST(FormatBytes, PicksReadableUnits) {
  EXPECT_EQ(formatBytes(512), "512 B");
  EXPECT_EQ(formatBytes(1536), "1.50 KiB");
  EXPECT_EQ(formatBytes(3LL << 30), "3.00 GiB");
  EXPECT_EQ(formatBytes(-2048), "-2.00 KiB");
}
