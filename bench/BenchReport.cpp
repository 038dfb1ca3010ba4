#include "BenchReport.h"

#include <torch/cuda.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace lorafa::bench {
namespace {

void synchronize(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

std::int64_t current(const MemorySample& s, const c10::Device& device) {
  return device.is_cuda() ? s.cudaAllocatedBytes : s.cpuCurrentBytes;
}

std::int64_t peak(const MemorySample& s, const c10::Device& device) {
  return device.is_cuda() ? s.cudaPeakAllocatedBytes : s.cpuPeakBytes;
}

double mib(std::int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

const MethodResult& find(const std::vector<MethodResult>& results, TrainMethod method) {
  for (const MethodResult& r : results) {
    if (r.method == method) return r;
  }
  throw std::logic_error(std::string("no result for ") + toString(method));
}

} // namespace

const std::vector<TrainMethod>& allMethods() {
  static const std::vector<TrainMethod> methods = {TrainMethod::Full, TrainMethod::Lora, TrainMethod::LoraFa,
                                                   TrainMethod::Frozen};
  return methods;
}

MethodResult measureSteps(TrainMethod method, const std::function<void()>& step, int warmup, int steps,
                          std::int64_t tokensPerStep, MemoryMonitor& monitor, const c10::Device& device) {
  MethodResult result;
  result.method = method;
  for (int i = 0; i < warmup; ++i) step();
  synchronize(device);
  result.residentBytes = current(monitor.sample(), device);
  monitor.resetPeaks();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  synchronize(device);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.peakBytes = peak(monitor.sample(), device);
  result.tokensPerSecond = static_cast<double>(tokensPerStep) * steps / seconds;
  return result;
}

void printReport(const std::vector<MethodResult>& results) {
  std::printf("%-8s %14s %14s %18s %12s\n", "method", "resident MiB", "peak MiB", "peak-resident MiB", "tokens/s");
  for (const MethodResult& r : results) {
    std::printf("%-8s %14.1f %14.1f %18.1f %12.1f\n", toString(r.method), mib(r.residentBytes), mib(r.peakBytes),
                mib(r.peakBytes - r.residentBytes), r.tokensPerSecond);
  }
  const MethodResult& full = find(results, TrainMethod::Full);
  const MethodResult& lora = find(results, TrainMethod::Lora);
  const MethodResult& loraFa = find(results, TrainMethod::LoraFa);
  const MethodResult& frozen = find(results, TrainMethod::Frozen);
  auto ratio = [](double a, double b) { return b > 0.0 ? a / b : 0.0; };
  std::printf("\n");
  std::printf("LoRA/LoRA-FA peak ratio: %.3f\n", ratio(lora.peakBytes, loraFa.peakBytes));
  std::printf("LoRA-FA/frozen peak ratio: %.3f\n", ratio(loraFa.peakBytes, frozen.peakBytes));
  std::printf("LoRA-FA/LoRA tokens/s ratio: %.3f\n", ratio(loraFa.tokensPerSecond, lora.tokensPerSecond));
  std::printf("full/LoRA-FA peak ratio: %.3f\n", ratio(full.peakBytes, loraFa.peakBytes));
  std::printf("LoRA/LoRA-FA step (peak-resident) ratio: %.3f\n",
              ratio(lora.peakBytes - lora.residentBytes, loraFa.peakBytes - loraFa.residentBytes));
  std::fflush(stdout);
}

} // namespace lorafa::bench
