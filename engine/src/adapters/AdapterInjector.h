#pragma once

#include "lorafa/AdapterConfig.h"
#include "lorafa/ModelSummary.h"
#include "models/LanguageModel.h"

#include <string>
#include <vector>

namespace lorafa {

/// Sets a loaded model up for one training method:
/// - LoRA-FA / LoRA: the target linears get adapters (their W frozen); everything else frozen,
///   except the model's task head for classifiers (PEFT's modules_to_save);
/// - full: every parameter trainable (targets are not used);
/// - frozen: nothing trainable.
/// Returns the adapted module paths (empty for full / frozen). Throws std::invalid_argument when
/// the targets match nothing (the message lists the available modules).
std::vector<std::string> prepareForTraining(LanguageModel& model, const TargetSpec& targets,
                                            const AdapterConfig& adapter);

/// The model's linears, as the target picker and the memory planner see them.
std::vector<LinearModuleInfo> describeLinears(const LanguageModel& model);
ModelSummary summarizeModel(const LanguageModel& model);

} // namespace lorafa
