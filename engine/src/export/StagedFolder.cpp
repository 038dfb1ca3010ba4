#include "export/StagedFolder.h"

#include "io/AtomicFile.h"
#include "lorafa/Export.h"
#include "lorafa/FaultInjection.h"

#include <atomic>
#include <filesystem>
#include <system_error>
#include <vector>

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

// The pid in "<target>.tmp-<pid>-<n>" or "<target>.old-<pid>-<n>"; 0 when the name is not one.
long leftoverPid(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0) return 0;
  const std::string rest = name.substr(prefix.size());
  const std::size_t dash = rest.find('-');
  if (dash == std::string::npos || dash == 0 || rest.find_first_not_of("0123456789-") != std::string::npos) return 0;
  try {
    return std::stol(rest.substr(0, dash));
  } catch (const std::exception&) {
    return 0;
  }
}

// Leftovers of an export a crash interrupted: staging folders of dead processes are removed; an
// ".old-" copy (moved aside on a file system that cannot exchange folders) is put back when the
// target is missing, else removed.
void cleanUpInterruptedExports(const fs::path& target) {
  std::error_code ec;
  const std::string name = target.filename().string();
  std::vector<fs::path> staging, old;
  for (const auto& entry : fs::directory_iterator(target.parent_path(), ec)) {
    const std::string n = entry.path().filename().string();
    const long tmpPid = leftoverPid(n, name + ".tmp-");
    const long oldPid = leftoverPid(n, name + ".old-");
    if (tmpPid != 0 && !processIsAlive(tmpPid)) staging.push_back(entry.path());
    if (oldPid != 0 && !processIsAlive(oldPid)) old.push_back(entry.path());
  }
  for (const fs::path& p : staging) fs::remove_all(p, ec);
  for (const fs::path& p : old) {
    if (!fs::exists(target, ec)) fs::rename(p, target, ec);
    else fs::remove_all(p, ec);
  }
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
  cleanUpInterruptedExports(t);
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
  faultPoint("export.before-commit");
  std::error_code ec;
  if (fs::exists(target)) {
    // Swap the finished export with the previous one in one step (the staging name then holds
    // the previous content, removed below), so a crash leaves one complete copy at `target`.
    bool exchanged = false;
    try {
      exchanged = exchangePaths(m_staging, m_target);
    } catch (const std::system_error& e) {
      throw ExportError(m_target + ": cannot put the finished export in place: " + e.what());
    }
    if (exchanged) {
      m_committed = true;
      fsyncPath(target.parent_path());
      faultPoint("export.after-swap");
      fs::remove_all(staging, ec);
      return;
    }
  }
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
  faultPoint("export.after-swap");
  if (!old.empty()) fs::remove_all(old, ec);
}

} // namespace lorafa
