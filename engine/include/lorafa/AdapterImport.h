#pragma once

#include "lorafa/Export.h"

#include <map>
#include <string>
#include <vector>

namespace lorafa {

/// A PEFT LoRA adapter folder as read and checked, without its base model.
struct PeftAdapterSummary {
  std::string directory;
  std::string baseModel; ///< base_model_name_or_path (may be empty or a hub id)
  std::string taskType;  ///< CAUSAL_LM, SEQ_CLS, SEQ_2_SEQ_LM, ... (empty when null)
  int rank = 0;
  double alpha = 0.0;
  bool useRslora = false;
  double dropout = 0.0;
  bool fanInFanOut = false;
  std::vector<std::string> adaptedModules;     ///< module paths, as in the base model
  std::vector<std::string> modulesToSave;      ///< modules stored whole (a classifier head)
  std::map<std::string, std::string> metadata; ///< adapter_model.safetensors __metadata__
};

/// Reads adapter_config.json and adapter_model.safetensors and checks them against each other:
/// peft_type LORA, every lora_A with its lora_B, shapes [r, in] / [out, r] with r as configured,
/// keys under base_model.model.; unsupported variants (DoRA, bias training, rank/alpha
/// patterns, embedding LoRA) are refused. Throws FormatError naming the file and key.
PeftAdapterSummary readPeftAdapter(const std::string& directory);

/// Merges an existing PEFT adapter into its base and writes the merged checkpoint (verified as
/// exportRun does). `baseModelDir` empty: the adapter's base_model_name_or_path (a local folder).
struct AdapterMergeOptions {
  std::string adapterDir;
  std::string baseModelDir;
  std::string targetDir;
  bool force = false;
  std::int64_t shardSizeBytes = kDefaultShardSizeBytes;
  bool verify = true;
};
ExportResult mergePeftAdapter(const AdapterMergeOptions& options, ExportObserver* observer = nullptr);

} // namespace lorafa
