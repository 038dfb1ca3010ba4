#include "train/Trainer.h"

#include "adapters/AdapterInjector.h"
#include "distributed/DistributedContext.h"
#include "export/PeftAdapter.h"
#include "lorafa/Batch.h"
#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/DatasetSplit.h"
#include "lorafa/FormatError.h"
#include "lorafa/MemoryMonitor.h"
#include "lorafa/ModelSummary.h"
#include "lorafa/RunStore.h"
#include "models/Autocast.h"
#include "models/Generation.h"
#include "models/ModelFactory.h"
#include "memory/ChunkedCrossEntropy.h"
#include "train/TextMetrics.h"

#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/argmax.h>
#include <ATen/ops/cross_entropy_loss.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/linalg_inv.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/zeros_like.h>
#include <ATen/core/Reduction.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

namespace lorafa {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

c10::Device resolveDevice(const std::string& text) {
  if (text == "cpu") return c10::Device(c10::kCPU);
  if (text == "auto") return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  const int index = text == "cuda" ? 0 : std::stoi(text.substr(5));
  if (!torch::cuda::is_available()) {
    throw std::invalid_argument("train.device: " + text + " was asked for, but no usable CUDA device was found; use cpu or auto");
  }
  if (index >= static_cast<int>(torch::cuda::device_count())) {
    throw std::invalid_argument("train.device: " + text + " does not exist (" + std::to_string(torch::cuda::device_count()) +
                                " CUDA device(s))");
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

at::Tensor longTensor(const std::vector<std::int64_t>& values, std::int64_t rows, std::int64_t columns,
                      const c10::Device& device) {
  std::vector<std::int64_t> copy(values);
  return at::from_blob(copy.data(), {rows, columns}, at::TensorOptions().dtype(at::kLong)).clone().to(device);
}

/// Packed causal rows hold several examples (documents): their segments and restarting
/// positions keep attention and positions inside each one, as if each had its own row.
void addPackedSegments(ModelInputs& inputs, const Batch& b, bool packed, const c10::Device& device) {
  if (!packed || b.task != TaskType::CausalLm) return;
  inputs.segmentIds = longTensor(b.segmentIds, b.rows, b.columns, device);
  inputs.positionIds = longTensor(b.positionIds, b.rows, b.columns, device);
}

std::string rngName(const c10::Device& device) {
  return device.is_cuda() ? "cuda:" + std::to_string(device.index()) : "cpu";
}

at::Generator defaultGenerator(const c10::Device& device) {
  return at::globalContext().defaultGenerator(device);
}

/// T5's decoder_input_ids: the labels shifted right by one, decoder_start_token_id first and the
/// ignored labels (padding) replaced by the pad id, as Hugging Face's T5 _shift_right.
at::Tensor decoderInputs(const Batch& b, const ModelConfig& config, TokenId datasetPad, const c10::Device& device) {
  const std::int64_t pad = config.padTokenId.value_or(datasetPad);
  std::vector<std::int64_t> ids(b.labels.size(), pad);
  for (std::int64_t r = 0; r < b.rows; ++r) {
    const std::int64_t row = r * b.labelColumns;
    ids[static_cast<std::size_t>(row)] = config.decoderStartTokenId;
    for (std::int64_t t = 1; t < b.labelColumns; ++t) {
      const TokenId label = b.labels[static_cast<std::size_t>(row + t - 1)];
      ids[static_cast<std::size_t>(row + t)] = label == kIgnoreIndex ? pad : label;
    }
  }
  return longTensor(ids, b.rows, b.labelColumns, device);
}

/// Cross-entropy summed over the labels that count: next-token for causal LMs (logits at t predict
/// the label at t + 1), position by position for T5 (its decoder inputs are already shifted).
at::Tensor summedTokenLoss(const at::Tensor& logits, const Batch& b, const c10::Device& device) {
  const std::int64_t vocab = logits.size(-1);
  if (b.task == TaskType::Seq2Seq) {
    const at::Tensor labels = longTensor(b.labels, b.rows, b.labelColumns, device);
    return at::cross_entropy_loss(logits.reshape({-1, vocab}).to(at::kFloat), labels.reshape({-1}), {},
                                  at::Reduction::Sum, kIgnoreIndex);
  }
  const at::Tensor labels = longTensor(b.labels, b.rows, b.columns, device);
  return at::cross_entropy_loss(logits.slice(1, 0, -1).reshape({-1, vocab}).to(at::kFloat),
                                labels.slice(1, 1).reshape({-1}), {}, at::Reduction::Sum, kIgnoreIndex);
}

} // namespace

struct Trainer::StepOutcome {
  double loss = 0.0;
  double gradNorm = 0.0;
  std::int64_t tokens = 0;
  bool finite = true;
  bool overflow = false; ///< fp16: inf/NaN gradients at this loss scale; the update is skipped
};

Trainer::Trainer(RunConfig config, TrainerObserver* observer, TrainerOptions options)
    : m_config(std::move(config)), m_observer(observer), m_options(options) {}

Trainer::~Trainer() = default;

void Trainer::setState(TrainerState state, const std::string& message) {
  if (m_observer) m_observer->onStateChange(state, message);
}

void Trainer::log(LogLevel level, const std::string& message) {
  if (m_observer) m_observer->onLog(level, message);
  if (m_options.store) {
    const char* name = level == LogLevel::Info ? "info" : level == LogLevel::Warning ? "warning" : "error";
    m_options.store->appendEvent(m_options.runId, RunEvent{nowMs(), name, message});
  }
}

std::int64_t Trainer::peakMemoryBytes() {
  std::lock_guard<std::mutex> lock(m_memoryMutex);
  return m_peakMemoryBytes;
}

void Trainer::sampleMemory(bool force) {
  std::lock_guard<std::mutex> lock(m_memoryMutex);
  if (!m_memory) return;
  const std::int64_t now = nowMs();
  // At least two samples a second while training (the UI's live chart), without sampling every
  // micro-batch of a fast run.
  if (!force && now - m_lastMemorySampleMs < 250) return;
  m_lastMemorySampleMs = now;
  const MemorySample sample = m_memory->sample();
  const std::int64_t peak = sample.cudaTracked ? sample.cudaPeakAllocatedBytes : sample.cpuPeakBytes;
  m_peakMemoryBytes = std::max(m_peakMemoryBytes, peak);
  if (m_observer) m_observer->onMemory(sample);
  if (m_options.store) {
    m_options.store->appendMemory(m_options.runId, MemoryPoint{now, m_sampleStep.load(), sample.cpuCurrentBytes,
                                                               sample.cudaAllocatedBytes, sample.deviceUsedBytes});
  }
}

void Trainer::setup() {
  setState(TrainerState::Preparing);
  const RunConfig& c = m_config;
  m_device = resolveDevice(c.train.device);
  if (m_options.distributed && m_device.is_cuda() && (c.train.device == "cuda" || c.train.device == "auto")) {
    // Data parallel on one node: one device per local rank (cuda:N given explicitly is kept).
    const auto count = static_cast<int>(torch::cuda::device_count());
    m_device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(m_options.distributed->config().localRank % count));
  }
  if (c.train.precision == Precision::Fp16 && !m_device.is_cuda()) {
    // RunConfig already refuses fp16 with device cpu; this is device auto without a GPU.
    throw std::invalid_argument("train.precision: fp16 needs a CUDA device (LibTorch's CPU autocast does bf16 only), "
                                "but device " + c.train.device + " resolved to cpu here; use bf16 or fp32");
  }
  m_autocastDtype.reset();
  if (c.train.precision == Precision::Bf16) m_autocastDtype = at::kBFloat16;
  if (c.train.precision == Precision::Fp16) m_autocastDtype = at::kHalf;
  m_lossScaler = LossScaler(c.train.precision == Precision::Fp16);

  m_tokenizer = Tokenizer::load(c.tokenizerPath.empty() ? c.modelPath : c.tokenizerPath);
  DatasetOptions datasetOptions;
  datasetOptions.format = c.dataset.format;
  datasetOptions.textColumn = c.dataset.textColumn;
  datasetOptions.labelColumn = c.dataset.labelColumn;
  datasetOptions.sourceColumn = c.dataset.sourceColumn;
  datasetOptions.targetColumn = c.dataset.targetColumn;
  const Dataset dataset = loadDataset(c.dataset.path, datasetOptions);

  std::vector<std::int64_t> labels;
  if (dataset.format == DatasetFormat::Classification) {
    for (const Example& e : dataset.examples) labels.push_back(e.label);
  }
  // A separate evaluation file replaces the split: all of the dataset trains, all of it evaluates.
  const DatasetSplit split = splitTrainValidation(dataset.examples.size(),
                                                  c.dataset.evalPath.empty() ? c.dataset.validationFraction : 0.0,
                                                  c.train.seed, labels);
  std::optional<Dataset> evalDataset;
  if (!c.dataset.evalPath.empty()) {
    DatasetOptions evalOptions = datasetOptions;
    evalOptions.format = dataset.format;
    evalOptions.labelNames = dataset.labelNames; // the same label ids as in training
    evalDataset = loadDataset(c.dataset.evalPath, evalOptions);
    if (evalDataset->examples.empty()) throw std::invalid_argument(c.dataset.evalPath + ": no evaluation examples");
  }

  ProcessingOptions processing;
  processing.maxLength = c.train.maxSeqLen;
  processing.maxTargetLength = c.train.maxSeqLen;
  // An encoder-decoder model (T5) trains sequence to sequence: the data side must know before
  // tokenizing. A config.json that cannot be read is reported by the model loading below.
  try {
    if (ModelConfig::fromFile((std::filesystem::path(c.modelPath) / "config.json").string()).family == ModelFamily::T5) {
      processing.task = TaskType::Seq2Seq;
    }
  } catch (const std::exception&) {
  }
  processing.trainOnPrompt = c.dataset.trainOnPrompt;
  processing.packing = c.dataset.packing;
  if (processing.task != TaskType::Seq2Seq &&
      (dataset.format == DatasetFormat::Alpaca || dataset.format == DatasetFormat::Chat ||
       dataset.format == DatasetFormat::SourceTarget)) {
    std::optional<ChatTemplateKind> requested;
    if (!c.dataset.chatTemplate.empty()) requested = parseChatTemplateKind(c.dataset.chatTemplate);
    const ChatTemplateChoice choice = resolveChatTemplate(
        *m_tokenizer, requested, dataset.format == DatasetFormat::Alpaca ? ChatTemplateKind::Alpaca : ChatTemplateKind::Plain);
    processing.chatTemplate = choice.kind;
    processing.templateOptions.defaultSystemPrompt = choice.defaultSystemPrompt;
    // Training and validation rows get the same "Today Date" (Llama 3.1–3.3 templates): the
    // template's own fixed date, else the run's (dataset.template_date, fixed when it first started).
    processing.templateOptions.dateString =
        !choice.dateString.empty() ? choice.dateString
                                   : (c.dataset.templateDate.empty() ? todayDateString() : c.dataset.templateDate);
    if (!choice.note.empty()) log(LogLevel::Info, "chat template " + std::string(toString(choice.kind)) + ": " + choice.note);
    if (choice.kind == ChatTemplateKind::Llama31) {
      log(LogLevel::Info, "chat template llama3.1: Today Date: " + processing.templateOptions.dateString);
    }
  }
  m_train = tokenizeDataset(dataset, split.train, *m_tokenizer, processing);
  if (evalDataset) {
    m_validation = tokenizeDataset(*evalDataset, *m_tokenizer, processing);
  } else if (!split.validation.empty()) {
    m_validation = tokenizeDataset(dataset, split.validation, *m_tokenizer, processing);
  }
  for (const std::string& w : m_train.warnings) log(LogLevel::Warning, w);
  if (m_train.rows.empty()) {
    throw std::invalid_argument(c.dataset.path + ": no training rows left after tokenization");
  }

  ModelConfig modelConfig = ModelConfig::fromFile((std::filesystem::path(c.modelPath) / "config.json").string());
  if (m_train.task == TaskType::Classification && modelConfig.family == ModelFamily::Llama &&
      !modelConfig.isSequenceClassifier()) {
    // A causal LM classifies as Hugging Face's AutoModelForSequenceClassification makes it do:
    // the same body, a new `score` head trained in full next to the adapters.
    modelConfig = modelConfig.asSequenceClassifier(m_train.labelNames);
    log(LogLevel::Info, "classifying with " + modelConfig.architecture + ": a new score head for " +
                            std::to_string(modelConfig.numLabels) + " labels on " + c.modelPath);
  }
  // A new task head (a classifier's) is drawn from the default generator while loading: seeded
  // here, it is a function of the run's seed, not of whatever ran before in this process.
  at::manual_seed(c.train.seed);
  if (c.pretrain) {
    m_model = createModel(modelConfig, at::TensorOptions().dtype(at::kFloat).device(m_device));
    initializeRandom(*m_model, c.train.seed);
  } else {
    m_model = loadModel(modelConfig, c.modelPath, at::TensorOptions().dtype(at::kFloat).device(m_device));
  }
  const ModelConfig& mc = m_model->config();
  const bool classifier =
      mc.family == ModelFamily::Bert || mc.family == ModelFamily::Roberta || mc.isSequenceClassifier();
  if (classifier != (m_train.task == TaskType::Classification)) {
    throw std::invalid_argument(classifier ? c.modelPath + " is a sequence classifier (" + mc.architecture +
                                                 "): it needs classification data (dataset.format: classification)"
                                           : c.dataset.path + ": classification data needs a BERT/RoBERTa classifier or a LLaMA-family model, " +
                                                 c.modelPath + " is " + mc.architecture);
  }
  if (classifier && static_cast<std::int64_t>(m_train.labelNames.size()) != mc.numLabels) {
    throw std::invalid_argument(c.dataset.path + ": " + std::to_string(m_train.labelNames.size()) + " label classes, but " +
                                c.modelPath + " has num_labels " + std::to_string(mc.numLabels));
  }
  for (const TokenizedDataset* rows : {&m_train, &m_validation}) {
    for (const TokenizedExample& row : rows->rows) {
      std::vector<TokenId> ids = row.inputIds;
      if (rows->task == TaskType::Seq2Seq) ids.insert(ids.end(), row.labels.begin(), row.labels.end());
      for (TokenId id : ids) {
        if (id < 0 || id >= mc.vocabSize) {
          throw std::invalid_argument("the tokenizer gives id " + std::to_string(id) + ", outside the model's vocab_size " +
                                      std::to_string(mc.vocabSize) + " (" + c.modelPath +
                                      "): tokenizer and model do not belong together");
        }
      }
    }
  }

  if (c.adapter.method == TrainMethod::LoraFa || c.adapter.method == TrainMethod::Lora) {
    // A rank above min(in, out) adds parameters without adding expressiveness; PEFT accepts it
    // silently, but here it is almost always a typo, so say which layers it exceeds.
    const TargetSpec spec = TargetSpec::parse(c.targets);
    const std::vector<LinearModuleInfo> linears = describeLinears(*m_model);
    std::vector<std::string> tooSmall;
    for (const std::string& name : matchTargets(spec, linears)) {
      for (const LinearModuleInfo& l : linears) {
        if (l.name == name && c.adapter.rank > std::min(l.inFeatures, l.outFeatures)) {
          tooSmall.push_back(name + " [" + std::to_string(l.outFeatures) + ", " + std::to_string(l.inFeatures) + "]");
        }
      }
    }
    if (!tooSmall.empty()) {
      std::string list;
      for (std::size_t i = 0; i < tooSmall.size() && i < 3; ++i) list += (i ? ", " : "") + tooSmall[i];
      if (tooSmall.size() > 3) list += " and " + std::to_string(tooSmall.size() - 3) + " more";
      throw std::invalid_argument("adapter.rank: " + std::to_string(c.adapter.rank) +
                                  " is above min(in, out) of " + std::to_string(tooSmall.size()) +
                                  " target module(s): " + list + "; use a smaller rank or other targets");
    }
  }
  // The adapters' A is drawn from the default generator: seeding here makes it a function of the seed.
  at::manual_seed(c.train.seed);
  const std::vector<std::string> adapted = prepareForTraining(*m_model, TargetSpec::parse(c.targets), c.adapter);
  if (!c.adapterInitFrom.empty()) {
    // Keep training an imported PEFT adapter: A and B (and a saved head) start from the file.
    initAdaptersFromPeft(*m_model, c.adapterInitFrom, c.adapter, adapted);
    log(LogLevel::Info, "adapters start from " + c.adapterInitFrom + " (" + std::to_string(adapted.size()) + " modules)");
  }
  m_model->train();
  m_model->setGradientCheckpointing(c.train.gradientCheckpointing);
  m_model->setRecomputeMlp(c.train.recomputeMlp);
  if (m_autocastDtype) {
    // Mixed precision: what trains (adapters, full weights, a classifier head) stays fp32 — master
    // weights, so are their gradients and AdamW moments — and autocast runs the matmuls in
    // bf16/fp16. The frozen base weights are stored in the low dtype: they are most of the memory,
    // autocast would otherwise keep a low-precision copy of each for backward anyway, and
    // Hugging Face holds them so with torch_dtype=bfloat16. LoRA-FA's frozen A is adapter state
    // (saved in checkpoints, drawn in fp32) and stays fp32.
    c10::NoGradGuard noGrad;
    for (auto& item : m_model->named_parameters(/*recurse=*/true)) {
      const std::string& name = item.key();
      const bool adapter = name.size() > 7 && (name.compare(name.size() - 7, 7, ".lora_A") == 0 ||
                                               name.compare(name.size() - 7, 7, ".lora_B") == 0);
      at::Tensor& p = item.value();
      if (!p.requires_grad() && !adapter && p.is_floating_point()) p.set_data(p.to(*m_autocastDtype));
    }
  }
  m_trainable.clear();
  std::map<std::string, at::Tensor> byName;
  for (const auto& item : m_model->named_parameters(/*recurse=*/true)) {
    byName[item.key()] = item.value();
    if (item.value().requires_grad()) m_trainable.emplace_back(item.key(), item.value());
  }
  if (m_trainable.empty()) throw std::invalid_argument("nothing to train: no parameter requires a gradient");
  if (c.optim.projectedB) {
    for (const auto& [name, tensor] : m_trainable) {
      const std::string suffix = ".lora_B";
      if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        m_loraFaPairs.emplace_back(name, byName.at(name.substr(0, name.size() - suffix.size()) + ".lora_A"));
      }
    }
  }
  m_expAvg.clear();
  m_expAvgSq.clear();
  for (const auto& [name, p] : m_trainable) {
    m_expAvg.push_back(at::zeros_like(p));
    m_expAvgSq.push_back(at::zeros_like(p));
  }

