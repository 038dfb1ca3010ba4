#pragma once

#include "lorafa/RunConfig.h"
#include "models/LanguageModel.h"
#include "models/ModelConfig.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lorafa {

/// A run's model as its checkpoint left it, rebuilt for export: fp32 on the CPU, in eval mode,
/// adapters unmerged.
struct TrainedRunModel {
  RunConfig config;        ///< the configuration stored in the checkpoint
  ModelConfig modelConfig; ///< what the model was built from (a causal LM turned classifier included)
  std::shared_ptr<LanguageModel> model;
  std::vector<std::string> adaptedModules; ///< empty for full fine-tuning
  std::vector<std::string> trainedHeads;   ///< head modules the checkpoint holds (modules_to_save)
  std::string checkpointDir;
  std::int64_t step = 0;
};

/// The model configuration a run trains: the model folder's config.json, turned into its
/// sequence classifier when the run classified with a causal LM (`scoreRows` > 0: the
/// checkpoint's score head has that many rows; label names from the dataset when it can be read,
/// else LABEL_0, LABEL_1, ...).
ModelConfig runModelConfig(const RunConfig& config, std::int64_t scoreRows);

/// Reads the checkpoint folder, rebuilds the base from the configuration stored there, gives it
/// the run's adapters and copies the checkpoint's weights in. Throws FormatError naming the
/// checkpoint file for a weight that does not fit.
TrainedRunModel loadTrainedRunModel(const std::string& checkpointDir);

/// A fresh copy of the run's base model (fp32, CPU, eval mode): what an adapter is applied to.
std::shared_ptr<LanguageModel> loadRunBase(const TrainedRunModel& run);

} // namespace lorafa
