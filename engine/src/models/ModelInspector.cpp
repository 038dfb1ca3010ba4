#include "lorafa/ModelInspector.h"

#include "ModelFactory.h"
#include "adapters/AdapterInjector.h"
#include "io/CheckpointReader.h"

#include <filesystem>

namespace lorafa {

ModelInspection inspectModelDirectory(const std::string& directory) {
  const ModelConfig config =
      ModelConfig::fromFile((std::filesystem::path(directory) / "config.json").string());
  // The meta device gives every parameter its shape and no storage.
  const auto model = createModel(config, c10::TensorOptions().dtype(at::kFloat).device(c10::kMeta));
  ModelInspection inspection;
  inspection.unusedTensors = checkCheckpoint(*model, directory).unusedTensors;
  inspection.summary = summarizeModel(*model);

  const CheckpointReader reader = CheckpointReader::openDirectory(directory);
  inspection.weightFiles = reader.files();
  for (const std::string& file : inspection.weightFiles) {
    inspection.weightBytes += static_cast<std::int64_t>(std::filesystem::file_size(file));
  }
  for (const std::string& name : reader.names()) {
    std::int64_t elements = 1;
    for (const std::int64_t d : reader.shape(name))
      elements *= d;
    inspection.elementsByDtype[reader.dtype(name)] += elements;
  }

  inspection.trainedHeadModules = model->trainedHeadModules();
  for (const auto& item : model->named_parameters()) {
    for (const std::string& head : inspection.trainedHeadModules) {
      const std::string& key = item.key();
      if (key.size() > head.size() && key.compare(0, head.size(), head) == 0 && key[head.size()] == '.') {
        inspection.trainedHeadParameters += item.value().numel();
        break;
      }
    }
  }
  return inspection;
}

std::string ModelInspection::mainDtype() const {
  std::string best;
  std::int64_t bestElements = -1;
  for (const auto& [dtype, elements] : elementsByDtype) {
    if (elements > bestElements) {
      best = dtype;
      bestElements = elements;
    }
  }
  return best;
}

} // namespace lorafa