  const auto rows = static_cast<std::int64_t>(m_train.rows.size());
  const std::int64_t globalBatch = c.train.batchSize * worldSize(); // data parallel: every rank's share
  m_batchesPerEpoch = (rows + globalBatch - 1) / globalBatch;
  m_stepsPerEpoch = (m_batchesPerEpoch + c.train.gradAccumulation - 1) / c.train.gradAccumulation;
  m_totalSteps = c.train.maxSteps > 0 ? c.train.maxSteps : c.train.epochs * m_stepsPerEpoch;
  m_memory = createMemoryMonitor(m_device.is_cuda() ? m_device.index() : -1);
  m_memory->resetPeaks();
  std::int64_t trainableCount = 0;
  for (const auto& [name, p] : m_trainable) trainableCount += p.numel();
  log(LogLevel::Info, std::to_string(m_train.rows.size()) + " training rows, " + std::to_string(m_validation.rows.size()) +
                          " validation rows; " + std::to_string(trainableCount) + " trainable parameters; " +
                          std::to_string(m_totalSteps) + " steps on " + m_device.str());
  prepareGenerationCases(evalDataset ? *evalDataset : dataset); // m_validation's examples
  if (m_options.distributed) {
    // Every rank starts from rank 0's adapters (their initialisation is seeded, but a rank must
    // never train from other weights than the one that writes the checkpoints).
    std::vector<at::Tensor> start;
    for (const auto& item : m_model->named_parameters(true)) {
      const std::string& name = item.key();
      const bool frozenA = name.size() > 7 && name.compare(name.size() - 7, 7, ".lora_A") == 0;
      if (item.value().requires_grad() || frozenA) start.push_back(item.value().detach());
    }
    c10::NoGradGuard noGrad;
    m_options.distributed->broadcast(start, 0);
    log(LogLevel::Info, "data parallel: rank " + std::to_string(m_options.distributed->rank()) + " of " +
                            std::to_string(worldSize()) + ", global batch " + std::to_string(globalBatch) + " × " +
                            std::to_string(c.train.gradAccumulation) + " accumulation");
  }
  m_setUp = true;
}

