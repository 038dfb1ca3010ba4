#include "train/Checkpoint.h"

#include "io/AtomicFile.h"
#include "io/Sha256.h"
#include "io/SafetensorsFile.h"
#include "io/SafetensorsWriter.h"
#include "io/StrictJson.h"
#include "lorafa/FaultInjection.h"
#include "lorafa/FormatError.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
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

// The files every checkpoint holds, each listed in checksums.sha256.
const char* const kCheckpointFiles[] = {"optimizer.safetensors", "rng.safetensors", kStateFile, "weights.safetensors"};

std::string readSmallFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// checksums.sha256, strictly: "<64 lowercase hex>  <file name>" (or " *<name>", sha256sum's
// binary marker) per line, LF-terminated, each name a plain file name listed once.
std::map<std::string, std::string> parseChecksums(const std::string& text, const std::string& path) {
  std::map<std::string, std::string> sums;
  std::size_t begin = 0;
  int line = 0;
  while (begin < text.size()) {
    ++line;
    const std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) throw CheckpointCorruptError(path, "line " + std::to_string(line) + " is not terminated: the list is truncated");
    const std::string entry = text.substr(begin, end - begin);
    begin = end + 1;
    const bool wellFormed = entry.size() > 66 && entry.find_first_not_of("0123456789abcdef") == 64 && entry[64] == ' ' &&
                            (entry[65] == ' ' || entry[65] == '*');
    const std::string name = wellFormed ? entry.substr(66) : std::string();
    if (!wellFormed || name.find('/') != std::string::npos || name == "." || name == "..") {
      throw CheckpointCorruptError(path, "line " + std::to_string(line) +
                                             ": expected \"<64 hex digits>  <file name>\", found \"" + entry.substr(0, 100) + "\"");
    }
    if (!sums.emplace(name, entry.substr(0, 64)).second) {
      throw CheckpointCorruptError(path, "line " + std::to_string(line) + ": " + name + " is listed twice");
    }
  }
  return sums;
}

void removeStalePartials(const fs::path& checkpointsDir) {
  std::error_code ec;
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(checkpointsDir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(".partial-", 0) != 0) continue;
    // ".partial-<step folder>-<pid>-<random>": the pid is the second field from the end.
    const std::size_t last = name.rfind('-');
    const std::size_t before = last == std::string::npos || last == 0 ? std::string::npos : name.rfind('-', last - 1);
    long pid = 0;
    try {
      if (before != std::string::npos) pid = std::stol(name.substr(before + 1, last - before - 1));
    } catch (const std::exception&) {
      pid = 0;
    }
    if (pid == ::getpid() || processIsAlive(pid)) continue;
    stale.push_back(entry.path());
  }
  for (const fs::path& p : stale) fs::remove_all(p, ec);
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
  cleanUpInterruptedWrites(target.parent_path().string());
  std::random_device random;
  const fs::path temp = target.parent_path() / (".partial-" + target.filename().string() + "-" +
                                                std::to_string(::getpid()) + "-" + std::to_string(random()));
  fs::create_directories(temp);
  try {
    writeSafetensors((temp / "weights.safetensors").string(), data.weights);
    faultPoint("checkpoint.after-weights");
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
    // Declares the checksum list, so a checkpoint that lacks it is known to be damaged rather
    // than taken for one written before checksums existed.
    state["checksums"] = kCheckpointChecksumsFile;
    const std::string text = state.dump(2) + "\n";
    writeFileAtomically((temp / kStateFile).string(), [&](std::FILE* f) { std::fwrite(text.data(), 1, text.size(), f); });
    faultPoint("checkpoint.before-checksums");
    // Last: the checksums of the files as they are on disk (each already fsync'ed). A folder
    // without a valid list is incomplete.
    std::string sums;
    for (const char* name : kCheckpointFiles) sums += Sha256::hexOfFile((temp / name).string()) + "  " + name + "\n";
    writeFileAtomically((temp / kCheckpointChecksumsFile).string(), [&](std::FILE* f) { std::fwrite(sums.data(), 1, sums.size(), f); });
    fsyncPath(temp);
    faultPoint("checkpoint.before-swap");
    if (fs::exists(target)) {
      // Same step written again (a resumed run re-saving its last step): swap the two folders in
      // one step, then drop the old copy, now under the temporary name.
      if (!exchangePaths(temp.string(), target.string())) {
        // A file system that cannot exchange: move the old copy aside first, so that a crash in
        // between leaves one complete copy under one of the two names (cleanUpInterruptedWrites
        // puts it back).
        const fs::path old = target.parent_path() / (".old-" + target.filename().string());
        fs::remove_all(old);
        fs::rename(target, old);
        fs::rename(temp, target);
        fsyncPath(target.parent_path());
        fs::remove_all(old);
      }
    } else {
      fs::rename(temp, target);
    }
    fsyncPath(target.parent_path());
    std::error_code ignored;
    fs::remove_all(temp, ignored);
    faultPoint("checkpoint.committed");
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(temp, ignored);
    throw;
  }
}

