// lorafa-bench-quality: the quality study of docs/QUALITY.md. Trains the bundled demo base model
// on each demo task with full fine-tuning, LoRA, LoRA-FA and LoRA-FA with the projected B update,
// over ranks, A initialisations and seeds, and evaluates every run on the task's held-out test
// file. Each run appends one JSON line to the results file, so an interrupted study continues
// where it stopped; the summary (mean ± sample standard deviation over seeds) is printed as a
// Markdown table.
#include "lorafa/AdapterConfig.h"
#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/EngineInfo.h"
#include "lorafa/RunConfig.h"
#include "train/Trainer.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <set>
#include <optional>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

using namespace lorafa;
namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

namespace {

/// One cell of the grid: a task's base configuration with these settings.
struct Cell {
  std::string task;   ///< spam, kjv, moby
  std::string method; ///< full, lora, lora-fa, lora-fa-projected
  int rank = 0;       ///< 0 for full
  std::string init;   ///< empty for full
  int seed = 0;

  std::string key() const {
    return task + "|" + method + "|" + std::to_string(rank) + "|" + init + "|" + std::to_string(seed);
  }
  std::string group() const { return task + "|" + method + "|" + std::to_string(rank) + "|" + init; }
};

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

/// The grid of docs/QUALITY.md: for every task and seed, full fine-tuning, and LoRA, LoRA-FA and
/// projected LoRA-FA with the default (Kaiming-uniform) A. Tasks in `fullGridTasks` take every
/// rank and LoRA-FA with the other A initialisations at `initRank`; the others `initRank` only.
std::vector<Cell> grid(const std::vector<std::string>& tasks, const std::set<std::string>& fullGridTasks,
                       const std::vector<int>& ranks, int initRank, const std::vector<std::string>& inits,
                       const std::vector<int>& seeds) {
  std::vector<Cell> cells;
  for (const std::string& task : tasks) {
    const bool fullGrid = fullGridTasks.count(task) > 0;
    for (int seed : seeds) {
      cells.push_back({task, "full", 0, "", seed});
      for (const char* method : {"lora", "lora-fa", "lora-fa-projected"}) {
        for (int rank : fullGrid ? ranks : std::vector<int>{initRank}) {
          cells.push_back({task, method, rank, "kaiming-uniform", seed});
        }
      }
      if (!fullGrid) continue;
      for (const std::string& init : inits) {
        if (init != "kaiming-uniform") cells.push_back({task, "lora-fa", initRank, init, seed});
      }
    }
  }
  return cells;
}

RunConfig configFor(const Cell& cell, const fs::path& configDir, const fs::path& scratch) {
  // The task's LoRA-FA demo configuration is the base, so the study measures what a user runs.
  RunConfig c = loadRunConfig((configDir / ("demo-" + cell.task + "-lora-fa.yaml")).string());
  c.name = "quality " + cell.key();
  c.outputDir = (scratch / "run").string();
  c.train.seed = static_cast<std::uint64_t>(cell.seed);
  if (cell.method == "full") {
    // Full fine-tuning takes the full demo's settings (a lower learning rate).
    const RunConfig full = loadRunConfig((configDir / ("demo-" + cell.task + "-full.yaml")).string());
    c.adapter = full.adapter;
    c.optim = full.optim;
  } else {
    c.adapter.method = cell.method == "lora" ? TrainMethod::Lora : TrainMethod::LoraFa;
    c.adapter.rank = cell.rank;
    // rsLoRA scaling s = alpha/√r with alpha 8 (s = 2 at rank 16, as the demos): the size of an
    // update then does not grow with the rank, so one learning rate serves every rank. (With
    // s = alpha/r fixed, Adam's per-entry steps make ΔW grow like √r, and rank 64 diverged at
    // the learning rates that suit rank 4.)
    c.adapter.useRslora = true;
    c.adapter.alpha = 8.0;
    const std::optional<LoraInit> init = parseLoraInit(cell.init);
    if (!init) throw std::invalid_argument("--inits: unknown A initialisation \"" + cell.init + "\"");
    c.adapter.init = *init;
    c.optim.projectedB = cell.method == "lora-fa-projected";
    if (cell.method == "lora") {
      const RunConfig lora = loadRunConfig((configDir / ("demo-" + cell.task + "-lora.yaml")).string());
      c.optim = lora.optim;
    }
  }
  c.train.saveEvery = 0;
  // Evaluated at the end of the run only (the study turns the baseline off; evalEvery 0 would
  // also evaluate at an epoch end, which these runs do not reach before their last step).
  c.train.evalEvery = c.train.maxSteps;
  return c;
}

struct Summary {
  std::vector<double> primary, secondary, peakMiB, seconds;
};

std::string meanStd(const std::vector<double>& v, int digits) {
  if (v.empty()) return "—";
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  const double sd = v.size() > 1 ? std::sqrt(var / static_cast<double>(v.size() - 1)) : 0.0;
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << mean;
  if (v.size() > 1) out << " ± " << sd; // one value (a memory run): no spread to show
  return out.str();
}

std::string groupOf(const Json& r) {
  return r["task"].get<std::string>() + "|" + r["method"].get<std::string>() + "|" + std::to_string(r["rank"].get<int>()) +
         "|" + r["init"].get<std::string>();
}

void printSummary(const std::vector<Json>& results, std::ostream& out) {
  // Peak memory from the runs themselves when they measured it, else from --memory-steps runs.
  std::map<std::string, std::vector<double>> memoryRuns;
  for (const Json& r : results) {
    if (r.value("kind", "") == "memory") memoryRuns[groupOf(r)].push_back(r["peak_bytes"].get<double>() / (1024.0 * 1024.0));
  }
  std::map<std::string, Summary> groups;
  std::vector<std::string> order;
  for (const Json& r : results) {
    if (r.value("kind", "") == "memory") continue;
    const std::string task = r["task"];
    const std::string group = groupOf(r);
    if (!groups.count(group)) order.push_back(group);
    Summary& s = groups[group];
    const Json& m = r["metrics"];
    if (task == "spam") {
      s.primary.push_back(100.0 * m.value("eval/accuracy", NAN));
      s.secondary.push_back(100.0 * m.value("eval/f1", NAN));
    } else if (task == "kjv") {
      s.primary.push_back(100.0 * m.value("eval/exact_match", NAN));
      s.secondary.push_back(m.value("eval/loss", NAN));
    } else {
      s.primary.push_back(m.value("eval/perplexity", NAN));
      s.secondary.push_back(m.value("eval/loss", NAN));
    }
    if (r["peak_bytes"].get<double>() > 0) s.peakMiB.push_back(r["peak_bytes"].get<double>() / (1024.0 * 1024.0));
    s.seconds.push_back(r["seconds"].get<double>());
  }
  for (auto& [group, s] : groups) {
    if (s.peakMiB.empty() && memoryRuns.count(group)) s.peakMiB = memoryRuns[group];
  }
  std::string currentTask;
  for (const std::string& group : order) {
    const std::string task = group.substr(0, group.find('|'));
    if (task != currentTask) {
      currentTask = task;
      const char* headers = task == "spam"  ? "accuracy % | macro-F1 %"
                            : task == "kjv" ? "exact match % | eval loss"
                                            : "perplexity | eval loss";
      out << "\n### " << (task == "spam" ? "Classification: SpamAssassin spam/ham (test: 500 messages)"
                          : task == "kjv" ? "Instruction: KJV verse → book (test: 300 verses)"
                                          : "Domain adaptation: Moby-Dick (test: chapters 121–135 + epilogue)")
          << "\n\n| method | rank | A init | " << headers << " | peak MiB | seconds | runs |\n|---|---|---|---|---|---|---|---|\n";
    }
    const Summary& s = groups[group];
    std::vector<std::string> parts;
    std::stringstream in(group);
    std::string item;
    while (std::getline(in, item, '|')) parts.push_back(item);
    const bool full = parts[1] == "full";
    out << "| " << parts[1] << " | " << (full ? "—" : parts[2]) << " | " << (full ? "—" : parts[3]) << " | "
        << meanStd(s.primary, task == "moby" ? 2 : 1) << " | " << meanStd(s.secondary, task == "spam" ? 1 : 3) << " | "
        << meanStd(s.peakMiB, 0) << " | " << meanStd(s.seconds, 0) << " | " << s.primary.size() << " |\n";
  }
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"lorafa-bench-quality: full vs LoRA vs LoRA-FA on the bundled demo tasks (docs/QUALITY.md)"};
  std::string configDir = std::string(LORAFA_SOURCE_DIR) + "/resources/examples";
  std::vector<std::string> resultsPaths;
  int memorySteps = 0;
  std::string tasks = "spam,kjv,moby";
  std::string ranks = "4,16,64";
  std::string inits = "kaiming-uniform,gaussian,orthogonal";
  std::string seeds = "1,2,3";
  std::string fullGridTasks = "spam";
  int initRank = 16;
  bool summaryOnly = false;
  int threads = 0;
  app.add_option("--configs", configDir, "folder with demo-<task>-{lora-fa,lora,full}.yaml");
  app.add_option("--results", resultsPaths, "JSON Lines file the runs are appended to (and read back); more files: read too")
      ->required();
  app.add_option("--memory-steps", memorySteps,
                 "measure peak memory only: each configuration (first seed) runs this many steps without evaluation");
  app.add_option("--tasks", tasks, "comma-separated: spam, kjv, moby");
  app.add_option("--ranks", ranks, "comma-separated adapter ranks");
  app.add_option("--inits", inits, "A initialisations compared for LoRA-FA at --init-rank");
  app.add_option("--init-rank", initRank, "rank of the A-initialisation comparison");
  app.add_option("--seeds", seeds, "comma-separated seeds");
  app.add_option("--full-grid", fullGridTasks, "tasks that take every rank and A initialisation (others: --init-rank)");
  app.add_flag("--summary-only", summaryOnly, "print the table of the results file, train nothing");
  app.add_option("--threads", threads, "compute threads (0: all cores); two studies at 1 thread each use 2 cores best");
  app.footer("Example: lorafa-bench-quality --tasks spam --results bench/quality/results/spam.jsonl\n"
             "         lorafa-bench-quality --summary-only --results a.jsonl --results b.jsonl");
  CLI11_PARSE(app, argc, argv);

