#include "ModuleTreeCounts.h"

#include <set>

namespace lorafa::ui {

TrainableCount countTrainable(TrainMethod method, int rank, const std::vector<LinearModuleInfo>& modules,
                              const std::vector<std::string>& adapted, std::int64_t modelParameters,
                              std::int64_t headParameters) {
  TrainableCount count;
  count.modelParameters = modelParameters;
  switch (method) {
  case TrainMethod::Full: count.trainable = modelParameters; return count;
  case TrainMethod::Frozen: return count;
  case TrainMethod::Lora:
  case TrainMethod::LoraFa: break;
  }
  const std::set<std::string> chosen(adapted.begin(), adapted.end());
  const std::int64_t r = rank > 0 ? rank : 0;
  for (const LinearModuleInfo& m : modules) {
    if (chosen.count(m.name) == 0) continue;
    const std::int64_t a = r * m.inFeatures;  // A [r, in]
    const std::int64_t b = m.outFeatures * r; // B [out, r]
    count.adapterParameters += a + b;
    count.trainable += method == TrainMethod::Lora ? a + b : b;
  }
  count.trainable += headParameters;
  return count;
}

} // namespace lorafa::ui
