#include "lorafa/ModelLibrary.h"

#include <cstdlib>
#include <fstream>

namespace lorafa {
namespace {

std::optional<std::string> nonEmpty(const EnvironmentLookup& lookup, const std::string& name) {
  std::optional<std::string> value = lookup(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

/// "~/x" with the home folder, as Python's os.path.expanduser does for these variables.
std::string expandHome(const std::string& path, const EnvironmentLookup& lookup) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    if (const auto home = nonEmpty(lookup, "HOME")) return *home + path.substr(1);
  }
  return path;
}

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

} // namespace

HubSettings hubSettingsFromEnvironment(const EnvironmentLookup& lookup) {
  HubSettings settings;
  const std::string home = nonEmpty(lookup, "HOME").value_or("");
  const std::string cacheHome = expandHome(nonEmpty(lookup, "XDG_CACHE_HOME").value_or(home + "/.cache"), lookup);
  const std::string hfHome = expandHome(nonEmpty(lookup, "HF_HOME").value_or(cacheHome + "/huggingface"), lookup);
  if (const auto cache = nonEmpty(lookup, "HF_HUB_CACHE")) settings.cacheDir = expandHome(*cache, lookup);
  else if (const auto legacy = nonEmpty(lookup, "HUGGINGFACE_HUB_CACHE")) settings.cacheDir = expandHome(*legacy, lookup);
  else settings.cacheDir = hfHome + "/hub";

  if (const auto endpoint = nonEmpty(lookup, "HF_ENDPOINT")) {
    settings.endpoint = *endpoint;
    while (!settings.endpoint.empty() && settings.endpoint.back() == '/') settings.endpoint.pop_back();
  }

  for (const char* name : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}) {
    if (const auto token = nonEmpty(lookup, name); token && !trimmed(*token).empty()) {
      settings.token = trimmed(*token);
      settings.tokenSource = name;
      return settings;
    }
  }
  const std::string tokenPath = expandHome(nonEmpty(lookup, "HF_TOKEN_PATH").value_or(hfHome + "/token"), lookup);
  std::ifstream in(tokenPath);
  std::string line;
  if (in && std::getline(in, line) && !trimmed(line).empty()) {
    settings.token = trimmed(line);
    settings.tokenSource = tokenPath;
  }
  return settings;
}

HubSettings hubSettingsFromProcessEnvironment() {
  return hubSettingsFromEnvironment([](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    return value == nullptr ? std::nullopt : std::optional<std::string>(value);
  });
}

} // namespace lorafa
