#include "lorafa/FaultInjection.h"

#include <atomic>
#include <csignal>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include <unistd.h>

namespace lorafa {
namespace {

std::atomic<bool> g_armed{false};
std::mutex g_mutex;
std::string g_point;
std::int64_t g_remaining = 0;

} // namespace

void armFaultKill(const std::string& point, std::int64_t hit) {
  if (point.empty() || hit < 1) throw std::invalid_argument("fault point: a name and a hit count of at least 1 are needed");
  std::lock_guard<std::mutex> lock(g_mutex);
  g_point = point;
  g_remaining = hit;
  g_armed = true;
}

void armFaultKillFromSpec(const std::string& spec) {
  const std::size_t colon = spec.rfind(':');
  if (colon == std::string::npos) {
    armFaultKill(spec, 1);
    return;
  }
  const std::string count = spec.substr(colon + 1);
  if (count.empty() || count.find_first_not_of("0123456789") != std::string::npos || count.size() > 12) {
    throw std::invalid_argument("fault point \"" + spec + "\": expected NAME or NAME:N with N a positive integer");
  }
  armFaultKill(spec.substr(0, colon), std::stoll(count));
}

void faultPoint(const char* point) {
  if (!g_armed.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_point != point || --g_remaining > 0) return;
  // Say where, for the drill's log, then die at once: no destructors, no flushing, like a crash.
  const char prefix[] = "lorafa: fault injection: SIGKILL at ";
  (void)!::write(STDERR_FILENO, prefix, sizeof prefix - 1);
  (void)!::write(STDERR_FILENO, point, std::strlen(point));
  (void)!::write(STDERR_FILENO, "\n", 1);
  ::kill(::getpid(), SIGKILL);
  for (;;) ::pause();
}

} // namespace lorafa
