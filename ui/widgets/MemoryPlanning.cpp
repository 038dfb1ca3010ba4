#include "MemoryPlanning.h"

#include <QDir>
#include <QFileInfo>
#include <QObject>
#include <QtGlobal>

#include <algorithm>
#include <cstdlib>
#include <exception>

#if defined(__unix__)
#include <unistd.h>
#endif

namespace lorafa::ui {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

bool isCudaDevice(const std::string& device) { return device == "cuda" || device.rfind("cuda:", 0) == 0; }

std::int64_t physicalMemoryBytes() {
#if defined(__unix__)
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long pageSize = sysconf(_SC_PAGESIZE);
  if (pages > 0 && pageSize > 0) return static_cast<std::int64_t>(pages) * pageSize;
#endif
  return 0;
}

MemoryPlan planFor(const RunConfig& config, const std::string& device) {
  MemoryPlan plan = MemoryPlan::fromRunConfig(config, device);
  return plan;
}

} // namespace

void FitSuggestion::apply(RunConfig& config) const {
  if (id == QLatin1String("batch")) config.train.batchSize = value;
  else if (id == QLatin1String("sequence")) config.train.maxSeqLen = value;
  else if (id == QLatin1String("rank")) config.adapter.rank = static_cast<int>(value);
  else if (id == QLatin1String("loraFa")) config.adapter.method = TrainMethod::LoraFa;
  else if (id == QLatin1String("checkpointing")) config.train.gradientCheckpointing = true;
}

std::string plannedDevice(const RunConfig& config, const EngineInfo& info) {
  const std::string& device = config.train.device;
  if (device.empty() || device == "auto") return info.defaultDevice.empty() ? "cpu" : info.defaultDevice;
  if (device == "cuda") return "cuda:0";
  return device;
}

MemoryCapacity deviceCapacity(const std::string& device, const EngineInfo& info) {
  MemoryCapacity capacity;
  if (isCudaDevice(device)) {
    const int index = device == "cuda" ? 0 : std::atoi(device.c_str() + 5);
    capacity.what = QString::fromStdString(device);
    for (const GpuDeviceInfo& gpu : info.gpus) {
      if (gpu.index != index) continue;
      capacity.bytes = gpu.totalBytes;
      capacity.what = QStringLiteral("%1 (%2)").arg(QString::fromStdString(device), QString::fromStdString(gpu.name));
    }
  } else {
    capacity.bytes = physicalMemoryBytes();
    capacity.what = QObject::tr("CPU RAM");
  }
  bool ok = false;
  const qlonglong forced = qEnvironmentVariable(kCapacityOverrideVariable).toLongLong(&ok);
  if (ok && forced > 0) {
    capacity.bytes = forced;
    capacity.overridden = true;
  }
  return capacity;
}

MemoryPrediction predictAllMethods(const RunConfig& config, const std::string& device) {
  MemoryPrediction prediction;
  if (config.modelPath.empty()) {
    prediction.error = QObject::tr("no model is chosen yet (Model page)");
    return prediction;
  }
  const QString configJson = QDir(QString::fromStdString(config.modelPath)).filePath(QStringLiteral("config.json"));
  if (!QFileInfo(configJson).isFile()) {
    prediction.error = QObject::tr("%1 does not exist: the planner reads the model's shape from the model folder's "
                                   "config.json")
                           .arg(QDir::toNativeSeparators(configJson));
    return prediction;
  }
  try {
    MemoryPlan plan = planFor(config, device);
    for (const TrainMethod method : {TrainMethod::Full, TrainMethod::Lora, TrainMethod::LoraFa}) {
      plan.method = method;
      prediction.estimates.push_back(estimateMemory(plan));
    }
  } catch (const std::exception& e) {
    prediction.estimates.clear();
    prediction.error = QString::fromStdString(e.what());
  }
  return prediction;
}

std::optional<MemoryEstimate> predictMethod(const RunConfig& config, const std::string& device, QString* error) {
  try {
    return estimateMemory(planFor(config, device));
  } catch (const std::exception& e) {
    if (error != nullptr) *error = QString::fromStdString(e.what());
    return std::nullopt;
  }
}

