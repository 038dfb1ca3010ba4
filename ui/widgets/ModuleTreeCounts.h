#pragma once

#include "lorafa/AdapterConfig.h"
#include "lorafa/ModelSummary.h"

#include <cstdint>
#include <string>
#include <vector>

namespace lorafa::ui {

/// What a run would train, counted from shapes the way the engine sets the model up
/// (prepareForTraining): LoRA adds A [r, in] and B [out, r] per adapted module and trains both;
/// LoRA-FA trains only B (A stays frozen); a classifier's task head trains in full next to the
/// adapters; full fine-tuning trains every parameter.
struct TrainableCount {
  std::int64_t trainable = 0;
  std::int64_t adapterParameters = 0; ///< parameters the adapters add (A and B), trained or not
  std::int64_t modelParameters = 0;   ///< the base model's parameters
};

TrainableCount countTrainable(TrainMethod method, int rank, const std::vector<LinearModuleInfo>& modules,
                              const std::vector<std::string>& adapted, std::int64_t modelParameters,
                              std::int64_t headParameters);

} // namespace lorafa::ui
