#include "io/SafetensorsHeader.h"

#include "io/StrictJson.h"
#include "lorafa/FormatError.h"

#include <algorithm>
#include <limits>

namespace lorafa {
namespace {

using Json = nlohmann::ordered_json;

// The dtypes of the format and their widths; SafetensorsDtype maps them to LibTorch types (a
// test checks that both tables list the same names with the same widths).
struct DtypeBits {
  const char* name;
  int bits;
};
const DtypeBits kDtypeBits[] = {
    {"BOOL", 8}, {"U8", 8},       {"I8", 8},       {"I16", 16},     {"F16", 16},     {"BF16", 16},
    {"I32", 32}, {"F32", 32},     {"F64", 64},     {"I64", 64},     {"C64", 64},     {"U16", 16},
    {"U32", 32}, {"U64", 64},     {"F8_E4M3", 8},  {"F8_E5M2", 8},  {"F8_E8M0", 8},  {"F6_E2M3", 6},
    {"F6_E3M2", 6}, {"F4", 4},
};

std::string knownDtypes() {
  std::string list;
  for (const DtypeBits& dtype : kDtypeBits) {
    list += (list.empty() ? "" : ", ") + std::string(dtype.name);
  }
  return list;
}

std::string inQuotes(const std::string& name) { return "\"" + name + "\""; }

std::string shapeText(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    text += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
  }
  return text + "]";
}

std::string rangeText(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

// A JSON value that must be a non-negative integer; `what` names it in the error.
std::uint64_t nonNegativeInteger(const Json& value, const std::string& path, const std::string& what) {
  if (value.is_number_unsigned()) {
    return value.get<std::uint64_t>();
  }
  if (value.is_number_integer()) { // only negative values are stored as signed
    throw FormatError(path, what + " is negative (" + value.dump() + ")");
  }
  throw FormatError(path, what + " must be a non-negative integer, found " + jsonTypeName(value) + " " +
                              value.dump());
}

const Json& requiredField(const Json& entry, const char* field, const std::string& path,
                          const std::string& tensor) {
  const auto it = entry.find(field);
  if (it == entry.end()) {
    throw FormatError(path, "tensor " + inQuotes(tensor) + " has no \"" + field + "\" field");
  }
  return *it;
}

std::map<std::string, std::string> parseMetadata(const Json& value, const std::string& path) {
  std::map<std::string, std::string> metadata;
  if (value.is_null()) {
    return metadata;
  }
  if (!value.is_object()) {
    throw FormatError(path, "\"__metadata__\" must be an object of strings, found " + jsonTypeName(value));
  }
  for (const auto& item : value.items()) {
    if (!item.value().is_string()) {
      throw FormatError(path, "\"__metadata__\" value of " + inQuotes(item.key()) +
                                  " must be a string, found " + jsonTypeName(item.value()) + " " +
                                  item.value().dump());
    }
    metadata.emplace(item.key(), item.value().get<std::string>());
  }
  return metadata;
}

SafetensorsTensorInfo parseEntry(const std::string& name, const Json& entry, const std::string& path,
                                 std::uint64_t bufferBytes) {
  const std::string tensor = "tensor " + inQuotes(name);
  if (name.empty()) {
    throw FormatError(path, "the header has a tensor with an empty name");
  }
  if (!entry.is_object()) {
    throw FormatError(path, tensor + ": entry is " + jsonTypeName(entry) +
                                ", expected an object with dtype, shape and data_offsets");
  }
  SafetensorsTensorInfo info;
  info.name = name;

  const Json& dtype = requiredField(entry, "dtype", path, name);
  if (!dtype.is_string()) {
    throw FormatError(path, tensor + ": \"dtype\" must be a string, found " + jsonTypeName(dtype));
  }
  info.dtype = dtype.get<std::string>();
  const int dtypeBits = safetensorsDtypeBits(info.dtype);
  if (dtypeBits == 0) {
    throw FormatError(path, tensor + ": unknown dtype " + inQuotes(info.dtype) + " (the format defines " +
                                knownDtypes() + ")");
  }

  const Json& shape = requiredField(entry, "shape", path, name);
  if (!shape.is_array()) {
    throw FormatError(path, tensor + ": \"shape\" must be an array, found " + jsonTypeName(shape));
  }
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const std::uint64_t dim =
        nonNegativeInteger(shape[i], path, tensor + ": shape dimension " + std::to_string(i));
    if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw FormatError(path, tensor + ": shape dimension " + std::to_string(i) + " is too large (" +
                                  std::to_string(dim) + ")");
    }
    info.shape.push_back(static_cast<std::int64_t>(dim));
  }

  const Json& offsets = requiredField(entry, "data_offsets", path, name);
  if (!offsets.is_array() || offsets.size() != 2) {
    throw FormatError(path, tensor + ": \"data_offsets\" must be [begin, end], found " + offsets.dump());
  }
  info.begin = nonNegativeInteger(offsets[0], path, tensor + ": data_offsets begin");
  info.end = nonNegativeInteger(offsets[1], path, tensor + ": data_offsets end");
  if (info.begin > info.end) {
    throw FormatError(path, tensor + ": data_offsets begin " + std::to_string(info.begin) + " is after end " +
                                std::to_string(info.end));
  }
  if (info.end > bufferBytes) {
    throw FormatError(path, tensor + ": data_offsets " + rangeText(info.begin, info.end) +
                                " reach past the end of the data buffer, which is " +
                                std::to_string(bufferBytes) + " bytes long (truncated file?)");
  }

