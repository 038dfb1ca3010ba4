// lorafa-bench-model: one training step (forward, next-token loss, backward, AdamW) of a
// randomly initialised Hugging Face-architecture model for each method — full fine-tuning, LoRA,
// LoRA-FA and frozen — measured in one run: peak memory and tokens/s, then the ratios.
#include "BenchReport.h"
#include "adapters/AdapterInjector.h"
#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/EngineInfo.h"
#include "lorafa/MemoryEstimate.h"
#include "memory/ChunkedCrossEntropy.h"
#include "models/ModelFactory.h"

#include <ATen/ops/cross_entropy_loss.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/randint.h>
#include <torch/cuda.h>
#include <torch/optim/adamw.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

using namespace lorafa;

namespace {

struct Options {
  std::string family = "llama"; ///< the configuration being run (one point of the grid)
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
  std::string methods = "full,lora,lora-fa,frozen";
  std::string loss = "chunked";                // chunked: memory/ChunkedCrossEntropy; plain: full logits
  std::string attention = "memory-efficient"; // reference: the former path that keeps the probabilities
  bool checkpointing = false;
  bool recomputeMlp = false;
  bool interleave = false;
  bool predictOnly = false;
  // The grid: every combination is run (one value each by default).
  std::vector<std::string> families;
  std::vector<std::int64_t> batches, seqs;
  std::vector<int> ranks;
};

/// Model FLOPs of one training step (no recomputation counted): forward 2·N·W over the linears
/// and head plus attention's 4·B·T²·(H·d) per layer; backward the same for input gradients, and
/// again for the weight gradients of trained weights (full fine-tuning), adapters neglected.
double stepFlops(const ModelConfig& c, TrainMethod method, std::int64_t batch, std::int64_t seq) {
  const double tokens = static_cast<double>(batch * seq);
  const double h = static_cast<double>(c.hiddenSize), i = static_cast<double>(c.intermediateSize);
  const double inner = static_cast<double>(c.numHeads * c.headDim);
  const double kv = static_cast<double>(std::max<std::int64_t>(c.numKvHeads, 1) * c.headDim);
  const double perLayer = c.family == ModelFamily::Llama ? h * inner + 2 * h * kv + inner * h + 3 * h * i
                                                         : 4 * h * h + 2 * h * i;
  const double linear = perLayer * static_cast<double>(c.numLayers) + h * static_cast<double>(c.vocabSize);
  const double attention = 4.0 * batch * static_cast<double>(seq) * seq * inner * static_cast<double>(c.numLayers);
  const double forward = 2.0 * tokens * linear + attention;
  const double backward = 2.0 * tokens * linear + 2.0 * attention +
                          (method == TrainMethod::Full ? 2.0 * tokens * linear : 0.0);
  return forward + backward;
}

/// FLOP/s of a plain float matmul on this device, measured now: the MFU's denominator.
double matmulFlopsPerSecond(const c10::TensorOptions& options) {
  const std::int64_t n = 2048;
  const at::Tensor a = at::randn({n, n}, options), b = at::randn({n, n}, options);
  at::Tensor c = at::mm(a, b); // warm-up
  const int repeats = 4;
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < repeats; ++r) c = at::mm(a, b);
  if (options.device().is_cuda()) torch::cuda::synchronize();
  (void)c.sum().item<double>();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return 2.0 * n * n * n * repeats / seconds;
}

std::vector<TrainMethod> parseMethods(const std::string& text) {
  std::vector<TrainMethod> methods;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    const auto method = parseTrainMethod(item);
    if (!method) throw std::invalid_argument("--methods: unknown method \"" + item + "\" (full, lora, lora-fa, frozen)");
    methods.push_back(*method);
  }
  if (methods.empty()) throw std::invalid_argument("--methods: no method given");
  return methods;
}

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

/// One method's model, optimizer and inputs, ready to run steps.
struct MethodRun {
  TrainMethod method = TrainMethod::LoraFa;
  std::shared_ptr<LanguageModel> model;
  std::vector<at::Tensor> trainable;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  std::optional<OutputHead> head;
  ModelInputs inputs;
  std::function<void()> step;
};

