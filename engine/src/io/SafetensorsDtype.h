#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lorafa {

/// One dtype string of the safetensors format and what LibTorch can hold it in.
struct SafetensorsDtype {
  const char* name;                         ///< as written in the header, e.g. "BF16"
  int bits;                                 ///< per element; 4 and 6 for the packed float formats
  std::optional<at::ScalarType> scalarType; ///< empty when this LibTorch has no such type
};

/// The entry for a header dtype string (case-sensitive, as the format is), or nullptr when the
/// format does not define it.
const SafetensorsDtype* findSafetensorsDtype(std::string_view name);

/// The header dtype string for a LibTorch type, or empty when the format has none for it.
std::optional<std::string> safetensorsDtypeName(at::ScalarType type);

/// Every dtype string the format defines, comma-separated, for error messages.
std::string knownSafetensorsDtypes();

} // namespace lorafa
