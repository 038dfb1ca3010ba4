#pragma once

#include "lorafa/AdapterConfig.h"
#include "lorafa/AdapterImport.h"
#include "models/LanguageModel.h"

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace lorafa {

/// PEFT's file names and key prefix.
inline constexpr const char* kPeftConfigFile = "adapter_config.json";
inline constexpr const char* kPeftWeightsFile = "adapter_model.safetensors";
inline constexpr const char* kPeftKeyPrefix = "base_model.model.";

/// A PEFT LoRA adapter folder with its tensors (fp32, CPU), checked as readPeftAdapter says.
struct PeftAdapterFolder {
  PeftAdapterSummary summary;
  std::string configPath;
  std::string weightsPath;
  /// target_modules as written: a list of names, a regular expression, or "all-linear"; empty
  /// list and empty regex: null.
  std::vector<std::string> targetNames;
  std::string targetRegex;
  bool targetAllLinear = false;
  std::map<std::string, at::Tensor> a;               ///< module path → A [r, in]
  std::map<std::string, at::Tensor> b;               ///< module path → B [out, r]
  std::map<std::string, at::Tensor> wholeParameters; ///< parameter name → value (modules_to_save)
};

PeftAdapterFolder loadPeftAdapter(const std::string& directory);

/// Puts the adapter onto a freshly loaded base: each adapted module becomes a LoRA-FA or LoRA
/// layer (`method`) with A and B from the file, and saved modules (a classifier head) take the
/// file's weights. Throws FormatError naming the file and key for a module the model lacks, a
/// shape that disagrees with it, or a target_modules entry that selects nothing in it.
/// Returns the adapted module paths in model order.
std::vector<std::string> applyPeftAdapter(LanguageModel& model, const PeftAdapterFolder& adapter,
                                          TrainMethod method = TrainMethod::LoraFa);

/// adapter.init_from: copies A and B (and saved modules) into a model that prepareForTraining
/// already gave its adapters (`adaptedModules`). The file's r, lora_alpha, use_rslora and adapted
/// modules must equal the run's; otherwise std::invalid_argument saying which differs.
void initAdaptersFromPeft(LanguageModel& model, const std::string& directory, const AdapterConfig& adapter,
                          const std::vector<std::string>& adaptedModules);

/// What writePeftAdapter writes besides the tensors.
struct PeftAdapterInfo {
  std::string baseModel;
  std::string taskType;
  AdapterConfig adapter;
  std::vector<std::string> adaptedModules;
  std::vector<std::string> modulesToSave; ///< head modules whose parameters are written whole
  bool fanInFanOut = false;
  std::map<std::string, std::string> metadata; ///< added to __metadata__ (format: pt is always there)
  std::string modelCard;                       ///< README.md; empty: none
};

/// PEFT's target_modules for these adapted modules: their leaf names when those select exactly
/// them among all of the model's linears (PEFT matches a name as the whole path or its suffix
/// after a dot), else the full module paths.
std::vector<std::string> peftTargetModules(const LanguageModel& model,
                                           const std::vector<std::string>& adaptedModules);

/// PEFT's task_type for a model: CAUSAL_LM, SEQ_CLS or SEQ_2_SEQ_LM.
std::string peftTaskType(const LanguageModel& model);

/// Writes adapter_config.json, adapter_model.safetensors (fp32) and README.md into `directory`
/// (which must exist), from the adapters of `model`.
void writePeftAdapter(const LanguageModel& model, const PeftAdapterInfo& info, const std::string& directory);

} // namespace lorafa
