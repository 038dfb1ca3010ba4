// exportRun and mergePeftAdapter: rebuild, write aside, rename into place, re-load and compare.
#include "lorafa/AdapterImport.h"
#include "lorafa/Export.h"

#include "export/LogitCheck.h"
#include "export/MergedCheckpoint.h"
#include "export/PeftAdapter.h"
#include "export/RunModel.h"
#include "export/StagedFolder.h"
#include "lorafa/FormatError.h"
#include "lorafa/TrainingSession.h"
#include "lorafa/Version.h"
#include "models/ModelFactory.h"

#include <c10/core/GradMode.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

namespace fs = std::filesystem;

namespace lorafa {

const char* toString(ExportKind kind) { return kind == ExportKind::Adapter ? "adapter" : "merged"; }

bool needsForce(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return false;
  if (!fs::is_directory(path, ec)) return true;
  return !fs::is_empty(path, ec);
}

namespace {

void progress(ExportObserver* observer, const std::string& message, double fraction) {
  if (observer) observer->onProgress(message, fraction);
}

std::string number(double value) {
  std::ostringstream out;
  out.precision(3);
  out << value;
  return out.str();
}

// Compares the reference logits with the re-loaded export's.
ExportVerification compare(const std::vector<at::Tensor>& reference, const std::vector<at::Tensor>& reloaded,
                           const std::string& what, const std::string& storedDtype) {
  ExportVerification v;
  v.done = true;
  v.prompts = static_cast<std::int64_t>(reference.size());
  v.maxAbsLogitDiff = maxAbsDifference(reference, reloaded, &v.maxAbsLogit);
  // fp32 reassociation (x·(W + sBA)ᵀ against x·Wᵀ + s·(x·Aᵀ)·Bᵀ) moves logits by a few ulps of
  // their size: the tolerance scales with the largest logit.
  v.tolerance = 1e-5 * std::max(1.0, v.maxAbsLogit);
  v.withinTolerance = v.maxAbsLogitDiff <= v.tolerance; // false for NaN
  std::string note = what + " re-loaded from disk against the trained model in memory, on " +
                     std::to_string(v.prompts) +
                     " fixed prompts: max |Δlogit| = " + number(v.maxAbsLogitDiff) + " (largest |logit| " +
                     number(v.maxAbsLogit) + ", fp32 tolerance " + number(v.tolerance) + ")";
  if (!std::isfinite(v.maxAbsLogitDiff)) {
    note += ". BEYOND TOLERANCE: NaN or infinite logits (in the export or the trained model); do not use it";
  } else if (!v.withinTolerance && (storedDtype == "BF16" || storedDtype == "F16")) {
    v.lowPrecisionRounding = true;
    note += ". Beyond the fp32 tolerance as expected: the base is stored in " + storedDtype +
            ", so the merged weights W + s·B·A are rounded to " + storedDtype +
            " (about 3 significant digits for BF16), which moves the logits; the adapter export keeps fp32 "
            "weights "
            "and reproduces the trained model exactly";
  } else if (!v.withinTolerance) {
    note += ". BEYOND TOLERANCE: the export does not reproduce the trained model; do not use it";
  } else {
    note += ": the export reproduces the trained model";
  }
  v.note = note;
  return v;
}

// The export is in place but could not be re-loaded or compared: a failed verification (the
// caller reports the files as written and the export as not to be trusted), not an exception
// that would read as "nothing was written".
ExportVerification failedVerification(const std::string& what, std::size_t prompts,
                                      const std::string& error) {
  ExportVerification v;
  v.done = true;
  v.prompts = static_cast<std::int64_t>(prompts);
  v.maxAbsLogitDiff = std::numeric_limits<double>::quiet_NaN();
  v.withinTolerance = false;
  v.note = "BEYOND TOLERANCE: the export was written, but re-loading the " + what +
           " to verify it failed: " + error + "; do not use it";
  return v;
}

std::vector<std::string> listFiles(const std::string& directory) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(directory))
    files.push_back(entry.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::string autoClassFor(const std::string& taskType) {
  if (taskType == "SEQ_CLS") return "AutoModelForSequenceClassification";
  if (taskType == "SEQ_2_SEQ_LM") return "AutoModelForSeq2SeqLM";
  return "AutoModelForCausalLM";
}

// A Markdown table cell: a "|" or a line break in a run name or path would end the cell or row.
std::string cell(const std::string& text) {
  std::string out;
  for (const char ch : text) {
    if (ch == '|') {
      out += "\\|";
    } else if (ch == '\n' || ch == '\r') {
      out += ' ';
    } else {
      out += ch;
    }
  }
  return out;
}

std::string modelCard(const TrainedRunModel& run, const PeftAdapterInfo& info, const ExportOptions& options) {
  const RunConfig& c = run.config;
  std::ostringstream card;
  // A YAML double-quoted scalar (JSON's string syntax): a path with ": " or "#" stays one value.
  card << "---\nbase_model: " << nlohmann::json(c.modelPath).dump()
       << "\nlibrary_name: peft\ntags:\n- lora\n";
  if (c.adapter.method == TrainMethod::LoraFa) card << "- lora-fa\n";
  card << "- lorafa-studio\n---\n\n";
  const std::string name = c.name.empty() ? fs::path(c.outputDir).filename().string() : c.name;
  card << "# " << name << "\n\n"
       << "A " << (c.adapter.method == TrainMethod::LoraFa ? "LoRA-FA" : "LoRA") << " adapter for `"
       << c.modelPath << "`, trained with LoRA-FA Studio " << versionString()
       << " and exported from the checkpoint at step " << run.step << ".\n\n";
  if (c.adapter.method == TrainMethod::LoraFa) {
    card << "LoRA-FA (arXiv 2308.03303) keeps the down-projection A frozen at its initial value and trains "
            "only B; "
            "the result is an ordinary LoRA adapter and loads wherever LoRA adapters load.\n\n";
  }
  card << "| setting | value |\n|---|---|\n"
       << "| method | " << toString(c.adapter.method) << " |\n"
       << "| task_type | " << info.taskType << " |\n"
       << "| r | " << c.adapter.rank << " |\n"
       << "| lora_alpha | " << c.adapter.alpha << " |\n"
       << "| scaling | " << c.adapter.scaling() << (c.adapter.useRslora ? " (rsLoRA)" : "") << " |\n"
       << "| adapted modules | " << info.adaptedModules.size() << " |\n"
       << "| dataset | " << cell(c.dataset.path) << " |\n"
       << "| learning rate | " << c.optim.learningRate << " |\n"
       << "| max sequence length | " << c.train.maxSeqLen << " |\n"
       << "| seed | " << c.train.seed << " |\n";
  for (const auto& [key, value] : options.runDetails)
    card << "| " << cell(key) << " | " << cell(value) << " |\n";
  card << "\n## Use with PEFT\n\n```python\nfrom peft import PeftModel\nfrom transformers import "
       << autoClassFor(info.taskType) << "\n\nbase = " << autoClassFor(info.taskType) << ".from_pretrained("
       << nlohmann::json(c.modelPath).dump()
       << ")\nmodel = PeftModel.from_pretrained(base, \"<this folder>\")\n```\n";
  return card.str();
}

// A target that is a file can never be replaced (--force would not help); a non-empty folder
// needs force. Both are known before the model is loaded.
void refuseEarly(const std::string& target, bool force) {
  std::error_code ec;
  if (fs::exists(target, ec) && !fs::is_directory(target, ec)) {
    throw ExportError(target + ": exists and is not a folder; choose a folder");
  }
  if (!force && needsForce(target)) {
    throw ExportError(target + ": the folder is not empty; confirm replacing its content (--force)");
  }
}

} // namespace

ExportResult exportRun(const RunConfig& config, const ExportOptions& options, ExportObserver* observer) {
  // Refuse before spending time on loading (StagedFolder checks again).
  refuseEarly(options.targetDir, options.force);
  std::string checkpoint = options.checkpointDir;
  if (checkpoint.empty()) {
    const auto latest = latestCheckpointIn(config.outputDir);
    if (!latest) {
      throw ExportError("the run has no checkpoint in " +
                        (fs::path(config.outputDir) / "checkpoints").string() +
                        " (a run saves one every train.save_every steps and at its end)");
    }
    checkpoint = *latest;
  }
  if (options.shardSizeBytes <= 0) throw ExportError("the shard size must be positive");
  progress(observer, "reading checkpoint " + checkpoint, 0.05);
  TrainedRunModel run = loadTrainedRunModel(checkpoint);
  const RunConfig& c = run.config;
  const bool adapters = c.adapter.method == TrainMethod::LoraFa || c.adapter.method == TrainMethod::Lora;
  if (options.kind == ExportKind::Adapter && !adapters) {
    throw ExportError(
        std::string("the run trained with method ") + toString(c.adapter.method) +
        ": every weight may have changed, so there is no adapter to export; export a merged checkpoint "
        "instead (--merged DIR)");
  }
  const std::string tokenizerPath = c.tokenizerPath.empty() ? c.modelPath : c.tokenizerPath;
  std::vector<std::vector<std::int64_t>> prompts;
  std::vector<at::Tensor> reference;
  if (options.verify) {
    progress(observer, "computing reference logits", 0.2);
    prompts = verificationPrompts(tokenizerPath, run.modelConfig);
    reference = promptLogits(*run.model, prompts);
  }
  StagedFolder staged(options.targetDir, options.force,
                      {c.modelPath, (fs::path(c.outputDir) / "checkpoints").string(), checkpoint,
                       c.tokenizerPath.empty() ? std::string() : c.tokenizerPath});
  ExportResult result;
  result.directory = staged.target();
  result.checkpointDir = checkpoint;
  std::string storedDtype = "F32";
  if (options.kind == ExportKind::Adapter) {
    PeftAdapterInfo info;
    info.baseModel = c.modelPath;
    info.taskType = peftTaskType(*run.model);
    info.adapter = c.adapter;
    info.adaptedModules = run.adaptedModules;
    info.modulesToSave = run.trainedHeads;
    info.fanInFanOut = run.modelConfig.family == ModelFamily::Gpt2; // Conv1D stores W as [in, out]
    info.metadata = options.runDetails;
    info.metadata["method"] = toString(c.adapter.method);
    info.metadata["studio_version"] = versionString();
    info.metadata["step"] = std::to_string(run.step);
    info.metadata["base_model"] = c.modelPath;
    info.modelCard = modelCard(run, info, options);
    progress(observer, "writing adapter_model.safetensors", 0.5);
    writePeftAdapter(*run.model, info, staged.path());
  } else {
    MergedCheckpointInfo info;
    info.baseDir = c.modelPath;
    info.tokenizerPath = c.tokenizerPath;
    info.labels = run.modelConfig.labels;
    info.shardSizeBytes = options.shardSizeBytes;
    progress(observer, "merging the adapters into the weights", 0.4);
    storedDtype = writeMergedCheckpoint(*run.model, info, staged.path(), observer).narrowestDtype;
  }
  progress(observer, "moving the export into place", 0.8);
  staged.commit();
  result.files = listFiles(result.directory);
  run.model.reset(); // the reference logits are all verification needs from it
  if (options.verify) {
    progress(observer, "verifying: re-loading the export", 0.85);
    const std::string what =
        options.kind == ExportKind::Adapter ? "base + exported adapter" : "merged checkpoint";
    try {
      std::vector<at::Tensor> reloaded;
      if (options.kind == ExportKind::Adapter) {
        auto base = loadRunBase(run);
        applyPeftAdapter(*base, loadPeftAdapter(result.directory), c.adapter.method);
        reloaded = promptLogits(*base, prompts);
      } else {
        auto merged = loadModel(result.directory, at::TensorOptions().dtype(at::kFloat));
        reloaded = promptLogits(*merged, prompts);
      }
      result.verification = compare(reference, reloaded, what, storedDtype);
    } catch (const std::exception& e) {
      result.verification = failedVerification(what, reference.size(), e.what());
    }
  }
  progress(observer, "done", 1.0);
  return result;
}

ExportResult mergePeftAdapter(const AdapterMergeOptions& options, ExportObserver* observer) {
  refuseEarly(options.targetDir, options.force);
  progress(observer, "reading adapter " + options.adapterDir, 0.05);
  const PeftAdapterFolder adapter = loadPeftAdapter(options.adapterDir);
  const std::string baseDir = options.baseModelDir.empty() ? adapter.summary.baseModel : options.baseModelDir;
  if (baseDir.empty() || !fs::is_directory(baseDir)) {
    throw ExportError(adapter.configPath + ": base_model_name_or_path \"" + adapter.summary.baseModel +
                      "\" is not a local model folder; give the base model folder (--base DIR)");
  }
  ModelConfig mc = ModelConfig::fromFile((fs::path(baseDir) / "config.json").string());
  const auto score = adapter.wholeParameters.find("score.weight");
  if (score != adapter.wholeParameters.end() && mc.family == ModelFamily::Llama &&
      !mc.isSequenceClassifier()) {
    std::vector<std::string> labels;
    for (std::int64_t i = 0; i < score->second.size(0); ++i)
      labels.push_back("LABEL_" + std::to_string(i));
    mc = mc.asSequenceClassifier(labels);
  }
  progress(observer, "loading base " + baseDir, 0.15);
  auto model = loadModel(mc, baseDir, at::TensorOptions().dtype(at::kFloat));
  for (auto& p : model->parameters())
    p.set_requires_grad(false);
  applyPeftAdapter(*model, adapter, TrainMethod::LoraFa);
  model->eval();
  std::vector<std::vector<std::int64_t>> prompts;
  std::vector<at::Tensor> reference;
  if (options.verify) {
    progress(observer, "computing reference logits", 0.25);
    prompts = verificationPrompts(baseDir, mc);
    reference = promptLogits(*model, prompts);
  }
  StagedFolder staged(options.targetDir, options.force, {baseDir, options.adapterDir});
  MergedCheckpointInfo info;
  info.baseDir = baseDir;
  info.labels = mc.labels;
  info.shardSizeBytes = options.shardSizeBytes;
  const std::string storedDtype = writeMergedCheckpoint(*model, info, staged.path(), observer).narrowestDtype;
  staged.commit();
  ExportResult result;
  result.directory = staged.target();
  result.files = listFiles(result.directory);
  model.reset();
  if (options.verify) {
    progress(observer, "verifying: re-loading the merged checkpoint", 0.85);
    try {
      auto merged = loadModel(result.directory, at::TensorOptions().dtype(at::kFloat));
      result.verification =
          compare(reference, promptLogits(*merged, prompts), "merged checkpoint", storedDtype);
    } catch (const std::exception& e) {
      result.verification = failedVerification("merged checkpoint", reference.size(), e.what());
    }
  }
  progress(observer, "done", 1.0);
  return result;
}

} // namespace lorafa
