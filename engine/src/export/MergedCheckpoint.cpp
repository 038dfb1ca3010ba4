#include "export/MergedCheckpoint.h"

#include "io/AtomicFile.h"
#include "io/CheckpointReader.h"
#include "io/SafetensorsDtype.h"
#include "io/SafetensorsWriter.h"
#include "io/StrictJson.h"
#include "lorafa/FormatError.h"
#include "models/ModelConfig.h"

#include <c10/core/GradMode.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

namespace fs = std::filesystem;

namespace lorafa {
namespace {

bool isAdapterParameter(const std::string& name) {
  return name.find("lora_A") != std::string::npos || name.find("lora_B") != std::string::npos;
}

std::string readText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, "missing or unreadable");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void writeText(const std::string& path, const std::string& text) {
  writeFileAtomically(path, [&](std::FILE* f) { std::fwrite(text.data(), 1, text.size(), f); });
}

int dtypeRank(const std::string& name) {
  return name == "F16" || name == "BF16" ? 0 : (name == "F32" ? 1 : 2);
}

struct PlannedTensor {
  std::string name;     ///< as written
  at::Tensor parameter; ///< the model's (merged) parameter
  bool transposed = false;
  at::ScalarType dtype = at::kFloat;
  std::int64_t bytes = 0;
};

// Files next to the weights that a Hugging Face folder carries: tokenizer, generation settings.
const char* const kSideFiles[] = {"generation_config.json",
                                  "tokenizer.json",
                                  "tokenizer_config.json",
                                  "special_tokens_map.json",
                                  "added_tokens.json",
                                  "tokenizer.model",
                                  "spiece.model",
                                  "vocab.json",
                                  "merges.txt",
                                  "vocab.txt",
                                  "chat_template.jinja",
                                  "chat_template.json"};

} // namespace

