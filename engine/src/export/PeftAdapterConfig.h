#pragma once

#include "lorafa/AdapterImport.h"

#include <string>
#include <vector>

namespace lorafa {

/// What adapter_config.json says, checked on its own (the weights are checked by loadPeftAdapter).
struct PeftAdapterConfig {
  /// The config's fields (rank, alpha, rsLoRA, dropout, fan_in_fan_out, base model, task type,
  /// modules_to_save); directory, adaptedModules and metadata are left empty.
  PeftAdapterSummary summary;
  /// target_modules as written: a list of names, a regular expression, or "all-linear".
  std::vector<std::string> targetNames;
  std::string targetRegex;
  bool targetAllLinear = false;
};

/// The largest r accepted: far above any published adapter, small enough that r × in fits easily.
inline constexpr int kPeftMaxRank = 65536;

/// Parses the text of an adapter_config.json (`path` names it in errors). Only LoRA adapters
/// (peft_type "LORA") without DoRA, bias training or per-module rank/alpha patterns are accepted;
/// anything else throws FormatError naming the file and the key. Free of LibTorch.
PeftAdapterConfig parsePeftAdapterConfig(const std::string& text, const std::string& path);

} // namespace lorafa
