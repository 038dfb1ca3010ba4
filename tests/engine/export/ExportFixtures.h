#pragma once

// Tiny runs for the export tests: a fixture model (tests/fixtures/models) given adapters the way
// a run gives them, trained a few sign-gradient steps so that A·B is far from zero, and saved as
// a real checkpoint folder of a run, so that exportRun rebuilds it from disk as it would any run.
#include "adapters/AdapterInjector.h"
#include "io/SafetensorsFile.h"
#include "lorafa/ModelSummary.h"
#include "lorafa/RunConfig.h"
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"
#include "train/Checkpoint.h"

#include <ATen/Context.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/ones_like.h>
#include <c10/core/GradMode.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace lorafa::test {

inline std::string fixtures() { return LORAFA_FIXTURES_DIR; }
inline std::string fixtureModel(const std::string& name) { return fixtures() + "/models/" + name; }

/// A temporary folder removed at the end of the test.
class TempDir {
public:
  explicit TempDir(const std::string& prefix)
      : m_path(std::filesystem::temp_directory_path() /
               (prefix + "-" + std::to_string(std::random_device{}()))) {
    std::filesystem::create_directories(m_path);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(m_path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }
  std::string operator/(const std::string& name) const { return (m_path / name).string(); }

private:
  std::filesystem::path m_path;
};

/// The fixed inputs of a fixture's reference.safetensors (two rows, the second right-padded).
inline ModelInputs fixtureInputs(const std::string& modelName) {
  const auto file = SafetensorsFile::open(fixtureModel(modelName) + "/reference.safetensors");
  ModelInputs inputs;
  inputs.inputIds = file->load("input_ids");
  inputs.attentionMask = file->load("attention_mask");
  if (file->contains("decoder_input_ids")) inputs.decoderInputIds = file->load("decoder_input_ids");
  return inputs;
}

inline at::Tensor logitsOf(LanguageModel& model, const ModelInputs& inputs) {
  c10::NoGradGuard noGrad;
  model.eval();
  return model.forward(inputs).detach().clone();
}

/// A run configuration on a fixture model (or any model folder), LoRA-FA r4 α8 by default.
inline RunConfig fixtureRunConfig(const std::string& modelDir, const std::string& outputDir,
                                  const std::string& targets, TrainMethod method = TrainMethod::LoraFa) {
  RunConfig c;
  c.name = "export-test";
  c.modelPath = modelDir;
  c.dataset.path = fixtures() + "/data/alpaca.jsonl";
  c.outputDir = outputDir;
  c.adapter.method = method;
  c.adapter.rank = 4;
  c.adapter.alpha = 8;
  c.targets = targets;
  c.train.seed = 5;
  c.train.device = "cpu";
  return c;
}

/// The run's model after `steps` sign-gradient steps (lr 0.02 per element) on the fixture inputs
/// pushing the logits towards 0, saved as the run's checkpoint at step `steps`. Returns the
/// trained model (eval mode) — the "base + adapter in memory" the exports are compared with.
inline std::shared_ptr<LanguageModel> trainAndCheckpoint(const RunConfig& c, const ModelConfig& modelConfig,
                                                         const ModelInputs& inputs, int steps = 3) {
  at::manual_seed(c.train.seed);
  auto model = loadModel(modelConfig, c.modelPath, at::TensorOptions().dtype(at::kFloat));
  at::manual_seed(c.train.seed);
  prepareForTraining(*model, TargetSpec::parse(c.targets), c.adapter);
  model->train();
  for (int step = 0; step < steps; ++step) {
    const at::Tensor loss = model->forward(inputs).pow(2).mean();
    loss.backward();
    c10::NoGradGuard noGrad;
    for (auto& p : model->parameters()) {
      if (!p.requires_grad() || !p.grad().defined()) continue;
      p.sub_(p.grad().sign() * 0.02);
      p.mutable_grad().zero_();
    }
  }
  CheckpointData data;
  data.position.step = steps;
  data.configJson = toJson(c);
  for (const auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    const bool frozenA = name.size() > 7 && name.compare(name.size() - 7, 7, ".lora_A") == 0;
    if (item.value().requires_grad() || frozenA)
      data.weights.emplace_back(name, item.value().detach().clone());
  }
  writeCheckpoint(checkpointFolder((std::filesystem::path(c.outputDir) / "checkpoints").string(), steps),
                  data);
  for (auto& p : model->parameters())
    p.set_requires_grad(false);
  model->eval();
  return model;
}

} // namespace lorafa::test
