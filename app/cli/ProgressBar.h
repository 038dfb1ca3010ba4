#pragma once

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>

namespace lorafa::cli {

/// "[#########...............]": `done` of `total` as a bar `width` characters wide, for the
/// progress lines the CLI redraws in place on a terminal (train, models pull).
inline std::string progressBar(std::int64_t done, std::int64_t total, int width = 24) {
  const std::int64_t filled = total > 0 ? std::min<std::int64_t>(width, width * done / total) : 0;
  return "[" + std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(width - filled), '.') + "]";
}

/// One status line redrawn in place on a terminal ("\r" then the text); end() moves past it
/// before other output (and does nothing when no line is shown).
class InPlaceLine {
public:
  explicit InPlaceLine(std::ostream& out) : m_out(out) {}
  void draw(const std::string& text) {
    m_out << "\r" << text << "   " << std::flush;
    m_shown = true;
  }
  void end() {
    if (m_shown) m_out << "\n";
    m_shown = false;
  }

private:
  std::ostream& m_out;
  bool m_shown = false;
};

} // namespace lorafa::cli
