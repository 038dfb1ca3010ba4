#pragma once

#include "io/SafetensorsHeader.h"

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace lorafa {

/// A safetensors file opened read-only and memory-mapped. open() validates the whole header
/// against the format (see FORMATS.md): any inconsistency throws FormatError naming the file and
/// the problem, so a file that opens can be loaded tensor by tensor without further checks.
///
/// The file must not be truncated or rewritten in place while open (the mapping would fault);
/// our own writers never do that, they replace files by rename.
class SafetensorsFile {
public:
  /// Headers longer than this are rejected before they are parsed (the reference reader's limit).
  static constexpr std::uint64_t kMaxHeaderBytes = kSafetensorsMaxHeaderBytes;

  static std::shared_ptr<SafetensorsFile> open(const std::string& path);

  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return m_path; }
  /// Every tensor, in the order of the header.
  const std::vector<SafetensorsTensorInfo>& tensors() const { return m_tensors; }
  bool contains(const std::string& name) const;
  /// Throws FormatError when the file has no tensor of that name.
  const SafetensorsTensorInfo& info(const std::string& name) const;
  /// A fresh contiguous CPU tensor with the stored dtype, copied out of the mapping (it outlives
  /// this object). Throws FormatError for a missing name, for a dtype this LibTorch cannot hold
  /// (e.g. F8_E4M3 before LibTorch 2.1) and for BOOL bytes other than 0 and 1.
  at::Tensor load(const std::string& name) const;
  /// The "__metadata__" map; empty when the header has none.
  const std::map<std::string, std::string>& metadata() const { return m_metadata; }

  /// Offset of the data buffer in the file: 8 + header length.
  std::uint64_t dataOffset() const { return m_dataOffset; }
  std::uint64_t fileSizeBytes() const { return m_fileSize; }

private:
  struct Unmapper {
    std::size_t size; // no initializer: it would make the nested type not default-constructible here
    void operator()(unsigned char* data) const;
  };

  SafetensorsFile() = default;

  std::string m_path;
  std::unique_ptr<unsigned char, Unmapper> m_mapping;
  std::uint64_t m_fileSize = 0;
  std::uint64_t m_dataOffset = 0;
  std::vector<SafetensorsTensorInfo> m_tensors;
  std::unordered_map<std::string, std::size_t> m_indexByName;
  std::map<std::string, std::string> m_metadata;
};

} // namespace lorafa