  // Element count × bits, with overflow checks: a shape may be anything a file says.
  std::uint64_t bits = static_cast<std::uint64_t>(dtypeBits);
  for (std::int64_t dim : info.shape) {
    if (__builtin_mul_overflow(bits, static_cast<std::uint64_t>(dim), &bits)) {
      throw FormatError(path, tensor + ": shape " + shapeText(info.shape) + " of " + info.dtype +
                                  " is too large to address");
    }
  }
  if (bits % 8 != 0) {
    throw FormatError(path, tensor + ": shape " + shapeText(info.shape) + " of " + info.dtype + " is " +
                                std::to_string(bits) + " bits, not a whole number of bytes");
  }
  const std::uint64_t expectedBytes = bits / 8;
  if (expectedBytes != info.end - info.begin) {
    throw FormatError(path, tensor + ": shape " + shapeText(info.shape) + " of " + info.dtype + " needs " +
                                std::to_string(expectedBytes) + " bytes but data_offsets " +
                                rangeText(info.begin, info.end) + " hold " +
                                std::to_string(info.end - info.begin) + " bytes");
  }
  return info;
}

// The tensors must tile [0, bufferBytes) exactly: no overlap, no hole, nothing after the last.
void checkTiling(const std::vector<SafetensorsTensorInfo>& tensors, const std::string& path,
                 std::uint64_t bufferBytes) {
  std::vector<const SafetensorsTensorInfo*> byOffset;
  byOffset.reserve(tensors.size());
  for (const SafetensorsTensorInfo& info : tensors) {
    byOffset.push_back(&info);
  }
  std::sort(byOffset.begin(), byOffset.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t covered = 0;
  const SafetensorsTensorInfo* previous = nullptr;
  for (const SafetensorsTensorInfo* info : byOffset) {
    if (info->begin < covered) {
      throw FormatError(path, "tensor " + inQuotes(info->name) + " (bytes " +
                                  rangeText(info->begin, info->end) + ") overlaps tensor " +
                                  inQuotes(previous->name) + " (bytes " +
                                  rangeText(previous->begin, previous->end) + ") in the data buffer");
    }
    if (info->begin > covered) {
      throw FormatError(path,
                        "bytes " + rangeText(covered, info->begin) +
                            " of the data buffer belong to no tensor (a hole " +
                            (previous == nullptr ? std::string("before the first tensor ")
                                                 : "between tensor " + inQuotes(previous->name) + " and ") +
                            inQuotes(info->name) + ")");
    }
    covered = info->end;
    previous = info;
  }
  if (covered != bufferBytes) {
    throw FormatError(path, "bytes " + rangeText(covered, bufferBytes) +
                                " of the data buffer belong to no tensor (" +
                                std::to_string(bufferBytes - covered) + " bytes after the last tensor)");
  }
}

} // namespace

int safetensorsDtypeBits(std::string_view name) {
  for (const DtypeBits& dtype : kDtypeBits) {
    if (name == dtype.name) {
      return dtype.bits;
    }
  }
  return 0;
}

SafetensorsHeader parseSafetensorsHeader(const unsigned char* file, std::uint64_t fileSize,
                                         const std::string& path) {
  if (fileSize < 8) {
    throw FormatError(path, "file is " + std::to_string(fileSize) +
                                " bytes long, too short for the 8-byte header length of a safetensors file");
  }
  std::uint64_t headerBytes = 0;
  for (int i = 7; i >= 0; --i) {
    headerBytes = (headerBytes << 8) | file[i];
  }
  // The limit comes first, so that an absurd length is refused before anything is read or parsed.
  if (headerBytes > kSafetensorsMaxHeaderBytes) {
    throw FormatError(path, "header length " + std::to_string(headerBytes) + " exceeds the limit of " +
                                std::to_string(kSafetensorsMaxHeaderBytes) + " bytes");
  }
  if (headerBytes > fileSize - 8) {
    throw FormatError(path, "header length " + std::to_string(headerBytes) +
                                " exceeds the file size: the header would end at byte " +
                                std::to_string(8 + headerBytes) + " but the file is " +
                                std::to_string(fileSize) + " bytes long (truncated?)");
  }
  SafetensorsHeader result;
  result.dataOffset = 8 + headerBytes;
  const std::uint64_t bufferBytes = fileSize - result.dataOffset;

  const char* text = reinterpret_cast<const char*>(file) + 8;
  const Json header = parseJsonStrictly(text, text + headerBytes, path, "header", 8);
  if (!header.is_object()) {
    throw FormatError(path, "header is a JSON " + jsonTypeName(header) + ", expected an object");
  }
  for (const auto& item : header.items()) {
    if (item.key() == "__metadata__") {
      result.metadata = parseMetadata(item.value(), path);
      continue;
    }
    result.indexByName.emplace(item.key(), result.tensors.size());
    result.tensors.push_back(parseEntry(item.key(), item.value(), path, bufferBytes));
  }
  checkTiling(result.tensors, path, bufferBytes);
  return result;
}

} // namespace lorafa