CheckpointIntegrity verifyCheckpoint(const std::string& directory) {
  const fs::path dir(directory);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw FormatError(directory, fs::exists(dir, ec) ? "not a folder" : "no such checkpoint folder");
  const fs::path listPath = dir / kCheckpointChecksumsFile;
  if (!fs::exists(listPath, ec)) {
    // Without a list: a checkpoint from before checksums existed, unless its state declares one.
    const std::string state = readSmallFile(dir / kStateFile);
    if (state.find(std::string("\"checksums\"")) != std::string::npos) {
      throw CheckpointCorruptError(listPath.string(), std::string("missing, although ") + kStateFile + " of checkpoint " + directory +
                                                          " declares it: the checkpoint is incomplete or damaged");
    }
    return CheckpointIntegrity::Unverified;
  }
  const std::string listText = readSmallFile(listPath);
  const std::map<std::string, std::string> sums = parseChecksums(listText, listPath.string());
  for (const char* name : kCheckpointFiles) {
    if (sums.count(name) == 0) {
      throw CheckpointCorruptError(listPath.string(), std::string("does not list ") + name + ", which every checkpoint holds");
    }
  }
  for (const auto& [name, expected] : sums) {
    const fs::path file = dir / name;
    if (!fs::is_regular_file(file, ec)) {
      throw CheckpointCorruptError(file.string(), "missing from checkpoint " + directory + " (listed in " + kCheckpointChecksumsFile + ")");
    }
    std::string found;
    try {
      found = Sha256::hexOfFile(file.string());
    } catch (const std::system_error& e) {
      throw CheckpointCorruptError(file.string(), std::string("cannot be read to verify it: ") + e.what());
    }
    if (found != expected) {
      throw CheckpointCorruptError(file.string(), "checksum mismatch in checkpoint " + directory + ": SHA-256 expected " + expected +
                                                      " (from " + kCheckpointChecksumsFile + "), found " + found +
                                                      "; the file is damaged");
    }
  }
  return CheckpointIntegrity::Verified;
}

CheckpointData readCheckpoint(const std::string& directory) {
  const CheckpointIntegrity integrity = verifyCheckpoint(directory);
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
  data.integrity = integrity;
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
    // Renamed out of the step-* names first (one atomic rename), then deleted: a kill in the
    // middle of the deletion leaves a `.pruned-*` folder, never a step folder that has lost some
    // of its files (it would look like a damaged checkpoint).
    const fs::path doomed = folders[i].second.parent_path() / (".pruned-" + folders[i].second.filename().string());
    fs::remove_all(doomed, ec);
    fs::rename(folders[i].second, doomed, ec);
    if (!ec) faultPoint("checkpoint.pruning");
    fs::remove_all(ec ? folders[i].second : doomed, ec);
  }
  cleanUpInterruptedWrites(checkpointsDir);
}

void cleanUpInterruptedWrites(const std::string& checkpointsDir) {
  const fs::path dir(checkpointsDir);
  removeStalePartials(dir);
  std::error_code ec;
  std::vector<fs::path> olds;
  std::vector<fs::path> pruned;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(".old-step-", 0) == 0) olds.push_back(entry.path());
    if (name.rfind(".pruned-", 0) == 0) pruned.push_back(entry.path());
  }
  for (const fs::path& p : pruned) fs::remove_all(p, ec);
  for (const fs::path& old : olds) {
    const fs::path step = dir / old.filename().string().substr(5);
    if (!fs::exists(step, ec)) fs::rename(old, step, ec);
    else fs::remove_all(old, ec);
  }
}

IntactCheckpoint newestIntactCheckpointIn(const std::string& outputDir) {
  const fs::path checkpointsDir = fs::path(outputDir) / "checkpoints";
  std::error_code ec;
  std::vector<std::pair<std::int64_t, fs::path>> folders;
  for (const auto& entry : fs::directory_iterator(checkpointsDir, ec)) {
    std::int64_t step = 0;
    if (entry.is_directory() && isStepFolder(entry.path(), &step)) folders.emplace_back(step, entry.path());
  }
  std::sort(folders.begin(), folders.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  IntactCheckpoint result;
  for (const auto& [step, folder] : folders) {
    try {
      result.integrity = verifyCheckpoint(folder.string());
      result.directory = folder.string();
      return result;
    } catch (const FormatError& e) {
      result.rejected.push_back(e.what());
    }
  }
  return result;
}

} // namespace lorafa
