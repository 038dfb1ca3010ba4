// Packed rows (several examples in one row) must compute exactly what each example computes in a
// row of its own: attention kept inside segments, positions restarting at 0. The reference is the
// independent unpacked forward of each segment alone.
#include "lorafa/Batch.h"
#include "lorafa/TokenizedDataset.h"
#include "models/Generation.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include "TensorAssertions.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/cross_entropy_loss.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/isfinite.h>
#include <ATen/core/Reduction.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace lorafa {
namespace {

ModelConfig packedTinyConfig(const std::string& type) {
  std::string json;
  if (type == "gpt2") {
    json =
        R"({"model_type": "gpt2", "vocab_size": 61, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64,
      "eos_token_id": 2})";
  } else if (type == "gemma3_text" || type == "phi3") {
    // Sliding windows shorter than the segments: the window must stay inside each segment.
    // Gemma 3: one sliding layer (its own RoPE base) and one global; Phi-3: fused projections,
    // every layer sliding.
    json = R"({"model_type": ")" + type + R"(", "vocab_size": 61, "hidden_size": 32, "intermediate_size": 48,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
      "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "eos_token_id": 2, "bos_token_id": 1,
      "sliding_window": 3, "layer_types": ["sliding_attention", ")" +
           (type == "phi3" ? std::string("sliding_attention") : std::string("full_attention")) + R"("]})";
  } else {
    // Grouped-query attention (4 heads over 2 KV heads); qwen2 adds q/k/v biases.
    json = R"({"model_type": ")" + type + R"(", "vocab_size": 61, "hidden_size": 32, "intermediate_size": 48,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64,
      "rms_norm_eps": 1e-6, "eos_token_id": 2, "bos_token_id": 1})";
  }
  return ModelConfig::fromJson(json, "<tiny " + type + ">");
}

std::shared_ptr<LanguageModel> packedTinyModel(const std::string& type, std::uint64_t seed) {
  auto model = createModel(packedTinyConfig(type), at::TensorOptions().dtype(at::kFloat));
  initializeRandom(*model, seed);
  model->eval();
  return model;
}

at::Tensor embeddingWeight(LanguageModel& model) {
  const auto params = model.named_parameters();
  const std::string name =
      model.config().family == ModelFamily::Gpt2 ? "transformer.wte.weight" : "model.embed_tokens.weight";
  return params[name].detach();
}

at::Tensor longTensor(std::vector<std::int64_t> values, std::int64_t rows, std::int64_t columns) {
  return at::from_blob(values.data(), {rows, columns}, at::TensorOptions().dtype(at::kLong)).clone();
}

/// Summed next-token cross-entropy (logits [B, T, V], labels [B, T] aligned with the inputs).
at::Tensor summedLoss(const at::Tensor& logits, const at::Tensor& labels) {
  return at::cross_entropy_loss(logits.slice(1, 0, -1).reshape({-1, logits.size(-1)}),
                                labels.slice(1, 1).reshape({-1}), {}, at::Reduction::Sum, kIgnoreIndex);
}

/// Two packed rows: three segments (5, 7, 4 tokens) filling 16 columns, and two (6, 3) followed by
/// 7 padding cells. Labels as RowPacker writes them: the first label of every later segment is
/// ignored, and so is a "prompt" token in each segment.
struct PackedCase {
  std::vector<std::vector<std::vector<TokenId>>> segments; // [row][segment][token]
  TokenizedDataset dataset;

  explicit PackedCase(std::uint64_t seed) {
    std::mt19937_64 random(seed);
    std::uniform_int_distribution<TokenId> token(3, 60);
    const std::vector<std::vector<std::int64_t>> lengths{{5, 7, 4}, {6, 3}};
    dataset.task = TaskType::CausalLm;
    dataset.packed = true;
    dataset.padId = 0;
    for (const auto& rowLengths : lengths) {
      TokenizedExample row;
      segments.emplace_back();
      for (std::size_t s = 0; s < rowLengths.size(); ++s) {
        std::vector<TokenId> ids;
        for (std::int64_t t = 0; t < rowLengths[s]; ++t)
          ids.push_back(token(random));
        segments.back().push_back(ids);
        for (std::size_t t = 0; t < ids.size(); ++t) {
          row.inputIds.push_back(ids[t]);
          const bool ignored = (t == 0 && s > 0) || t == 1;
          row.labels.push_back(ignored ? kIgnoreIndex : ids[t]);
        }
        row.segmentLengths.push_back(rowLengths[s]);
      }
      dataset.rows.push_back(row);
    }
  }

