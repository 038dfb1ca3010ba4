#pragma once

#include "lorafa/ModelSummary.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lorafa {

/// A Hugging Face model directory as the studio shows it before loading anything.
struct ModelInspection {
  ModelSummary summary;
  std::vector<std::string> unusedTensors; ///< in the checkpoint but not used by the architecture
  std::vector<std::string> weightFiles;   ///< the safetensors files read (shards in name order)
  std::int64_t weightBytes = 0;           ///< their total size on disk
  /// Elements stored per safetensors dtype ("F32", "BF16", ...) over every tensor in the files.
  std::map<std::string, std::int64_t> elementsByDtype;
  /// Modules trained in full next to adapters (a classifier's head, PEFT's modules_to_save);
  /// they never get adapters. Empty for language models.
  std::vector<std::string> trainedHeadModules;
  std::int64_t trainedHeadParameters = 0; ///< parameters under trainedHeadModules

  /// The dtype holding most elements ("F32"), empty when there are no tensors.
  std::string mainDtype() const;
};

/// Reads config.json and the safetensors headers (no tensor data; memory does not grow with the
/// model) and checks that every tensor the config needs is there with the right shape. Throws
/// FormatError naming the file and the problem.
ModelInspection inspectModelDirectory(const std::string& directory);

} // namespace lorafa
