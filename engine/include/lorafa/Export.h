#pragma once

#include "lorafa/RunConfig.h"

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace lorafa {

/// What an export writes.
enum class ExportKind {
  Adapter, ///< a PEFT LoRA adapter folder: adapter_config.json, adapter_model.safetensors, README.md
  Merged,  ///< a Hugging Face checkpoint with W ← W + s·B·A folded in (full fine-tuning: the trained W)
};

const char* toString(ExportKind kind);

/// An export that cannot be done as asked (no checkpoint, a full fine-tuning run asked for an
/// adapter, a non-empty target without force, a target that would overwrite the run's own files).
/// Nothing has been written when it is thrown.
class ExportError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Hugging Face's default shard size for save_pretrained ("5GB").
constexpr std::int64_t kDefaultShardSizeBytes = 5'000'000'000;

struct ExportOptions {
  ExportKind kind = ExportKind::Adapter;
  std::string targetDir;
  /// Replace a non-empty target folder (its whole content). Without it, such a folder is refused.
  bool force = false;
  /// The checkpoint folder to export; empty: the newest under output_dir/checkpoints.
  std::string checkpointDir;
  /// Merged: a new shard starts before a tensor that would take the current one above this
  /// size (one tensor larger than it gets a shard of its own); one file when everything fits.
  std::int64_t shardSizeBytes = kDefaultShardSizeBytes;
  /// Reload what was written and compare its logits with the trained model's.
  bool verify = true;
  /// Run details for the safetensors __metadata__ and the model card (run id, name, metrics...).
  std::map<std::string, std::string> runDetails;
};

/// The logits of the trained model in memory against those of the re-loaded export, on a fixed
/// set of prompts.
struct ExportVerification {
  bool done = false;
  std::int64_t prompts = 0;
  double maxAbsLogitDiff = 0.0;
  double maxAbsLogit = 0.0; ///< the largest |logit| seen: the scale the difference is measured against
  double tolerance = 0.0;   ///< 1e-5 · max(1, maxAbsLogit) for fp32 files
  bool withinTolerance = true;
  /// Beyond tolerance only because the merged weights were rounded to the base's bf16/fp16.
  bool lowPrecisionRounding = false;
  std::string note; ///< what the numbers mean; why a difference is expected (bf16 rounding)
};

struct ExportResult {
  std::string directory;
  std::string checkpointDir;
  std::vector<std::string> files; ///< names inside directory, sorted
  ExportVerification verification;
};

/// Progress of a long export, reported on the exporting thread.
class ExportObserver {
public:
  virtual ~ExportObserver() = default;
  /// `fraction` in [0, 1].
  virtual void onProgress(const std::string& message, double fraction) = 0;
};

/// Exports a run's checkpoint. `config` is the run's configuration (its output_dir locates the
/// checkpoints; the model is rebuilt from the configuration stored in the checkpoint). Writes
/// into a fresh sibling folder and renames it into place, so the target is either untouched or
/// complete. Throws ExportError (see above), FormatError (an unreadable checkpoint or model).
ExportResult exportRun(const RunConfig& config, const ExportOptions& options,
                       ExportObserver* observer = nullptr);

/// True when `path` exists and is not an empty folder (an export there needs force).
bool needsForce(const std::string& path);

} // namespace lorafa
