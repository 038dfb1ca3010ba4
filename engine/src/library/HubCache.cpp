#include "library/HubCache.h"

#include "io/AtomicFile.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <system_error>

#include <unistd.h>

namespace lorafa::hubcache {

namespace fs = std::filesystem;

namespace {
constexpr const char* kModelsPrefix = "models--";
}

std::string repoFolderName(const std::string& repoId) {
  std::string name = kModelsPrefix;
  for (const char c : repoId) {
    if (c == '/') name += "--";
    else name += c;
  }
  return name;
}

std::optional<std::string> repoIdFromFolderName(const std::string& folderName) {
  const std::string prefix = kModelsPrefix;
  if (folderName.size() <= prefix.size() || folderName.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  std::string rest = folderName.substr(prefix.size());
  std::string id;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest.compare(i, 2, "--") == 0) {
      id += '/';
      ++i;
    } else {
      id += rest[i];
    }
  }
  return id;
}

std::string normalizeEtag(const std::string& etag) {
  std::string e = etag;
  if (e.rfind("W/", 0) == 0) e = e.substr(2);
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
  return e;
}

bool isSha256Hex(const std::string& text) {
  if (text.size() != 64) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::optional<std::string> readRef(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  const auto first = line.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return std::nullopt;
  const auto last = line.find_last_not_of(" \t\r\n");
  return line.substr(first, last - first + 1);
}

void writeTextFileAtomically(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  writeFileAtomically(path, [&](std::FILE* file) { std::fwrite(text.data(), 1, text.size(), file); });
}

void linkSnapshotFile(const std::string& blobFile, const std::string& snapshotFile) {
  const fs::path link(snapshotFile);
  fs::create_directories(link.parent_path());
  const fs::path target = fs::path(blobFile).lexically_relative(link.parent_path());
  std::error_code ec;
  if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec) == target) return;
  const fs::path temporary = link.parent_path() / (link.filename().string() + ".link-" + std::to_string(::getpid()) +
                                                   "-" + std::to_string(std::random_device{}()));
  fs::create_symlink(target, temporary);
  fs::rename(temporary, link, ec);
  if (ec) {
    fs::remove(temporary);
    throw fs::filesystem_error("cannot link the snapshot file to its blob", link, ec);
  }
}

} // namespace lorafa::hubcache
