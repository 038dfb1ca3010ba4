#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace lorafa::cli {

struct ExportCommandOptions {
  std::int64_t runId = 0;     ///< the run to export (0: none given)
  std::string adapterDir;     ///< --adapter DIR
  std::string mergedDir;      ///< --merged DIR
  std::string peftAdapterDir; ///< --peft-adapter DIR: merge an existing PEFT adapter instead of a run
  std::string baseDir;        ///< --base DIR with --peft-adapter
  std::string checkpoint;     ///< --checkpoint DIR (default: the run's newest)
  std::string storePath;
  std::int64_t shardSizeBytes = 0; ///< 0: Hugging Face's 5 GB
  bool force = false;
  bool noVerify = false;
};

/// `lorafa export RUN --adapter DIR | --merged DIR` and `lorafa export --peft-adapter DIR
/// --merged OUT`: writes the export atomically, prints progress and the verification (max
/// |Δlogit| of the re-loaded export against the trained model). Exit codes: 0 written and
/// verified (a bf16/fp16 merge's expected rounding is a warning), 1 the export failed or does not
/// reproduce the model, 2 unusable request (unknown run, no checkpoint, a non-empty folder
/// without --force, an adapter of a full fine-tuning run).
int runExport(const ExportCommandOptions& options, std::ostream& out, std::ostream& err);

} // namespace lorafa::cli
