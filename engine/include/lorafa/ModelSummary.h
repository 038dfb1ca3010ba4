#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lorafa {

/// One linear (or Conv1D) module of a model, by its Hugging Face path.
struct LinearModuleInfo {
  std::string name; ///< e.g. model.layers.0.self_attn.q_proj
  std::int64_t inFeatures = 0;
  std::int64_t outFeatures = 0;
  bool hasBias = false;
  bool isOutputHead = false; ///< left out by all-linear
  bool adapted = false;      ///< carries a LoRA / LoRA-FA adapter now
};

/// What the target-layer picker and the memory planner need to know about a model.
struct ModelSummary {
  std::string family;       ///< llama, gpt2, bert, roberta, t5
  std::string modelType;    ///< config model_type
  std::string architecture; ///< e.g. LlamaForCausalLM
  std::int64_t totalParameters = 0;
  std::int64_t trainableParameters = 0;
  std::int64_t vocabSize = 0;
  std::int64_t hiddenSize = 0;
  std::int64_t numLayers = 0;
  std::vector<LinearModuleInfo> linears;
};

/// Which modules get adapters, with PEFT's semantics: a list of names matches a module whose
/// path equals a name or ends with "." + name; a regular expression must match the whole path;
/// all-linear takes every linear module except the output head.
struct TargetSpec {
  enum class Kind { Names, Regex, AllLinear };
  Kind kind = Kind::Names;
  std::vector<std::string> names;
  std::string regex;

  /// "all-linear"; "q_proj,v_proj" (commas or spaces); a regular expression when the text holds
  /// any of ^$*+?()[]{}|\ or starts with "re:".
  static TargetSpec parse(const std::string& text);
  std::string toString() const;
};

/// The module paths a spec selects, in model order. Throws std::invalid_argument (listing the
/// available module names) when it selects nothing, or on an invalid regular expression.
std::vector<std::string> matchTargets(const TargetSpec& spec, const std::vector<LinearModuleInfo>& linears);

} // namespace lorafa
