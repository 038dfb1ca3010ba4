#include "io/CheckpointReader.h"

#include "io/StrictJson.h"
#include "lorafa/FormatError.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <system_error>

namespace lorafa {
namespace fs = std::filesystem;
namespace {

using Json = nlohmann::ordered_json;

// Index files are a few hundred kilobytes even for the largest models; this only stops a bogus
// file from being read into memory whole.
constexpr std::uintmax_t kMaxIndexBytes = 100'000'000;

std::string inQuotes(const std::string& name) { return "\"" + name + "\""; }

bool isRegularFile(const fs::path& path) {
  std::error_code ignored;
  return fs::is_regular_file(path, ignored);
}

// Pickle-based weight files in `dir`, for the error message when there are no safetensors.
std::vector<std::string> pickledWeightFiles(const fs::path& dir) {
  std::vector<std::string> found;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
    const std::string extension = entry.path().extension().string();
    if (extension == ".bin" || extension == ".pt" || extension == ".pth" || extension == ".ckpt") {
      found.push_back(entry.path().filename().string());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::string readIndexFile(const std::string& path) {
  std::error_code error;
  const std::uintmax_t size = fs::file_size(path, error);
  if (error) {
    throw FormatError(path, "cannot read the file's size: " + error.message());
  }
  if (size > kMaxIndexBytes) {
    throw FormatError(path, "index file is " + std::to_string(size) + " bytes, more than the " +
                                std::to_string(kMaxIndexBytes) + " bytes allowed");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw FormatError(path, std::string("cannot open the file: ") + std::strerror(errno));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    throw FormatError(path, "cannot read the file");
  }
  return text;
}

// A shard name must stay inside the checkpoint directory.
void checkShardName(const std::string& shard, const std::string& tensor, const std::string& indexPath) {
  const fs::path relative(shard);
  bool escapes = shard.empty() || relative.is_absolute();
  for (const fs::path& part : relative) {
    escapes = escapes || part == "..";
  }
  if (escapes) {
    throw FormatError(indexPath, "tensor " + inQuotes(tensor) + " is mapped to " + inQuotes(shard) +
                                     ", which is not a file name inside the checkpoint directory");
  }
}

} // namespace

CheckpointReader CheckpointReader::openDirectory(const std::string& dir) {
  const fs::path root(dir);
  std::error_code error;
  if (!fs::is_directory(root, error)) {
    throw FormatError(dir, fs::exists(root, error) ? "not a directory" : "no such directory");
  }
  CheckpointReader reader;
  reader.m_directory = dir;

  const fs::path single = root / kSingleFileName;
  if (isRegularFile(single)) {
    const std::shared_ptr<SafetensorsFile> file = SafetensorsFile::open(single.string());
    for (const SafetensorsTensorInfo& info : file->tensors()) {
      reader.m_fileByTensor.emplace(info.name, file);
    }
    return reader;
  }

  const fs::path index = root / kIndexFileName;
  if (!isRegularFile(index)) {
    std::string problem =
        std::string("no weights found: looked for ") + kSingleFileName + " and " + kIndexFileName;
    const std::vector<std::string> pickled = pickledWeightFiles(root);
    if (!pickled.empty()) {
      problem +=
          "; found " + pickled.front() + (pickled.size() > 1 ? " and others" : "") +
          ", which is not loaded: pickled .bin/.pt weights can run arbitrary code when loaded, so only "
          "safetensors are accepted (convert the checkpoint, e.g. with transformers' "
          "save_pretrained(..., safe_serialization=True))";
    }
    throw FormatError(dir, problem);
  }

  const std::string indexPath = index.string();
  const std::string text = readIndexFile(indexPath);
  const Json json = parseJsonStrictly(text.data(), text.data() + text.size(), indexPath, "index");
  if (!json.is_object()) {
    throw FormatError(indexPath, "index is a JSON " + jsonTypeName(json) + ", expected an object");
  }
  if (json.contains("metadata") && !json["metadata"].is_object()) {
    throw FormatError(indexPath, "\"metadata\" must be an object, found " + jsonTypeName(json["metadata"]));
  }
  const auto weightMap = json.find("weight_map");
  if (weightMap == json.end()) {
    throw FormatError(indexPath, "index has no \"weight_map\"");
  }
  if (!weightMap->is_object()) {
    throw FormatError(indexPath, "\"weight_map\" must be an object of tensor name to file name, found " +
                                     jsonTypeName(*weightMap));
  }
  if (weightMap->empty()) {
    throw FormatError(indexPath, "\"weight_map\" is empty");
  }

  // weight_map, checked, and each shard opened once.
  std::map<std::string, std::string> shardOf;
  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
  for (const auto& item : weightMap->items()) {
    if (!item.value().is_string()) {
      throw FormatError(indexPath, "\"weight_map\" entry of " + inQuotes(item.key()) +
                                       " must be a file name, found " + jsonTypeName(item.value()) + " " +
                                       item.value().dump());
    }
    const std::string shard = item.value().get<std::string>();
    checkShardName(shard, item.key(), indexPath);
    shardOf.emplace(item.key(), shard);
    if (shards.count(shard) == 0) {
      const fs::path shardPath = root / shard;
      if (!isRegularFile(shardPath)) {
        throw FormatError(indexPath, "shard " + inQuotes(shard) + " (listed for tensor " +
                                         inQuotes(item.key()) + ") is missing from " + dir);
      }
      shards.emplace(shard, SafetensorsFile::open(shardPath.string()));
    }
  }

  for (const auto& [tensor, shard] : shardOf) {
    if (!shards.at(shard)->contains(tensor)) {
      throw FormatError(indexPath, "tensor " + inQuotes(tensor) + " is listed in shard " + inQuotes(shard) +
                                       ", but that file has no such tensor");
    }
  }
  for (const auto& [shard, file] : shards) {
    for (const SafetensorsTensorInfo& info : file->tensors()) {
      const auto listed = shardOf.find(info.name);
      if (listed == shardOf.end()) {
        throw FormatError(indexPath, "shard " + inQuotes(shard) + " holds tensor " + inQuotes(info.name) +
                                         ", which the index does not list");
      }
      if (listed->second != shard) {
        throw FormatError(indexPath, "tensor " + inQuotes(info.name) + " appears in both shard " +
                                         inQuotes(listed->second) + " and shard " + inQuotes(shard));
      }
      reader.m_fileByTensor.emplace(info.name, file);
    }
  }
  return reader;
}

std::vector<std::string> CheckpointReader::names() const {
  std::vector<std::string> names;
  names.reserve(m_fileByTensor.size());
  for (const auto& item : m_fileByTensor) {
    names.push_back(item.first);
  }
  return names;
}

bool CheckpointReader::contains(const std::string& name) const { return m_fileByTensor.count(name) != 0; }

const SafetensorsFile& CheckpointReader::fileOf(const std::string& name) const {
  const auto it = m_fileByTensor.find(name);
  if (it == m_fileByTensor.end()) {
    throw FormatError(m_directory, "no tensor named " + inQuotes(name) + " in the checkpoint");
  }
  return *it->second;
}

std::vector<std::int64_t> CheckpointReader::shape(const std::string& name) const {
  return fileOf(name).info(name).shape;
}

std::string CheckpointReader::dtype(const std::string& name) const { return fileOf(name).info(name).dtype; }

at::Tensor CheckpointReader::load(const std::string& name) const { return fileOf(name).load(name); }

std::vector<std::string> CheckpointReader::files() const {
  std::set<std::string> paths;
  for (const auto& item : m_fileByTensor) {
    paths.insert(item.second->path());
  }
  return {paths.begin(), paths.end()};
}

} // namespace lorafa
