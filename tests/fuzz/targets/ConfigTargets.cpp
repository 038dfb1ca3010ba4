// adapter_config.json (PEFT) and the run configuration (YAML or JSON).
#include "FuzzTargets.h"

#include "export/PeftAdapterConfig.h"
#include "lorafa/FormatError.h"
#include "lorafa/RunConfig.h"

#include <cstdlib>
#include <string>

namespace lorafa::fuzz {

int adapterConfig(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const PeftAdapterConfig config = parsePeftAdapterConfig(text, "adapter_config.json");
    if (config.summary.rank < 1 || config.summary.rank > kPeftMaxRank) std::abort();
  } catch (const FormatError&) {
  }
  return 0;
}

int runConfig(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const RunConfig config = parseRunConfig(text, "run.yaml");
    // A config that parses is written as JSON (what the run store keeps) and must parse again.
    (void)parseRunConfig(toJson(config), "run.json");
  } catch (const ConfigError&) {
  }
  return 0;
}

} // namespace lorafa::fuzz
