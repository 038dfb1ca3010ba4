#include "io/AtomicFile.h"

#include "lorafa/FaultInjection.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <system_error>

namespace lorafa {
namespace {

[[noreturn]] void throwErrno(int error, const std::string& message) {
  throw std::system_error(std::error_code(error != 0 ? error : EIO, std::generic_category()), message);
}

std::string randomSuffix() {
  static thread_local std::mt19937_64 engine{std::random_device{}() ^
                                             (static_cast<std::uint64_t>(::getpid()) << 32)};
  static const char digits[] = "0123456789abcdef";
  std::uint64_t bits = engine();
  std::string text(12, '0');
  for (char& c : text) {
    c = digits[bits & 0xF];
    bits >>= 4;
  }
  return text;
}

std::string parentDirectory(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// The temporary file next to the target: removed on destruction unless it was renamed into place.
class TemporaryFile {
public:
  explicit TemporaryFile(const std::string& target) : m_target(target) {
    for (int attempt = 0;; ++attempt) {
      m_path = target + ".tmp-" + std::to_string(::getpid()) + "-" + randomSuffix();
      const int fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd >= 0) {
        m_stream = ::fdopen(fd, "wb");
        if (m_stream == nullptr) {
          const int error = errno;
          ::close(fd);
          ::unlink(m_path.c_str());
          throwErrno(error, target + ": cannot open a stream on the temporary file " + m_path);
        }
        return;
      }
      if (errno != EEXIST || attempt >= 8) {
        throwErrno(errno, target + ": cannot create the temporary file " + m_path);
      }
    }
  }

  ~TemporaryFile() {
    if (m_stream != nullptr) {
      std::fclose(m_stream);
    }
    if (!m_renamed) {
      ::unlink(m_path.c_str());
    }
  }

  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;

  std::FILE* stream() const { return m_stream; }

  // Flushes the data to the disk and closes the file; a deferred write error surfaces here.
  void finish() {
    if (std::ferror(m_stream)) {
      throwErrno(errno, m_target + ": writing the temporary file " + m_path + " failed");
    }
    if (std::fflush(m_stream) != 0) {
      throwErrno(errno, m_target + ": writing the temporary file " + m_path + " failed");
    }
    if (::fsync(::fileno(m_stream)) != 0) {
      throwErrno(errno, m_target + ": flushing the temporary file " + m_path + " to disk failed");
    }
    std::FILE* stream = m_stream;
    m_stream = nullptr;
    if (std::fclose(stream) != 0) {
      throwErrno(errno, m_target + ": closing the temporary file " + m_path + " failed");
    }
  }

  void renameIntoPlace() {
    if (::rename(m_path.c_str(), m_target.c_str()) != 0) {
      throwErrno(errno, m_target + ": cannot rename the temporary file " + m_path + " over it");
    }
    m_renamed = true;
  }

private:
  std::string m_target;
  std::string m_path;
  std::FILE* m_stream = nullptr;
  bool m_renamed = false;
};

// Makes the rename itself durable. Best effort: once the rename is done `path` holds the complete
// new file, and if the directory entry is lost in a crash the previous complete file remains, so
// a failure here is not worth turning a successful save into an error.
void syncDirectory(const std::string& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

} // namespace

void writeFileAtomically(const std::string& path, const std::function<void(std::FILE*)>& write) {
  if (path.empty()) {
    throw std::invalid_argument("writeFileAtomically: empty path");
  }
  TemporaryFile temporary(path);
  write(temporary.stream());
  temporary.finish();
  faultPoint("atomic-file.before-rename");
  temporary.renameIntoPlace();
  syncDirectory(parentDirectory(path));
}

bool exchangePaths(const std::string& a, const std::string& b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) return true;
  const int error = errno;
  if (error == EINVAL || error == ENOSYS || error == ENOTSUP || error == EOPNOTSUPP) return false;
  throwErrno(error, "cannot exchange " + a + " and " + b);
}

bool processIsAlive(long pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

} // namespace lorafa