std::int64_t Trainer::worldSize() const { return m_options.distributed ? m_options.distributed->worldSize() : 1; }

std::vector<std::size_t> Trainer::shardOf(const std::vector<std::size_t>& globalBatch) const {
  if (!m_options.distributed) return globalBatch;
  const auto perRank = static_cast<std::size_t>(m_config.train.batchSize);
  const std::size_t begin = std::min(globalBatch.size(), static_cast<std::size_t>(m_options.distributed->rank()) * perRank);
  const std::size_t end = std::min(globalBatch.size(), begin + perRank);
  return {globalBatch.begin() + static_cast<std::ptrdiff_t>(begin), globalBatch.begin() + static_cast<std::ptrdiff_t>(end)};
}

void Trainer::allReduceGradients() {
  std::vector<at::Tensor> grads;
  for (auto& [name, p] : m_trainable) {
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p); // a rank with no rows in this step
    grads.push_back(p.grad());
  }
  c10::NoGradGuard noGrad;
  const bool first = m_options.distributed->gradientBytes() == 0;
  m_options.distributed->allReduceGradients(grads);
  if (first) {
    std::int64_t count = 0;
    for (const auto& [name, p] : m_trainable) count += p.numel();
    log(LogLevel::Info, "data parallel: " + std::to_string(m_options.distributed->lastGradientBytes()) +
                            " bytes of gradients all-reduced per step in " +
                            std::to_string(m_options.distributed->lastBucketCount()) + " bucket(s) (" +
                            std::to_string(count) + " trainable parameters)");
  }
}

