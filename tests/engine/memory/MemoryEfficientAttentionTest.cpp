// memoryEfficientAttention (chunked forward, probabilities recomputed in backward) against an
// independent float64 reference written here with plain autograd ops, for every mask the models
// build; and the acceptance check: what attention keeps for backward grows linearly with the
// sequence length, where the plain path's probabilities grow quadratically.
#include "lorafa/CpuMemoryTracker.h"

#include "models/Attention.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

using namespace lorafa;

namespace {

/// softmax(q·kᵀ·scale + mask)·v in float64 with plain autograd ops; k, v repeated per group.
torch::Tensor plainAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const torch::Tensor& mask, double scale) {
  const std::int64_t groups = q.size(1) / k.size(1);
  const torch::Tensor keys = k.repeat_interleave(groups, 1), values = v.repeat_interleave(groups, 1);
  torch::Tensor scores = torch::matmul(q, keys.transpose(-2, -1)) * scale;
  if (mask.defined()) scores = scores + mask;
  return torch::matmul(torch::softmax(scores, -1), values);
}

/// max |a − b| / max |b|: the relative error of a whole tensor.
double relativeError(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>() / (scale > 0 ? scale : 1.0);
}

struct Case {
  std::string name;
  std::int64_t batch = 2, heads = 4, kvHeads = 4, queries = 11, keys = 11, dim = 8;
  std::function<torch::Tensor(torch::Dtype)> mask; ///< may return undefined
  bool maskRequiresGrad = false;                   ///< T5's trainable position bias
};

torch::Tensor paddingOf(std::int64_t batch, std::int64_t keys) {
  torch::Tensor padding = torch::ones({batch, keys}, torch::kLong);
  padding.index_put_({0, torch::indexing::Slice(keys - 3, torch::indexing::None)}, 0); // row 0 right-padded
  return padding;
}

std::vector<Case> cases() {
  std::vector<Case> all;
  all.push_back({"none", 2, 4, 4, 11, 11, 8, [](torch::Dtype) { return torch::Tensor(); }});
  all.push_back({"causal", 2, 4, 4, 11, 11, 8, [](torch::Dtype d) {
                   return additiveAttentionMask(torch::Tensor(), 11, 11, true, d, torch::kCPU);
                 }});
  all.push_back({"causal_padding_gqa", 2, 6, 2, 11, 11, 8, [](torch::Dtype d) {
                   return additiveAttentionMask(paddingOf(2, 11), 11, 11, true, d, torch::kCPU);
                 }});
  all.push_back({"kv_cache_offset", 2, 4, 4, 3, 11, 8, [](torch::Dtype d) {
                   return causalAttentionMask(paddingOf(2, 11), torch::Tensor(), 3, 8, d, torch::kCPU);
                 }});
  all.push_back({"bidirectional_padding_bert", 2, 4, 4, 11, 11, 8, [](torch::Dtype d) {
                   return additiveAttentionMask(paddingOf(2, 11), 11, 11, false, d, torch::kCPU);
                 }});
  all.push_back({"packed_segments", 2, 4, 2, 11, 11, 8, [](torch::Dtype d) {
                   const torch::Tensor segments =
                       torch::tensor({0, 0, 0, 1, 1, 1, 1, 2, 2, -1, -1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1}, torch::kLong)
                           .view({2, 11});
                   return segmentAttentionMask(segments, true, d, torch::kCPU);
                 }});
  all.push_back({"cross_attention_padding", 2, 4, 4, 7, 13, 8, [](torch::Dtype d) {
                   return additiveAttentionMask(paddingOf(2, 13), 7, 13, false, d, torch::kCPU);
                 }});
  // T5: a per-head position bias [1, H, Tq, Tk] (trainable in full fine-tuning) plus the padding mask.
  all.push_back({"t5_position_bias", 2, 4, 4, 11, 11, 8,
                 [](torch::Dtype d) {
                   return torch::randn({1, 4, 11, 11}, torch::TensorOptions().dtype(d));
                 },
                 true});
  return all;
}

struct Result {
  torch::Tensor out, dq, dk, dv, dbias;
};

