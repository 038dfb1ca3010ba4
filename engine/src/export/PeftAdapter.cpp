#include "export/PeftAdapter.h"

#include "export/PeftAdapterConfig.h"
#include "adapters/LinearLayerFactory.h"
#include "io/AtomicFile.h"
#include "io/SafetensorsFile.h"
#include "io/SafetensorsWriter.h"
#include "io/StrictJson.h"
#include "lorafa/FormatError.h"
#include "lorafa/ModelSummary.h"
#include "models/ModelConfig.h"

#include <c10/core/GradMode.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace lorafa {
namespace {

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shapeText(at::IntArrayRef sizes) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < sizes.size(); ++i)
    out << (i ? ", " : "") << sizes[i];
  out << ']';
  return out.str();
}

std::string readText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, "missing or unreadable: not a PEFT adapter folder");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void writeText(const std::string& path, const std::string& text) {
  writeFileAtomically(path, [&](std::FILE* f) { std::fwrite(text.data(), 1, text.size(), f); });
}

// PEFT's target_modules matching for a list: the whole module path, or its suffix after a dot.
bool peftNameMatches(const std::string& module, const std::string& target) {
  return module == target || endsWith(module, "." + target);
}

std::string leafOf(const std::string& path) {
  const std::size_t dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

bool isUnder(const std::string& name, const std::string& module) {
  return name.size() > module.size() && name.compare(0, module.size(), module) == 0 &&
         name[module.size()] == '.';
}

const LinearHandle* findLinear(const LanguageModel& model, const std::string& path) {
  for (const LinearHandle& h : model.linears()) {
    if (h.name == path) return &h;
  }
  return nullptr;
}

} // namespace

PeftAdapterFolder loadPeftAdapter(const std::string& directory) {
  PeftAdapterFolder folder;
  folder.summary.directory = directory;
  folder.configPath = (fs::path(directory) / kPeftConfigFile).string();
  folder.weightsPath = (fs::path(directory) / kPeftWeightsFile).string();
  if (!fs::is_directory(directory))
    throw FormatError(directory, "not a folder (expected a PEFT adapter folder)");
  const std::string text = readText(folder.configPath);
  PeftAdapterConfig config = parsePeftAdapterConfig(text, folder.configPath);
  folder.summary = std::move(config.summary);
  folder.summary.directory = directory;
  folder.targetNames = std::move(config.targetNames);
  folder.targetRegex = std::move(config.targetRegex);
  folder.targetAllLinear = config.targetAllLinear;

  if (!fs::exists(folder.weightsPath)) {
    if (fs::exists(fs::path(directory) / "adapter_model.bin")) {
      throw FormatError(folder.weightsPath,
                        "missing; the folder has adapter_model.bin, a pickled file that is never "
                        "loaded (it can run code): convert it to safetensors");
    }
    throw FormatError(folder.weightsPath, "missing: not a PEFT adapter folder");
  }
  const auto file = SafetensorsFile::open(folder.weightsPath);
  folder.summary.metadata = file->metadata();
  const std::string& wp = folder.weightsPath;
  const std::string prefix = kPeftKeyPrefix;
  for (const SafetensorsTensorInfo& info : file->tensors()) {
    const std::string& key = info.name;
    if (key.compare(0, prefix.size(), prefix) != 0) {
      throw FormatError(wp, "key \"" + key + "\" does not start with \"" + prefix +
                                "\" (PEFT's prefix for LoRA weights)");
    }
    const std::string rest = key.substr(prefix.size());
    if (rest.find("lora_embedding_") != std::string::npos) {
      throw FormatError(wp, "key \"" + key + "\": LoRA on embeddings is not supported");
    }
    if (rest.find("lora_magnitude_vector") != std::string::npos) {
      throw FormatError(wp, "key \"" + key + "\": DoRA magnitudes are not supported");
    }
    at::Tensor value = file->load(key);
    if (!value.is_floating_point()) {
      throw FormatError(wp,
                        "key \"" + key + "\" has dtype " + info.dtype + ", expected a floating-point type");
    }
    value = value.to(at::kFloat);
    for (const char* part : {".lora_A.weight", ".lora_B.weight"}) {
      if (!endsWith(rest, part)) continue;
      const std::string module = rest.substr(0, rest.size() - std::string(part).size());
      if (value.dim() != 2) {
        throw FormatError(wp, "key \"" + key + "\" has shape " + shapeText(value.sizes()) +
                                  ", expected a matrix");
      }
      const bool isA = part[6] == 'A';
      const std::int64_t rank = isA ? value.size(0) : value.size(1);
      if (rank != folder.summary.rank) {
        throw FormatError(wp, "key \"" + key + "\" has shape " + shapeText(value.sizes()) + ": rank " +
                                  std::to_string(rank) + ", but adapter_config.json gives r = " +
                                  std::to_string(folder.summary.rank));
      }
      (isA ? folder.a : folder.b)[module] = value;
      value = at::Tensor();
      break;
    }
    if (!value.defined()) continue;
    if (rest.find("lora_") != std::string::npos) {
      throw FormatError(wp, "key \"" + key +
                                "\" is not a LoRA weight PEFT writes (expected <module>.lora_A.weight or "
                                "<module>.lora_B.weight)");
    }
    folder.wholeParameters[rest] = value;
  }
  for (const auto& [module, a] : folder.a) {
    if (folder.b.count(module) == 0) {
      throw FormatError(wp, "missing key \"" + prefix + module + ".lora_B.weight\" (its lora_A is there)");
    }
  }
  for (const auto& [module, b] : folder.b) {
    if (folder.a.count(module) == 0) {
      throw FormatError(wp, "missing key \"" + prefix + module + ".lora_A.weight\" (its lora_B is there)");
    }
    folder.summary.adaptedModules.push_back(module);
  }
  if (folder.a.empty()) throw FormatError(wp, "holds no lora_A / lora_B weights");
  // Whole parameters belong to modules_to_save (PEFT writes them as base_model.model.<module>.<param>).
  for (const auto& [name, value] : folder.wholeParameters) {
    const bool saved = std::any_of(folder.summary.modulesToSave.begin(), folder.summary.modulesToSave.end(),
                                   [&](const std::string& m) {
                                     return isUnder(name, m) || name.find("." + m + ".") != std::string::npos;
                                   });
    if (!saved) {
      throw FormatError(wp, "key \"" + prefix + name +
                                "\" is neither a LoRA weight nor under a module of "
                                "modules_to_save in adapter_config.json");
    }
  }
  // target_modules, when it is a list, must select every adapted module.
  if (!folder.targetNames.empty()) {
    for (const std::string& module : folder.summary.adaptedModules) {
      const bool selected = std::any_of(folder.targetNames.begin(), folder.targetNames.end(),
                                        [&](const std::string& t) { return peftNameMatches(module, t); });
      if (!selected) {
        throw FormatError(wp, "key \"" + prefix + module + ".lora_A.weight\": module " + module +
                                  " is not selected by target_modules in adapter_config.json");
      }
    }
  }
  return folder;
}

