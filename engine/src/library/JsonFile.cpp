#include "library/JsonFile.h"

#include "lorafa/FormatError.h"

#include <fstream>
#include <sstream>

namespace lorafa {

nlohmann::json readJsonFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, "cannot open the " + what);
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path, std::string("invalid JSON: ") + e.what());
  }
}

} // namespace lorafa
