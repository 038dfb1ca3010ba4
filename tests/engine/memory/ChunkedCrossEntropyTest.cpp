// chunkedCrossEntropySum (logits recomputed chunk by chunk in backward) against the plain
// full-logits cross-entropy computed here in float64; on whole models (the hidden states and
// output head they expose); and the memory it saves, measured with the tracking allocator.
#include "lorafa/CpuMemoryTracker.h"

#include "../models/TinyModels.h"
#include "memory/ChunkedCrossEntropy.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <string>

using namespace lorafa;

namespace {

constexpr std::int64_t kIgnore = -100;

double relativeError(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>() / (scale > 0 ? scale : 1.0);
}

/// Σ cross-entropy over counted rows from full float64 logits.
torch::Tensor plainLossSum(const torch::Tensor& hidden, const torch::Tensor& weight, const torch::Tensor& labels,
                           double scale) {
  const torch::Tensor logits = torch::matmul(hidden.to(torch::kDouble) * scale, weight.to(torch::kDouble).t());
  return torch::nn::functional::cross_entropy(
      logits, labels,
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum).ignore_index(kIgnore));
}

torch::Tensor labelsWithIgnored(std::int64_t rows, std::int64_t vocab) {
  torch::Tensor labels = torch::randint(vocab, {rows}, torch::kLong);
  labels.index_put_({torch::arange(0, rows, 3)}, kIgnore); // every third row does not count
  return labels;
}

} // namespace

TEST(ChunkedCrossEntropy, LossAndGradientsMatchFullLogits) {
  for (const double scale : {1.0, 0.125}) {     // 0.125: T5's tied head (d_model^-0.5)
    for (const bool trainHead : {false, true}) { // full fine-tuning of the head / tied embedding
      for (const std::int64_t chunk : {0, 1, 7}) {
        torch::manual_seed(5);
        const std::int64_t rows = 37, hiddenSize = 24, vocab = 101;
        const torch::Tensor h0 = torch::randn({rows, hiddenSize});
        const torch::Tensor w0 = torch::randn({vocab, hiddenSize}) * 0.3;
        const torch::Tensor labels = labelsWithIgnored(rows, vocab);
        const torch::Tensor h = h0.clone().requires_grad_(true), w = w0.clone().requires_grad_(trainHead);
        const torch::Tensor loss = chunkedCrossEntropySum(h, w, labels, scale, kIgnore, chunk);
        loss.backward();
        const torch::Tensor hr = h0.to(torch::kDouble).requires_grad_(true);
        const torch::Tensor wr = w0.to(torch::kDouble).requires_grad_(trainHead);
        const torch::Tensor want = plainLossSum(hr, wr, labels, scale);
        want.backward();
        const std::string what = "scale " + std::to_string(scale) + " head " + std::to_string(trainHead) +
                                 " chunk " + std::to_string(chunk);
        EXPECT_EQ(loss.scalar_type(), torch::kFloat) << what;
        EXPECT_LE(relativeError(loss, want), 1e-5) << what;
        EXPECT_LE(relativeError(h.grad(), hr.grad()), 1e-5) << what;
        EXPECT_EQ(h.grad().index({torch::arange(0, rows, 3)}).abs().max().item<double>(), 0.0)
            << what << ": ignored rows get no gradient";
        if (trainHead) {
          EXPECT_LE(relativeError(w.grad(), wr.grad()), 1e-5) << what;
        } else {
          EXPECT_FALSE(w.grad().defined()) << what;
        }
      }
    }
  }
}

TEST(ChunkedCrossEntropy, NoCountedRowIsZeroLoss) {
  const torch::Tensor h = torch::randn({4, 8}, torch::requires_grad());
  const torch::Tensor loss = chunkedCrossEntropySum(h, torch::randn({10, 8}), torch::full({4}, kIgnore, torch::kLong),
                                                    1.0, kIgnore);
  EXPECT_EQ(loss.item<double>(), 0.0);
  loss.backward();
  EXPECT_EQ(h.grad().abs().sum().item<double>(), 0.0);
}

