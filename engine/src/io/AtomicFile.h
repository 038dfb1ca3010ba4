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

} // namespace lorafa
