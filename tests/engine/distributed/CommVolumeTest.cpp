// Communication volume of data-parallel training: the fp32 gradient bytes one optimizer step
// all-reduces are 4 × the trainable parameters. The count is arithmetic over the model's linears
// (checked here against a real small LLaMA with adapters injected), then applied to the LLaMA-style
// configuration of the benchmarks (hidden 2048, intermediate 5632, 8 layers, 16 heads, vocabulary
// 32000, all-linear, r = 16). What DistributedContext really sends is checked in
// DistributedTrainTest (the logged bytes equal 4 × the checkpoint's trainable tensors).
#include "adapters/AdapterInjector.h"
#include "lorafa/ModelSummary.h"
#include "lorafa/Distributed.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace lorafa {
namespace {

std::string llamaJson(std::int64_t hidden, std::int64_t intermediate, std::int64_t layers, std::int64_t heads,
                      std::int64_t kvHeads, std::int64_t vocab) {
  return "{\"model_type\": \"llama\", \"vocab_size\": " + std::to_string(vocab) + ", \"hidden_size\": " + std::to_string(hidden) +
         ", \"intermediate_size\": " + std::to_string(intermediate) + ", \"num_hidden_layers\": " + std::to_string(layers) +
         ", \"num_attention_heads\": " + std::to_string(heads) + ", \"num_key_value_heads\": " + std::to_string(kvHeads) +
         ", \"max_position_embeddings\": 128}";
}

/// Trainable parameters of a LLaMA for `method` with every linear of the blocks adapted (all-linear:
/// not the output head): full trains everything; LoRA adds A (r×in) and B (out×r) per linear;
/// LoRA-FA trains B only.
std::int64_t trainableCount(const ModelConfig& c, TrainMethod method, std::int64_t r) {
  const std::int64_t h = c.hiddenSize, i = c.intermediateSize, inner = c.numHeads * c.headDim,
                     kv = (c.numKvHeads > 0 ? c.numKvHeads : c.numHeads) * c.headDim;
  struct Linear { std::int64_t in, out; };
  const Linear linears[] = {{h, inner}, {h, kv}, {h, kv}, {inner, h}, {h, i}, {h, i}, {i, h}};
  std::int64_t perLayer = 0;
  for (const Linear& l : linears) {
    switch (method) {
    case TrainMethod::Full: perLayer += l.in * l.out; break;
    case TrainMethod::Lora: perLayer += r * (l.in + l.out); break;
    case TrainMethod::LoraFa: perLayer += r * l.out; break;
    default: break;
    }
  }
  if (method != TrainMethod::Full) return perLayer * c.numLayers;
  perLayer += 2 * h; // the two RMSNorms
  const std::int64_t embeddings = c.vocabSize * h * (c.tieWordEmbeddings ? 1 : 2);
  return perLayer * c.numLayers + embeddings + h; // + the final norm
}

std::int64_t countTrainable(const ModelConfig& config, TrainMethod method, int r) {
  auto model = createModel(config, at::TensorOptions().dtype(at::kFloat));
  AdapterConfig adapter;
  adapter.method = method;
  adapter.rank = r;
  prepareForTraining(*model, TargetSpec::parse("all-linear"), adapter);
  std::int64_t n = 0;
  for (const auto& p : model->parameters()) n += p.requires_grad() ? p.numel() : 0;
  return n;
}

TEST(CommVolumeTest, TheArithmeticCountsWhatASmallLlamaTrains) {
  const ModelConfig small = ModelConfig::fromJson(llamaJson(64, 160, 2, 4, 2, 300), "<small llama>");
  for (const TrainMethod method : {TrainMethod::Full, TrainMethod::Lora, TrainMethod::LoraFa}) {
    EXPECT_EQ(trainableCount(small, method, 4), countTrainable(small, method, 4)) << toString(method);
  }
}

TEST(CommVolumeTest, BytesPerStepOnTheLlamaStyleConfiguration) {
  const ModelConfig llama = ModelConfig::fromJson(llamaJson(2048, 5632, 8, 16, 16, 32000), "<llama-style bench config>");
  const std::int64_t full = trainableCount(llama, TrainMethod::Full, 16);
  const std::int64_t lora = trainableCount(llama, TrainMethod::Lora, 16);
  const std::int64_t loraFa = trainableCount(llama, TrainMethod::LoraFa, 16);
  // Independent arithmetic: per layer 4·2048² + 3·2048·5632 + 2·2048 weights; r(in+out) and r·out per linear.
  EXPECT_EQ(full, 8 * (4 * 2048LL * 2048 + 3 * 2048LL * 5632 + 2 * 2048) + 2 * 32000LL * 2048 + 2048);
  EXPECT_EQ(lora, 8 * 16 * (4 * (2048 + 2048) + 3 * (2048 + 5632)));
  EXPECT_EQ(loraFa, 8 * 16 * (4 * 2048 + 2 * 5632 + 2048));
  std::printf("all-reduced per optimizer step (fp32 gradients), LLaMA-style hidden 2048, 8 layers, all-linear, r=16, vocab 32000:\n");
  for (const auto& [name, count] : {std::pair<const char*, std::int64_t>{"full", full}, {"lora", lora}, {"lora-fa", loraFa}}) {
    const std::int64_t bytes = allReduceBytesPerStep(count);
    std::printf("  %-8s %11lld trainable parameters  %13lld bytes (%8.2f MiB)  %7.1fx LoRA-FA\n", name,
                static_cast<long long>(count), static_cast<long long>(bytes), static_cast<double>(bytes) / (1 << 20),
                static_cast<double>(count) / static_cast<double>(loraFa));
  }
}

} // namespace
} // namespace lorafa