  configureComputeThreads(threads);
  std::vector<int> rankList, seedList;
  for (const std::string& r : split(ranks)) rankList.push_back(std::stoi(r));
  for (const std::string& s : split(seeds)) seedList.push_back(std::stoi(s));

  const std::string resultsPath = resultsPaths.front();
  CpuMemoryTracker::instance().install(); // peak memory figures on the CPU
  if (memorySteps > 0) seedList.resize(1);

  std::vector<Json> results;
  std::set<std::string> done;
  for (const std::string& path : resultsPaths) {
    std::ifstream in(path);
    std::string line;
    std::size_t lineNumber = 0;
    while (std::getline(in, line)) {
      ++lineNumber;
      if (line.empty()) continue;
      try {
        Json r = Json::parse(line);
        if (path == resultsPath) done.insert(r["key"].get<std::string>());
        results.push_back(std::move(r));
      } catch (const std::exception& e) {
        std::cerr << path << ":" << lineNumber << ": not a result line (" << e.what() << "); ignored\n";
      }
    }
  }

  if (!summaryOnly) {
    const std::vector<std::string> fullGrid = split(fullGridTasks);
    const std::vector<Cell> cells = grid(split(tasks), std::set<std::string>(fullGrid.begin(), fullGrid.end()), rankList,
                                         initRank, split(inits), seedList);
    const fs::path scratch = fs::temp_directory_path() / ("lorafa-quality-" + std::to_string(::getpid()));
    std::size_t index = 0;
    const auto studyStart = std::chrono::steady_clock::now();
    std::size_t ran = 0;
    for (const Cell& cell : cells) {
      ++index;
      if (done.count(cell.key())) continue;
      fs::remove_all(scratch);
      fs::create_directories(scratch);
      RunConfig config = configFor(cell, configDir, scratch);
      if (memorySteps > 0) {
        // The peak of a training step does not depend on the seed or on how long the run goes on.
        config.train.maxSteps = memorySteps;
        config.dataset.evalPath.clear();
        config.dataset.validationFraction = 0.0;
      }
      const auto started = std::chrono::steady_clock::now();
      TrainerOptions options;
      options.baselineEvaluation = false; // the table reports the final evaluation only
      Trainer trainer(config, nullptr, options);
      trainer.setup();
      const TrainResult result = trainer.run();
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      if (result.state != TrainerState::Completed) {
        std::cerr << "run " << cell.key() << " did not complete: " << result.message << "\n";
        return 1;
      }
      Json r;
      r["key"] = cell.key();
      r["task"] = cell.task;
      r["method"] = cell.method;
      r["rank"] = cell.rank;
      r["init"] = cell.init;
      r["seed"] = cell.seed;
      r["steps"] = result.steps;
      r["seconds"] = seconds;
      r["peak_bytes"] = result.peakMemoryBytes;
      r["metrics"] = result.finalMetrics;
      if (memorySteps > 0) r["kind"] = "memory";
      r["engine"] = formatEngineInfo(queryEngineInfo());
      std::ofstream out(resultsPath, std::ios::app);
      out << r.dump() << "\n";
      out.flush();
      if (!out) {
        std::cerr << resultsPath << ": cannot append the result\n";
        return 1;
      }
      results.push_back(r);
      ++ran;
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - studyStart).count();
      std::size_t left = 0;
      for (std::size_t i = index; i < cells.size(); ++i) left += done.count(cells[i].key()) ? 0 : 1;
      std::cerr << "[" << index << "/" << cells.size() << "] " << cell.key() << ": " << r["metrics"].dump() << " ("
                << std::fixed << std::setprecision(0) << seconds << " s; about " << elapsed / ran * left / 60.0
                << " min left)\n";
    }
    fs::remove_all(scratch);
  }
  printSummary(results, std::cout);
  return 0;
}