CheckpointData Trainer::checkpointData() const {
  CheckpointData data;
  data.position = m_position;
  data.optimizerStep = m_optimizerStep;
  if (m_lossScaler.enabled()) {
    data.lossScale = m_lossScaler.scale();
    data.lossScaleGrowthTracker = m_lossScaler.growthTracker();
  }
  data.configJson = toJson(m_config);
  for (const auto& item : m_model->named_parameters(true)) {
    const std::string& name = item.key();
    const bool frozenA = name.size() > 7 && name.compare(name.size() - 7, 7, ".lora_A") == 0;
    if (item.value().requires_grad() || frozenA) data.weights.emplace_back(name, item.value().detach());
  }
  for (std::size_t i = 0; i < m_trainable.size(); ++i) {
    data.optimizerState.emplace_back(m_trainable[i].first + "/exp_avg", m_expAvg[i]);
    data.optimizerState.emplace_back(m_trainable[i].first + "/exp_avg_sq", m_expAvgSq[i]);
  }
  data.rngStates.emplace_back("cpu", defaultGenerator(c10::Device(c10::kCPU)).get_state());
  if (m_device.is_cuda()) data.rngStates.emplace_back(rngName(m_device), defaultGenerator(m_device).get_state());
  return data;
}

std::string Trainer::saveCheckpoint() {
  setState(TrainerState::Saving);
  // Every metric up to this step is committed before the checkpoint exists: a run killed later and
  // resumed from here continues the history without a gap.
  if (m_options.store) m_options.store->flush();
  const std::string checkpoints = (std::filesystem::path(m_config.outputDir) / "checkpoints").string();
  const std::string folder = checkpointFolder(checkpoints, m_position.step);
  if (!m_options.distributed || m_options.distributed->rank() == 0) {
    try {
      writeCheckpoint(folder, checkpointData());
    } catch (const std::exception& e) {
      // A full disk or a failing device: the folder being written was removed and the previous
      // checkpoint is untouched; say which one a resume would continue from.
      throw std::runtime_error("cannot write checkpoint " + folder + ": " + e.what() + "; " +
                               (m_lastCheckpoint.empty() ? std::string("no earlier checkpoint exists")
                                                         : "the previous checkpoint " + m_lastCheckpoint + " is intact") +
                               " (free some space, then `lorafa resume` continues)");
    }
    pruneCheckpoints(checkpoints, m_config.train.keepLast);
  }
  // Data parallel: rank 0 alone writes; every rank leaves once the checkpoint is complete.
  if (m_options.distributed) m_options.distributed->barrier();
  m_lastCheckpoint = folder;
  log(LogLevel::Info, "checkpoint saved: " + folder);
  return folder;
}

void Trainer::resumeFrom(const std::string& checkpointDirectory) {
  if (!m_setUp) throw std::logic_error("Trainer::resumeFrom before setup");
  const CheckpointData data = readCheckpoint(checkpointDirectory);
  std::map<std::string, at::Tensor> params;
  for (const auto& item : m_model->named_parameters(true)) params[item.key()] = item.value();
  c10::NoGradGuard noGrad;
  for (const auto& [name, value] : data.weights) {
    const auto it = params.find(name);
    if (it == params.end() || !it->second.sizes().equals(value.sizes())) {
      throw FormatError(checkpointDirectory + "/weights.safetensors",
                        "tensor " + name + (it == params.end() ? " does not exist in this run's model" : " has another shape") +
                            ": the checkpoint belongs to a different configuration");
    }
    it->second.copy_(value);
  }
  std::map<std::string, at::Tensor> optimizer(data.optimizerState.begin(), data.optimizerState.end());
  for (std::size_t i = 0; i < m_trainable.size(); ++i) {
    const std::string& name = m_trainable[i].first;
    const auto m = optimizer.find(name + "/exp_avg");
    const auto v = optimizer.find(name + "/exp_avg_sq");
    if (m == optimizer.end() || v == optimizer.end()) {
      throw FormatError(checkpointDirectory + "/optimizer.safetensors", "no AdamW state for " + name);
    }
    m_expAvg[i].copy_(m->second);
    m_expAvgSq[i].copy_(v->second);
  }
  m_optimizerStep = data.optimizerStep;
  if (m_lossScaler.enabled() && data.lossScale > 0.0) m_lossScaler.restore(data.lossScale, data.lossScaleGrowthTracker);
  m_position = data.position;
  for (const auto& [name, state] : data.rngStates) {
    if (name == "cpu") {
      at::Generator gen = defaultGenerator(c10::Device(c10::kCPU));
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(state);
    } else if (m_device.is_cuda() && name == rngName(m_device)) {
      at::Generator gen = defaultGenerator(m_device);
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(state);
    }
  }
  m_lastCheckpoint = checkpointDirectory;
  log(LogLevel::Info, "resumed from " + checkpointDirectory + " at step " + std::to_string(m_position.step) +
                          (data.integrity == CheckpointIntegrity::Verified
                               ? " (checksums verified)"
                               : " (unverified: written before checkpoints carried checksums)"));
}

double Trainer::learningRateAt(std::int64_t stepIndex) const {
  // Hugging Face's schedules: stepIndex is 0-based, warmup rises from 0, decay reaches 0 at the end.
  const OptimConfig& o = m_config.optim;
  const double peak = o.learningRate;
  if (stepIndex < o.warmupSteps) return peak * static_cast<double>(stepIndex) / static_cast<double>(std::max<std::int64_t>(1, o.warmupSteps));
  const double decaySteps = static_cast<double>(std::max<std::int64_t>(1, m_totalSteps - o.warmupSteps));
  const double progress = static_cast<double>(stepIndex - o.warmupSteps) / decaySteps;
  switch (o.schedule) {
  case LrSchedule::Constant: return peak;
  case LrSchedule::Linear: return peak * std::max(0.0, 1.0 - progress);
  case LrSchedule::Cosine: return peak * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
  }
  return peak;
}