PeftAdapterSummary readPeftAdapter(const std::string& directory) {
  return loadPeftAdapter(directory).summary;
}

namespace {

// Checks every adapter tensor against the model's linear layers; returns the handles in model order.
std::vector<const LinearHandle*> resolveAdaptedModules(const LanguageModel& model,
                                                       const PeftAdapterFolder& adapter) {
  const std::string prefix = kPeftKeyPrefix;
  for (const auto& [module, a] : adapter.a) {
    const LinearHandle* h = findLinear(model, module);
    if (h == nullptr) {
      throw FormatError(adapter.weightsPath, "key \"" + prefix + module + ".lora_A.weight\" names module " +
                                                 module + ", which " + model.config().architecture +
                                                 " does not have as a linear layer (unknown target)");
    }
    const LinearLayer& layer = **h->slot;
    const std::int64_t out = layer.weight().size(0);
    const std::int64_t in = layer.weight().size(1);
    const at::Tensor& b = adapter.b.at(module);
    if (a.size(1) != in) {
      throw FormatError(adapter.weightsPath,
                        "key \"" + prefix + module + ".lora_A.weight\" has shape " + shapeText(a.sizes()) +
                            ", but " + module + " takes " + std::to_string(in) + " inputs: expected [" +
                            std::to_string(adapter.summary.rank) + ", " + std::to_string(in) + "]");
    }
    if (b.size(0) != out) {
      throw FormatError(adapter.weightsPath,
                        "key \"" + prefix + module + ".lora_B.weight\" has shape " + shapeText(b.sizes()) +
                            ", but " + module + " gives " + std::to_string(out) + " outputs: expected [" +
                            std::to_string(out) + ", " + std::to_string(adapter.summary.rank) + "]");
    }
  }
  // A list of target names must each select something in this model.
  for (const std::string& target : adapter.targetNames) {
    const bool any = std::any_of(model.linears().begin(), model.linears().end(),
                                 [&](const LinearHandle& h) { return peftNameMatches(h.name, target); });
    if (!any) {
      throw FormatError(adapter.configPath, "target_modules names \"" + target +
                                                "\", which selects no linear module of " +
                                                model.config().architecture + " (unknown target)");
    }
  }
  std::vector<const LinearHandle*> handles;
  for (const LinearHandle& h : model.linears()) {
    if (adapter.a.count(h.name)) handles.push_back(&h);
  }
  return handles;
}

void copyWholeParameters(LanguageModel& model, const PeftAdapterFolder& adapter) {
  auto params = model.named_parameters();
  c10::NoGradGuard noGrad;
  for (const auto& [name, value] : adapter.wholeParameters) {
    at::Tensor* p = params.find(name);
    if (p == nullptr) {
      throw FormatError(adapter.weightsPath, "key \"" + std::string(kPeftKeyPrefix) + name +
                                                 "\" names parameter " + name + ", which " +
                                                 model.config().architecture + " does not have");
    }
    if (!p->sizes().equals(value.sizes())) {
      throw FormatError(adapter.weightsPath, "key \"" + std::string(kPeftKeyPrefix) + name + "\" has shape " +
                                                 shapeText(value.sizes()) + ", but the model's " + name +
                                                 " is " + shapeText(p->sizes()));
    }
    p->copy_(value);
  }
}

} // namespace

