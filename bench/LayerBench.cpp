// lorafa-bench-layer: one training step of a stack of linear layers (GELU between them) for each
// method — full fine-tuning, LoRA, LoRA-FA and frozen (backward to the input only) — measured
// in one run: peak memory from the tracking allocator (or CUDA's caching allocator) and tokens/s.
#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/EngineInfo.h"
#include "lorafa/MemoryMonitor.h"

#include "BenchReport.h"
#include "adapters/LinearLayerFactory.h"

#include <ATen/ops/gelu.h>
#include <torch/cuda.h>
#include <torch/optim/adamw.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace lorafa;

namespace {

struct Options {
  std::int64_t in = 4096;
  std::int64_t out = 4096;
  int rank = 16;
  int layers = 4;
  std::int64_t tokens = 4096;
  int steps = 2;
  int warmup = 1;
  std::string device = "cpu";
  int threads = 0;
};

class Stack {
public:
  Stack(const Options& o, TrainMethod method, const c10::Device& device) {
    AdapterConfig config;
    config.method = method;
    config.rank = o.rank;
    config.alpha = o.rank; // s = 1, as the LoRA-FA authors' runs
    torch::manual_seed(0); // the same base weights for every method
    const auto opts = torch::dtype(torch::kFloat).device(device);
    for (int i = 0; i < o.layers; ++i) {
      const std::int64_t in = i == 0 ? o.in : o.out;
      m_layers.push_back(makeLinearLayer(randomLinearWeight(in, o.out, opts), torch::zeros({o.out}, opts), config));
      for (const auto& p : m_layers.back()->parameters()) {
        if (p.requires_grad()) m_trainable.push_back(p);
      }
    }
  }

  at::Tensor forward(at::Tensor x) const {
    for (std::size_t i = 0; i < m_layers.size(); ++i) {
      x = m_layers[i]->forward(x);
      if (i + 1 < m_layers.size()) x = at::gelu(x);
    }
    return x;
  }

  std::vector<at::Tensor>& trainable() { return m_trainable; }

private:
  std::vector<std::shared_ptr<LinearLayer>> m_layers;
  std::vector<at::Tensor> m_trainable;
};

bench::MethodResult runMethod(const Options& o, TrainMethod method, const c10::Device& device,
                              MemoryMonitor& monitor) {
  Stack stack(o, method, device);
  std::unique_ptr<torch::optim::AdamW> optimizer;
  if (!stack.trainable().empty()) {
    optimizer = std::make_unique<torch::optim::AdamW>(stack.trainable(), torch::optim::AdamWOptions(1e-4));
  }
  // Frozen has nothing to train: its backward goes to the input, as a frozen layer's does.
  const at::Tensor x = torch::randn({o.tokens, o.in}, torch::dtype(torch::kFloat).device(device))
                           .requires_grad_(method == TrainMethod::Frozen);
  auto step = [&] {
    const at::Tensor loss = stack.forward(x).square().mean();
    loss.backward();
    if (optimizer) optimizer->step();
    for (at::Tensor& p : stack.trainable()) p.mutable_grad().reset(); // set_to_none
    if (x.grad().defined()) x.mutable_grad().reset();
  };
  return bench::measureSteps(method, step, o.warmup, o.steps, o.tokens, monitor, device);
}

} // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"LoRA-FA layer benchmark: peak memory and tokens/s of full, LoRA, LoRA-FA and frozen "
               "training steps on a stack of linear layers, measured in one run"};
  app.add_option("--in", o.in, "input features of the first layer")->check(CLI::PositiveNumber);
  app.add_option("--out", o.out, "output features of every layer")->check(CLI::PositiveNumber);
  app.add_option("--rank", o.rank, "adapter rank r")->check(CLI::PositiveNumber);
  app.add_option("--layers", o.layers, "number of linear layers (GELU between them)")->check(CLI::PositiveNumber);
  app.add_option("--tokens", o.tokens, "tokens per step (batch x sequence)")->check(CLI::PositiveNumber);
  app.add_option("--steps", o.steps, "measured steps per method")->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "unmeasured steps first (they create optimizer state)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--device", o.device, "cpu or cuda[:N]");
  app.add_option("--threads", o.threads, "CPU threads for LibTorch (0: every hardware thread)")->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    const c10::Device device(o.device);
    if (device.is_cuda() && !torch::cuda::is_available()) {
      std::cerr << "lorafa-bench-layer: --device " << o.device << " asked for, but no CUDA device is usable\n";
      return 2;
    }
    configureComputeThreads(o.threads);
    CpuMemoryTracker::instance().install();
    auto monitor = createMemoryMonitor(device.is_cuda() ? device.index() < 0 ? 0 : device.index() : -1);

    std::cout << formatEngineInfo(queryEngineInfo());
    std::printf("config: in %lld, out %lld, rank %d, layers %d, tokens %lld, steps %d (+%d warmup), "
                "device %s, float32, AdamW, GELU between layers\n",
                static_cast<long long>(o.in), static_cast<long long>(o.out), o.rank, o.layers,
                static_cast<long long>(o.tokens), o.steps, o.warmup, device.str().c_str());
    std::printf("memory: %s\n\n", device.is_cuda() ? "CUDA caching allocator, allocated bytes"
                                                    : "tracking CPU allocator, all LibTorch CPU tensors");

    std::vector<bench::MethodResult> results;
    for (TrainMethod method : bench::allMethods()) {
      results.push_back(runMethod(o, method, device, *monitor));
    }
    bench::printReport(results);
  } catch (const std::exception& error) {
    std::cerr << "lorafa-bench-layer: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
