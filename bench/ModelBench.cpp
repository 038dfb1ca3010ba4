// lorafa-bench-model: one training step (forward, next-token loss, backward, AdamW) of a
// randomly initialised Hugging Face-architecture model for each method — full fine-tuning, LoRA,
// LoRA-FA and frozen — measured in one run: peak memory and tokens/s, then the ratios.
#include "BenchReport.h"
#include "adapters/AdapterInjector.h"
#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/EngineInfo.h"
#include "models/ModelFactory.h"

#include <ATen/ops/cross_entropy_loss.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/randint.h>
#include <torch/cuda.h>
#include <torch/optim/adamw.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

using namespace lorafa;

namespace {

struct Options {
  std::string family = "llama";
  std::int64_t hidden = 2048;
  std::int64_t intermediate = 5632;
  std::int64_t layers = 8;
  std::int64_t heads = 16;
  std::int64_t kvHeads = 0; // 0: as many as heads
  std::int64_t vocab = 32000;
  std::int64_t seq = 1024;
  std::int64_t batch = 4;
  std::string targets = "all-linear";
  int rank = 16;
  int steps = 1;
  int warmup = 0;
  std::string device = "cpu";
  std::string dtype = "float32";
};

ModelConfig configFor(const Options& o) {
  std::string json;
  const std::int64_t kv = o.kvHeads > 0 ? o.kvHeads : o.heads;
  if (o.family == "llama" || o.family == "qwen2" || o.family == "mistral") {
    json = "{\"model_type\": \"" + o.family + "\", \"vocab_size\": " + std::to_string(o.vocab) +
           ", \"hidden_size\": " + std::to_string(o.hidden) + ", \"intermediate_size\": " +
           std::to_string(o.intermediate) + ", \"num_hidden_layers\": " + std::to_string(o.layers) +
           ", \"num_attention_heads\": " + std::to_string(o.heads) + ", \"num_key_value_heads\": " +
           std::to_string(kv) + ", \"max_position_embeddings\": " + std::to_string(std::max<std::int64_t>(o.seq, 2048)) + "}";
  } else if (o.family == "gpt2") {
    json = "{\"model_type\": \"gpt2\", \"vocab_size\": " + std::to_string(o.vocab) + ", \"n_embd\": " +
           std::to_string(o.hidden) + ", \"n_inner\": " + std::to_string(o.intermediate) + ", \"n_layer\": " +
           std::to_string(o.layers) + ", \"n_head\": " + std::to_string(o.heads) + ", \"n_positions\": " +
           std::to_string(std::max<std::int64_t>(o.seq, 1024)) + "}";
  } else {
    throw std::invalid_argument("--family " + o.family + " is not benchmarked (llama, qwen2, mistral, gpt2)");
  }
  return ModelConfig::fromJson(json, "lorafa-bench-model options");
}

bench::MethodResult runMethod(const Options& o, TrainMethod method, const c10::TensorOptions& tensorOptions,
                              MemoryMonitor& monitor) {
  auto model = createModel(configFor(o), tensorOptions);
  initializeRandom(*model, 0);
  AdapterConfig adapter;
  adapter.method = method;
  adapter.rank = o.rank;
  adapter.alpha = o.rank; // s = 1, as the LoRA-FA authors' runs
  prepareForTraining(*model, TargetSpec::parse(o.targets), adapter);
  model->train();
  std::vector<at::Tensor> trainable;
  for (const auto& p : model->parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  std::unique_ptr<torch::optim::AdamW> optimizer;
  if (!trainable.empty()) {
    optimizer = std::make_unique<torch::optim::AdamW>(trainable, torch::optim::AdamWOptions(1e-4));
  }
  at::manual_seed(1);
  ModelInputs inputs;
  inputs.inputIds = at::randint(0, o.vocab, {o.batch, o.seq}, tensorOptions.dtype(at::kLong));
  if (trainable.empty()) {
    // Frozen: nothing to update, but backward still runs through every layer, to the input
    // embeddings (as it would to earlier trainable layers).
    for (const auto& item : model->named_parameters()) {
      const std::string& name = item.key();
      if (name.size() >= 19 && (name.compare(name.size() - 19, 19, "embed_tokens.weight") == 0 ||
                                name.compare(name.size() - 10, 10, "wte.weight") == 0)) {
        inputs.inputEmbeds = at::embedding(item.value(), inputs.inputIds).detach().requires_grad_(true);
      }
    }
  }
  auto step = [&] {
    const at::Tensor logits = model->forward(inputs);
    const at::Tensor loss = at::cross_entropy_loss(logits.slice(1, 0, -1).reshape({-1, o.vocab}).to(at::kFloat),
                                                   inputs.inputIds.slice(1, 1).reshape({-1}));
    loss.backward();
    if (optimizer) optimizer->step();
    for (at::Tensor& p : trainable) p.mutable_grad().reset();
    if (inputs.inputEmbeds.defined()) inputs.inputEmbeds.mutable_grad().reset();
  };
  std::printf("%s: %s trainable parameters\n", toString(method),
              std::to_string(summarizeModel(*model).trainableParameters).c_str());
  std::fflush(stdout);
  return bench::measureSteps(method, step, o.warmup, o.steps, o.batch * o.seq, monitor, tensorOptions.device());
}

} // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"LoRA-FA model benchmark: peak memory and tokens/s of one training step of a random "
               "Hugging Face-architecture model for full, LoRA, LoRA-FA and frozen, measured in one run"};
  app.add_option("--family", o.family, "llama, qwen2, mistral or gpt2");
  app.add_option("--hidden", o.hidden, "hidden size")->check(CLI::PositiveNumber);
  app.add_option("--intermediate", o.intermediate, "MLP width")->check(CLI::PositiveNumber);
  app.add_option("--layers", o.layers, "decoder layers")->check(CLI::PositiveNumber);
  app.add_option("--heads", o.heads, "attention heads")->check(CLI::PositiveNumber);
  app.add_option("--kv-heads", o.kvHeads, "key/value heads (0: as many as --heads)");
  app.add_option("--vocab", o.vocab, "vocabulary size")->check(CLI::PositiveNumber);
  app.add_option("--seq", o.seq, "sequence length")->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batch, "sequences per step")->check(CLI::PositiveNumber);
  app.add_option("--targets", o.targets, "adapter targets: names (q_proj,v_proj), a regex, or all-linear");
  app.add_option("--rank", o.rank, "adapter rank")->check(CLI::PositiveNumber);
  app.add_option("--steps", o.steps, "measured steps per method")->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "unmeasured steps first")->check(CLI::NonNegativeNumber);
  app.add_option("--device", o.device, "cpu or cuda[:N]");
  app.add_option("--dtype", o.dtype, "float32, bfloat16 or float16")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}));
  CLI11_PARSE(app, argc, argv);

  try {
    const c10::Device device(o.device);
    if (device.is_cuda() && !torch::cuda::is_available()) {
      std::cerr << "lorafa-bench-model: --device " << o.device << " asked for, but no CUDA device is usable\n";
      return 2;
    }
    const c10::ScalarType dtype = o.dtype == "bfloat16" ? at::kBFloat16 : o.dtype == "float16" ? at::kHalf : at::kFloat;
    configureComputeThreads(0);
    CpuMemoryTracker::instance().install();
    auto monitor = createMemoryMonitor(device.is_cuda() ? std::max<int>(0, device.index()) : -1);
    std::cout << formatEngineInfo(queryEngineInfo());
    std::printf("config: %s, hidden %lld, intermediate %lld, layers %lld, heads %lld, vocab %lld, batch %lld x seq %lld, "
                "targets %s, rank %d, %s, AdamW, device %s\n\n",
                o.family.c_str(), static_cast<long long>(o.hidden), static_cast<long long>(o.intermediate),
                static_cast<long long>(o.layers), static_cast<long long>(o.heads), static_cast<long long>(o.vocab),
                static_cast<long long>(o.batch), static_cast<long long>(o.seq), o.targets.c_str(), o.rank,
                o.dtype.c_str(), device.str().c_str());
    const auto tensorOptions = at::TensorOptions().dtype(dtype).device(device);
    std::vector<bench::MethodResult> results;
    for (TrainMethod method : bench::allMethods()) {
      results.push_back(runMethod(o, method, tensorOptions, *monitor));
    }
    bench::printReport(results);
  } catch (const std::exception& error) {
    std::cerr << "lorafa-bench-model: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