Result run(const Case& c, torch::Dtype dtype, bool chunked, std::int64_t chunkRows, std::uint64_t seed) {
  torch::manual_seed(static_cast<std::int64_t>(seed));
  const auto options = torch::TensorOptions().dtype(torch::kDouble);
  torch::Tensor q = torch::randn({c.batch, c.heads, c.queries, c.dim}, options);
  torch::Tensor k = torch::randn({c.batch, c.kvHeads, c.keys, c.dim}, options);
  torch::Tensor v = torch::randn({c.batch, c.kvHeads, c.keys, c.dim}, options);
  torch::Tensor dOut = torch::randn({c.batch, c.heads, c.queries, c.dim}, options);
  torch::Tensor bias = c.mask(torch::kDouble);
  torch::Tensor padding;
  if (c.maskRequiresGrad) padding = additiveAttentionMask(paddingOf(c.batch, c.keys), c.queries, c.keys, false,
                                                          torch::kDouble, torch::kCPU);
  // Same values in every dtype: rounded to `dtype` first, then each path computes in its own precision.
  q = q.to(dtype).detach().requires_grad_(true);
  k = k.to(dtype).detach().requires_grad_(true);
  v = v.to(dtype).detach().requires_grad_(true);
  if (bias.defined()) bias = bias.to(dtype).detach().requires_grad_(c.maskRequiresGrad);
  torch::Tensor mask = bias;
  if (padding.defined()) mask = bias + padding.to(dtype); // [B, H, Tq, Tk], as T5's stack builds it
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.dim));
  Result r;
  if (chunked) {
    r.out = memoryEfficientAttention(q, k, v, mask, scale, chunkRows);
  } else {
    const torch::Tensor m = mask.defined() ? mask.to(torch::kDouble) : mask;
    r.out = plainAttention(q.to(torch::kDouble), k.to(torch::kDouble), v.to(torch::kDouble), m, scale);
  }
  r.out.backward(dOut.to(r.out.scalar_type()));
  r.dq = q.grad();
  r.dk = k.grad();
  r.dv = v.grad();
  if (c.maskRequiresGrad) r.dbias = bias.grad();
  return r;
}

void expectClose(const Result& got, const Result& want, double tolerance, const std::string& what) {
  EXPECT_LE(relativeError(got.out, want.out), tolerance) << what << " output";
  EXPECT_LE(relativeError(got.dq, want.dq), tolerance) << what << " dQ";
  EXPECT_LE(relativeError(got.dk, want.dk), tolerance) << what << " dK";
  EXPECT_LE(relativeError(got.dv, want.dv), tolerance) << what << " dV";
  if (want.dbias.defined()) {
    ASSERT_TRUE(got.dbias.defined()) << what << ": no gradient for the position bias";
    EXPECT_LE(relativeError(got.dbias, want.dbias), tolerance) << what << " dBias";
  }
}

} // namespace

TEST(MemoryEfficientAttention, Float32MatchesFloat64ReferenceForEveryMask) {
  for (const Case& c : cases()) {
    for (std::int64_t chunkRows : {0, 1, 4}) { // one chunk; one row per chunk; chunks with a remainder
      const Result want = run(c, torch::kFloat, false, 0, 7);
      const Result got = run(c, torch::kFloat, true, chunkRows, 7);
      EXPECT_EQ(got.out.scalar_type(), torch::kFloat);
      EXPECT_EQ(got.dq.scalar_type(), torch::kFloat);
      expectClose(got, want, 1e-5, c.name + " chunkRows " + std::to_string(chunkRows));
    }
  }
}

TEST(MemoryEfficientAttention, Float64IsExactToRounding) {
  for (const Case& c : cases()) {
    const Result want = run(c, torch::kDouble, false, 0, 11);
    const Result got = run(c, torch::kDouble, true, 3, 11);
    expectClose(got, want, 1e-12, c.name + " float64");
  }
}

TEST(MemoryEfficientAttention, BFloat16StaysWithinItsPrecision) {
  for (const Case& c : cases()) {
    const Result want = run(c, torch::kBFloat16, false, 0, 13); // float64 on bf16-rounded inputs
    const Result got = run(c, torch::kBFloat16, true, 4, 13);
    EXPECT_EQ(got.out.scalar_type(), torch::kBFloat16);
    EXPECT_EQ(got.dk.scalar_type(), torch::kBFloat16);
    expectClose(got, want, 3e-2, c.name + " bfloat16"); // bf16 keeps 8 significant bits
  }
}

