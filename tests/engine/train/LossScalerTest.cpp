// fp16's dynamic loss scaling with injected overflowing gradients: skip, backoff, growth.
#include "train/LossScaler.h"

#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>

#include <gtest/gtest.h>

#include <limits>

namespace lorafa {
namespace {

TEST(LossScaler, DefaultsAreGradScalers) {
  const LossScaler scaler(true);
  EXPECT_EQ(scaler.scale(), 65536.0);
  EXPECT_EQ(scaler.growthTracker(), 0);
  const LossScaler off(false);
  EXPECT_EQ(off.scale(), 1.0);
}

TEST(LossScaler, UnscaleDividesAndDetectsInfAndNan) {
  LossScaler scaler(true);
  const at::Tensor a = at::full({3}, 65536.0 * 2.0);
  const at::Tensor b = at::full({2, 2}, 65536.0 * 0.5);
  EXPECT_TRUE(scaler.unscale({a, b, at::Tensor()})); // undefined gradients (unused parameters) are skipped
  EXPECT_DOUBLE_EQ(a[0].item<double>(), 2.0);
  EXPECT_DOUBLE_EQ(b[1][1].item<double>(), 0.5);

  at::Tensor inf = at::ones({4});
  inf[2] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(scaler.unscale({at::ones({2}), inf}));
  at::Tensor nan = at::ones({4});
  nan[0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(scaler.unscale({nan}));
}

TEST(LossScaler, OverflowSkipsTheStepAndBacksOff) {
  LossScaler scaler(true);
  at::Tensor grad = at::ones({4});
  grad[1] = std::numeric_limits<float>::infinity();
  const bool finite = scaler.unscale({grad});
  EXPECT_FALSE(scaler.update(finite)); // no optimizer step
  EXPECT_EQ(scaler.scale(), 32768.0);
  EXPECT_FALSE(scaler.update(false));
  EXPECT_EQ(scaler.scale(), 16384.0);
  EXPECT_EQ(scaler.growthTracker(), 0);
}

TEST(LossScaler, GrowsAfterTheIntervalOfFiniteStepsAndOverflowResetsTheCount) {
  LossScaler::Options options;
  options.growthInterval = 3;
  LossScaler scaler(true, options);
  EXPECT_TRUE(scaler.update(true));
  EXPECT_TRUE(scaler.update(true));
  EXPECT_EQ(scaler.scale(), 65536.0);
  EXPECT_FALSE(scaler.update(false)); // resets the count of good steps
  EXPECT_EQ(scaler.scale(), 32768.0);
  EXPECT_TRUE(scaler.update(true));
  EXPECT_TRUE(scaler.update(true));
  EXPECT_EQ(scaler.scale(), 32768.0);
  EXPECT_TRUE(scaler.update(true));
  EXPECT_EQ(scaler.scale(), 65536.0);
  EXPECT_EQ(scaler.growthTracker(), 0);

  LossScaler defaults(true);
  for (int i = 0; i < 1999; ++i) defaults.update(true);
  EXPECT_EQ(defaults.scale(), 65536.0);
  defaults.update(true);
  EXPECT_EQ(defaults.scale(), 131072.0);
}

TEST(LossScaler, DisabledTakesFiniteStepsAndNeverScales) {
  LossScaler off(false);
  const at::Tensor g = at::full({2}, 3.0);
  EXPECT_TRUE(off.unscale({g}));
  EXPECT_EQ(g[0].item<double>(), 3.0);
  EXPECT_TRUE(off.update(true));
  EXPECT_FALSE(off.update(false));
  EXPECT_EQ(off.scale(), 1.0);
}

TEST(LossScaler, RestoreTakesACheckpointsStateAndRejectsNonsense) {
  LossScaler scaler(true);
  scaler.restore(1024.0, 17);
  EXPECT_EQ(scaler.scale(), 1024.0);
  EXPECT_EQ(scaler.growthTracker(), 17);
  EXPECT_THROW(scaler.restore(0.0, 0), std::invalid_argument);
  EXPECT_THROW(scaler.restore(8.0, -1), std::invalid_argument);
}

} // namespace
} // namespace lorafa
