#pragma once

// The dataset readers take a path: the input is put into an in-memory file (memfd) that is
// reused across inputs, so fuzzing never touches the disk.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace lorafa::fuzz {

inline std::string memoryFile(const std::uint8_t* data, std::size_t size) {
  static const int fd = memfd_create("lorafa-fuzz", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, 0) != 0) std::abort();
  std::size_t written = 0;
  while (written < size) {
    const ssize_t n = pwrite(fd, data + written, size - written, static_cast<off_t>(written));
    if (n <= 0) std::abort();
    written += static_cast<std::size_t>(n);
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

} // namespace lorafa::fuzz