TEST(ChunkedCrossEntropy, NextTokenLossOfWholeModelsMatchesTheLogitsPath) {
  // Llama (untied lm_head, frozen or trained) and GPT-2 (tied to wte): the hidden states and
  // head the model exposes give the loss and gradients of its own logits.
  for (const std::string family : {"llama", "gpt2"}) {
    for (const bool trainAll : {false, true}) {
      auto model = test::tinyModel(family, 3);
      for (auto& p : model->parameters()) p.set_requires_grad(trainAll);
      const auto head = model->outputHead();
      ASSERT_TRUE(head.has_value()) << family;
      torch::manual_seed(9);
      const torch::Tensor ids = torch::randint(3, 61, {2, 9}, torch::kLong);
      torch::Tensor labels = ids.clone();
      labels.index_put_({1, torch::indexing::Slice(0, 4)}, kIgnore); // a masked prompt
      const torch::Tensor embeddings = torch::randn({2, 9, 32}, torch::requires_grad());

      ModelInputs inputs;
      inputs.inputEmbeds = embeddings;
      const torch::Tensor logits = model->forward(inputs);
      const torch::Tensor want = torch::nn::functional::cross_entropy(
          logits.slice(1, 0, -1).reshape({-1, 61}).to(torch::kDouble), labels.slice(1, 1).reshape({-1}),
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum).ignore_index(kIgnore));
      std::vector<torch::Tensor> wrt{embeddings};
      if (trainAll) wrt.push_back(head->weight);
      const auto wantGrads = torch::autograd::grad({want}, wrt);

      inputs.returnHidden = true;
      const torch::Tensor hidden = model->forward(inputs);
      ASSERT_EQ(hidden.sizes(), (std::vector<std::int64_t>{2, 9, 32})) << family;
      const torch::Tensor got = chunkedNextTokenLossSum(hidden, head->weight, labels, head->hiddenScale, kIgnore, 5);
      const auto gotGrads = torch::autograd::grad({got}, wrt);
      EXPECT_LE(relativeError(got, want), 1e-5) << family;
      for (std::size_t i = 0; i < wrt.size(); ++i) {
        EXPECT_LE(relativeError(gotGrads[i], wantGrads[i]), 1e-5) << family << " gradient " << i;
      }
    }
  }
}

namespace {

/// Peak bytes above the starting point over forward + backward of one loss.
std::int64_t lossPeak(bool chunked, const torch::Tensor& h0, const torch::Tensor& weight, const torch::Tensor& labels) {
  CpuMemoryTracker& tracker = CpuMemoryTracker::instance();
  const torch::Tensor h = h0.clone().requires_grad_(true);
  const std::int64_t before = tracker.currentBytes();
  tracker.resetPeak();
  {
    torch::Tensor loss;
    if (chunked) {
      loss = chunkedCrossEntropySum(h, weight, labels, 1.0, kIgnore, 64);
    } else {
      loss = torch::nn::functional::cross_entropy(
          torch::matmul(h, weight.t()), labels,
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum).ignore_index(kIgnore));
    }
    loss.backward();
  }
  return tracker.peakBytes() - before;
}

} // namespace

TEST(ChunkedCrossEntropy, NeverHoldsTheFullVocabularyLogits) {
  CpuMemoryTracker::instance().install();
  torch::manual_seed(1);
  const std::int64_t rows = 1024, hiddenSize = 64, vocab = 8000; // logits: 31.25 MiB in float32
  const torch::Tensor h0 = torch::randn({rows, hiddenSize});
  const torch::Tensor weight = torch::randn({vocab, hiddenSize}) * 0.1;
  const torch::Tensor labels = labelsWithIgnored(rows, vocab);
  const std::int64_t plain = lossPeak(false, h0, weight, labels);
  const std::int64_t chunked = lossPeak(true, h0, weight, labels);
  const std::int64_t logitsBytes = rows * vocab * 4;
  // The plain path holds at least the logits and their log-softmax (and then their gradients).
  EXPECT_GE(plain, 2 * logitsBytes);
  // Chunked: the hidden gradient [N, H] and a few [64, V] chunks, far below one [N, V] tensor.
  EXPECT_LE(chunked, logitsBytes / 4) << "plain peak " << plain;
  ::testing::Test::RecordProperty("plain_peak_bytes", std::to_string(plain));
  ::testing::Test::RecordProperty("chunked_peak_bytes", std::to_string(chunked));
}
