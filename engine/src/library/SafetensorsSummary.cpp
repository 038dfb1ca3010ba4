#include "library/SafetensorsSummary.h"

#include "io/SafetensorsHeader.h"
#include "library/JsonFile.h"
#include "lorafa/FormatError.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lorafa {
namespace {

namespace fs = std::filesystem;

/// A read-only mapping of a whole file, unmapped on destruction. Only the pages of the header
/// are touched, so a large checkpoint costs no memory.
class MappedFile {
public:
  explicit MappedFile(const std::string& path) : m_path(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw FormatError(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
      const int error = errno;
      ::close(fd);
      throw FormatError(path, std::string("cannot read its size: ") + std::strerror(error));
    }
    m_size = static_cast<std::uint64_t>(info.st_size);
    if (m_size > 0) {
      void* data = ::mmap(nullptr, m_size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (data == MAP_FAILED) {
        const int error = errno;
        ::close(fd);
        throw FormatError(path, std::string("cannot map: ") + std::strerror(error));
      }
      m_data = static_cast<const unsigned char*>(data);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (m_data != nullptr) ::munmap(const_cast<unsigned char*>(m_data), m_size);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const unsigned char* data() const { return m_data; }
  std::uint64_t size() const { return m_size; }

private:
  std::string m_path;
  const unsigned char* m_data = nullptr;
  std::uint64_t m_size = 0;
};

std::vector<std::string> shardsOf(const fs::path& index) {
  const nlohmann::json json = readJsonFile(index.string(), "sharded checkpoint index");
  if (!json.is_object() || !json.contains("weight_map") || !json.at("weight_map").is_object()) {
    throw FormatError(index.string(), "expected an object with a \"weight_map\" object");
  }
  std::set<std::string> shards;
  for (const auto& item : json.at("weight_map").items()) {
    if (!item.value().is_string()) {
      throw FormatError(index.string(), "weight_map[\"" + item.key() + "\"] must be a file name, found " +
                                            item.value().type_name());
    }
    const std::string shard = item.value().get<std::string>();
    const fs::path relative(shard);
    if (shard.empty() || relative.is_absolute() || shard.find("..") != std::string::npos) {
      throw FormatError(index.string(), "weight_map names \"" + shard + "\", expected a file name inside the folder");
    }
    shards.insert(shard);
  }
  std::vector<std::string> files;
  for (const std::string& shard : shards) files.push_back((index.parent_path() / shard).string());
  return files;
}

} // namespace

std::int64_t SafetensorsSummary::elements() const {
  std::int64_t total = 0;
  for (const auto& item : elementsByDtype) total += item.second;
  return total;
}

std::string SafetensorsSummary::mainDtype() const {
  std::string best;
  std::int64_t bestElements = -1;
  for (const auto& [dtype, count] : elementsByDtype) {
    if (count > bestElements) {
      best = dtype;
      bestElements = count;
    }
  }
  return best;
}

SafetensorsSummary summarizeSafetensors(const std::string& dir) {
  const fs::path single = fs::path(dir) / "model.safetensors";
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  SafetensorsSummary summary;
  if (fs::exists(single)) summary.files = {single.string()};
  else if (fs::exists(index)) summary.files = shardsOf(index);
  else throw FormatError(dir, "no model.safetensors or model.safetensors.index.json (only safetensors weights are loaded)");
  for (const std::string& file : summary.files) {
    if (!fs::exists(file)) throw FormatError(file, "the shard is missing (listed in model.safetensors.index.json)");
    const MappedFile mapped(file);
    const SafetensorsHeader header = parseSafetensorsHeader(mapped.data(), mapped.size(), file);
    for (const SafetensorsTensorInfo& tensor : header.tensors) {
      std::int64_t count = 1;
      for (const std::int64_t d : tensor.shape) count *= d;
      summary.elementsByDtype[tensor.dtype] += count;
    }
  }
  return summary;
}

} // namespace lorafa
