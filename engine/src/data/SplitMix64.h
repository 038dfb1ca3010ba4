#pragma once

#include <cstdint>

namespace lorafa {

/// Steele, Lea and Flood's SplitMix64: tiny, fully specified (unlike std::uniform_int_distribution,
/// whose output differs between standard libraries), so dataset orders are the same everywhere.
class SplitMix64 {
public:
  explicit SplitMix64(std::uint64_t seed) : m_state(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (m_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  /// Uniform in [0, bound), bound > 0, without modulo bias (values in the incomplete last block
  /// of 2^64 are drawn again).
  std::uint64_t below(std::uint64_t bound) {
    const std::uint64_t limit = ~std::uint64_t(0) - (~std::uint64_t(0) % bound + 1) % bound;
    std::uint64_t value = next();
    while (value > limit)
      value = next();
    return value % bound;
  }

private:
  std::uint64_t m_state;
};

} // namespace lorafa
