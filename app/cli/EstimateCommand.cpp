#include "EstimateCommand.h"

#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/MemoryEstimate.h"
#include "lorafa/RunConfig.h"

#include <vector>

namespace lorafa::cli {

void runEstimate(const EstimateOptions& options, std::ostream& out) {
  const RunConfig config = loadRunConfig(options.configPath);
  MemoryPlan plan = MemoryPlan::fromRunConfig(config, options.device);
  out << "model " << config.modelPath << ", batch " << plan.batchSize << " x sequence " << plan.sequenceLength
      << ", rank " << plan.rank << ", targets " << plan.targets << ", precision " << toString(plan.precision)
      << ", gradient checkpointing " << (plan.gradientCheckpointing ? "on" : "off") << ", device " << options.device
      << "\n\n";
  std::vector<MemoryEstimate> estimates;
  for (const TrainMethod method : {TrainMethod::Full, TrainMethod::Lora, TrainMethod::LoraFa}) {
    plan.method = method;
    estimates.push_back(estimateMemory(plan));
  }
  out << formatMemoryTable(estimates, options.capacityBytes);
  if (options.capacityBytes <= 0) return;
  out << "\nlargest that fits " << formatBytes(options.capacityBytes) << " (the others as configured):\n";
  for (const MemoryEstimate& e : estimates) {
    plan.method = e.method;
    out << "  " << toString(e.method) << ":";
    const auto batch = largestThatFits(plan, MemoryKnob::BatchSize, options.capacityBytes, 4096);
    const auto length = largestThatFits(plan, MemoryKnob::SequenceLength, options.capacityBytes, 1 << 17);
    out << " batch " << (batch ? std::to_string(*batch) : std::string("none"));
    out << ", sequence " << (length ? std::to_string(*length) : std::string("none"));
    if (e.method != TrainMethod::Full) {
      const auto rank = largestThatFits(plan, MemoryKnob::Rank, options.capacityBytes, 4096);
      out << ", rank " << (rank ? std::to_string(*rank) : std::string("none"));
    }
    out << "\n";
  }
}

} // namespace lorafa::cli