void Trainer::projectLoraFaGradients() {
  // g_B ← (1/s²)·g_B·(A·Aᵀ)⁻¹: B's update in the space A spans (LoRA-FA, later version).
  const double s = m_config.adapter.scaling();
  for (const auto& [bName, a] : m_loraFaPairs) {
    const auto it = std::find_if(m_trainable.begin(), m_trainable.end(), [&](const auto& t) { return t.first == bName; });
    at::Tensor& grad = it->second.mutable_grad();
    if (!grad.defined()) continue;
    const at::Tensor gram = at::matmul(a.to(at::kDouble), a.to(at::kDouble).t());
    grad.copy_(at::matmul(grad.to(at::kDouble), at::linalg_inv(gram)).div(s * s));
  }
}

void Trainer::optimizerStep(double lr) {
  // AdamW exactly as torch.optim.AdamW (single-tensor, no amsgrad), kept here so that its state is
  // plain tensors a checkpoint can hold.
  c10::NoGradGuard noGrad;
  const OptimConfig& o = m_config.optim;
  ++m_optimizerStep;
  const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(m_optimizerStep));
  const double bc2Sqrt = std::sqrt(1.0 - std::pow(o.beta2, static_cast<double>(m_optimizerStep)));
  for (std::size_t i = 0; i < m_trainable.size(); ++i) {
    at::Tensor& p = m_trainable[i].second;
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    if (o.weightDecay > 0.0) p.mul_(1.0 - lr * o.weightDecay);
    m_expAvg[i].lerp_(g, 1.0 - o.beta1);
    m_expAvgSq[i].mul_(o.beta2).addcmul_(g, g, 1.0 - o.beta2);
    const at::Tensor denom = (m_expAvgSq[i].sqrt() / bc2Sqrt).add_(o.eps);
    p.addcdiv_(m_expAvg[i], denom, -lr / bc1);
  }
}

Trainer::StepOutcome Trainer::trainStep(const std::vector<std::vector<std::size_t>>& microBatches) {
  StepOutcome out;
  for (auto& [name, p] : m_trainable) p.mutable_grad() = at::Tensor();
  const bool classification = m_train.task == TaskType::Classification;
  std::vector<Batch> batches;
  std::int64_t counted = 0; // the loss's denominator over the whole step: tokens (rows) that count
  for (const auto& rows : microBatches) {
    if (rows.empty()) continue; // data parallel: this rank's share of a short last batch
    batches.push_back(collate(m_train, rows));
    const Batch& b = batches.back();
    out.tokens += b.tokenCount;
    if (classification) {
      counted += b.rows;
    } else if (b.task == TaskType::Seq2Seq) {
      counted += b.trainableTokens;
    } else {
      for (std::int64_t r = 0; r < b.rows; ++r) {
        for (std::int64_t col = 1; col < b.columns; ++col) counted += b.labels[static_cast<std::size_t>(r * b.columns + col)] != kIgnoreIndex;
      }
    }
  }
  if (m_options.distributed) {
    // The loss is a mean over the global batch: every rank divides by the tokens of all ranks,
    // so the summed gradients equal one process's on the whole batch.
    counted = static_cast<std::int64_t>(m_options.distributed->allReduceSum({static_cast<double>(counted)})[0]);
  }
  if (counted == 0) counted = 1;
  double lossSum = 0.0;
  for (const Batch& b : batches) {
    ModelInputs inputs;
    inputs.inputIds = longTensor(b.inputIds, b.rows, b.columns, m_device);
    inputs.attentionMask = longTensor(b.attentionMask, b.rows, b.columns, m_device);
    addPackedSegments(inputs, b, m_train.packed, m_device);
    if (b.task == TaskType::Seq2Seq) inputs.decoderInputIds = decoderInputs(b, m_model->config(), m_train.padId, m_device);
    at::Tensor logits;
    at::Tensor loss;
    // Causal LMs with a plain output head: the loss applies the head chunk by chunk and never
    // holds [B, T, vocab] float32 logits, their log-softmax and gradient (memory/ChunkedCrossEntropy).
    const std::optional<OutputHead> head = b.task == TaskType::CausalLm && chunkedLossEnabled()
                                               ? m_model->outputHead()
                                               : std::nullopt;
    {
      // Only the forward runs under autocast (as torch.autocast advises); the loss is fp32
      // (the chunked loss runs its head matmul in autocast's dtype, its log-softmax in fp32).
      AutocastScope autocast(m_device.type(), m_autocastDtype);
      inputs.returnHidden = head.has_value();
      logits = m_model->forward(inputs);
      if (head) {
        loss = chunkedNextTokenLossSum(logits, head->weight, longTensor(b.labels, b.rows, b.columns, m_device),
                                       head->hiddenScale, kIgnoreIndex);
      }
    }
    if (loss.defined()) {
      // the chunked loss above
    } else if (classification) {
      const at::Tensor labels = longTensor(b.labels, b.rows, 1, m_device).view({b.rows});
      loss = at::cross_entropy_loss(logits.to(at::kFloat), labels, {}, at::Reduction::Sum);
    } else {
      loss = summedTokenLoss(logits, b, m_device);
    }
    if (m_lossScaler.enabled()) {
      (loss * (m_lossScaler.scale() / static_cast<double>(counted))).backward();
    } else {
      (loss / static_cast<double>(counted)).backward();
    }
    lossSum += loss.item<double>();
    sampleMemory(false);
  }
  if (m_options.distributed) {
    allReduceGradients();
    const std::vector<double> sums = m_options.distributed->allReduceSum({lossSum, static_cast<double>(out.tokens)});
    lossSum = sums[0];
    out.tokens = static_cast<std::int64_t>(sums[1]);
  }
  out.loss = lossSum / static_cast<double>(counted);
  if (m_lossScaler.enabled() && !std::isfinite(out.loss)) {
    // fp16: logits that overflow give an infinite loss, hence infinite gradients: GradScaler skips
    // such a step and backs off; so does this (run() fails once the scale falls below 1).
    out.overflow = true;
    return out;
  }
  if (m_lossScaler.enabled()) {
    // Back to true gradients before projection, norm and clipping (GradScaler's unscale_).
    std::vector<at::Tensor> grads;
    for (const auto& [name, p] : m_trainable) grads.push_back(p.grad());
    if (!m_lossScaler.unscale(grads)) {
      out.overflow = true;
      return out;
    }
  }
  if (m_config.optim.projectedB) projectLoraFaGradients();
  double squares = 0.0;
  for (const auto& [name, p] : m_trainable) {
    if (p.grad().defined()) {
      const double n = p.grad().norm().item<double>();
      squares += n * n;
    }
  }
  out.gradNorm = std::sqrt(squares);
  out.finite = std::isfinite(out.loss) && std::isfinite(out.gradNorm);
  if (!out.finite) return out;
  const double clip = m_config.optim.gradClip;
  if (clip > 0.0 && out.gradNorm > clip) {
    c10::NoGradGuard noGrad;
    const double coef = clip / (out.gradNorm + 1e-6);
    for (auto& [name, p] : m_trainable) {
      if (p.grad().defined()) p.mutable_grad().mul_(coef);
    }
  }
  return out;
}

