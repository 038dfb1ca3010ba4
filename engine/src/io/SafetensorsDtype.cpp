#include "io/SafetensorsDtype.h"

#include <torch/version.h>

// LibTorch 2.1 added the float8 types and 2.3 the unsigned 16/32/64-bit ones; older versions
// still list these dtypes (so files holding them open and validate) but cannot load them.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define LORAFA_HAVE_FLOAT8 1
#endif
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define LORAFA_HAVE_UNSIGNED 1
#endif

namespace lorafa {
namespace {

const SafetensorsDtype kDtypes[] = {
    {"BOOL", 8, at::ScalarType::Bool},
    {"U8", 8, at::ScalarType::Byte},
    {"I8", 8, at::ScalarType::Char},
    {"I16", 16, at::ScalarType::Short},
    {"F16", 16, at::ScalarType::Half},
    {"BF16", 16, at::ScalarType::BFloat16},
    {"I32", 32, at::ScalarType::Int},
    {"F32", 32, at::ScalarType::Float},
    {"F64", 64, at::ScalarType::Double},
    {"I64", 64, at::ScalarType::Long},
    {"C64", 64, at::ScalarType::ComplexFloat},
#ifdef LORAFA_HAVE_UNSIGNED
    {"U16", 16, at::ScalarType::UInt16},
    {"U32", 32, at::ScalarType::UInt32},
    {"U64", 64, at::ScalarType::UInt64},
#else
    {"U16", 16, std::nullopt},
    {"U32", 32, std::nullopt},
    {"U64", 64, std::nullopt},
#endif
#ifdef LORAFA_HAVE_FLOAT8
    {"F8_E4M3", 8, at::ScalarType::Float8_e4m3fn},
    {"F8_E5M2", 8, at::ScalarType::Float8_e5m2},
#else
    {"F8_E4M3", 8, std::nullopt},
    {"F8_E5M2", 8, std::nullopt},
#endif
    {"F8_E8M0", 8, std::nullopt},
    {"F6_E2M3", 6, std::nullopt},
    {"F6_E3M2", 6, std::nullopt},
    {"F4", 4, std::nullopt},
};

} // namespace

const SafetensorsDtype* findSafetensorsDtype(std::string_view name) {
  for (const SafetensorsDtype& dtype : kDtypes) {
    if (name == dtype.name) {
      return &dtype;
    }
  }
  return nullptr;
}

std::optional<std::string> safetensorsDtypeName(at::ScalarType type) {
  for (const SafetensorsDtype& dtype : kDtypes) {
    if (dtype.scalarType == type) {
      return std::string(dtype.name);
    }
  }
  return std::nullopt;
}

std::string knownSafetensorsDtypes() {
  std::string list;
  for (const SafetensorsDtype& dtype : kDtypes) {
    if (!list.empty()) {
      list += ", ";
    }
    list += dtype.name;
  }
  return list;
}

} // namespace lorafa