std::unique_ptr<MethodRun> prepareMethod(const Options& o, TrainMethod method, const c10::TensorOptions& tensorOptions) {
  auto run = std::make_unique<MethodRun>();
  run->method = method;
  auto& model = run->model;
  auto& trainable = run->trainable;
  auto& optimizer = run->optimizer;
  auto& inputs = run->inputs;
  model = createModel(configFor(o), tensorOptions);
  initializeRandom(*model, 0);
  AdapterConfig adapter;
  adapter.method = method;
  adapter.rank = o.rank;
  adapter.alpha = o.rank; // s = 1, as the LoRA-FA authors' runs
  prepareForTraining(*model, TargetSpec::parse(o.targets), adapter);
  model->setGradientCheckpointing(o.checkpointing);
  model->setRecomputeMlp(o.recomputeMlp);
  model->train();
  run->head = o.loss == "chunked" ? model->outputHead() : std::nullopt;
  const std::optional<OutputHead>& head = run->head;
  for (const auto& p : model->parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  if (!trainable.empty()) {
    optimizer = std::make_unique<torch::optim::AdamW>(trainable, torch::optim::AdamWOptions(1e-4));
  }
  at::manual_seed(1);
  inputs.inputIds = at::randint(0, o.vocab, {o.batch, o.seq}, tensorOptions.dtype(at::kLong));
  inputs.attentionMask = at::ones({o.batch, o.seq}, tensorOptions.dtype(at::kLong)); // as the trainer passes
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
  inputs.returnHidden = head.has_value();
  MethodRun* self = run.get();
  const std::int64_t batch = o.batch, seq = o.seq, vocab = o.vocab;
  run->step = [self, batch, seq, vocab] {
    auto& model = self->model;
    auto& inputs = self->inputs;
    auto& head = self->head;
    const at::Tensor out = model->forward(inputs);
    at::Tensor loss;
    if (head) {
      // The Trainer's loss: the head applied chunk by chunk, never [B, T, vocab] at once.
      loss = chunkedNextTokenLossSum(out, head->weight, inputs.inputIds, head->hiddenScale, -100) /
             static_cast<double>(batch * (seq - 1));
    } else {
      loss = at::cross_entropy_loss(out.slice(1, 0, -1).reshape({-1, vocab}).to(at::kFloat),
                                    inputs.inputIds.slice(1, 1).reshape({-1}));
    }
    loss.backward();
    if (self->optimizer) self->optimizer->step();
    for (at::Tensor& p : self->trainable) p.mutable_grad().reset();
    if (inputs.inputEmbeds.defined()) inputs.inputEmbeds.mutable_grad().reset();
  };
  std::printf("%s: %s trainable parameters\n", toString(method),
              std::to_string(summarizeModel(*model).trainableParameters).c_str());
  std::fflush(stdout);
  return run;
}

bench::MethodResult runMethod(const Options& o, TrainMethod method, const c10::TensorOptions& tensorOptions,
                              MemoryMonitor& monitor) {
  const auto run = prepareMethod(o, method, tensorOptions);
  return bench::measureSteps(method, run->step, o.warmup, o.steps, o.batch * o.seq, monitor, tensorOptions.device());
}

/// --interleave: every method's model built once, then one step of each in turn, `steps` times,
/// so that the load of a shared machine falls on all alike; the median tokens/s of each.
void runInterleaved(const Options& o, const std::vector<TrainMethod>& methods, const c10::TensorOptions& tensorOptions) {
  std::vector<std::unique_ptr<MethodRun>> runs;
  for (TrainMethod method : methods) runs.push_back(prepareMethod(o, method, tensorOptions));
  for (int i = 0; i < std::max(o.warmup, 1); ++i) {
    for (auto& run : runs) run->step(); // the optimizer state exists, as in the timed steps
  }
  std::vector<std::vector<double>> rates(runs.size());
  for (int s = 0; s < o.steps; ++s) {
    for (std::size_t m = 0; m < runs.size(); ++m) {
      const auto start = std::chrono::steady_clock::now();
      runs[m]->step();
      if (tensorOptions.device().is_cuda()) torch::cuda::synchronize();
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      rates[m].push_back(static_cast<double>(o.batch * o.seq) / seconds);
    }
    std::printf("  round %d:", s + 1);
    for (std::size_t m = 0; m < runs.size(); ++m) std::printf(" %s %.1f", toString(runs[m]->method), rates[m].back());
    std::printf(" tokens/s\n");
    std::fflush(stdout);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  };
  double lora = 0.0, loraFa = 0.0;
  std::printf("interleaved, %d rounds: median tokens/s", o.steps);
  for (std::size_t m = 0; m < runs.size(); ++m) {
    const double value = median(rates[m]);
    std::printf("  %s %.1f", toString(runs[m]->method), value);
    if (runs[m]->method == TrainMethod::Lora) lora = value;
    if (runs[m]->method == TrainMethod::LoraFa) loraFa = value;
  }
  std::printf("\n");
  if (lora > 0.0 && loraFa > 0.0) {
    // The ratio per round as well: each round's two steps ran under the same load.
    std::vector<double> perRound;
    std::size_t iLora = 0, iFa = 0;
    for (std::size_t m = 0; m < runs.size(); ++m) {
      if (runs[m]->method == TrainMethod::Lora) iLora = m;
      if (runs[m]->method == TrainMethod::LoraFa) iFa = m;
    }
    for (int s = 0; s < o.steps; ++s) perRound.push_back(rates[iFa][s] / rates[iLora][s]);
    std::printf("LoRA-FA/LoRA tokens/s: ratio of medians %.3f, median of per-round ratios %.3f\n", loraFa / lora,
                median(perRound));
  }
  std::fflush(stdout);
}

const bench::MethodResult* findResult(const std::vector<bench::MethodResult>& results, TrainMethod method) {
  for (const auto& r : results) {
    if (r.method == method) return &r;
  }
  return nullptr;
}

/// The table for the methods that ran, then each ratio whose two methods both ran.
void printResults(const std::vector<bench::MethodResult>& results) {
  if (results.size() == bench::allMethods().size()) {
    bench::printReport(results);
    return;
  }
  auto mib = [](std::int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); };
  std::printf("%-8s %14s %14s %18s %12s\n", "method", "resident MiB", "peak MiB", "peak-resident MiB", "tokens/s");
  for (const auto& r : results) {
    std::printf("%-8s %14.1f %14.1f %18.1f %12.1f\n", toString(r.method), mib(r.residentBytes), mib(r.peakBytes),
                mib(r.peakBytes - r.residentBytes), r.tokensPerSecond);
  }
  std::printf("\n");
  const auto* lora = findResult(results, TrainMethod::Lora);
  const auto* loraFa = findResult(results, TrainMethod::LoraFa);
  const auto* frozen = findResult(results, TrainMethod::Frozen);
  if (lora && loraFa) {
    std::printf("LoRA/LoRA-FA peak ratio: %.3f\n", static_cast<double>(lora->peakBytes) / loraFa->peakBytes);
    std::printf("LoRA-FA/LoRA tokens/s ratio: %.3f\n", loraFa->tokensPerSecond / lora->tokensPerSecond);
  }
  if (loraFa && frozen) {
    std::printf("LoRA-FA/frozen peak ratio: %.3f\n", static_cast<double>(loraFa->peakBytes) / frozen->peakBytes);
  }
  std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"LoRA-FA model benchmark: peak memory (measured and predicted by the memory planner) and "
               "tokens/s of one training step of a random Hugging Face-architecture model for full, LoRA, "
               "LoRA-FA and frozen, measured in one run. --family, --batch, --seq and --rank take comma-"
               "separated lists: every combination is run (the grid)."};
  app.add_option("--family", o.families, "llama, qwen2, mistral or gpt2 (list)")->delimiter(',');
  app.add_option("--hidden", o.hidden, "hidden size")->check(CLI::PositiveNumber);
  app.add_option("--intermediate", o.intermediate, "MLP width")->check(CLI::PositiveNumber);
  app.add_option("--layers", o.layers, "decoder layers")->check(CLI::PositiveNumber);
  app.add_option("--heads", o.heads, "attention heads")->check(CLI::PositiveNumber);
  app.add_option("--kv-heads", o.kvHeads, "key/value heads (0: as many as --heads)");
  app.add_option("--vocab", o.vocab, "vocabulary size")->check(CLI::PositiveNumber);
  app.add_option("--seq", o.seqs, "sequence length (list)")->delimiter(',')->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batches, "sequences per step (list)")->delimiter(',')->check(CLI::PositiveNumber);
  app.add_option("--targets", o.targets, "adapter targets: names (q_proj,v_proj), a regex, or all-linear");
  app.add_option("--rank", o.ranks, "adapter rank (list)")->delimiter(',')->check(CLI::PositiveNumber);
  app.add_option("--steps", o.steps, "measured steps per method")->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "unmeasured steps first (1: the optimizer state exists, as the planner assumes)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--device", o.device, "cpu or cuda[:N]");
  app.add_option("--dtype", o.dtype, "float32, bfloat16 or float16")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}));
  app.add_option("--methods", o.methods, "comma-separated methods to run: full, lora, lora-fa, frozen");
  app.add_option("--loss", o.loss, "chunked (the trainer's: head applied chunk by chunk) or plain (full logits)")
      ->check(CLI::IsMember({"chunked", "plain"}));
  app.add_option("--attention", o.attention,
                 "memory-efficient (probabilities recomputed in backward) or reference (kept; LibTorch < 2.1 only)")
      ->check(CLI::IsMember({"memory-efficient", "reference"}));
  app.add_flag("--checkpointing", o.checkpointing, "gradient checkpointing per block");
  app.add_flag("--recompute-mlp", o.recomputeMlp,
               "train.recompute_mlp: gated MLPs keep their input only, gate and up recomputed in backward");
  app.add_flag("--interleave", o.interleave,
               "tokens/s only: build every method's model once, then alternate one step of each, --steps rounds "
               "(median tokens/s per method; a shared machine's load falls on all alike)");
  app.add_flag("--predict-only", o.predictOnly, "print the memory planner's prediction and breakdown, run nothing");
  CLI11_PARSE(app, argc, argv);
  if (o.attention == "reference") setenv("LORAFA_ATTENTION", "reference", 1); // read once, at the first attention
  if (o.families.empty()) o.families = {o.family};
  if (o.batches.empty()) o.batches = {o.batch};
  if (o.seqs.empty()) o.seqs = {o.seq};
  if (o.ranks.empty()) o.ranks = {o.rank};

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
    const auto tensorOptions = at::TensorOptions().dtype(dtype).device(device);
    const double matmul = o.predictOnly ? 1.0 : matmulFlopsPerSecond(tensorOptions);
    std::printf("plain %s matmul (2048^3) on %s: %.1f GFLOP/s (the MFU's denominator)\n", o.dtype.c_str(),
                device.str().c_str(), matmul / 1e9);
    std::printf("loss %s, attention %s, gradient checkpointing %s, recompute_mlp %s, targets %s, AdamW, warmup %d, "
                "steps %d%s\n\n",
                o.loss.c_str(), o.attention.c_str(), o.checkpointing ? "on" : "off", o.recomputeMlp ? "on" : "off",
                o.targets.c_str(), o.warmup, o.steps, o.interleave ? ", interleaved" : "");
    const bool grid = o.families.size() * o.batches.size() * o.seqs.size() * o.ranks.size() > 1;
    std::vector<std::string> summary;
    for (const std::string& family : o.families) {
      for (const std::int64_t batch : o.batches) {
        for (const std::int64_t seq : o.seqs) {
          for (const int rank : o.ranks) {
            Options point = o;
            point.family = family;
            point.batch = batch;
            point.seq = seq;
            point.rank = rank;
            const ModelConfig config = configFor(point);
            std::printf("config: %s, hidden %lld, intermediate %lld, layers %lld, heads %lld, vocab %lld, batch %lld x "
                        "seq %lld, rank %d, %s, device %s\n",
                        family.c_str(), static_cast<long long>(o.hidden), static_cast<long long>(o.intermediate),
                        static_cast<long long>(o.layers), static_cast<long long>(o.heads),
                        static_cast<long long>(o.vocab), static_cast<long long>(batch), static_cast<long long>(seq),
                        rank, o.dtype.c_str(), device.str().c_str());
            std::fflush(stdout);
            if (o.predictOnly) {
              std::vector<MemoryEstimate> estimates;
              bool frozenAsked = false;
              for (TrainMethod method : parseMethods(o.methods)) {
                if (method == TrainMethod::Frozen) {
                  frozenAsked = true; // the planner plans trainable runs only
                  continue;
                }
                MemoryPlan plan;
                plan.modelConfigJson = config.toJson();
                plan.method = method;
                plan.rank = rank;
                plan.targets = o.targets;
                plan.batchSize = batch;
                plan.sequenceLength = seq;
                plan.precision = dtype == at::kFloat ? Precision::Fp32 : Precision::Bf16;
                plan.gradientCheckpointing = o.checkpointing;
                plan.recomputeMlp = o.recomputeMlp;
                plan.device = device.is_cuda() ? "cuda" : "cpu";
                estimates.push_back(estimateMemory(plan));
              }
              if (!estimates.empty()) {
                std::printf("%s", formatMemoryTable(estimates).c_str());
                std::printf("predicted peak MiB:");
                for (const MemoryEstimate& e : estimates) std::printf(" %s %.1f", toString(e.method), e.peak / 1048576.0);
                std::printf("\n\n");
              }
              if (frozenAsked) {
                std::printf("frozen: no prediction; the memory planner plans training runs (full, lora, lora-fa) "
                            "only. A frozen model's backward keeps what LoRA-FA's keeps, less x*A^T and B's gradient "
                            "and AdamW state: use the lora-fa column (docs/PERFORMANCE.md has measured "
                            "LoRA-FA/frozen peak ratios).\n\n");
              }
              if (estimates.size() >= 2) {
                const MemoryEstimate* lora = nullptr;
                const MemoryEstimate* loraFa = nullptr;
                for (const auto& e : estimates) {
                  if (e.method == TrainMethod::Lora) lora = &e;
                  if (e.method == TrainMethod::LoraFa) loraFa = &e;
                }
                if (lora && loraFa) {
                  std::printf("predicted LoRA/LoRA-FA peak ratio: %.3f\n\n",
                              static_cast<double>(lora->peak) / static_cast<double>(loraFa->peak));
                }
              }
              continue;
            }
            if (o.interleave) {
              runInterleaved(point, parseMethods(o.methods), tensorOptions);
              continue;
            }
            std::vector<bench::MethodResult> results;
            for (TrainMethod method : parseMethods(o.methods)) {
              results.push_back(runMethod(point, method, tensorOptions, *monitor));
              const bench::MethodResult& r = results.back();
              std::string line;
              char text[256];
              MemoryPlan plan;
              plan.modelConfigJson = config.toJson();
              plan.method = method == TrainMethod::Frozen ? TrainMethod::LoraFa : method;
              plan.rank = rank;
              plan.targets = o.targets;
              plan.batchSize = batch;
              plan.sequenceLength = seq;
              plan.precision = dtype == at::kFloat ? Precision::Fp32 : Precision::Bf16;
              plan.gradientCheckpointing = o.checkpointing;
              plan.recomputeMlp = o.recomputeMlp;
              plan.device = device.is_cuda() ? "cuda" : "cpu";
              const bool predicted = method != TrainMethod::Frozen; // the planner plans trainable runs
              const std::int64_t prediction = predicted ? estimateMemory(plan).peak : 0;
              const double mfu = stepFlops(config, method, batch, seq) * r.tokensPerSecond /
                                 static_cast<double>(batch * seq) / matmul;
              char predictedText[32] = "-", errorText[32] = "-";
              if (predicted) {
                std::snprintf(predictedText, sizeof predictedText, "%.1f MiB", prediction / 1048576.0);
                std::snprintf(errorText, sizeof errorText, "%+.1f%%",
                              100.0 * (static_cast<double>(prediction) - r.peakBytes) / r.peakBytes);
              }
              std::snprintf(text, sizeof text,
                            "%-6s B %3lld T %5lld r %3d %-8s measured %10.1f MiB  predicted %14s  error %7s  "
                            "%9.1f tokens/s  MFU %5.1f%%",
                            family.c_str(), static_cast<long long>(batch), static_cast<long long>(seq), rank,
                            toString(method), r.peakBytes / 1048576.0, predictedText, errorText, r.tokensPerSecond,
                            100.0 * mfu);
              line = text;
              std::printf("  %s\n", line.c_str());
              std::fflush(stdout);
              summary.push_back(line);
            }
            printResults(results);
            std::printf("\n");
          }
        }
      }
    }
    if (grid) {
      std::printf("grid summary:\n");
      for (const std::string& line : summary) std::printf("%s\n", line.c_str());
    }
  } catch (const std::exception& error) {
    std::cerr << "lorafa-bench-model: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
