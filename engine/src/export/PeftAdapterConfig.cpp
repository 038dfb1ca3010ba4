#include "export/PeftAdapterConfig.h"

#include "io/StrictJson.h"
#include "lorafa/FormatError.h"

#include <nlohmann/json.hpp>

#include <cstdint>

namespace lorafa {

PeftAdapterConfig parsePeftAdapterConfig(const std::string& text, const std::string& path) {
  PeftAdapterConfig result;
  const nlohmann::ordered_json config =
      parseJsonStrictly(text.data(), text.data() + text.size(), path, "adapter config");
  const std::string& cp = path;
  if (!config.is_object()) throw FormatError(cp, "expected a JSON object");
  auto field = [&](const char* key) -> const nlohmann::ordered_json* {
    const auto it = config.find(key);
    return it == config.end() || it->is_null() ? nullptr : &*it;
  };
  auto typeError = [&](const char* key, const char* expected) {
    return FormatError(cp, std::string("\"") + key + "\" must be " + expected + ", found " +
                               config.at(key).dump());
  };
  const auto* peftType = field("peft_type");
  if (peftType == nullptr) throw FormatError(cp, "\"peft_type\" is missing (expected \"LORA\")");
  if (!peftType->is_string() || peftType->get<std::string>() != "LORA") {
    throw FormatError(cp, "\"peft_type\" is " + peftType->dump() +
                              ": only LoRA adapters (\"LORA\") can be imported");
  }
  const auto* r = field("r");
  if (r == nullptr) throw FormatError(cp, "\"r\" is missing");
  if (!r->is_number_integer() || r->get<std::int64_t>() < 1) throw typeError("r", "a positive integer");
  if (!r->is_number_unsigned() || r->get<std::uint64_t>() > static_cast<std::uint64_t>(kPeftMaxRank)) {
    throw FormatError(cp, "\"r\" is " + r->dump() + ", more than the largest rank accepted (" +
                              std::to_string(kPeftMaxRank) + ")");
  }
  result.summary.rank = static_cast<int>(r->get<std::int64_t>());
  result.summary.alpha = 8.0; // PEFT's default lora_alpha
  if (const auto* v = field("lora_alpha")) {
    if (!v->is_number() || v->get<double>() <= 0) throw typeError("lora_alpha", "a positive number");
    result.summary.alpha = v->get<double>();
  }
  if (const auto* v = field("use_rslora")) {
    if (!v->is_boolean()) throw typeError("use_rslora", "true or false");
    result.summary.useRslora = v->get<bool>();
  }
  if (const auto* v = field("lora_dropout")) {
    if (!v->is_number() || v->get<double>() < 0 || v->get<double>() >= 1)
      throw typeError("lora_dropout", "a number in [0, 1)");
    result.summary.dropout = v->get<double>();
  }
  if (const auto* v = field("fan_in_fan_out")) {
    if (!v->is_boolean()) throw typeError("fan_in_fan_out", "true or false");
    result.summary.fanInFanOut = v->get<bool>();
  }
  if (const auto* v = field("base_model_name_or_path")) {
    if (!v->is_string()) throw typeError("base_model_name_or_path", "a string");
    result.summary.baseModel = v->get<std::string>();
  }
  if (const auto* v = field("task_type")) {
    if (!v->is_string()) throw typeError("task_type", "a string");
    result.summary.taskType = v->get<std::string>();
  }
  if (const auto* v = field("bias")) {
    if (!v->is_string()) throw typeError("bias", "\"none\", \"all\" or \"lora_only\"");
    if (v->get<std::string>() != "none") {
      throw FormatError(cp, "\"bias\" is " + v->dump() +
                                ": adapters that train biases are not supported (only \"none\")");
    }
  }
  if (const auto* v = field("use_dora"); v != nullptr && v->is_boolean() && v->get<bool>()) {
    throw FormatError(cp, "\"use_dora\" is true: DoRA adapters are not supported (plain LoRA only)");
  }
  for (const char* key : {"rank_pattern", "alpha_pattern"}) {
    if (const auto* v = field(key); v != nullptr && !(v->is_object() && v->empty())) {
      throw FormatError(
          cp, std::string("\"") + key + "\" is " + v->dump() +
                  ": per-module ranks or alphas are not supported (one r and lora_alpha for all modules)");
    }
  }
  if (const auto* v = field("target_modules")) {
    if (v->is_string()) {
      const std::string s = v->get<std::string>();
      if (s == "all-linear")
        result.targetAllLinear = true;
      else
        result.targetRegex = s;
    } else if (v->is_array()) {
      for (const auto& item : *v) {
        if (!item.is_string())
          throw typeError("target_modules", "a list of module names or a regular expression");
        result.targetNames.push_back(item.get<std::string>());
      }
    } else {
      throw typeError("target_modules", "a list of module names or a regular expression");
    }
  }
  if (const auto* v = field("modules_to_save")) {
    if (!v->is_array()) throw typeError("modules_to_save", "a list of module names");
    for (const auto& item : *v) {
      if (!item.is_string()) throw typeError("modules_to_save", "a list of module names");
      result.summary.modulesToSave.push_back(item.get<std::string>());
    }
  }

  return result;
}

} // namespace lorafa