  /// The labels a segment has alone (its first label never counts: nothing precedes it).
  static std::vector<TokenId> aloneLabels(const std::vector<TokenId>& ids) {
    std::vector<TokenId> labels(ids);
    if (labels.size() > 1) labels[1] = kIgnoreIndex;
    return labels;
  }
};

ModelInputs packedInputs(const Batch& b) {
  ModelInputs inputs;
  inputs.inputIds = longTensor(b.inputIds, b.rows, b.columns);
  inputs.attentionMask = longTensor(b.attentionMask, b.rows, b.columns);
  inputs.segmentIds = longTensor(b.segmentIds, b.rows, b.columns);
  inputs.positionIds = longTensor(b.positionIds, b.rows, b.columns);
  return inputs;
}

class PackedRows : public ::testing::TestWithParam<std::string> {};

TEST_P(PackedRows, LogitsEqualEachSegmentAlone) {
  auto model = packedTinyModel(GetParam(), 21);
  const PackedCase c(5);
  const Batch b = collate(c.dataset, {0, 1});
  ASSERT_EQ(b.columns, 16);
  c10::NoGradGuard noGrad;
  const at::Tensor packed = model->forward(packedInputs(b));
  ASSERT_EQ(packed.sizes().vec(), (std::vector<std::int64_t>{2, 16, 61}));
  EXPECT_TRUE(at::isfinite(packed).all().item<bool>()) << "padding rows must not produce NaN";
  for (std::size_t r = 0; r < c.segments.size(); ++r) {
    std::int64_t start = 0;
    for (std::size_t s = 0; s < c.segments[r].size(); ++s) {
      SCOPED_TRACE("row " + std::to_string(r) + " segment " + std::to_string(s));
      const auto& ids = c.segments[r][s];
      const auto length = static_cast<std::int64_t>(ids.size());
      ModelInputs alone;
      alone.inputIds = longTensor(ids, 1, length);
      const at::Tensor reference = model->forward(alone)[0];
      EXPECT_TRUE(test::allClose(packed[static_cast<std::int64_t>(r)].slice(0, start, start + length),
                                 reference, 0.0, 1e-5));
      start += length;
    }
  }
  // Without segments the later segments see the earlier ones: the comparison above has teeth.
  ModelInputs unsegmented = packedInputs(b);
  unsegmented.segmentIds = at::Tensor();
  unsegmented.positionIds = at::Tensor();
  const at::Tensor leaky = model->forward(unsegmented);
  const std::int64_t second = static_cast<std::int64_t>(c.segments[0][0].size());
  EXPECT_TRUE(test::allClose(leaky[0].slice(0, 0, second), packed[0].slice(0, 0, second), 0.0, 1e-5));
  EXPECT_FALSE(test::allClose(leaky[0].slice(0, second), packed[0].slice(0, second), 0.0, 1e-3));
}

