#include "lorafa/ModelInspector.h"

#include "ModelFactory.h"
#include "adapters/AdapterInjector.h"

#include <filesystem>

namespace lorafa {

ModelInspection inspectModelDirectory(const std::string& directory) {
  const ModelConfig config = ModelConfig::fromFile((std::filesystem::path(directory) / "config.json").string());
  // The meta device gives every parameter its shape and no storage.
  const auto model = createModel(config, c10::TensorOptions().dtype(at::kFloat).device(c10::kMeta));
  ModelInspection inspection;
  inspection.unusedTensors = checkCheckpoint(*model, directory).unusedTensors;
  inspection.summary = summarizeModel(*model);
  return inspection;
}

} // namespace lorafa
