#pragma once

// GoogleTest helpers for comparing tensors with a stated tolerance.
#include <ATen/core/Tensor.h>
#include <ATen/ops/abs.h>
#include <ATen/ops/allclose.h>
#include <gtest/gtest.h>

#include <sstream>

namespace lorafa::test {

/// Passes when |actual - expected| ≤ atol + rtol·|expected| elementwise (numpy's allclose rule).
inline ::testing::AssertionResult allClose(const at::Tensor& actual, const at::Tensor& expected,
                                           double rtol, double atol) {
  if (!actual.defined() || !expected.defined()) {
    return ::testing::AssertionFailure() << "tensor undefined (actual "
                                         << (actual.defined() ? "defined" : "undefined") << ", expected "
                                         << (expected.defined() ? "defined" : "undefined") << ")";
  }
  if (actual.sizes() != expected.sizes()) {
    std::ostringstream s;
    s << "shape " << actual.sizes() << " != expected " << expected.sizes();
    return ::testing::AssertionFailure() << s.str();
  }
  const at::Tensor a = actual.detach().to(at::kDouble);
  const at::Tensor e = expected.detach().to(at::kDouble);
  if (at::allclose(a, e, rtol, atol)) {
    return ::testing::AssertionSuccess();
  }
  const double maxDiff = at::abs(a - e).max().item<double>();
  return ::testing::AssertionFailure() << "max |actual - expected| = " << maxDiff << " (rtol " << rtol
                                       << ", atol " << atol << ")";
}

} // namespace lorafa::test
