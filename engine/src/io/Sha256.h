#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace lorafa {

/// SHA-256 (FIPS 180-4), incremental. Used to checksum checkpoint files; the digests are those
/// `sha256sum` prints, so a checkpoint can be checked by hand with `sha256sum -c checksums.sha256`.
class Sha256 {
public:
  Sha256();
  void update(const void* data, std::size_t bytes);
  /// The digest; the object must not be updated afterwards.
  std::array<std::uint8_t, 32> finish();
  /// finish() as 64 lowercase hexadecimal digits.
  std::string finishHex();

  static std::string hexOf(const std::string& data);
  /// The digest of a whole file as hex; throws std::system_error naming the file when it cannot
  /// be read.
  static std::string hexOfFile(const std::string& path, std::uint64_t* bytes = nullptr);

private:
  void block(const std::uint8_t* p);

  std::array<std::uint32_t, 8> m_state;
  std::array<std::uint8_t, 64> m_buffer{};
  std::size_t m_buffered = 0;
  std::uint64_t m_totalBytes = 0;
};

} // namespace lorafa
