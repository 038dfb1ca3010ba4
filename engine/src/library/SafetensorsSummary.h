#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lorafa {

/// What the headers of a checkpoint folder's safetensors files say, read without LibTorch.
struct SafetensorsSummary {
  std::vector<std::string> files;                       ///< model.safetensors, or the index's shards
  std::map<std::string, std::int64_t> elementsByDtype;  ///< "BF16" -> elements
  std::int64_t elements() const;
  /// The dtype holding most elements; empty without tensors.
  std::string mainDtype() const;
};

/// Reads `dir/model.safetensors`, else the shards `dir/model.safetensors.index.json` lists (the
/// precedence of transformers and of CheckpointReader). Each header is validated by
/// parseSafetensorsHeader against its file; only the headers are read. Throws FormatError naming
/// the file at fault, or `dir` when neither file is there.
SafetensorsSummary summarizeSafetensors(const std::string& dir);

} // namespace lorafa
