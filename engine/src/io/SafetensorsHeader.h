#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lorafa {

/// One tensor entry of a safetensors header.
struct SafetensorsTensorInfo {
  std::string name;
  std::string dtype;               ///< as written in the file: "F32", "BF16", "BOOL", "F8_E4M3", ...
  std::vector<std::int64_t> shape; ///< empty for a 0-d tensor
  std::uint64_t begin = 0;         ///< byte offsets relative to the data buffer (after the header)
  std::uint64_t end = 0;
};

/// Headers longer than this are rejected before they are parsed (the reference reader's limit).
inline constexpr std::uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

/// A safetensors header, parsed and checked against the whole file.
struct SafetensorsHeader {
  std::uint64_t dataOffset = 0; ///< offset of the data buffer in the file: 8 + header length
  std::vector<SafetensorsTensorInfo> tensors; ///< in the order of the header
  std::unordered_map<std::string, std::size_t> indexByName;
  std::map<std::string, std::string> metadata; ///< "__metadata__"; empty when absent
};

/// Parses and validates the header of the safetensors file whose bytes are [file, file+fileSize):
/// the length prefix is bounded (kSafetensorsMaxHeaderBytes, and the file size) before anything is
/// parsed, every entry has a known dtype, a shape whose byte size matches its data_offsets, and
/// the tensors tile the data buffer exactly. Throws FormatError(path, ...) otherwise. Free of
/// LibTorch, so the fuzzers can run it without linking it.
SafetensorsHeader parseSafetensorsHeader(const unsigned char* file, std::uint64_t fileSize,
                                         const std::string& path);

/// Bits per element of a dtype the format defines (4 and 6 for the packed float formats), or 0
/// for a string the format does not define. Case-sensitive, as the format is.
int safetensorsDtypeBits(std::string_view name);

} // namespace lorafa
