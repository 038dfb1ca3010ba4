#pragma once

#include "lorafa/ModelSummary.h"

#include <string>
#include <vector>

namespace lorafa {

/// A Hugging Face model directory as the studio shows it before loading anything.
struct ModelInspection {
  ModelSummary summary;
  std::vector<std::string> unusedTensors; ///< in the checkpoint but not used by the architecture
};

/// Reads config.json and the safetensors headers (no tensor data; memory does not grow with the
/// model) and checks that every tensor the config needs is there with the right shape. Throws
/// FormatError naming the file and the problem.
ModelInspection inspectModelDirectory(const std::string& directory);

} // namespace lorafa
