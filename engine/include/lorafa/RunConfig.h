#pragma once

#include "lorafa/AdapterConfig.h"
#include "lorafa/Dataset.h"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lorafa {

/// How the learning rate moves after warmup.
enum class LrSchedule {
  Constant, ///< stays at the peak
  Linear,   ///< falls linearly to 0 at the last step
  Cosine,   ///< half a cosine from the peak to 0 at the last step
};

/// The dtype the model computes in. bf16/fp16 need a CUDA device.
enum class Precision { Fp32, Bf16, Fp16 };

/// Where the examples come from and how they become rows.
struct DatasetConfig {
  std::string path;
  DatasetFormat format = DatasetFormat::Auto;
  std::string chatTemplate; ///< a parseChatTemplateKind name; empty: the tokenizer's, else a fallback
  /// "template_date": the "Today Date" a Llama 3.2-style template writes where it takes the
  /// current day ("07 Dec 2026", as strftime "%d %b %Y"); templates with a fixed date (3.1, 3.3)
  /// keep theirs. Empty: the day the run starts, which withRunStartValues() writes into the run's
  /// stored config so that a resume on another day renders the same rows.
  std::string templateDate;
  double validationFraction = 0.1; ///< in [0, 1); 0: no evaluation
  /// A separate evaluation file (a held-out test split): when set, it is evaluated whole and
  /// validationFraction is not used; same format and columns as `path`.
  std::string evalPath;
  std::string textColumn = "text";
  std::string labelColumn = "label";
  std::string sourceColumn = "source";
  std::string targetColumn = "target";
  bool trainOnPrompt = false;
  bool packing = false;
};

/// AdamW and the learning-rate schedule.
struct OptimConfig {
  double learningRate = 2e-4;
  LrSchedule schedule = LrSchedule::Linear;
  std::int64_t warmupSteps = 0; ///< optimizer steps rising linearly from 0 to learningRate
  double weightDecay = 0.0;
  double gradClip = 1.0; ///< max global gradient L2 norm; 0: no clipping
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  /// LoRA-FA only: precondition B's gradient as g_B ← (1/s²)·g_B·(A·Aᵀ)⁻¹ (the paper's later
  /// version), before clipping and AdamW.
  bool projectedB = false;
};

/// The loop: length, batches, evaluation, checkpoints, numerics, device.
struct TrainConfig {
  std::int64_t epochs = 1;
  std::int64_t maxSteps = 0; ///< optimizer steps; 0: epochs decide
  std::int64_t batchSize = 4;
  std::int64_t gradAccumulation = 1; ///< micro-batches per optimizer step
  std::int64_t maxSeqLen = 512;
  std::uint64_t seed = 42;
  std::int64_t evalEvery = 0; ///< optimizer steps; 0: at the end of each epoch
  std::int64_t saveEvery = 0; ///< optimizer steps; 0: at the end of each epoch
  std::int64_t keepLast = 2;  ///< checkpoints kept in output_dir/checkpoints (at least 1)
  std::int64_t earlyStoppingPatience = 0; ///< evaluations without a better loss before stopping; 0: off
  Precision precision = Precision::Fp32;
  bool gradientCheckpointing = false;
  /// Gated MLPs (SwiGLU) keep only their input for backward and recompute the gate and up
  /// projections there: less activation memory for about 15% more step time.
  bool recomputeMlp = false;
  std::string device = "auto"; ///< "auto", "cpu", "cuda" or "cuda:N"
};

/// What evaluation measures besides the validation loss.
struct EvalConfig {
  /// Validation rows (the first ones) answered by greedy generation for BLEU / exact match;
  /// 0: no generation metrics. Generation is slow: one forward pass per new token.
  std::int64_t generateMaxExamples = 64;
  /// New tokens per generated answer; 0: the reference answer's token count plus 16.
  std::int64_t maxNewTokens = 0;
};

/// Everything a training run needs, as plain values. Relative paths in a config file are taken
/// from the file's directory.
struct RunConfig {
  std::string name;      ///< shown in the run history; empty: the output folder's name
  std::string modelPath; ///< Hugging Face model folder (config.json + *.safetensors)
  std::string tokenizerPath; ///< tokenizer.json or its folder; empty: the model folder
  DatasetConfig dataset;
  AdapterConfig adapter; ///< adapter.method is the run's method (lora-fa, lora, full)
  std::string targets = "all-linear"; ///< a TargetSpec::parse text
  /// adapter.init_from: a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)
  /// whose A and B the adapters start from instead of A drawn and B = 0 (keep training an
  /// imported adapter). Its r, lora_alpha and adapted modules must agree with this config.
  std::string adapterInitFrom;
  /// Pretraining: the model folder's config.json only, weights drawn at random from the seed
  /// (method must be full). For small models.
  bool pretrain = false;
  OptimConfig optim;
  TrainConfig train;
  EvalConfig eval;
  std::string outputDir;
};

/// A configuration with one or more problems. what() lists them all, one per line, each as
/// "<file>:<line>: <key>: <problem>" (the line when the format gives one).
class ConfigError : public std::runtime_error {
public:
  ConfigError(std::string path, std::vector<std::string> problems);
  const std::string& path() const { return m_path; }
  const std::vector<std::string>& problems() const { return m_problems; }

private:
  std::string m_path;
  std::vector<std::string> m_problems;
};

/// Parses a run configuration written in YAML or JSON (one schema; resources/examples/README.md
/// documents it). JSON when `path` ends in .json or the text starts with '{'. Unknown keys, values
/// of the wrong type or out of range, and missing required keys (model, dataset.path, output_dir)
/// are all collected and thrown as one ConfigError. Paths are kept as written.
RunConfig parseRunConfig(const std::string& text, const std::string& path);

/// Reads and parses a config file; relative paths in it are resolved against its directory.
/// Throws ConfigError (an unreadable file is one problem too).
RunConfig loadRunConfig(const std::string& path);

/// The config as a new run stores it: values fixed when a run first starts filled in (the
/// dataset's templateDate: today). A resumed run reads them back from the stored config.
RunConfig withRunStartValues(RunConfig config);

/// The config as JSON in the documented schema (every key written); parseRunConfig reads it back.
std::string toJson(const RunConfig& config);

const char* toString(LrSchedule schedule);
const char* toString(Precision precision);
std::optional<LrSchedule> parseLrSchedule(std::string_view text);
std::optional<Precision> parsePrecision(std::string_view text);

} // namespace lorafa