EvalMetrics Trainer::evaluate() {
  EvalMetrics metrics;
  metrics.step = m_position.step;
  if (m_validation.rows.empty()) return metrics;
  setState(TrainerState::Evaluating);
  m_model->eval();
  c10::NoGradGuard noGrad;
  AutocastScope autocast(m_device.type(), m_autocastDtype); // also for the generation metrics
  const bool classification = m_validation.task == TaskType::Classification;
  double lossSum = 0.0;
  std::int64_t counted = 0;
  std::int64_t correct = 0;
  const std::int64_t classes = static_cast<std::int64_t>(m_validation.labelNames.size());
  std::vector<std::int64_t> truePositives(static_cast<std::size_t>(classes)), predicted(static_cast<std::size_t>(classes)),
      actual(static_cast<std::size_t>(classes));
  for (const auto& rows :
       batchOrder(m_validation.rows.size(), static_cast<std::size_t>(m_config.train.batchSize), false, 0, 0)) {
    const Batch b = collate(m_validation, rows);
    ModelInputs inputs;
    inputs.inputIds = longTensor(b.inputIds, b.rows, b.columns, m_device);
    inputs.attentionMask = longTensor(b.attentionMask, b.rows, b.columns, m_device);
    addPackedSegments(inputs, b, m_validation.packed, m_device);
    if (b.task == TaskType::Seq2Seq) {
      inputs.decoderInputIds = decoderInputs(b, m_model->config(), m_validation.padId, m_device);
    }
    // Causal LMs: the chunked loss here too, so evaluation never holds [B, T, vocab] float32.
    const std::optional<OutputHead> head = b.task == TaskType::CausalLm && chunkedLossEnabled()
                                               ? m_model->outputHead()
                                               : std::nullopt;
    inputs.returnHidden = head.has_value();
    const at::Tensor logits = head ? m_model->forward(inputs) : m_model->forward(inputs).to(at::kFloat);
    if (head) {
      lossSum += chunkedNextTokenLossSum(logits, head->weight, longTensor(b.labels, b.rows, b.columns, m_device),
                                         head->hiddenScale, kIgnoreIndex)
                     .item<double>();
      for (std::int64_t r = 0; r < b.rows; ++r) {
        for (std::int64_t col = 1; col < b.columns; ++col) counted += b.labels[static_cast<std::size_t>(r * b.columns + col)] != kIgnoreIndex;
      }
    } else if (classification) {
      const at::Tensor labels = longTensor(b.labels, b.rows, 1, m_device).view({b.rows});
      lossSum += at::cross_entropy_loss(logits, labels, {}, at::Reduction::Sum).item<double>();
      const at::Tensor guess = at::argmax(logits, -1).cpu();
      for (std::int64_t r = 0; r < b.rows; ++r) {
        const std::int64_t g = guess[r].item<std::int64_t>();
        const std::int64_t want = b.labels[static_cast<std::size_t>(r)];
        if (g >= 0 && g < classes) ++predicted[static_cast<std::size_t>(g)];
        if (want >= 0 && want < classes) ++actual[static_cast<std::size_t>(want)];
        if (g == want) {
          ++correct;
          if (want >= 0 && want < classes) ++truePositives[static_cast<std::size_t>(want)];
        }
      }
      counted += b.rows;
    } else {
      lossSum += summedTokenLoss(logits, b, m_device).item<double>();
      if (b.task == TaskType::Seq2Seq) {
        counted += b.trainableTokens;
      } else {
        for (std::int64_t r = 0; r < b.rows; ++r) {
          for (std::int64_t col = 1; col < b.columns; ++col) counted += b.labels[static_cast<std::size_t>(r * b.columns + col)] != kIgnoreIndex;
        }
      }
    }
    metrics.rows += b.rows;
  }
  m_model->train();
  metrics.loss = lossSum / static_cast<double>(std::max<std::int64_t>(1, counted));
  metrics.perplexity = std::exp(metrics.loss);
  if (classification) {
    metrics.accuracy = static_cast<double>(correct) / static_cast<double>(std::max<std::int64_t>(1, counted));
    // Macro F1 over the classes present in the validation rows or predicted.
    double f1Sum = 0.0;
    int present = 0;
    for (std::size_t k = 0; k < truePositives.size(); ++k) {
      if (actual[k] == 0 && predicted[k] == 0) continue;
      ++present;
      const double denominator = static_cast<double>(actual[k] + predicted[k]);
      f1Sum += 2.0 * static_cast<double>(truePositives[k]) / denominator;
    }
    metrics.f1 = present > 0 ? f1Sum / present : 0.0;
  }
  addGenerationMetrics(metrics);
  if (m_observer) m_observer->onEval(metrics);
  if (m_options.store) {
    std::vector<MetricPoint> points{{metrics.step, "eval/loss", metrics.loss}, {metrics.step, "eval/perplexity", metrics.perplexity}};
    if (metrics.accuracy) points.push_back({metrics.step, "eval/accuracy", *metrics.accuracy});
    if (metrics.f1) points.push_back({metrics.step, "eval/f1", *metrics.f1});
    if (metrics.bleu) points.push_back({metrics.step, "eval/bleu", *metrics.bleu});
    if (metrics.exactMatch) points.push_back({metrics.step, "eval/exact_match", *metrics.exactMatch});
    m_options.store->appendMetrics(m_options.runId, points);
  }
  setState(TrainerState::Running);
  return metrics;
}

