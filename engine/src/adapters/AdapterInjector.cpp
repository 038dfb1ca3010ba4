#include "AdapterInjector.h"

#include "LinearLayerFactory.h"

#include <algorithm>
#include <set>

namespace lorafa {
namespace {

bool isOutputHead(const LanguageModel& model, const std::string& name) {
  const auto heads = model.outputHeadNames();
  return std::find(heads.begin(), heads.end(), name) != heads.end();
}

bool underAnyModule(const std::string& parameter, const std::vector<std::string>& modules) {
  return std::any_of(modules.begin(), modules.end(), [&](const std::string& m) {
    return parameter.size() > m.size() && parameter.compare(0, m.size(), m) == 0 && parameter[m.size()] == '.';
  });
}

} // namespace

std::vector<LinearModuleInfo> describeLinears(const LanguageModel& model) {
  std::vector<LinearModuleInfo> out;
  for (const LinearHandle& h : model.linears()) {
    const LinearLayer& layer = **h.slot;
    LinearModuleInfo info;
    info.name = h.name;
    info.inFeatures = layer.weight().size(1);
    info.outFeatures = layer.weight().size(0);
    info.hasBias = layer.bias().defined();
    info.isOutputHead = isOutputHead(model, h.name);
    info.adapted = layer.method() == TrainMethod::LoraFa || layer.method() == TrainMethod::Lora;
    out.push_back(info);
  }
  return out;
}

ModelSummary summarizeModel(const LanguageModel& model) {
  ModelSummary s;
  const ModelConfig& c = model.config();
  s.family = toString(c.family);
  s.modelType = c.modelType;
  s.architecture = c.architecture;
  s.vocabSize = c.vocabSize;
  s.hiddenSize = c.hiddenSize;
  s.numLayers = c.numLayers;
  for (const auto& p : model.parameters()) {
    s.totalParameters += p.numel();
    if (p.requires_grad()) s.trainableParameters += p.numel();
  }
  s.linears = describeLinears(model);
  return s;
}

std::vector<std::string> prepareForTraining(LanguageModel& model, const TargetSpec& targets,
                                            const AdapterConfig& adapter) {
  adapter.validate();
  const bool usesAdapters = adapter.method == TrainMethod::LoraFa || adapter.method == TrainMethod::Lora;
  std::vector<std::string> adapted;
  if (usesAdapters) {
    // Task heads train in full (modules_to_save), so they are never adapter targets.
    std::vector<LinearModuleInfo> candidates;
    for (const LinearModuleInfo& l : describeLinears(model)) {
      if (!underAnyModule(l.name, model.trainedHeadModules())) candidates.push_back(l);
    }
    adapted = matchTargets(targets, candidates); // throws when nothing matches
  }
  for (auto& p : model.parameters()) p.set_requires_grad(adapter.method == TrainMethod::Full);
  if (!usesAdapters) return {};

  const std::set<std::string> chosen(adapted.begin(), adapted.end());
  for (const LinearHandle& h : model.linears()) {
    if (chosen.count(h.name) == 0) continue;
    const std::shared_ptr<LinearLayer> current = *h.slot;
    if (current->method() != TrainMethod::Full && current->method() != TrainMethod::Frozen) {
      throw std::invalid_argument("module " + h.name + " already has an adapter");
    }
    model.replaceLinear(h, makeLinearLayer(current->weight(), current->bias(), adapter));
  }
  // Task heads train alongside the adapters (PEFT's modules_to_save for classification).
  const std::vector<std::string> heads = model.trainedHeadModules();
  for (auto& item : model.named_parameters()) {
    if (underAnyModule(item.key(), heads)) item.value().set_requires_grad(true);
  }
  return adapted;
}

} // namespace lorafa