MergedCheckpointReport writeMergedCheckpoint(LanguageModel& model, const MergedCheckpointInfo& info,
                                             const std::string& directory, ExportObserver* observer) {
  MergedCheckpointReport report;
  {
    c10::NoGradGuard noGrad;
    for (const LinearHandle& h : model.linears()) {
      LinearLayer& layer = **h.slot;
      if (!layer.isMerged()) layer.merge();
    }
  }
  std::optional<CheckpointReader> base;
  try {
    base = CheckpointReader::openDirectory(info.baseDir);
  } catch (const FormatError&) {
    base.reset(); // a pretraining run's config-only folder: the model's own names, fp32
  }

  std::vector<PlannedTensor> plan;
  bool allInBase = base.has_value();
  std::map<std::string, int> dtypeCounts;
  for (const auto& item : model.named_parameters()) {
    if (isAdapterParameter(item.key())) continue;
    PlannedTensor t;
    t.parameter = item.value();
    t.transposed = model.isStoredTransposed(item.key());
    t.name = item.key();
    if (base) {
      std::string stored;
      for (const std::string& candidate : model.checkpointNames(item.key())) {
        if (base->contains(candidate)) {
          stored = candidate;
          break;
        }
      }
      if (stored.empty()) {
        allInBase = false;
      } else {
        const std::string dtype = base->dtype(stored);
        const SafetensorsDtype* d = findSafetensorsDtype(dtype);
        if (d != nullptr && d->scalarType && at::isFloatingType(*d->scalarType)) {
          t.dtype = *d->scalarType;
          ++dtypeCounts[dtype];
        }
        t.name = stored; // kept only when every parameter is in the base (see below)
      }
    }
    plan.push_back(std::move(t));
  }
  // The dtype the base mostly uses, for tensors it lacks (a new classifier head).
  at::ScalarType common = at::kFloat;
  int best = 0;
  for (const auto& [name, count] : dtypeCounts) {
    if (count > best) {
      best = count;
      common = *findSafetensorsDtype(name)->scalarType;
    }
  }
  if (!allInBase) {
    // Mixed naming would not load: write every tensor under the model's own names.
    std::size_t i = 0;
    for (const auto& item : model.named_parameters()) {
      if (isAdapterParameter(item.key())) continue;
      plan[i].name = item.key();
      if (base && !base->contains(item.key())) {
        bool found = false;
        for (const std::string& c : model.checkpointNames(item.key()))
          found = found || base->contains(c);
        if (!found) plan[i].dtype = common;
      }
      ++i;
    }
  }
  std::int64_t total = 0;
  for (PlannedTensor& t : plan) {
    t.bytes = t.parameter.numel() * static_cast<std::int64_t>(c10::elementSize(t.dtype));
    total += t.bytes;
    const std::string dtypeName = safetensorsDtypeName(t.dtype).value_or("F32");
    if (dtypeRank(dtypeName) < dtypeRank(report.narrowestDtype)) report.narrowestDtype = dtypeName;
  }

  // Shards as save_pretrained cuts them: a new shard before a tensor that would overflow it.
  std::vector<std::vector<const PlannedTensor*>> shards(1);
  std::int64_t current = 0;
  for (const PlannedTensor& t : plan) {
    if (!shards.back().empty() && current + t.bytes > info.shardSizeBytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(&t);
    current += t.bytes;
  }
  const fs::path dir(directory);
  nlohmann::json weightMap = nlohmann::json::object();
  for (std::size_t s = 0; s < shards.size(); ++s) {
    std::string file = "model.safetensors";
    if (shards.size() > 1) {
      char name[64];
      std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
      file = name;
    }
    if (observer) {
      observer->onProgress("writing " + file,
                           0.4 + 0.4 * static_cast<double>(s) / static_cast<double>(shards.size()));
    }
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const PlannedTensor* t : shards[s]) {
      at::Tensor value = t->parameter.detach();
      if (t->transposed) value = value.t();
      tensors.emplace_back(t->name, value.to(t->dtype).contiguous());
      weightMap[t->name] = file;
    }
    writeSafetensors((dir / file).string(), tensors, {{"format", "pt"}});
    report.files.push_back(file);
  }
  if (shards.size() > 1) {
    nlohmann::json index;
    index["metadata"] = {{"total_size", total}};
    index["weight_map"] = weightMap;
    writeText((dir / CheckpointReader::kIndexFileName).string(), index.dump(2) + "\n");
    report.files.push_back(CheckpointReader::kIndexFileName);
  }

  // config.json: the base's own (every key it has kept), with the classifier's labels.
  const fs::path baseConfig = fs::path(info.baseDir) / "config.json";
  nlohmann::ordered_json config;
  if (fs::exists(baseConfig)) {
    const std::string text = readText(baseConfig.string());
    config = parseJsonStrictly(text.data(), text.data() + text.size(), baseConfig.string(), "config");
  } else {
    const std::string text = model.config().toJson();
    config = nlohmann::ordered_json::parse(text);
  }
  const ModelConfig& mc = model.config();
  if (mc.isSequenceClassifier() || mc.family == ModelFamily::Bert || mc.family == ModelFamily::Roberta) {
    config["architectures"] = {mc.architecture};
    if (!info.labels.empty()) {
      nlohmann::ordered_json id2label = nlohmann::ordered_json::object();
      nlohmann::ordered_json label2id = nlohmann::ordered_json::object();
      for (std::size_t i = 0; i < info.labels.size(); ++i) {
        id2label[std::to_string(i)] = info.labels[i];
        label2id[info.labels[i]] = static_cast<std::int64_t>(i);
      }
      config["id2label"] = id2label;
      config["label2id"] = label2id;
    }
  }
  writeText((dir / "config.json").string(), config.dump(2) + "\n");
  report.files.push_back("config.json");

  auto copyFrom = [&](const fs::path& folder) {
    for (const char* name : kSideFiles) {
      const fs::path source = folder / name;
      if (!fs::is_regular_file(source)) continue;
      const std::string text = readText(source.string());
      writeText((dir / name).string(), text);
      if (std::find(report.files.begin(), report.files.end(), name) == report.files.end())
        report.files.push_back(name);
    }
  };
  copyFrom(info.baseDir);
  if (!info.tokenizerPath.empty()) {
    const fs::path tok(info.tokenizerPath);
    copyFrom(fs::is_directory(tok) ? tok : tok.parent_path());
  }
  return report;
}

} // namespace lorafa
