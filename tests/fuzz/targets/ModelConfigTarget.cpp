// A config.json; a config that parses is written back and parsed again (the round trip the
// exporter relies on).
#include "FuzzTargets.h"

#include "lorafa/FormatError.h"
#include "models/ModelConfig.h"

#include <string>

namespace lorafa::fuzz {

int modelConfig(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const ModelConfig config = ModelConfig::fromJson(text, "config.json");
    (void)config.isSequenceClassifier();
    (void)ModelConfig::fromJson(config.toJson(), "config.json (written back)");
  } catch (const FormatError&) {
  }
  return 0;
}

} // namespace lorafa::fuzz
