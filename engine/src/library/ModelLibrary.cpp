#include "lorafa/ModelLibrary.h"

#include "library/HubCache.h"
#include "library/JsonFile.h"
#include "library/SafetensorsSummary.h"
#include "lorafa/FormatError.h"
#include "models/ModelConfig.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

namespace lorafa {
namespace {

namespace fs = std::filesystem;

/// config.json's model_type, or empty when the file cannot be read as JSON with one.
std::string modelTypeOf(const fs::path& config) {
  try {
    const nlohmann::json json = readJsonFile(config.string(), "model config");
    if (json.is_object() && json.contains("model_type") && json.at("model_type").is_string()) {
      return json.at("model_type").get<std::string>();
    }
  } catch (const std::exception&) {
    // The support check below names the problem.
  }
  return {};
}

/// Bytes of every file under `dir`, links followed, each target counted once (a cache snapshot
/// is links into blobs/, which two revisions may share).
std::int64_t bytesOnDisk(const fs::path& dir) {
  std::set<fs::path> seen;
  std::int64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code statError;
    if (!fs::is_regular_file(it->path(), statError)) continue;
    const fs::path target = fs::canonical(it->path(), statError);
    if (statError || !seen.insert(target).second) continue;
    const auto size = fs::file_size(target, statError);
    if (!statError) total += static_cast<std::int64_t>(size);
  }
  return total;
}

void addHubCache(const fs::path& cache, std::vector<LibraryModel>& models) {
  std::error_code ec;
  if (!fs::is_directory(cache, ec)) return;
  // Error codes throughout: one unreadable entry is skipped, never the whole listing.
  for (fs::directory_iterator it(cache, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::directory_entry& repo = *it;
    std::error_code entryError;
    const std::optional<std::string> repoId = hubcache::repoIdFromFolderName(repo.path().filename().string());
    if (!repoId || !repo.is_directory(entryError)) continue;
    // Which refs (main, a tag, refs/pr/1) name each commit.
    std::map<std::string, std::vector<std::string>> refsByCommit;
    const fs::path refs = repo.path() / "refs";
    std::error_code refsError;
    for (fs::recursive_directory_iterator it(refs, refsError), end; !refsError && it != end; it.increment(refsError)) {
      if (!it->is_regular_file()) continue;
      if (const auto commit = hubcache::readRef(it->path().string())) {
        refsByCommit[*commit].push_back(it->path().lexically_relative(refs).string());
      }
    }
    std::error_code snapshotsError;
    for (fs::directory_iterator snapshots(repo.path() / "snapshots", snapshotsError), last;
         !snapshotsError && snapshots != last; snapshots.increment(snapshotsError)) {
      const fs::directory_entry& snapshot = *snapshots;
      if (!snapshot.is_directory(entryError)) continue;
      LibraryModel model = describeModelFolder(snapshot.path().string());
      model.source = LibraryModel::Source::HubCache;
      model.repoId = *repoId;
      model.commit = snapshot.path().filename().string();
      std::vector<std::string>& names = refsByCommit[model.commit];
      std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
        return std::make_tuple(a != "main", a) < std::make_tuple(b != "main", b);
      });
      model.revision = names.empty() ? model.commit : names.front();
      models.push_back(std::move(model));
    }
  }
}

LibraryModel missingModel(const fs::path& folder, const std::string& problem) {
  LibraryModel model;
  model.source = LibraryModel::Source::Folder;
  model.repoId = folder.filename().string();
  model.path = folder.string();
  model.addedFolder = folder.string();
  model.unsupportedReason = folder.string() + ": " + problem;
  return model;
}

void addFolder(const fs::path& folder, std::vector<LibraryModel>& models) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    models.push_back(missingModel(folder, "the folder no longer exists (remove it from the library or put it back)"));
    return;
  }
  std::vector<fs::path> modelDirs;
  if (fs::exists(folder / "config.json", ec)) {
    modelDirs.push_back(folder);
  } else {
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code entryError;
      if (it->is_directory(entryError) && fs::exists(it->path() / "config.json", entryError)) {
        modelDirs.push_back(it->path());
      }
    }
    std::sort(modelDirs.begin(), modelDirs.end());
  }
  if (modelDirs.empty()) {
    models.push_back(missingModel(folder, "no config.json in the folder or its subfolders"));
    return;
  }
  for (const fs::path& dir : modelDirs) {
    LibraryModel model = describeModelFolder(dir.string());
    model.source = LibraryModel::Source::Folder;
    model.addedFolder = folder.string();
    models.push_back(std::move(model));
  }
}

} // namespace

const char* toString(LibraryModel::Source source) {
  return source == LibraryModel::Source::HubCache ? "hub-cache" : "folder";
}

LibraryModel describeModelFolder(const std::string& directory) {
  const fs::path dir(directory);
  LibraryModel model;
  model.path = directory;
  model.repoId = dir.filename().string();
  const fs::path config = dir / "config.json";
  model.family = modelTypeOf(config);
  model.supported = true;
  const auto reject = [&](const std::string& reason) {
    if (model.supported) model.unsupportedReason = reason; // the first problem found
    model.supported = false;
  };
  // The engine's own parser decides what this build supports (its families change over time).
  try {
    (void)ModelConfig::fromFile(config.string());
  } catch (const std::exception& e) {
    reject(e.what());
  }
  try {
    const SafetensorsSummary weights = summarizeSafetensors(directory);
    model.parameters = weights.elements();
    model.dtype = weights.mainDtype();
  } catch (const std::exception& e) {
    reject(e.what());
  }
  model.sizeBytes = bytesOnDisk(dir);
  return model;
}

std::vector<LibraryModel> scanModelLibrary(const std::string& hubCacheDir, const std::vector<std::string>& folders) {
  std::vector<LibraryModel> models;
  if (!hubCacheDir.empty()) addHubCache(hubCacheDir, models);
  for (const std::string& folder : folders) addFolder(folder, models);
  std::stable_sort(models.begin(), models.end(), [](const LibraryModel& a, const LibraryModel& b) {
    return std::make_tuple(a.source, a.repoId, a.revision, a.path) < std::make_tuple(b.source, b.repoId, b.revision, b.path);
  });
  return models;
}

} // namespace lorafa
