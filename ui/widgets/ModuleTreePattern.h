#pragma once

#include "lorafa/ModelSummary.h"

#include <QString>

#include <string>
#include <vector>

namespace lorafa::ui {

/// Where a linear module sits in a transformer, for the module tree.
struct ModulePlace {
  QString layer; ///< "model.layers.3" (the path up to the first number); empty outside the layers
  QString group; ///< "attention", "MLP" or "other"
  QString local; ///< the rest of the path after the layer, e.g. "self_attn.q_proj"
};

/// Splits a Hugging Face module path into layer, group and local name. Groups by the names the
/// families use: self_attn / attention / attn / SelfAttention / EncDecAttention are attention;
/// mlp / DenseReluDense / intermediate / output / ffn / feed_forward are the MLP.
ModulePlace placeOf(const std::string& path);

/// The shortest honest target pattern that selects exactly `selected` (paths) among `modules`
/// under TargetSpec's semantics: "all-linear" when it is that set, else leaf names such as
/// "q_proj,v_proj" (or longer dotted suffixes such as "attention.output.dense" when a leaf name is
/// ambiguous, never with a layer number in them), else an anchored
/// regular expression over layer numbers, else the explicit list of full paths. Every candidate
/// is checked with matchTargets before it is chosen. Empty when `selected` is empty.
QString patternForSelection(const std::vector<LinearModuleInfo>& modules,
                            const std::vector<std::string>& selected);

} // namespace lorafa::ui
