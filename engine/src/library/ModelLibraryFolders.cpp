#include "lorafa/ModelLibrary.h"

#include "library/HubCache.h"
#include "library/JsonFile.h"
#include "lorafa/FormatError.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

namespace lorafa {
namespace {

namespace fs = std::filesystem;

std::string normalised(const std::string& folder) {
  std::string text = fs::absolute(fs::path(folder)).lexically_normal().string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  return text;
}

} // namespace

std::string defaultModelLibraryPath(const char* xdgDataHome, const char* home) {
  const std::string base = xdgDataHome != nullptr && *xdgDataHome != '\0'
                               ? std::string(xdgDataHome)
                               : std::string(home != nullptr ? home : "") + "/.local/share";
  return base + "/lorafa-studio/model-library.json";
}

ModelLibraryFolders ModelLibraryFolders::load(const std::string& path) {
  ModelLibraryFolders library;
  library.m_path = path;
  if (!fs::exists(path)) return library;
  const nlohmann::json json = readJsonFile(path, "model library list");
  if (!json.is_object() || !json.contains("version") || !json.at("version").is_number_integer()) {
    throw FormatError(path, "expected {\"version\": 1, \"folders\": [...]}, found " + json.dump().substr(0, 80));
  }
  const auto version = json.at("version").get<std::int64_t>();
  if (version > kVersion) {
    throw FormatError(path, "written by a newer version (format " + std::to_string(version) + ", this build reads " +
                                std::to_string(kVersion) + ")");
  }
  if (json.contains("folders")) {
    const nlohmann::json& folders = json.at("folders");
    if (!folders.is_array()) throw FormatError(path, std::string("\"folders\" must be a list, found ") + folders.type_name());
    for (const nlohmann::json& folder : folders) {
      if (!folder.is_string()) throw FormatError(path, std::string("\"folders\" must hold paths, found ") + folder.type_name());
      library.m_folders.push_back(folder.get<std::string>());
    }
  }
  return library;
}

bool ModelLibraryFolders::add(const std::string& folder) {
  const std::string path = normalised(folder);
  if (!fs::is_directory(path)) throw std::invalid_argument(path + ": not a folder");
  if (std::find(m_folders.begin(), m_folders.end(), path) != m_folders.end()) return false;
  m_folders.push_back(path);
  return true;
}

bool ModelLibraryFolders::remove(const std::string& folder) {
  const std::string path = normalised(folder);
  const auto it = std::find_if(m_folders.begin(), m_folders.end(),
                               [&](const std::string& f) { return f == folder || normalised(f) == path; });
  if (it == m_folders.end()) return false;
  m_folders.erase(it);
  return true;
}

void ModelLibraryFolders::save() const {
  nlohmann::json json;
  json["version"] = kVersion;
  json["folders"] = m_folders;
  hubcache::writeTextFileAtomically(m_path, json.dump(2) + "\n");
}

} // namespace lorafa
