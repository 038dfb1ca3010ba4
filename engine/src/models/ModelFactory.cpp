#include "ModelFactory.h"

#include "BertModel.h"
#include "Gpt2Model.h"
#include "LlamaModel.h"
#include "T5Model.h"
#include "io/AtomicFile.h"
#include "io/CheckpointReader.h"
#include "io/SafetensorsWriter.h"
#include "lorafa/FormatError.h"

#include <ATen/Context.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/randn.h>
#include <c10/core/GradMode.h>
#include <torch/version.h>

#include <filesystem>
#include <set>
#include <sstream>

namespace lorafa {
namespace {

std::string shapeText(at::IntArrayRef sizes) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < sizes.size(); ++i) out << (i ? ", " : "") << sizes[i];
  out << ']';
  return out.str();
}

bool isAdapterParameter(const std::string& name) {
  return name.find("lora_A") != std::string::npos || name.find("lora_B") != std::string::npos;
}

bool isUnder(const std::string& name, const std::vector<std::string>& modules) {
  for (const std::string& m : modules) {
    if (name.size() > m.size() && name.compare(0, m.size(), m) == 0 && name[m.size()] == '.') return true;
  }
  return false;
}

bool isNormWeight(const std::string& name) {
  for (const char* key : {"norm.", "layernorm.", "LayerNorm.", "ln_", "layer_norm."}) {
    if (name.find(key) != std::string::npos) return true;
  }
  return false;
}

} // namespace

std::shared_ptr<LanguageModel> createModel(const ModelConfig& config, const c10::TensorOptions& options) {
#if TORCH_VERSION_MAJOR < 2
  if (options.dtype() == at::kHalf && options.device().is_cpu()) {
    throw std::invalid_argument("float16 on the CPU is not supported by LibTorch " TORCH_VERSION
                                "; use bfloat16 or float32 on the CPU, or float16 on a CUDA device");
  }
#endif
  switch (config.family) {
  case ModelFamily::Llama: return std::make_shared<LlamaModel>(config, options);
  case ModelFamily::Gpt2: return std::make_shared<Gpt2Model>(config, options);
  case ModelFamily::Bert:
  case ModelFamily::Roberta: return std::make_shared<BertModel>(config, options);
  case ModelFamily::T5: return std::make_shared<T5Model>(config, options);
  }
  throw std::invalid_argument(std::string("model family ") + toString(config.family) + " is not built yet");
}

namespace {

struct ResolvedTensor {
  at::Tensor parameter;
  std::string stored; ///< the name in the checkpoint
  bool transposed = false;
};

// Matches every model parameter with its checkpoint tensor and checks the shapes, without
// reading any tensor data. Throws FormatError for a missing tensor or a shape mismatch.
std::vector<ResolvedTensor> resolveCheckpoint(const LanguageModel& model, const CheckpointReader& reader,
                                              LoadReport& report) {
  std::vector<ResolvedTensor> resolved;
  std::set<std::string> used;
  std::vector<std::string> missing;
  for (const auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    if (isAdapterParameter(name)) continue;
    std::string stored;
    for (const std::string& candidate : model.checkpointNames(name)) {
      if (reader.contains(candidate)) {
        stored = candidate;
        break;
      }
    }
    if (stored.empty()) {
      if (isUnder(name, model.trainedHeadModules())) {
        report.initializedTensors.push_back(name); // a new task head: initialised, not loaded
      } else {
        missing.push_back(name);
      }
      continue;
    }
    const bool transposed = model.isStoredTransposed(name);
    std::vector<std::int64_t> expected = item.value().sizes().vec();
    if (transposed) std::swap(expected[0], expected[1]);
    const std::vector<std::int64_t> found = reader.shape(stored);
    if (found != expected) {
      throw FormatError(reader.directory(), "tensor \"" + stored + "\" has shape " + shapeText(found) +
                                                " in the checkpoint, but config.json gives " + shapeText(expected) +
                                                (transposed ? " (stored as Conv1D [in, out])" : ""));
    }
    resolved.push_back({item.value(), stored, transposed});
    used.insert(stored);
  }
  if (!missing.empty()) {
    std::string list;
    for (std::size_t i = 0; i < missing.size() && i < 8; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 8) list += ", ... (" + std::to_string(missing.size()) + " in all)";
    throw FormatError(reader.directory(), "the checkpoint lacks tensors the config needs: " + list);
  }
  for (const std::string& name : reader.names()) {
    if (used.count(name) == 0 && !model.isIgnoredCheckpointTensor(name)) report.unusedTensors.push_back(name);
  }
  return resolved;
}

} // namespace

LoadReport loadWeights(LanguageModel& model, const std::string& directory) {
  const CheckpointReader reader = CheckpointReader::openDirectory(directory);
  LoadReport report;
  const std::vector<ResolvedTensor> resolved = resolveCheckpoint(model, reader, report);
  c10::NoGradGuard noGrad;
  const auto parameters = model.named_parameters();
  for (const std::string& name : report.initializedTensors) {
    at::Tensor p = parameters[name];
    if (p.dim() >= 2) {
      p.normal_(0.0, 0.02); // Hugging Face's initializer_range default for new heads
    } else {
      p.zero_();
    }
  }
  for (const ResolvedTensor& r : resolved) {
    at::Tensor value = reader.load(r.stored);
    if (r.transposed) value = value.t();
    at::Tensor target = r.parameter;
    target.copy_(value);
  }
  return report;
}

LoadReport checkCheckpoint(const LanguageModel& model, const std::string& directory) {
  const CheckpointReader reader = CheckpointReader::openDirectory(directory);
  LoadReport report;
  resolveCheckpoint(model, reader, report);
  return report;
}

std::shared_ptr<LanguageModel> loadModel(const std::string& directory, const c10::TensorOptions& options,
                                         LoadReport* report) {
  const std::string configPath = (std::filesystem::path(directory) / "config.json").string();
  return loadModel(ModelConfig::fromFile(configPath), directory, options, report);
}

std::shared_ptr<LanguageModel> loadModel(const ModelConfig& config, const std::string& directory,
                                         const c10::TensorOptions& options, LoadReport* report) {
  auto model = createModel(config, options);
  LoadReport loaded = loadWeights(*model, directory);
  if (report != nullptr) *report = std::move(loaded);
  return model;
}

void saveModelCheckpoint(LanguageModel& model, const std::string& directory) {
  std::filesystem::create_directories(directory);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& item : model.named_parameters()) {
    if (isAdapterParameter(item.key())) continue;
    at::Tensor value = item.value().detach();
    if (model.isStoredTransposed(item.key())) value = value.t().contiguous();
    tensors.emplace_back(item.key(), value);
  }
  writeSafetensors((std::filesystem::path(directory) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  const std::string json = model.config().toJson() + "\n";
  writeFileAtomically((std::filesystem::path(directory) / "config.json").string(),
                      [&](std::FILE* file) {
                        if (std::fwrite(json.data(), 1, json.size(), file) != json.size()) {
                          throw std::runtime_error("short write");
                        }
                      });
}

void initializeRandom(LanguageModel& model, std::uint64_t seed) {
  c10::NoGradGuard noGrad;
  at::manual_seed(seed);
  for (const auto& item : model.named_parameters()) {
    if (isAdapterParameter(item.key())) continue;
    at::Tensor p = item.value();
    const at::Tensor noise = at::randn(p.sizes(), p.options().requires_grad(false));
    if (p.dim() == 1 && isNormWeight(item.key())) {
      p.copy_(noise * 0.1 + 1.0);
    } else {
      p.copy_(noise * 0.02);
    }
  }
}

} // namespace lorafa