void Trainer::prepareGenerationCases(const Dataset& dataset) {
  m_generationCases.clear();
  const auto limit = static_cast<std::size_t>(m_config.eval.generateMaxExamples);
  if (limit == 0 || m_validation.rows.empty()) return;
  const ModelConfig& mc = m_model->config();
  std::vector<std::int64_t> stops = mc.eosTokenIds.value_or(std::vector<std::int64_t>{});
  if (const auto eos = m_tokenizer->eosId(); eos && std::find(stops.begin(), stops.end(), *eos) == stops.end()) {
    stops.push_back(*eos);
  }
  // The text a generated answer is compared with: the example's (last) response as written.
  auto referenceOf = [&](const Example& e) -> std::optional<std::string> {
    switch (dataset.format) {
    case DatasetFormat::Alpaca: return e.output;
    case DatasetFormat::SourceTarget: return e.target;
    case DatasetFormat::Chat:
      for (auto it = e.messages.rbegin(); it != e.messages.rend(); ++it) {
        if (it->role == ChatRole::Assistant) return it->content;
      }
      return std::nullopt;
    default: return std::nullopt;
    }
  };
  if (m_validation.task == TaskType::Seq2Seq) {
    for (const TokenizedExample& row : m_validation.rows) {
      if (m_generationCases.size() >= limit) break;
      const auto reference = referenceOf(dataset.examples.at(row.exampleIndex));
      if (!reference) continue;
      m_generationCases.push_back({std::vector<std::int64_t>(row.inputIds.begin(), row.inputIds.end()), *reference,
                                   static_cast<std::int64_t>(row.labels.size()), stops});
    }
    return;
  }
  // Causal LMs: instruction and chat rows whose loss covers the responses only, so that the
  // prompt is every token before the last response span, exactly as trained.
  const bool instructions = dataset.format == DatasetFormat::Alpaca || dataset.format == DatasetFormat::Chat ||
                            dataset.format == DatasetFormat::SourceTarget;
  if (m_validation.task != TaskType::CausalLm || !instructions || m_validation.packed || m_config.dataset.trainOnPrompt) {
    return;
  }
  for (const TokenizedExample& row : m_validation.rows) {
    if (m_generationCases.size() >= limit) break;
    const std::vector<TokenId>& labels = row.labels;
    // A row whose last response was cut away by truncation ends in prompt tokens: its reference
    // is not what the row trains on.
    if (labels.empty() || labels.back() == kIgnoreIndex) continue;
    // Nor one whose response was cut short: every template ends a response with EOS or an
    // end-of-turn token, so a row ending otherwise lost the rest of its answer (and the answer
    // budget below, the kept length + 16, could stop generation before the full reference).
    if (m_tokenizer->eosId() && std::find(stops.begin(), stops.end(), labels.back()) == stops.end() &&
        !m_tokenizer->isSpecial(labels.back())) {
      continue;
    }
    std::size_t start = labels.size() - 1;
    while (start > 0 && labels[start - 1] != kIgnoreIndex) --start;
    if (start == 0) continue;
    const auto reference = referenceOf(dataset.examples.at(row.exampleIndex));
    if (!reference) continue;
    GenerationCase item{std::vector<std::int64_t>(row.inputIds.begin(), row.inputIds.begin() + static_cast<std::ptrdiff_t>(start)),
                        *reference, static_cast<std::int64_t>(labels.size() - start), stops};
    // The template's end-of-turn marker (e.g. <|im_end|>) ends the answer as EOS does.
    const TokenId last = labels.back();
    if (m_tokenizer->isSpecial(last) && std::find(item.stopTokens.begin(), item.stopTokens.end(), last) == item.stopTokens.end()) {
      item.stopTokens.push_back(last);
    }
    m_generationCases.push_back(std::move(item));
  }
}

void Trainer::addGenerationMetrics(EvalMetrics& metrics) {
  m_lastGenerations.clear();
  if (m_generationCases.empty()) return;
  std::vector<std::string> answers, references;
  for (const GenerationCase& item : m_generationCases) {
    GenerationOptions options; // greedy
    options.maxNewTokens = m_config.eval.maxNewTokens > 0 ? m_config.eval.maxNewTokens : item.referenceTokens + 16;
    options.stopTokens = item.stopTokens;
    const std::vector<std::int64_t> out = generate(*m_model, item.prompt, options);
    answers.push_back(m_tokenizer->decode(std::vector<TokenId>(out.begin(), out.end()), /*skipSpecialTokens=*/true));
    references.push_back(item.reference);
    m_lastGenerations.emplace_back(answers.back(), item.reference);
  }
  metrics.generatedRows = static_cast<std::int64_t>(answers.size());
  metrics.exactMatch = exactMatch(answers, references);
  if (m_validation.task == TaskType::Seq2Seq) metrics.bleu = corpusBleu(answers, references).score;
}

std::string Trainer::generateText(const std::string& prompt, std::int64_t maxNewTokens, double temperature,
                                  std::uint64_t seed) {
  if (!m_setUp) throw std::logic_error("Trainer::generateText before setup");
  if (m_model->config().family == ModelFamily::Bert || m_model->config().family == ModelFamily::Roberta ||
      m_model->config().isSequenceClassifier()) {
    throw std::invalid_argument(m_config.modelPath + " is a sequence classifier: it does not generate text");
  }
  GenerationOptions options;
  options.maxNewTokens = maxNewTokens;
  options.temperature = temperature;
  options.seed = seed;
  const std::vector<TokenId> ids = m_tokenizer->encode(prompt, true);
  m_model->eval();
  std::vector<std::int64_t> out;
  {
    c10::NoGradGuard noGrad;
    AutocastScope autocast(m_device.type(), m_autocastDtype);
    out = generate(*m_model, std::vector<std::int64_t>(ids.begin(), ids.end()), options);
  }
  m_model->train();
  return m_tokenizer->decode(std::vector<TokenId>(out.begin(), out.end()), /*skipSpecialTokens=*/true);
}

