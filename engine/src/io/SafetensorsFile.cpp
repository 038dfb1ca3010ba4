#include "io/SafetensorsFile.h"

#include "io/SafetensorsDtype.h"
#include "io/StrictJson.h"
#include "lorafa/FormatError.h"

#include <ATen/ops/empty.h>
#include <torch/version.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; loading on a big-endian host needs byte swapping"
#endif

namespace lorafa {
namespace {

using Json = nlohmann::ordered_json;

// Closes the descriptor when open() returns or throws; the mapping stays valid after close.
class FileDescriptor {
public:
  explicit FileDescriptor(int fd) : m_fd(fd) {}
  ~FileDescriptor() {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return m_fd; }

private:
  int m_fd;
};

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
  const SafetensorsDtype* known = findSafetensorsDtype(info.dtype);
  if (known == nullptr) {
    throw FormatError(path, tensor + ": unknown dtype " + inQuotes(info.dtype) + " (the format defines " +
                                knownSafetensorsDtypes() + ")");
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
  std::uint64_t bits = static_cast<std::uint64_t>(known->bits);
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

void SafetensorsFile::Unmapper::operator()(unsigned char* data) const {
  if (data != nullptr) {
    ::munmap(data, size);
  }
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->m_path = path;

  const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    throw FormatError(path, std::string("cannot open the file: ") + std::strerror(errno));
  }
  struct stat status {};
  if (::fstat(fd.get(), &status) != 0) {
    throw FormatError(path, std::string("cannot read the file's size: ") + std::strerror(errno));
  }
  if (!S_ISREG(status.st_mode)) {
    throw FormatError(path, "not a regular file");
  }
  file->m_fileSize = static_cast<std::uint64_t>(status.st_size);
  if (file->m_fileSize < 8) {
    throw FormatError(path, "file is " + std::to_string(file->m_fileSize) +
                                " bytes long, too short for the 8-byte header length of a safetensors file");
  }
  void* mapped = ::mmap(nullptr, file->m_fileSize, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (mapped == MAP_FAILED) {
    throw FormatError(path, std::string("cannot map the file into memory: ") + std::strerror(errno));
  }
  file->m_mapping = std::unique_ptr<unsigned char, Unmapper>(static_cast<unsigned char*>(mapped),
                                                             Unmapper{file->m_fileSize});

  std::uint64_t headerBytes = 0;
  for (int i = 7; i >= 0; --i) {
    headerBytes = (headerBytes << 8) | file->m_mapping.get()[i];
  }
  file->parseHeader(headerBytes);
  return file;
}

void SafetensorsFile::parseHeader(std::uint64_t headerBytes) {
  // The limit comes first, so that an absurd length is refused before anything is read or parsed.
  if (headerBytes > kMaxHeaderBytes) {
    throw FormatError(m_path, "header length " + std::to_string(headerBytes) + " exceeds the limit of " +
                                  std::to_string(kMaxHeaderBytes) + " bytes");
  }
  if (headerBytes > m_fileSize - 8) {
    throw FormatError(m_path, "header length " + std::to_string(headerBytes) +
                                  " exceeds the file size: the header would end at byte " +
                                  std::to_string(8 + headerBytes) + " but the file is " +
                                  std::to_string(m_fileSize) + " bytes long (truncated?)");
  }
  m_dataOffset = 8 + headerBytes;
  const std::uint64_t bufferBytes = m_fileSize - m_dataOffset;

  const char* text = reinterpret_cast<const char*>(m_mapping.get()) + 8;
  const Json header = parseJsonStrictly(text, text + headerBytes, m_path, "header", 8);
  if (!header.is_object()) {
    throw FormatError(m_path, "header is a JSON " + jsonTypeName(header) + ", expected an object");
  }
  for (const auto& item : header.items()) {
    if (item.key() == "__metadata__") {
      m_metadata = parseMetadata(item.value(), m_path);
      continue;
    }
    m_indexByName.emplace(item.key(), m_tensors.size());
    m_tensors.push_back(parseEntry(item.key(), item.value(), m_path, bufferBytes));
  }
  checkTiling(m_tensors, m_path, bufferBytes);
}

bool SafetensorsFile::contains(const std::string& name) const { return m_indexByName.count(name) != 0; }

const SafetensorsTensorInfo& SafetensorsFile::info(const std::string& name) const {
  const auto it = m_indexByName.find(name);
  if (it == m_indexByName.end()) {
    throw FormatError(m_path, "no tensor named " + inQuotes(name) + " in the file");
  }
  return m_tensors[it->second];
}

at::Tensor SafetensorsFile::load(const std::string& name) const {
  const SafetensorsTensorInfo& entry = info(name);
  const SafetensorsDtype* dtype = findSafetensorsDtype(entry.dtype); // known: checked by open()
  if (dtype == nullptr || !dtype->scalarType) {
    throw FormatError(m_path, "tensor " + inQuotes(name) + ": dtype " + entry.dtype +
                                  " is not supported by this build (LibTorch " TORCH_VERSION
                                  "); convert the file to F32, F16 or BF16");
  }
  const unsigned char* source = m_mapping.get() + m_dataOffset + entry.begin;
  const std::size_t bytes = static_cast<std::size_t>(entry.end - entry.begin);
  if (*dtype->scalarType == at::ScalarType::Bool) {
    // Any byte but 0 or 1 would be an invalid bool in LibTorch (undefined behaviour when read).
    const unsigned char* bad =
        std::find_if(source, source + bytes, [](unsigned char byte) { return byte > 1; });
    if (bad != source + bytes) {
      throw FormatError(m_path, "tensor " + inQuotes(name) + ": BOOL value " + std::to_string(*bad) +
                                    " at byte " +
                                    std::to_string(m_dataOffset + entry.begin + (bad - source)) +
                                    " of the file (only 0 and 1 are allowed)");
    }
  }
  at::Tensor tensor = at::empty(entry.shape, at::TensorOptions().dtype(*dtype->scalarType));
  if (bytes > 0) {
    std::memcpy(tensor.data_ptr(), source, bytes);
  }
  return tensor;
}

} // namespace lorafa
