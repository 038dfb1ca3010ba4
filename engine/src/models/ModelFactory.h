#pragma once

#include "LanguageModel.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lorafa {

/// The module tree for a config, all weights zero (norm weights one) until loaded.
std::shared_ptr<LanguageModel> createModel(const ModelConfig& config, const c10::TensorOptions& options);

/// What loading found besides the weights it used.
struct LoadReport {
  std::vector<std::string> unusedTensors; ///< in the checkpoint, not used by the model (reported, not fatal)
  std::vector<std::string> initializedTensors; ///< task-head parameters the checkpoint lacked, freshly initialised
};

/// A Hugging Face checkpoint directory: config.json + model.safetensors (or a sharded index).
/// Throws FormatError naming the file and tensor on a missing tensor or a shape that disagrees
/// with the config.
std::shared_ptr<LanguageModel> loadModel(const std::string& directory, const c10::TensorOptions& options,
                                         LoadReport* report = nullptr);
/// The same with `config` in place of the directory's config.json (e.g. a causal LM's config
/// turned into its sequence classifier's).
std::shared_ptr<LanguageModel> loadModel(const ModelConfig& config, const std::string& directory,
                                         const c10::TensorOptions& options, LoadReport* report = nullptr);

/// Copies the checkpoint's tensors into the model's parameters (same checks as loadModel).
LoadReport loadWeights(LanguageModel& model, const std::string& directory);

/// The same matching and shape checks as loadWeights, reading no tensor data (works on a model
/// built on the meta device, so a 7B checkpoint is inspected without memory).
LoadReport checkCheckpoint(const LanguageModel& model, const std::string& directory);

/// Writes config.json and model.safetensors in Hugging Face layout (tied weights omitted, Conv1D
/// weights transposed back), each file atomically. Adapter parameters are not written.
void saveModelCheckpoint(LanguageModel& model, const std::string& directory);

/// Fills every parameter from a seed: matrices N(0, 0.02²), norm weights 1 + N(0, 0.1²), other
/// vectors N(0, 0.02²). Gives the tiny random models the tests and benchmarks use.
void initializeRandom(LanguageModel& model, std::uint64_t seed);

} // namespace lorafa
