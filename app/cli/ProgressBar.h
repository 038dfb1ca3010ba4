#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

namespace lorafa::cli {

/// "[#########...............]": `done` of `total` as a bar `width` characters wide, for the
/// progress lines the CLI redraws in place on a terminal (train, models pull).
inline std::string progressBar(std::int64_t done, std::int64_t total, int width = 24) {
  const std::int64_t filled = total > 0 ? std::min<std::int64_t>(width, width * done / total) : 0;
  return "[" + std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(width - filled), '.') + "]";
}

} // namespace lorafa::cli
