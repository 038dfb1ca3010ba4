#include "export/StagedFolder.h"

#include "lorafa/Export.h"

#include <atomic>
#include <filesystem>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace lorafa {
namespace {

void fsyncPath(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

fs::path normalized(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path), ec);
  if (ec) p = fs::absolute(path).lexically_normal();
  // weakly_canonical keeps a trailing separator as an empty last element; drop it.
  if (!p.empty() && p.filename().empty()) p = p.parent_path();
  return p;
}

// Whether `inner` is `outer` or below it.
bool within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

std::string uniqueSuffix() {
  static std::atomic<unsigned> counter{0};
  return std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

} // namespace

StagedFolder::StagedFolder(std::string target, bool force, const std::vector<std::string>& protectedPaths) {
  if (target.empty()) throw ExportError("no target folder given");
  const fs::path t = normalized(target);
  m_target = t.string();
  if (t == t.root_path()) throw ExportError(m_target + ": refusing to export into the root folder");
  for (const std::string& p : protectedPaths) {
    if (p.empty()) continue;
    const fs::path guarded = normalized(p);
    if (within(guarded, t) || within(t, guarded)) {
      throw ExportError(
          m_target + ": would overwrite or sit inside " + guarded.string() +
          ", which the export reads (the base model or the run's output); choose another folder");
    }
  }
  std::error_code ec;
  const fs::file_status status = fs::status(t, ec);
  if (fs::exists(status)) {
    if (!fs::is_directory(status)) throw ExportError(m_target + ": exists and is not a folder");
    if (!fs::is_empty(t, ec) && !force) {
      throw ExportError(m_target + ": the folder is not empty; confirm replacing its content (--force)");
    }
    // Forced replacement removes the old content: only do that to what looks like an earlier
    // export (plain files), never to a folder with subfolders such as a home or project folder.
    for (const auto& entry : fs::directory_iterator(t, ec)) {
      if (entry.is_directory()) {
        throw ExportError(
            m_target + ": holds subfolders (" + entry.path().filename().string() +
            "), so it is not an earlier export; refusing to replace it: choose a new or empty folder");
      }
    }
  }
  const fs::path parent = t.parent_path();
  fs::create_directories(parent, ec);
  if (ec)
    throw ExportError(m_target + ": cannot create the parent folder " + parent.string() + ": " +
                      ec.message());
  const fs::path staging = parent / (t.filename().string() + ".tmp-" + uniqueSuffix());
  fs::create_directory(staging, ec);
  if (ec) throw ExportError(m_target + ": cannot write into " + parent.string() + ": " + ec.message());
  m_staging = staging.string();
}

StagedFolder::~StagedFolder() {
  if (m_committed) return;
  std::error_code ignored;
  fs::remove_all(m_staging, ignored);
}

void StagedFolder::commit() {
  const fs::path staging(m_staging);
  const fs::path target(m_target);
  for (const auto& entry : fs::directory_iterator(staging))
    fsyncPath(entry.path());
  fsyncPath(staging);
  std::error_code ec;
  fs::path old;
  if (fs::exists(target)) {
    old = target.parent_path() / (target.filename().string() + ".old-" + uniqueSuffix());
    fs::rename(target, old, ec);
    if (ec) throw ExportError(m_target + ": cannot move the previous content aside: " + ec.message());
  }
  fs::rename(staging, target, ec);
  if (ec) {
    std::error_code ignored;
    if (!old.empty()) fs::rename(old, target, ignored); // put the previous content back
    throw ExportError(m_target + ": cannot rename the finished export into place: " + ec.message());
  }
  m_committed = true;
  fsyncPath(target.parent_path());
  if (!old.empty()) fs::remove_all(old, ec);
}

} // namespace lorafa