TEST(MemoryEfficientAttention, MatchesTheFormerPlainPath) {
  // referenceAttention is the former LibTorch 1.13 path the models used: float32, same inputs.
  torch::manual_seed(3);
  const torch::Tensor q = torch::randn({2, 6, 17, 16}, torch::requires_grad());
  const torch::Tensor k = torch::randn({2, 3, 17, 16}, torch::requires_grad());
  const torch::Tensor v = torch::randn({2, 3, 17, 16}, torch::requires_grad());
  const torch::Tensor mask = additiveAttentionMask(paddingOf(2, 17), 17, 17, true, torch::kFloat, torch::kCPU);
  const torch::Tensor a = memoryEfficientAttention(q, k, v, mask, 0.25, 5);
  const torch::Tensor b = referenceAttention(q, k, v, mask, 0.25);
  EXPECT_LE(relativeError(a, b), 1e-5);
  const auto ga = torch::autograd::grad({a.sum()}, {q, k, v});
  const auto gb = torch::autograd::grad({b.sum()}, {q, k, v});
  for (int i = 0; i < 3; ++i) EXPECT_LE(relativeError(ga[i], gb[i]), 1e-5) << "input " << i;
}

TEST(MemoryEfficientAttention, NoGradientWhenNothingRequiresOne) {
  const torch::Tensor q = torch::randn({1, 2, 5, 4}), k = torch::randn({1, 2, 5, 4}), v = torch::randn({1, 2, 5, 4});
  const torch::Tensor out = memoryEfficientAttention(q, k, v, torch::Tensor(), 0.5);
  EXPECT_FALSE(out.requires_grad());
  EXPECT_LE(relativeError(out, referenceAttention(q, k, v, torch::Tensor(), 0.5)), 1e-6);
}

namespace {

/// Bytes the attention node keeps alive between forward and backward: q, k and v are fresh
/// activations (as the projections produce them) dropped by the caller, so whatever backward
/// needs of them is counted; the causal mask is shared by all layers of a model and made once
/// outside. The output itself is not counted.
std::int64_t savedByAttention(bool chunked, std::int64_t length, const torch::Tensor& mask) {
  CpuMemoryTracker& tracker = CpuMemoryTracker::instance();
  const std::int64_t batch = 2, heads = 4, dim = 16;
  const torch::Tensor source = torch::randn({3, batch, heads, length, dim}, torch::requires_grad());
  const std::int64_t before = tracker.currentBytes();
  torch::Tensor out;
  {
    const torch::Tensor qkv = source * 1.0; // a fresh activation
    const torch::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
    out = chunked ? memoryEfficientAttention(q, k, v, mask, 0.25) : referenceAttention(q, k, v, mask, 0.25);
  }
  const std::int64_t held = tracker.currentBytes() - before - static_cast<std::int64_t>(out.nbytes());
  out.backward(torch::ones_like(out)); // the graph must still be usable
  EXPECT_TRUE(source.grad().defined());
  return held;
}

} // namespace

TEST(MemoryEfficientAttention, SavedMemoryGrowsLinearlyWithSequenceLength) {
  CpuMemoryTracker::instance().install();
  std::vector<std::int64_t> chunked, plain;
  const std::vector<std::int64_t> lengths{256, 512, 1024};
  for (std::int64_t length : lengths) {
    const torch::Tensor mask = additiveAttentionMask(torch::Tensor(), length, length, true, torch::kFloat, torch::kCPU);
    chunked.push_back(savedByAttention(true, length, mask));
    plain.push_back(savedByAttention(false, length, mask));
  }
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    // q, k, v (3·B·H·T·D floats) and one float per query row (B·H·T): nothing of size T².
    const std::int64_t expected = (3 * 2 * 4 * lengths[i] * 16 + 2 * 4 * lengths[i]) * 4;
    EXPECT_GE(chunked[i], expected) << "T " << lengths[i];
    EXPECT_LE(chunked[i], expected + 1024) << "T " << lengths[i];
  }
  for (std::size_t i = 1; i < lengths.size(); ++i) {
    const double ratio = static_cast<double>(chunked[i]) / static_cast<double>(chunked[i - 1]);
    EXPECT_NEAR(ratio, 2.0, 0.2) << "chunked, T " << lengths[i - 1] << " → " << lengths[i];
    // The plain path keeps the [B, H, T, T] float32 probabilities: far above 2× per doubling
    // (T·(3·D + T) per head: 3.7× at 256 → 512 and 3.8× at 512 → 1024 here, 4× in the limit).
    const double plainRatio = static_cast<double>(plain[i]) / static_cast<double>(plain[i - 1]);
    EXPECT_GT(plainRatio, 3.0) << "plain, T " << lengths[i - 1] << " → " << lengths[i];
    EXPECT_GE(plain[i], 2 * 4 * lengths[i] * lengths[i] * 4) << "plain keeps the probabilities";
  }
  ::testing::Test::RecordProperty("chunked_bytes_1024", std::to_string(chunked.back()));
  ::testing::Test::RecordProperty("plain_bytes_1024", std::to_string(plain.back()));
}