TEST_P(PackedRows, LossAndInputGradientsEqualTheUnpackedRows) {
  auto model = packedTinyModel(GetParam(), 22);
  const PackedCase c(6);
  const Batch b = collate(c.dataset, {0, 1});
  const at::Tensor weight = embeddingWeight(*model);

  // Packed: one forward over [2, 16] embeddings that require gradients.
  ModelInputs packedIn = packedInputs(b);
  const at::Tensor packedEmbeds = at::embedding(weight, packedIn.inputIds).requires_grad_(true);
  packedIn.inputEmbeds = packedEmbeds;
  const at::Tensor packedLogits = model->forward(packedIn);
  const at::Tensor labels = longTensor(b.labels, b.rows, b.columns);
  const std::int64_t packedCount = labels.slice(1, 1).ne(kIgnoreIndex).sum().item<std::int64_t>();
  const at::Tensor packedLoss = summedLoss(packedLogits, labels) / static_cast<double>(packedCount);
  packedLoss.backward();

  // Unpacked: every segment in its own row, the loss weighted by counted tokens.
  double aloneSum = 0.0;
  std::int64_t aloneCount = 0;
  std::vector<at::Tensor> aloneEmbeds;
  std::vector<at::Tensor> aloneLosses;
  for (const auto& row : c.segments) {
    for (const auto& ids : row) {
      const auto length = static_cast<std::int64_t>(ids.size());
      ModelInputs alone;
      alone.inputIds = longTensor(ids, 1, length);
      aloneEmbeds.push_back(at::embedding(weight, alone.inputIds).requires_grad_(true));
      alone.inputEmbeds = aloneEmbeds.back();
      const at::Tensor aloneLabels = longTensor(PackedCase::aloneLabels(ids), 1, length);
      aloneLosses.push_back(summedLoss(model->forward(alone), aloneLabels));
      aloneSum += aloneLosses.back().item<double>();
      aloneCount += aloneLabels.slice(1, 1).ne(kIgnoreIndex).sum().item<std::int64_t>();
    }
  }
  ASSERT_EQ(packedCount, aloneCount);
  EXPECT_NEAR(packedLoss.item<double>(), aloneSum / static_cast<double>(aloneCount), 1e-5);
  at::Tensor total = aloneLosses[0];
  for (std::size_t i = 1; i < aloneLosses.size(); ++i)
    total = total + aloneLosses[i];
  (total / static_cast<double>(aloneCount)).backward();

  // The gradient reaching each token's embedding is the one it gets alone: nothing leaks across.
  // Tolerance: 1e-4 relative, and 1e-5 of the largest gradient absolute (float32 sums in another
  // order: Gemma's (1 + w) norms give entries near zero next to larger ones).
  const double gradientScale = packedEmbeds.grad().abs().max().item<double>();
  std::size_t k = 0;
  for (std::size_t r = 0; r < c.segments.size(); ++r) {
    std::int64_t start = 0;
    for (const auto& ids : c.segments[r]) {
      const auto length = static_cast<std::int64_t>(ids.size());
      EXPECT_TRUE(
          test::allClose(packedEmbeds.grad()[static_cast<std::int64_t>(r)].slice(0, start, start + length),
                         aloneEmbeds[k++].grad()[0], 1e-4, std::max(1e-7, 1e-5 * gradientScale)));
      start += length;
    }
  }
}

TEST_P(PackedRows, OneSegmentPerRowMatchesThePaddingMask) {
  // Unpacked right-padded rows described by segments give what attentionMask alone gives.
  auto model = packedTinyModel(GetParam(), 23);
  TokenizedDataset data;
  data.rows.resize(2);
  data.rows[0].inputIds = {7, 8, 9, 10, 11, 12};
  data.rows[1].inputIds = {13, 14, 15};
  for (auto& row : data.rows) {
    row.labels = row.inputIds;
    row.segmentLengths = {static_cast<std::int64_t>(row.inputIds.size())};
  }
  const Batch b = collate(data, {0, 1});
  c10::NoGradGuard noGrad;
  ModelInputs plain;
  plain.inputIds = longTensor(b.inputIds, b.rows, b.columns);
  plain.attentionMask = longTensor(b.attentionMask, b.rows, b.columns);
  const at::Tensor expected = model->forward(plain);
  const at::Tensor actual = model->forward(packedInputs(b));
  EXPECT_TRUE(test::allClose(actual[0], expected[0], 0.0, 1e-5));
  EXPECT_TRUE(test::allClose(actual[1].slice(0, 0, 3), expected[1].slice(0, 0, 3), 0.0, 1e-5));
}

TEST_P(PackedRows, SegmentsRefuseAFilledKvCacheAndGenerationIsUnchanged) {
  auto model = packedTinyModel(GetParam(), 24);
  c10::NoGradGuard noGrad;
  KvCache cache;
  ModelInputs first;
  first.inputIds = longTensor({5, 6, 7}, 1, 3);
  first.cache = &cache;
  model->forward(first);
  ModelInputs next;
  next.inputIds = longTensor({8}, 1, 1);
  next.cache = &cache;
  next.segmentIds = longTensor({0}, 1, 1);
  EXPECT_THROW(model->forward(next), std::invalid_argument);

  // Generation passes no segments: cached and recomputed greedy decoding still agree.
  GenerationOptions options;
  options.maxNewTokens = 8;
  options.stopTokens = {-1};
  const auto cached = generate(*model, {5, 17, 3, 40}, options);
  options.useCache = false;
  EXPECT_EQ(generate(*model, {5, 17, 3, 40}, options), cached);
}

INSTANTIATE_TEST_SUITE_P(DecoderOnly, PackedRows, ::testing::Values("llama", "qwen2", "gpt2", "gemma3_text", "phi3"));

} // namespace
} // namespace lorafa
