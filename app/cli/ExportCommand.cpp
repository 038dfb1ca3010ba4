#include "ExportCommand.h"

#include "TrainCommand.h"
#include "lorafa/AdapterImport.h"
#include "lorafa/Export.h"
#include "lorafa/RunConfig.h"
#include "lorafa/RunStore.h"

#include <cstdio>
#include <optional>

namespace lorafa::cli {
namespace {

class PrintProgress : public ExportObserver {
public:
  explicit PrintProgress(std::ostream& out) : m_out(out) {}
  void onProgress(const std::string& message, double fraction) override {
    char percent[16];
    std::snprintf(percent, sizeof percent, "%3.0f%%", fraction * 100.0);
    m_out << "export " << percent << " " << message << "\n" << std::flush;
  }

private:
  std::ostream& m_out;
};

int report(const ExportResult& result, std::ostream& out, std::ostream& err) {
  out << "written: " << result.directory << "\n";
  for (const std::string& file : result.files)
    out << "  " << file << "\n";
  const ExportVerification& v = result.verification;
  if (!v.done) {
    out << "verification: skipped (--no-verify)\n";
    return kExitOk;
  }
  char line[160];
  std::snprintf(
      line, sizeof line, "verification: max |logit difference| %.3g over %lld prompts (tolerance %.3g): %s\n",
      v.maxAbsLogitDiff, static_cast<long long>(v.prompts), v.tolerance,
      v.withinTolerance ? "ok" : (v.lowPrecisionRounding ? "beyond tolerance, expected" : "FAILED"));
  out << line << "  " << v.note << "\n";
  if (v.withinTolerance) return kExitOk;
  if (v.lowPrecisionRounding) {
    err << "lorafa: warning: the merged checkpoint differs from the trained model by bf16/fp16 rounding (see "
           "above); "
           "the adapter export keeps fp32 weights\n";
    return kExitOk;
  }
  err << "lorafa: error: the export does not reproduce the trained model (max |logit difference| "
      << v.maxAbsLogitDiff << ")\n";
  return kExitFailed;
}

} // namespace

int runExport(const ExportCommandOptions& options, std::ostream& out, std::ostream& err) {
  const int targets = (options.adapterDir.empty() ? 0 : 1) + (options.mergedDir.empty() ? 0 : 1);
  if (targets != 1) {
    err << "lorafa: error: give exactly one of --adapter DIR and --merged DIR\n";
    return kExitBadConfig;
  }
  PrintProgress progress(out);
  try {
    if (!options.peftAdapterDir.empty()) {
      if (options.mergedDir.empty()) {
        err << "lorafa: error: --peft-adapter merges an existing adapter: give --merged DIR\n";
        return kExitBadConfig;
      }
      AdapterMergeOptions merge;
      merge.adapterDir = options.peftAdapterDir;
      merge.baseModelDir = options.baseDir;
      merge.targetDir = options.mergedDir;
      merge.force = options.force;
      merge.verify = !options.noVerify;
      if (options.shardSizeBytes > 0) merge.shardSizeBytes = options.shardSizeBytes;
      return report(mergePeftAdapter(merge, &progress), out, err);
    }
    if (options.runId <= 0) {
      err << "lorafa: error: give the run to export (see lorafa runs list) or --peft-adapter DIR\n";
      return kExitBadConfig;
    }
    const std::string storePath = resolveStorePath(options.storePath);
    std::optional<RunInfo> info;
    {
      RunStore store(storePath);
      info = store.run(options.runId);
    }
    if (!info) {
      err << "lorafa: error: no run " << options.runId << " in " << storePath << "\n";
      return kExitBadConfig;
    }
    const RunConfig config =
        parseRunConfig(info->configText, "run " + std::to_string(options.runId) + " config");
    ExportOptions exportOptions;
    exportOptions.kind = options.adapterDir.empty() ? ExportKind::Merged : ExportKind::Adapter;
    exportOptions.targetDir = options.adapterDir.empty() ? options.mergedDir : options.adapterDir;
    exportOptions.force = options.force;
    exportOptions.checkpointDir = options.checkpoint;
    exportOptions.verify = !options.noVerify;
    if (options.shardSizeBytes > 0) exportOptions.shardSizeBytes = options.shardSizeBytes;
    exportOptions.runDetails["run_id"] = std::to_string(info->id);
    exportOptions.runDetails["run_name"] = info->name;
    exportOptions.runDetails["run_status"] = toString(info->status);
    for (const auto& [name, value] : info->finalMetrics) {
      char text[32];
      std::snprintf(text, sizeof text, "%.6g", value);
      exportOptions.runDetails["final " + name] = text;
    }
    out << "run " << info->id << " (" << info->name << ", " << info->method << ") → "
        << toString(exportOptions.kind) << " " << exportOptions.targetDir << "\n";
    return report(exportRun(config, exportOptions, &progress), out, err);
  } catch (const ExportError& e) {
    err << "lorafa: error: " << e.what() << "\n";
    return kExitBadConfig;
  } catch (const ConfigError& e) {
    err << "lorafa: error: " << e.what() << "\n";
    return kExitBadConfig;
  } catch (const std::exception& e) {
    err << "lorafa: error: " << e.what() << "\n";
    return kExitFailed;
  }
}

} // namespace lorafa::cli
