#pragma once

#include <cstdio>
#include <functional>
#include <string>

namespace lorafa {

/// Replaces the file at `path` with what `write` puts into the stream it is given, so that
/// `path` only ever holds the previous content or the complete new one — never a partial file.
///
/// `write` writes to a temporary file `<path>.tmp-<pid>-<random>` in the same directory; the
/// temporary is then flushed, fsync'ed and renamed over `path`, and the directory is fsync'ed.
///
/// On failure the temporary is removed and `path` is left as it was:
/// - an exception thrown by `write` propagates unchanged;
/// - an I/O failure (the directory does not exist or is not writable, a short write, a full disk,
///   a failed rename) throws std::system_error whose code() is the errno and whose what() names
///   `path`, the step that failed and the system's text for the error.
///
/// `write` must not close the stream. It need not check its own fwrite results: a stream error
/// is detected afterwards.
/// Not for use on `path`s that other processes write concurrently (last rename wins).
void writeFileAtomically(const std::string& path, const std::function<void(std::FILE*)>& write);

/// Swaps two existing paths (files or folders) in one atomic step with renameat2(RENAME_EXCHANGE),
/// so that a crash leaves each name holding one complete copy. Returns false when the file system
/// or kernel cannot exchange (the caller falls back to two renames); throws std::system_error
/// naming both paths on any other failure.
bool exchangePaths(const std::string& a, const std::string& b);

/// Whether `pid` names a process that still runs (for leftovers whose name carries the pid of
/// the process that wrote them: only those of dead processes may be removed).
bool processIsAlive(long pid);

} // namespace lorafa
