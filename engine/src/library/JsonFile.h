#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace lorafa {

/// The JSON document in `path`. Throws FormatError naming the file: "cannot open the <what>", or
/// "invalid JSON: ..." with the parser's byte offset.
nlohmann::json readJsonFile(const std::string& path, const std::string& what);

} // namespace lorafa