QVector<PeakShare> peakShares(const MemoryEstimate& e) {
  // The estimate gives each share at its own largest and the peak as the largest of a few moments
  // of the step (the loss, the last block's MLP and attention, the first block, the optimizer
  // step). The bar shows the moment of the peak: weights, optimizer state and allocator overhead
  // are alive throughout; the rest of the peak is attributed to the shares alive at that moment,
  // each at most its estimate. At the loss (where LoRA and LoRA-FA usually peak without
  // checkpointing) this is exact; later in backward the loss's saved hidden states are freed and
  // the workspace of the closer moment takes the rest, and what no share explains (AdamW's
  // temporaries, a block recomputed under checkpointing) is "other workspace".
  const bool adapters = e.method != TrainMethod::Full;
  std::int64_t lossSaved = 0;
  for (const MemoryItem& item : e.activations)
    if (item.name == "loss") lossSaved += item.bytes;
  std::int64_t rest = std::max<std::int64_t>(0, e.peak - e.weights - e.optimizerState - e.allocatorOverhead);
  const std::int64_t gradientsAlways = adapters ? e.gradients : 0;
  const bool atLoss = rest == e.savedActivations + e.logitsAndLoss + gradientsAlways;
  const bool atStep = adapters && rest == 3 * e.gradients && rest != e.savedActivations + gradientsAlways;

  QVector<PeakShare> shares;
  const auto take = [&](const QString& name, const char* category, std::int64_t estimated, bool alive) {
    const std::int64_t bytes = alive ? std::clamp<std::int64_t>(estimated, 0, rest) : 0;
    rest -= bytes;
    shares.push_back({name, QString::fromLatin1(category), bytes, estimated});
  };
  shares.push_back({QObject::tr("weights"), QStringLiteral("weights"), e.weights, e.weights});
  take(QObject::tr("gradients"), "gradients", e.gradients, adapters || atStep);
  shares.push_back({QObject::tr("optimizer state"), QStringLiteral("optimizer"), e.optimizerState, e.optimizerState});
  for (const MemoryItem& item : e.activations) {
    const bool alive = !atStep && (atLoss || item.name != "loss");
    take(QObject::tr("saved: %1").arg(QString::fromStdString(item.name)), "saved", item.bytes, alive);
  }
  take(QObject::tr("logits and loss"), "loss", e.logitsAndLoss, atLoss);
  const bool attentionCloser =
      std::llabs(rest - e.attentionWorkspace) <= std::llabs(rest - e.backwardWorkspace);
  take(QObject::tr("attention workspace"), "attention", e.attentionWorkspace, !atLoss && !atStep && attentionCloser);
  if (!adapters && !atLoss && !atStep) {
    // Full fine-tuning: weight gradients pile up as backward goes.
    shares[1].bytes = std::min(rest, e.gradients);
    rest -= shares[1].bytes;
  }
  shares.push_back({QObject::tr("other workspace"), QStringLiteral("workspace"), rest, e.backwardWorkspace});
  shares.push_back(
      {QObject::tr("allocator overhead"), QStringLiteral("overhead"), e.allocatorOverhead, e.allocatorOverhead});
  return shares;
}

