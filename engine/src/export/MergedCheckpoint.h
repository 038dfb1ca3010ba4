#pragma once

#include "lorafa/Export.h"
#include "models/LanguageModel.h"

#include <cstdint>
#include <string>
#include <vector>

namespace lorafa {

struct MergedCheckpointInfo {
  std::string baseDir;             ///< the base model folder: names, dtypes and side files come from it
  std::string tokenizerPath;       ///< the run's tokenizer (file or folder) when not the base's; empty: none
  std::vector<std::string> labels; ///< a classifier's label names in id order (config.json id2label)
  std::int64_t shardSizeBytes = kDefaultShardSizeBytes;
};

struct MergedCheckpointReport {
  std::vector<std::string> files;
  /// The lowest-precision floating dtype written ("F32", "BF16", "F16").
  std::string narrowestDtype = "F32";
};

/// Folds every adapter into its weight (the model stays merged) and writes the checkpoint into
/// `directory` (which must exist) in the base's Hugging Face layout: the base's tensor names
/// when the base holds every parameter (else the model's own names, as save_pretrained of the
/// task class writes them), each tensor in the dtype the base stores it in, model.safetensors or
/// shards with model.safetensors.index.json; config.json (with the classifier's labels),
/// generation_config.json and the tokenizer files are carried over.
MergedCheckpointReport writeMergedCheckpoint(LanguageModel& model, const MergedCheckpointInfo& info,
                                             const std::string& directory,
                                             ExportObserver* observer = nullptr);

} // namespace lorafa
