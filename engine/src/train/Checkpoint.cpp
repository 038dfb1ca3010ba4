#include "train/Checkpoint.h"

#include "io/AtomicFile.h"
#include "io/SafetensorsFile.h"
#include "io/SafetensorsWriter.h"
#include "io/StrictJson.h"
#include "lorafa/FormatError.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace lorafa {
namespace {

constexpr int kFormatVersion = 1;
const char* kStateFile = "trainer_state.json";

void fsyncPath(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

NamedTensors loadAll(const std::string& path) {
  if (!fs::exists(path)) throw FormatError(path, "missing from the checkpoint");
  const auto file = SafetensorsFile::open(path);
  NamedTensors out;
  for (const SafetensorsTensorInfo& info : file->tensors()) out.emplace_back(info.name, file->load(info.name).clone());
  return out;
}

bool isStepFolder(const fs::path& p, std::int64_t* step) {
  const std::string name = p.filename().string();
  if (name.rfind("step-", 0) != 0 || name.size() <= 5) return false;
  if (name.find_first_not_of("0123456789", 5) != std::string::npos) return false;
  if (!fs::exists(p / kStateFile)) return false;
  *step = std::stoll(name.substr(5));
  return true;
}

} // namespace

void writeCheckpoint(const std::string& directory, const CheckpointData& data) {
  const fs::path target(directory);
  fs::create_directories(target.parent_path());
  std::random_device random;
  const fs::path temp = target.parent_path() / (".partial-" + target.filename().string() + "-" +
                                                std::to_string(::getpid()) + "-" + std::to_string(random()));
  fs::create_directories(temp);
  try {
    writeSafetensors((temp / "weights.safetensors").string(), data.weights);
    writeSafetensors((temp / "optimizer.safetensors").string(), data.optimizerState);
    writeSafetensors((temp / "rng.safetensors").string(), data.rngStates);
    nlohmann::ordered_json state;
    state["format_version"] = kFormatVersion;
    state["step"] = data.position.step;
    state["epoch"] = data.position.epoch;
    state["batch_in_epoch"] = data.position.batchInEpoch;
    // JSON has no infinity: no evaluation yet is written as null.
    state["best_eval_loss"] = std::isfinite(data.position.bestEvalLoss) ? nlohmann::ordered_json(data.position.bestEvalLoss)
                                                                        : nlohmann::ordered_json(nullptr);
    state["evals_without_improvement"] = data.position.evalsWithoutImprovement;
    state["optimizer_step"] = data.optimizerStep;
    if (data.lossScale > 0.0) {
      state["loss_scale"] = {{"scale", data.lossScale}, {"growth_tracker", data.lossScaleGrowthTracker}};
    }
    state["config"] = data.configJson;
    const std::string text = state.dump(2) + "\n";
    writeFileAtomically((temp / kStateFile).string(), [&](std::FILE* f) { std::fwrite(text.data(), 1, text.size(), f); });
    fsyncPath(temp);
    // A folder cannot be renamed over a non-empty one: move the old copy aside first, so that a
    // crash in between leaves one complete copy under one of the two names.
    const fs::path old = target.parent_path() / (".old-" + target.filename().string());
    if (fs::exists(target)) {
      fs::remove_all(old);
      fs::rename(target, old);
    }
    fs::rename(temp, target);
    fsyncPath(target.parent_path());
    fs::remove_all(old);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(temp, ignored);
    throw;
  }
}

CheckpointData readCheckpoint(const std::string& directory) {
  const fs::path dir(directory);
  const std::string statePath = (dir / kStateFile).string();
  std::ifstream in(statePath, std::ios::binary);
  if (!in) throw FormatError(statePath, "missing or unreadable: not a complete checkpoint folder");
  std::ostringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  const nlohmann::ordered_json state = parseJsonStrictly(s.data(), s.data() + s.size(), statePath, "trainer state");
  CheckpointData data;
  try {
    if (state.at("format_version").get<int>() != kFormatVersion) {
      throw FormatError(statePath, "format_version " + state.at("format_version").dump() + " is not supported (expected " +
                                       std::to_string(kFormatVersion) + ")");
    }
    data.position.step = state.at("step").get<std::int64_t>();
    data.position.epoch = state.at("epoch").get<std::int64_t>();
    data.position.batchInEpoch = state.at("batch_in_epoch").get<std::int64_t>();
    const auto& best = state.at("best_eval_loss");
    data.position.bestEvalLoss = best.is_null() ? std::numeric_limits<double>::infinity() : best.get<double>();
    data.position.evalsWithoutImprovement = state.at("evals_without_improvement").get<std::int64_t>();
    data.optimizerStep = state.at("optimizer_step").get<std::int64_t>();
    if (state.contains("loss_scale")) {
      data.lossScale = state.at("loss_scale").at("scale").get<double>();
      data.lossScaleGrowthTracker = state.at("loss_scale").at("growth_tracker").get<std::int64_t>();
    }
    data.configJson = state.at("config").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(statePath, std::string("malformed trainer state: ") + e.what());
  }
  data.weights = loadAll((dir / "weights.safetensors").string());
  data.optimizerState = loadAll((dir / "optimizer.safetensors").string());
  data.rngStates = loadAll((dir / "rng.safetensors").string());
  return data;
}

std::string checkpointFolder(const std::string& checkpointsDir, std::int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%08lld", static_cast<long long>(step));
  return (fs::path(checkpointsDir) / name).string();
}

std::optional<std::string> latestCheckpoint(const std::string& checkpointsDir) {
  std::error_code ec;
  std::optional<std::string> best;
  std::int64_t bestStep = -1;
  for (const auto& entry : fs::directory_iterator(checkpointsDir, ec)) {
    std::int64_t step = 0;
    if (entry.is_directory() && isStepFolder(entry.path(), &step) && step > bestStep) {
      bestStep = step;
      best = entry.path().string();
    }
  }
  return best;
}

void pruneCheckpoints(const std::string& checkpointsDir, std::int64_t keepLast) {
  std::error_code ec;
  std::vector<std::pair<std::int64_t, fs::path>> folders;
  for (const auto& entry : fs::directory_iterator(checkpointsDir, ec)) {
    std::int64_t step = 0;
    if (entry.is_directory() && isStepFolder(entry.path(), &step)) folders.emplace_back(step, entry.path());
  }
  std::sort(folders.begin(), folders.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = static_cast<std::size_t>(std::max<std::int64_t>(keepLast, 1)); i < folders.size(); ++i) {
    fs::remove_all(folders[i].second, ec);
  }
}

} // namespace lorafa