std::vector<std::string> applyPeftAdapter(LanguageModel& model, const PeftAdapterFolder& adapter,
                                          TrainMethod method) {
  if (method != TrainMethod::LoraFa && method != TrainMethod::Lora) {
    throw std::invalid_argument("an imported adapter is trained as lora-fa or lora");
  }
  const std::vector<const LinearHandle*> handles = resolveAdaptedModules(model, adapter);
  AdapterConfig config;
  config.method = method;
  config.rank = adapter.summary.rank;
  config.alpha = adapter.summary.alpha;
  config.useRslora = adapter.summary.useRslora;
  config.dropout = adapter.summary.dropout;
  config.validate();
  std::vector<std::string> adapted;
  for (const LinearHandle* h : handles) {
    const std::shared_ptr<LinearLayer> current = *h->slot;
    if (current->method() == TrainMethod::LoraFa || current->method() == TrainMethod::Lora) {
      throw std::invalid_argument("module " + h->name + " already has an adapter");
    }
    std::shared_ptr<LinearLayer> layer = makeLinearLayer(current->weight(), current->bias(), config);
    {
      c10::NoGradGuard noGrad;
      auto params = layer->named_parameters(false);
      params["lora_A"].copy_(adapter.a.at(h->name));
      params["lora_B"].copy_(adapter.b.at(h->name));
    }
    model.replaceLinear(*h, layer);
    adapted.push_back(h->name);
  }
  copyWholeParameters(model, adapter);
  return adapted;
}

void initAdaptersFromPeft(LanguageModel& model, const std::string& directory, const AdapterConfig& adapter,
                          const std::vector<std::string>& adaptedModules) {
  const PeftAdapterFolder folder = loadPeftAdapter(directory);
  const PeftAdapterSummary& s = folder.summary;
  const std::string where = "adapter.init_from " + directory + ": ";
  if (s.rank != adapter.rank) {
    throw std::invalid_argument(where + "the adapter has r = " + std::to_string(s.rank) +
                                ", the run adapter.rank = " + std::to_string(adapter.rank) +
                                "; set adapter.rank to " + std::to_string(s.rank));
  }
  if (std::abs(s.alpha - adapter.alpha) > 1e-12 * std::max(1.0, std::abs(s.alpha))) {
    std::ostringstream text;
    text << where << "the adapter has lora_alpha = " << s.alpha
         << ", the run adapter.alpha = " << adapter.alpha << "; set adapter.alpha to " << s.alpha;
    throw std::invalid_argument(text.str());
  }
  if (s.useRslora != adapter.useRslora) {
    throw std::invalid_argument(where + "the adapter has use_rslora = " + (s.useRslora ? "true" : "false") +
                                ", the run adapter.rslora = " + (adapter.useRslora ? "true" : "false"));
  }
  resolveAdaptedModules(model, folder);
  const std::set<std::string> fileModules(s.adaptedModules.begin(), s.adaptedModules.end());
  const std::set<std::string> runModules(adaptedModules.begin(), adaptedModules.end());
  if (fileModules != runModules) {
    std::string onlyFile;
    std::string onlyRun;
    for (const std::string& m : fileModules)
      if (!runModules.count(m) && onlyFile.size() < 200) onlyFile += (onlyFile.empty() ? "" : ", ") + m;
    for (const std::string& m : runModules)
      if (!fileModules.count(m) && onlyRun.size() < 200) onlyRun += (onlyRun.empty() ? "" : ", ") + m;
    throw std::invalid_argument(where + "the adapter's modules differ from those adapter.targets selects" +
                                (onlyFile.empty() ? "" : "; only in the adapter: " + onlyFile) +
                                (onlyRun.empty() ? "" : "; only in the run: " + onlyRun) +
                                " (set adapter.targets to the adapter's target_modules)");
  }
  auto params = model.named_parameters();
  c10::NoGradGuard noGrad;
  for (const std::string& m : adaptedModules) {
    params[m + ".lora_A"].copy_(folder.a.at(m));
    params[m + ".lora_B"].copy_(folder.b.at(m));
  }
  copyWholeParameters(model, folder);
}

