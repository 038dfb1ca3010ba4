#pragma once

#include "io/SafetensorsFile.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lorafa {

/// The weights of a Hugging Face checkpoint directory: `model.safetensors`, or
/// `model.safetensors.index.json` and the shards it names. Only safetensors are read; pickled
/// `.bin`/`.pt` files are never loaded, since unpickling untrusted data can run code.
///
/// Cheap to copy (the memory-mapped files are shared). Tensors are loaded one at a time, on
/// demand, so a checkpoint larger than memory can be opened and inspected.
class CheckpointReader {
public:
  static constexpr const char* kSingleFileName = "model.safetensors";
  static constexpr const char* kIndexFileName = "model.safetensors.index.json";

  /// Opens `dir/model.safetensors` when it exists (the same precedence as transformers), else
  /// `dir/model.safetensors.index.json` and every shard it lists. Validates every file (see
  /// SafetensorsFile) and the index against the shards: each listed shard exists and is a plain
  /// path inside `dir`, each listed tensor is in its shard, and each tensor of a shard is listed
  /// for that shard (none is in two shards). Throws FormatError naming the file at fault; when
  /// neither file exists, the error names `dir` and both file names.
  static CheckpointReader openDirectory(const std::string& dir);

  /// Every tensor name, sorted.
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  /// These three throw FormatError naming the directory for an unknown name.
  std::vector<std::int64_t> shape(const std::string& name) const;
  std::string dtype(const std::string& name) const;
  at::Tensor load(const std::string& name) const;
  const std::string& directory() const { return m_directory; }
  /// The safetensors files that were opened, in name order.
  std::vector<std::string> files() const;

private:
  CheckpointReader() = default;
  const SafetensorsFile& fileOf(const std::string& name) const;

  std::string m_directory;
  std::map<std::string, std::shared_ptr<SafetensorsFile>> m_fileByTensor;
};

} // namespace lorafa