TrainResult Trainer::run() {
  if (!m_setUp) throw std::logic_error("Trainer::run before setup");
  TrainResult result;
  const TrainConfig& t = m_config.train;
  auto finish = [&](TrainerState state, const std::string& message) {
    result.state = state;
    result.message = message;
    result.steps = m_position.step;
    result.peakMemoryBytes = peakMemoryBytes();
    result.lastCheckpoint = m_lastCheckpoint;
    if (state == TrainerState::Failed) log(LogLevel::Error, message);
    else if (!message.empty()) log(LogLevel::Info, message);
    setState(state, message);
    return result;
  };
  auto recordEval = [&](const EvalMetrics& e) {
    result.finalMetrics["eval/loss"] = e.loss;
    result.finalMetrics["eval/perplexity"] = e.perplexity;
    if (e.accuracy) result.finalMetrics["eval/accuracy"] = *e.accuracy;
    if (e.f1) result.finalMetrics["eval/f1"] = *e.f1;
    if (e.bleu) result.finalMetrics["eval/bleu"] = *e.bleu;
    if (e.exactMatch) result.finalMetrics["eval/exact_match"] = *e.exactMatch;
    if (e.loss < m_position.bestEvalLoss) {
      m_position.bestEvalLoss = e.loss;
      m_position.evalsWithoutImprovement = 0;
      result.bestMetrics["eval/loss"] = e.loss;
      result.bestMetrics["eval/perplexity"] = e.perplexity;
      if (e.accuracy) result.bestMetrics["eval/accuracy"] = *e.accuracy;
      if (e.f1) result.bestMetrics["eval/f1"] = *e.f1;
      if (e.bleu) result.bestMetrics["eval/bleu"] = *e.bleu;
      if (e.exactMatch) result.bestMetrics["eval/exact_match"] = *e.exactMatch;
    } else {
      ++m_position.evalsWithoutImprovement;
    }
  };

  setState(TrainerState::Running);
  m_sampleStep = m_position.step;
  sampleMemory(true);
  // Samples memory at least twice a second for as long as run() trains, whatever a step's length.
  struct Sampler {
    Trainer& trainer;
    std::atomic<bool> running{true};
    std::thread thread;
    explicit Sampler(Trainer& t) : trainer(t), thread([this] {
      while (running) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (running) trainer.sampleMemory(false);
      }
    }) {}
    ~Sampler() {
      running = false;
      thread.join();
    }
  } sampler(*this);
  std::int64_t orderEpoch = -1;
  std::vector<std::vector<std::size_t>> order;
  std::int64_t lastEvalStep = -1;
  try {
    // The untrained model's validation loss: the baseline every later evaluation is compared to.
    if (m_position.step == 0 && !m_validation.rows.empty() && m_options.baselineEvaluation) recordEval(evaluate());
    while (m_position.step < m_totalSteps) {
      if (m_observer && m_observer->shouldPause() && !m_observer->shouldStop()) {
        setState(TrainerState::Paused);
        while (m_observer->shouldPause() && !m_observer->shouldStop()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        setState(TrainerState::Running);
      }
      bool stopRequested = m_observer && m_observer->shouldStop();
      if (m_options.distributed) {
        // A stop asked of any rank stops all of them at the same step.
        stopRequested = m_options.distributed->allReduceSum({stopRequested ? 1.0 : 0.0})[0] > 0.0;
      }
      if (stopRequested || (m_options.stopAfterStep > 0 && m_position.step >= m_options.stopAfterStep)) {
        saveCheckpoint();
        return finish(TrainerState::Stopped, "stopped at step " + std::to_string(m_position.step) + "; resume from " + m_lastCheckpoint);
      }
      if (orderEpoch != m_position.epoch) {
        order = batchOrder(m_train.rows.size(), static_cast<std::size_t>(t.batchSize * worldSize()), true, t.seed,
                           static_cast<std::uint64_t>(m_position.epoch));
        orderEpoch = m_position.epoch;
      }
      const auto begin = static_cast<std::size_t>(m_position.batchInEpoch);
      const std::size_t end = std::min(order.size(), begin + static_cast<std::size_t>(t.gradAccumulation));
      std::vector<std::vector<std::size_t>> group(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                                  order.begin() + static_cast<std::ptrdiff_t>(end));
      for (auto& rows : group) rows = shardOf(rows); // data parallel: this rank's rows
      const auto started = Clock::now();
      const StepOutcome outcome = trainStep(group);
      if (!outcome.finite) {
        return finish(TrainerState::Failed,
                      "the loss or gradient became " + std::string(std::isnan(outcome.loss) || std::isnan(outcome.gradNorm) ? "NaN" : "infinite") +
                          " at step " + std::to_string(m_position.step + 1) + " (loss " + std::to_string(outcome.loss) +
                          "); no update was applied. " +
                          (m_lastCheckpoint.empty() ? std::string("No checkpoint was written yet.")
                                                    : "The last good checkpoint is " + m_lastCheckpoint + ".") +
                          " Try a lower learning rate or gradient clipping.");
      }
      const double lr = learningRateAt(m_position.step);
      // fp16: a step whose gradients overflowed at this loss scale is skipped, the scale backs off
      // and the schedule moves on, as with torch.cuda.amp.GradScaler.
      if (m_lossScaler.update(!outcome.overflow)) {
        optimizerStep(lr);
      } else {
        log(LogLevel::Warning, "fp16: the gradients overflowed at step " + std::to_string(m_position.step + 1) +
                                   "; no update was applied and the loss scale is now " +
                                   std::to_string(m_lossScaler.scale()));
        if (m_lossScaler.scale() < 1.0) {
          // Below 1 the scale no longer protects anything: the values themselves are not finite.
          return finish(TrainerState::Failed,
                        "fp16: the loss or gradients stayed non-finite at step " + std::to_string(m_position.step + 1) +
                            " down to a loss scale below 1; no update was applied. " +
                            (m_lastCheckpoint.empty() ? std::string("No checkpoint was written yet.")
                                                      : "The last good checkpoint is " + m_lastCheckpoint + ".") +
                            " Try bf16, a lower learning rate or gradient clipping.");
        }
      }
      const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
      ++m_position.step;
      m_position.batchInEpoch = static_cast<std::int64_t>(end);
      const bool epochEnd = end >= order.size();
      StepMetrics step;
      step.step = m_position.step;
      step.totalSteps = m_totalSteps;
      step.epoch = m_position.epoch;
      if (epochEnd) {
        ++m_position.epoch;
        m_position.batchInEpoch = 0;
      }
      step.loss = outcome.loss;
      step.learningRate = lr;
      step.gradNorm = outcome.gradNorm;
      step.tokens = outcome.tokens;
      step.stepTimeMs = seconds * 1000.0;
      step.tokensPerSecond = seconds > 0 ? static_cast<double>(outcome.tokens) / seconds : 0.0;
      m_sampleStep = m_position.step;
      sampleMemory(true);
      MemorySample mem;
      {
        std::lock_guard<std::mutex> lock(m_memoryMutex);
        mem = m_memory->sample();
      }
      step.memoryCurrentBytes = mem.cudaTracked ? mem.cudaAllocatedBytes : mem.cpuCurrentBytes;
      step.memoryPeakBytes = peakMemoryBytes();
      if (m_observer) m_observer->onStep(step);
      if (m_options.store) {
        m_options.store->appendMetrics(m_options.runId, {{step.step, "train/loss", step.loss},
                                                         {step.step, "train/lr", step.learningRate},
                                                         {step.step, "train/grad_norm", step.gradNorm},
                                                         {step.step, "train/tokens_per_s", step.tokensPerSecond}});
      }
      result.finalMetrics["train/loss"] = step.loss;

      const bool last = m_position.step >= m_totalSteps;
      const bool evalDue = t.evalEvery > 0 ? m_position.step % t.evalEvery == 0 : epochEnd;
      bool earlyStop = false;
      if (!m_validation.rows.empty() && (evalDue || last)) {
        recordEval(evaluate());
        lastEvalStep = m_position.step;
        earlyStop = t.earlyStoppingPatience > 0 && m_position.evalsWithoutImprovement >= t.earlyStoppingPatience;
      }
      const bool saveDue = t.saveEvery > 0 ? m_position.step % t.saveEvery == 0 : epochEnd;
      if (saveDue || last || earlyStop) saveCheckpoint();
      setState(TrainerState::Running);
      if (earlyStop) {
        return finish(TrainerState::Completed, "early stopping: validation loss did not improve in " +
                                                   std::to_string(t.earlyStoppingPatience) + " evaluations");
      }
    }
    (void)lastEvalStep;
    return finish(TrainerState::Completed, "completed " + std::to_string(m_position.step) + " steps");
  } catch (const OutOfMemoryError& e) {
    return finish(TrainerState::Failed, std::string("out of memory at step ") + std::to_string(m_position.step + 1) + ": " +
                                            e.what() + "; peak " + formatBytes(peakMemoryBytes()) +
                                            ". Try a smaller batch_size or max_seq_len (with more grad_accumulation), or a lower rank.");
  } catch (const c10::OutOfMemoryError& e) {
    return finish(TrainerState::Failed, std::string("CUDA out of memory at step ") + std::to_string(m_position.step + 1) +
                                            "; peak " + formatBytes(peakMemoryBytes()) +
                                            ". Try a smaller batch_size or max_seq_len (with more grad_accumulation), or a lower rank. (" +
                                            e.what_without_backtrace() + ")");
  } catch (const std::exception& e) {
    return finish(TrainerState::Failed, std::string("training failed at step ") + std::to_string(m_position.step + 1) + ": " + e.what());
  }
}

const char* toString(TrainerState state) {
  switch (state) {
  case TrainerState::Preparing: return "preparing";
  case TrainerState::Running: return "running";
  case TrainerState::Paused: return "paused";
  case TrainerState::Evaluating: return "evaluating";
  case TrainerState::Saving: return "saving";
  case TrainerState::Completed: return "completed";
  case TrainerState::Stopped: return "stopped";
  case TrainerState::Failed: return "failed";
  }
  return "unknown";
}

} // namespace lorafa