std::vector<std::string> peftTargetModules(const LanguageModel& model,
                                           const std::vector<std::string>& adaptedModules) {
  std::vector<std::string> leaves;
  for (const std::string& m : adaptedModules) {
    const std::string leaf = leafOf(m);
    if (std::find(leaves.begin(), leaves.end(), leaf) == leaves.end()) leaves.push_back(leaf);
  }
  std::sort(leaves.begin(), leaves.end());
  const std::set<std::string> chosen(adaptedModules.begin(), adaptedModules.end());
  const bool exact = std::all_of(model.linears().begin(), model.linears().end(), [&](const LinearHandle& h) {
    const bool selected = std::any_of(leaves.begin(), leaves.end(),
                                      [&](const std::string& l) { return peftNameMatches(h.name, l); });
    return selected == (chosen.count(h.name) > 0);
  });
  if (exact) return leaves;
  return adaptedModules;
}

std::string peftTaskType(const LanguageModel& model) {
  const ModelConfig& c = model.config();
  if (c.family == ModelFamily::T5) return "SEQ_2_SEQ_LM";
  if (c.family == ModelFamily::Bert || c.family == ModelFamily::Roberta || c.isSequenceClassifier())
    return "SEQ_CLS";
  return "CAUSAL_LM";
}

void writePeftAdapter(const LanguageModel& model, const PeftAdapterInfo& info, const std::string& directory) {
  const auto params = model.named_parameters();
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const std::string& m : info.adaptedModules) {
    const at::Tensor* a = params.find(m + ".lora_A");
    const at::Tensor* b = params.find(m + ".lora_B");
    if (a == nullptr || b == nullptr) throw std::logic_error("module " + m + " has no adapter to export");
    tensors.emplace_back(kPeftKeyPrefix + m + ".lora_A.weight", a->detach().to(at::kFloat).contiguous());
    tensors.emplace_back(kPeftKeyPrefix + m + ".lora_B.weight", b->detach().to(at::kFloat).contiguous());
  }
  for (const auto& item : params) {
    const bool saved = std::any_of(info.modulesToSave.begin(), info.modulesToSave.end(),
                                   [&](const std::string& m) { return isUnder(item.key(), m); });
    if (saved)
      tensors.emplace_back(kPeftKeyPrefix + item.key(), item.value().detach().to(at::kFloat).contiguous());
  }
  std::map<std::string, std::string> metadata = info.metadata;
  metadata["format"] = "pt";
  metadata["lora_init"] = toString(info.adapter.init);
  writeSafetensors((fs::path(directory) / kPeftWeightsFile).string(), tensors, metadata);

  // PEFT writes its config with sort_keys=True; nlohmann::json keeps keys sorted too.
  nlohmann::json c;
  c["peft_type"] = "LORA";
  c["task_type"] = info.taskType;
  c["base_model_name_or_path"] = info.baseModel;
  c["revision"] = nullptr;
  c["inference_mode"] = true;
  c["r"] = info.adapter.rank;
  if (info.adapter.alpha == std::floor(info.adapter.alpha) && std::abs(info.adapter.alpha) < 1e15) {
    c["lora_alpha"] = static_cast<std::int64_t>(info.adapter.alpha);
  } else {
    c["lora_alpha"] = info.adapter.alpha;
  }
  c["lora_dropout"] = info.adapter.dropout;
  c["use_rslora"] = info.adapter.useRslora;
  c["target_modules"] = peftTargetModules(model, info.adaptedModules);
  c["fan_in_fan_out"] = info.fanInFanOut;
  c["bias"] = "none";
  // init_lora_weights only says how PEFT draws A and B before the file's weights replace them.
  // "orthogonal" is unknown to PEFT before 0.17 (PeftModel.from_pretrained raises "Unknown
  // initialization"), so it is written as PEFT's default; __metadata__ keeps the real init.
  c["init_lora_weights"] =
      info.adapter.init == LoraInit::Gaussian ? nlohmann::json("gaussian") : nlohmann::json(true);
  c["modules_to_save"] =
      info.modulesToSave.empty() ? nlohmann::json(nullptr) : nlohmann::json(info.modulesToSave);
  c["layers_to_transform"] = nullptr;
  c["layers_pattern"] = nullptr;
  c["rank_pattern"] = nlohmann::json::object();
  c["alpha_pattern"] = nlohmann::json::object();
  c["use_dora"] = false;
  c["auto_mapping"] = nullptr;
  writeText((fs::path(directory) / kPeftConfigFile).string(), c.dump(2) + "\n");
  if (!info.modelCard.empty()) writeText((fs::path(directory) / "README.md").string(), info.modelCard);
}

} // namespace lorafa
