#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace lorafa::cli {

struct ModelsOptions {
  std::string libraryPath;           ///< --library FILE (default: defaultModelLibraryPath)
  bool json = false;                 ///< list: one JSON array instead of a table
  std::string folder;                ///< add / remove
  std::string repoId;                ///< pull
  std::string revision = "main";     ///< pull --revision
  std::vector<std::string> include;  ///< pull --include (repeatable)
};

/// `lorafa models list [--json]`: the Hugging Face cache (HF_HUB_CACHE / HF_HOME) and the added
/// folders, one model per line with family, parameters, dtype, size and whether this build
/// supports it (and why not).
int runModelsList(const ModelsOptions& options, std::ostream& out, std::ostream& err);
/// `lorafa models add DIR` / `lorafa models remove DIR`: the folders the library scans.
int runModelsAdd(const ModelsOptions& options, std::ostream& out, std::ostream& err);
int runModelsRemove(const ModelsOptions& options, std::ostream& out, std::ostream& err);
/// `lorafa models pull ORG/NAME [--revision R] [--include GLOB]...`: downloads into the hub
/// cache with a progress bar (a terminal) or progress lines (otherwise). Ctrl-C stops after
/// flushing; the next pull resumes. Exit codes: 0 done, 1 network/server/disk failure, 2 unusable
/// request (unknown repository, revision or file; gated or private without access), 3 stopped.
int runModelsPull(const ModelsOptions& options, std::ostream& out, std::ostream& err, bool terminal);

} // namespace lorafa::cli
