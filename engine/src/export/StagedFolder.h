#pragma once

#include <string>
#include <vector>

namespace lorafa {

/// An export folder built aside and put in place at once: files go into a fresh sibling
/// `<target>.tmp-<pid>-<n>`; commit() renames it to `target` (a replaced folder is exchanged with
/// it in one renameat2(RENAME_EXCHANGE), or, where the file system cannot, moved aside to
/// `<target>.old-<pid>-<n>` first and removed after), so `target` is never half-written. Without
/// commit() the staging folder is removed; the constructor removes the leftovers of a process
/// killed while exporting to the same target (and puts back a previous copy left aside).
class StagedFolder {
public:
  /// Throws ExportError when `target` is a file, when it is a non-empty folder and `force` is
  /// false, when it is or contains one of `protectedPaths` (the base model, the run's output) or
  /// when the staging folder cannot be created (naming the folder and the system's reason).
  StagedFolder(std::string target, bool force, const std::vector<std::string>& protectedPaths);
  ~StagedFolder();
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;

  /// The staging folder to write into.
  const std::string& path() const { return m_staging; }
  const std::string& target() const { return m_target; }
  /// Flushes the files to disk and renames the staging folder into place.
  void commit();

private:
  std::string m_target;
  std::string m_staging;
  bool m_committed = false;
};

} // namespace lorafa
