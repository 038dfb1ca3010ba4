#include "ModelsCommand.h"

#include "ProgressBar.h"
#include "TrainCommand.h"
#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/FormatError.h"
#include "lorafa/HubDownload.h"
#include "lorafa/ModelLibrary.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace lorafa::cli {
namespace {

std::atomic<bool> g_pullStopRequested{false};

extern "C" void onPullStopSignal(int) { g_pullStopRequested = true; }

std::string libraryPath(const ModelsOptions& options) {
  return options.libraryPath.empty() ? defaultModelLibraryPath(std::getenv("XDG_DATA_HOME"), std::getenv("HOME"))
                                     : options.libraryPath;
}

/// "0.60B", "124.44M": a model's size at a glance.
std::string parameterCount(std::int64_t n) {
  if (n <= 0) return "-";
  char text[32];
  if (n >= 1'000'000'000) std::snprintf(text, sizeof text, "%.2fB", static_cast<double>(n) / 1e9);
  else if (n >= 1'000'000) std::snprintf(text, sizeof text, "%.2fM", static_cast<double>(n) / 1e6);
  else std::snprintf(text, sizeof text, "%.1fk", static_cast<double>(n) / 1e3);
  return text;
}

std::string padded(const std::string& text, std::size_t width) {
  return text.size() >= width ? text + " " : text + std::string(width - text.size(), ' ');
}

nlohmann::json toJson(const LibraryModel& m) {
  return {{"source", toString(m.source)}, {"repo_id", m.repoId},   {"revision", m.revision},
          {"commit", m.commit},           {"path", m.path},        {"added_folder", m.addedFolder},
          {"family", m.family},           {"parameters", m.parameters}, {"dtype", m.dtype},
          {"size_bytes", m.sizeBytes},    {"supported", m.supported},   {"unsupported_reason", m.unsupportedReason}};
}

/// A progress bar redrawn in place on a terminal; otherwise a line per second and per file.
class PullPrinter : public HubPullObserver {
public:
  PullPrinter(std::ostream& out, bool terminal) : m_out(out), m_terminal(terminal) {}
  ~PullPrinter() override { endBar(); }
  void onProgress(const HubPullProgress& p) override {
    const std::string where = " [" + std::to_string(p.fileIndex) + "/" + std::to_string(p.fileCount) + "] " + p.file;
    if (m_terminal) {
      m_bar.draw(progressBar(p.bytesDone, p.bytesTotal) + " " + describeProgress(p) + where);
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    const bool fileDone = p.fileBytesDone == p.fileBytesTotal;
    if (!fileDone && now - m_lastLine < std::chrono::seconds(1)) return;
    m_lastLine = now;
    m_out << "pull " << describeProgress(p) << where << (fileDone ? " done" : "") << "\n" << std::flush;
  }
  void onNote(const std::string& message) override {
    endBar();
    m_out << "note: " << message << "\n" << std::flush;
  }
  bool shouldStop() override { return g_pullStopRequested; }

private:
  void endBar() { m_bar.end(); }
  std::ostream& m_out;
  bool m_terminal;
  InPlaceLine m_bar{m_out};
  std::chrono::steady_clock::time_point m_lastLine{};
};

} // namespace

int runModelsList(const ModelsOptions& options, std::ostream& out, std::ostream& err) {
  try {
    const HubSettings hub = hubSettingsFromProcessEnvironment();
    const ModelLibraryFolders folders = ModelLibraryFolders::load(libraryPath(options));
    const std::vector<LibraryModel> models = scanModelLibrary(hub.cacheDir, folders.folders());
    if (options.json) {
      nlohmann::json list = nlohmann::json::array();
      for (const LibraryModel& m : models) list.push_back(toJson(m));
      out << list.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      return kExitOk;
    }
    out << "hub cache: " << hub.cacheDir << "\nlibrary folders: " << folders.path() << " (" << folders.folders().size()
        << ")\n";
    if (models.empty()) {
      out << "no models yet: `lorafa models pull ORG/NAME` downloads one, `lorafa models add DIR` adds a folder\n";
      return kExitOk;
    }
    out << padded("MODEL", 36) << padded("REVISION", 12) << padded("FAMILY", 12) << padded("PARAMS", 9) << padded("DTYPE", 6)
        << padded("SIZE", 12) << "SUPPORTED\n";
    for (const LibraryModel& m : models) {
      const std::string revision = m.revision.size() > 11 ? m.revision.substr(0, 11) : m.revision;
      out << padded(m.repoId, 36) << padded(revision.empty() ? "-" : revision, 12)
          << padded(m.family.empty() ? "-" : m.family, 12) << padded(parameterCount(m.parameters), 9)
          << padded(m.dtype.empty() ? "-" : m.dtype, 6) << padded(formatBytes(m.sizeBytes), 12)
          << (m.supported ? "yes" : "no") << "\n"
          << "    " << m.path << "\n";
      if (!m.supported) out << "    why not: " << m.unsupportedReason << "\n";
    }
    return kExitOk;
  } catch (const std::exception& e) {
    err << "lorafa: error: " << e.what() << "\n";
    return kExitFailed;
  }
}

int runModelsAdd(const ModelsOptions& options, std::ostream& out, std::ostream& err) {
  try {
    ModelLibraryFolders folders = ModelLibraryFolders::load(libraryPath(options));
    if (!folders.add(options.folder)) {
      out << "already in the library: " << options.folder << "\n";
      return kExitOk;
    }
    folders.save();
    out << "added " << folders.folders().back() << " (" << folders.path() << ")\n";
    return kExitOk;
  } catch (const std::invalid_argument& e) {
    err << "lorafa: error: " << e.what() << "\n";
    return kExitBadConfig;
  } catch (const std::exception& e) {
    err << "lorafa: error: " << e.what() << "\n";
    return kExitFailed;
  }
}

int runModelsRemove(const ModelsOptions& options, std::ostream& out, std::ostream& err) {
  try {
    ModelLibraryFolders folders = ModelLibraryFolders::load(libraryPath(options));
    if (!folders.remove(options.folder)) {
      err << "lorafa: error: " << options.folder << " is not in the library (" << folders.path()
          << "); `lorafa models list` shows the folders\n";
      return kExitBadConfig;
    }
    folders.save();
    out << "removed " << options.folder << " (its files stay on disk)\n";
    return kExitOk;
  } catch (const std::exception& e) {
    err << "lorafa: error: " << e.what() << "\n";
    return kExitFailed;
  }
}

int runModelsPull(const ModelsOptions& options, std::ostream& out, std::ostream& err, bool terminal) {
  HubPullOptions pull;
  pull.repoId = options.repoId;
  pull.revision = options.revision;
  pull.includePatterns = options.include;
  pull.hub = hubSettingsFromProcessEnvironment();
  g_pullStopRequested = false;
  std::signal(SIGINT, onPullStopSignal);
  std::signal(SIGTERM, onPullStopSignal);
  out << "pull " << pull.repoId << " @ " << pull.revision << " from " << pull.hub.endpoint << " into " << pull.hub.cacheDir
      << (pull.hub.token.empty() ? std::string() : " (token from " + pull.hub.tokenSource + ")") << "\n"
      << std::flush;
  try {
    PullPrinter printer(out, terminal);
    const HubPullResult result = pullFromHub(pull, &printer);
    if (result.stopped) {
      err << "lorafa: stopped; partial downloads are kept as blobs/*.incomplete: run the same command again to resume\n";
      return kExitStopped;
    }
    out << "commit " << result.commit << "\n"
        << "files: " << result.files.size() << ", downloaded " << formatBytes(result.bytesDownloaded) << "\n";
    if (!result.skipped.empty() && options.include.empty()) {
      out << "skipped " << result.skipped.size() << " weight files in formats this build does not load (e.g. "
          << result.skipped.front() << "); --include '*' downloads everything\n";
    }
    out << "snapshot: " << result.snapshotDir << "\n";
    return kExitOk;
  } catch (const HubError& e) {
    err << "lorafa: error: " << e.what() << "\n";
    const bool request = e.kind() == HubError::Kind::Unauthorized || e.kind() == HubError::Kind::NotFound ||
                         e.kind() == HubError::Kind::BadRequest;
    return request ? kExitBadConfig : kExitFailed;
  } catch (const std::exception& e) {
    err << "lorafa: error: " << e.what() << "\n";
    return kExitFailed;
  }
}

} // namespace lorafa::cli
