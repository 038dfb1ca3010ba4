#include "io/SafetensorsFile.h"

#include "io/SafetensorsDtype.h"
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

  SafetensorsHeader header = parseSafetensorsHeader(file->m_mapping.get(), file->m_fileSize, path);
  file->m_dataOffset = header.dataOffset;
  file->m_tensors = std::move(header.tensors);
  file->m_indexByName = std::move(header.indexByName);
  file->m_metadata = std::move(header.metadata);
  return file;
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
