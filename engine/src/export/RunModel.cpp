#include "export/RunModel.h"

#include "adapters/AdapterInjector.h"
#include "lorafa/Dataset.h"
#include "lorafa/FormatError.h"
#include "lorafa/ModelSummary.h"
#include "models/ModelFactory.h"
#include "train/Checkpoint.h"

#include <ATen/Context.h>
#include <ATen/ops/zeros.h>
#include <c10/core/GradMode.h>

#include <filesystem>
#include <map>

namespace fs = std::filesystem;

namespace lorafa {

ModelConfig runModelConfig(const RunConfig& config, std::int64_t scoreRows) {
  ModelConfig mc = ModelConfig::fromFile((fs::path(config.modelPath) / "config.json").string());
  if (scoreRows <= 0 || mc.family != ModelFamily::Llama || mc.isSequenceClassifier()) return mc;
  std::vector<std::string> labels;
  try {
    DatasetOptions options;
    options.format = config.dataset.format;
    options.textColumn = config.dataset.textColumn;
    options.labelColumn = config.dataset.labelColumn;
    labels = loadDataset(config.dataset.path, options).labelNames;
  } catch (const std::exception&) {
    labels.clear(); // the dataset moved or changed: the labels keep their ids, not their names
  }
  if (static_cast<std::int64_t>(labels.size()) != scoreRows) {
    labels.clear();
    for (std::int64_t i = 0; i < scoreRows; ++i)
      labels.push_back("LABEL_" + std::to_string(i));
  }
  return mc.asSequenceClassifier(labels);
}

namespace {

std::shared_ptr<LanguageModel> buildBase(const RunConfig& config, const ModelConfig& modelConfig) {
  const auto options = at::TensorOptions().dtype(at::kFloat);
  // A new task head is drawn while loading; seeded as the trainer seeds it (the checkpoint
  // overwrites it anyway when the head was trained).
  at::manual_seed(config.train.seed);
  if (config.pretrain) {
    auto model = createModel(modelConfig, options);
    initializeRandom(*model, config.train.seed);
    return model;
  }
  return loadModel(modelConfig, config.modelPath, options);
}

} // namespace

TrainedRunModel loadTrainedRunModel(const std::string& checkpointDir) {
  const CheckpointData data = readCheckpoint(checkpointDir);
  const std::string statePath = (fs::path(checkpointDir) / "trainer_state.json").string();
  TrainedRunModel run;
  run.checkpointDir = checkpointDir;
  run.step = data.position.step;
  run.config = parseRunConfig(data.configJson, statePath + " (config)");
  std::int64_t scoreRows = 0;
  for (const auto& [name, value] : data.weights) {
    if (name == "score.weight" && value.dim() == 2) scoreRows = value.size(0);
  }
  run.modelConfig = runModelConfig(run.config, scoreRows);
  run.model = buildBase(run.config, run.modelConfig);
  at::manual_seed(run.config.train.seed);
  run.adaptedModules =
      prepareForTraining(*run.model, TargetSpec::parse(run.config.targets), run.config.adapter);
  std::map<std::string, at::Tensor> params;
  for (const auto& item : run.model->named_parameters(true))
    params[item.key()] = item.value();
  {
    c10::NoGradGuard noGrad;
    for (const auto& [name, value] : data.weights) {
      const auto it = params.find(name);
      if (it == params.end() || !it->second.sizes().equals(value.sizes())) {
        throw FormatError(
            (fs::path(checkpointDir) / "weights.safetensors").string(),
            "tensor " + name +
                (it == params.end() ? " does not exist in the run's model" : " has another shape") +
                ": the checkpoint does not belong to this model (" + run.config.modelPath + ")");
      }
      it->second.copy_(value);
    }
  }
  for (const std::string& head : run.model->trainedHeadModules()) {
    for (const auto& [name, value] : data.weights) {
      if (name.size() > head.size() && name.compare(0, head.size(), head) == 0 && name[head.size()] == '.') {
        run.trainedHeads.push_back(head);
        break;
      }
    }
  }
  for (auto& p : run.model->parameters())
    p.set_requires_grad(false);
  run.model->eval();
  return run;
}

std::shared_ptr<LanguageModel> loadRunBase(const TrainedRunModel& run) {
  auto model = buildBase(run.config, run.modelConfig);
  for (auto& p : model->parameters())
    p.set_requires_grad(false);
  model->eval();
  return model;
}

} // namespace lorafa
