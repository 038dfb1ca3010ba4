#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace lorafa {

/// Where models come from: the Hugging Face cache (shared with transformers and huggingface_hub)
/// and the folders a user added. Plain values; the edges (CLI, studio) fill them from the
/// environment with hubSettingsFromEnvironment() and defaultModelLibraryPath().
struct HubSettings {
  std::string cacheDir;                          ///< the hub cache: models--ORG--NAME/ folders
  std::string endpoint = "https://huggingface.co"; ///< HF_ENDPOINT, no trailing slash
  std::string token;                             ///< access token; empty: anonymous
  std::string tokenSource;                       ///< where the token came from ("HF_TOKEN", a file), for messages
};

/// The settings huggingface_hub would use, from an environment lookup (std::getenv at the edges,
/// a map in tests): cache HF_HUB_CACHE (or the older HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub,
/// HF_HOME defaulting to $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface; endpoint
/// HF_ENDPOINT; token HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), else the file HF_TOKEN_PATH, else
/// $HF_HOME/token. An unreadable token file counts as no token.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;
HubSettings hubSettingsFromEnvironment(const EnvironmentLookup& lookup);
/// The same with the process environment.
HubSettings hubSettingsFromProcessEnvironment();

/// One model of the library: a snapshot of a cached Hub repository or a folder on disk.
struct LibraryModel {
  enum class Source { HubCache, Folder };
  Source source = Source::HubCache;
  std::string repoId;   ///< "Qwen/Qwen3-0.6B"; for a folder, its name
  std::string revision; ///< the ref naming this snapshot ("main"), else its commit; empty for a folder
  std::string commit;   ///< the snapshot's commit hash; empty for a folder
  std::string path;     ///< the folder to open (snapshots/<commit> for the cache)
  std::string addedFolder; ///< for Source::Folder: the folder the user added that holds it
  std::string family;   ///< config.json model_type ("qwen3"); empty without a readable config
  std::int64_t parameters = 0; ///< elements over every tensor in the safetensors headers
  std::string dtype;           ///< the safetensors dtype holding most elements ("BF16")
  std::int64_t sizeBytes = 0;  ///< bytes on disk of every file, each cached blob counted once
  bool supported = false;      ///< this build can train it
  std::string unsupportedReason; ///< why not, naming the file at fault; empty when supported
};

const char* toString(LibraryModel::Source source);

/// The folders a user added to the library, kept in a small versioned JSON file
/// (`{"version": 1, "folders": [...]}`) shared by the CLI and the studio.
class ModelLibraryFolders {
public:
  static constexpr int kVersion = 1;

  /// Reads `path`; a file that does not exist yet is an empty list. Throws FormatError naming the
  /// file when it is not such a JSON file (or from a newer version).
  static ModelLibraryFolders load(const std::string& path);

  const std::vector<std::string>& folders() const { return m_folders; }
  /// Adds `folder` as an absolute, normalised path; false when it was there already. Throws
  /// std::invalid_argument naming it when it is not an existing folder.
  bool add(const std::string& folder);
  /// Removes `folder` (compared as an absolute, normalised path); false when it was not there.
  bool remove(const std::string& folder);
  /// Writes the list atomically to the path it was loaded from (creating its folder).
  void save() const;
  const std::string& path() const { return m_path; }

private:
  std::string m_path;
  std::vector<std::string> m_folders;
};

/// $XDG_DATA_HOME/lorafa-studio/model-library.json, else ~/.local/share/lorafa-studio/... (next
/// to the run history). The caller passes the environment's values.
std::string defaultModelLibraryPath(const char* xdgDataHome, const char* home);

/// Describes the model folder `directory` (config.json, safetensors headers, file sizes) without
/// loading any weights. Never throws for a bad model: the problem goes into unsupportedReason.
LibraryModel describeModelFolder(const std::string& directory);

/// Every snapshot in the hub cache `hubCacheDir` (a missing cache is empty) and every model in
/// `folders` (a folder holding config.json, or one level of such subfolders), sorted by repo id
/// and revision. Folders that vanished are listed as unsupported with the reason.
std::vector<LibraryModel> scanModelLibrary(const std::string& hubCacheDir, const std::vector<std::string>& folders);

} // namespace lorafa