QVector<FitSuggestion> suggestionsThatFit(const RunConfig& config, const std::string& device, std::int64_t capacityBytes) {
  QVector<FitSuggestion> out;
  MemoryPlan plan;
  try {
    plan = planFor(config, device);
  } catch (const std::exception&) {
    return out;
  }
  const auto peakOf = [](const MemoryPlan& p) {
    try {
      return estimateMemory(p).peak;
    } catch (const std::exception&) {
      return std::int64_t{-1};
    }
  };
  const auto largest = [&](MemoryKnob knob, std::int64_t current) -> std::optional<std::int64_t> {
    try {
      return largestThatFits(plan, knob, capacityBytes, std::max<std::int64_t>(1, current));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  };
  const bool adapters = plan.method != TrainMethod::Full;
  if (plan.method != TrainMethod::LoraFa) {
    MemoryPlan p = plan;
    p.method = TrainMethod::LoraFa;
    const std::int64_t peak = peakOf(p);
    if (peak > 0 && peak <= capacityBytes) {
      out.push_back({QStringLiteral("loraFa"),
                     QObject::tr("Use LoRA-FA instead of %1 (peak %2)")
                         .arg(QString::fromLatin1(toString(plan.method)), formatMiB(peak)),
                     1, peak});
    }
  }
  if (!plan.gradientCheckpointing) {
    MemoryPlan p = plan;
    p.gradientCheckpointing = true;
    const std::int64_t peak = peakOf(p);
    if (peak > 0 && peak <= capacityBytes) {
      out.push_back({QStringLiteral("checkpointing"),
                     QObject::tr("Turn gradient checkpointing on (peak %1)").arg(formatMiB(peak)), 1, peak});
    }
  }
  if (const auto batch = largest(MemoryKnob::BatchSize, plan.batchSize); batch && *batch < plan.batchSize) {
    MemoryPlan p = plan;
    p.batchSize = *batch;
    out.push_back({QStringLiteral("batch"),
                   QObject::tr("Batch size %1 instead of %2, the largest that fits (peak %3)")
                       .arg(*batch)
                       .arg(plan.batchSize)
                       .arg(formatMiB(peakOf(p))),
                   *batch, peakOf(p)});
  }
  // The Method page's floor for the sequence length is 8 tokens.
  if (const auto length = largest(MemoryKnob::SequenceLength, plan.sequenceLength);
      length && *length >= 8 && *length < plan.sequenceLength) {
    MemoryPlan p = plan;
    p.sequenceLength = *length;
    out.push_back({QStringLiteral("sequence"),
                   QObject::tr("Max sequence length %1 instead of %2, the longest that fits (peak %3)")
                       .arg(*length)
                       .arg(plan.sequenceLength)
                       .arg(formatMiB(peakOf(p))),
                   *length, peakOf(p)});
  }
  if (adapters) {
    if (const auto rank = largest(MemoryKnob::Rank, plan.rank); rank && *rank < plan.rank) {
      MemoryPlan p = plan;
      p.rank = static_cast<int>(*rank);
      out.push_back({QStringLiteral("rank"),
                     QObject::tr("Rank %1 instead of %2, the largest that fits (peak %3)")
                         .arg(*rank)
                         .arg(plan.rank)
                         .arg(formatMiB(peakOf(p))),
                     *rank, peakOf(p)});
    }
  }
  return out;
}

QString formatMiB(std::int64_t bytes) {
  const double value = static_cast<double>(bytes);
  if (value >= 10240.0 * kMiB) return QStringLiteral("%1 GiB").arg(value / (1024.0 * kMiB), 0, 'f', 2);
  return QStringLiteral("%1 MiB").arg(value / kMiB, 0, 'f', 1);
}

QString calibrationText(std::int64_t step, std::optional<std::int64_t> predictedBytes, std::int64_t measuredBytes,
                        const QString& noPredictionReason) {
  const QString measured = QStringLiteral("%1 MiB").arg(static_cast<double>(measuredBytes) / kMiB, 0, 'f', 1);
  if (!predictedBytes) {
    return QObject::tr("memory after step %1: no prediction%2, measured %3")
        .arg(step)
        .arg(noPredictionReason.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(noPredictionReason))
        .arg(measured);
  }
  const QString predicted = QStringLiteral("%1 MiB").arg(static_cast<double>(*predictedBytes) / kMiB, 0, 'f', 1);
  if (measuredBytes <= 0) return QObject::tr("memory after step %1: predicted %2, measured nothing").arg(step).arg(predicted);
  const double error = 100.0 * static_cast<double>(*predictedBytes - measuredBytes) / static_cast<double>(measuredBytes);
  return QObject::tr("memory after step %1: predicted %2, measured %3 (%4%5%)")
      .arg(step)
      .arg(predicted, measured)
      .arg(error >= 0 ? QStringLiteral("+") : QString())
      .arg(error, 0, 'f', 1);
}

} // namespace lorafa::ui
