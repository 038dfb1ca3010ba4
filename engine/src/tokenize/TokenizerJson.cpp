#include "tokenize/TokenizerJson.h"

namespace lorafa {
namespace {

std::string typeName(const nlohmann::json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  return v.type_name();
}

} // namespace

void TokenizerJson::fail(const std::string& problem) const {
  throw FormatError(m_file, m_where.empty() ? problem : m_where + ": " + problem);
}

void TokenizerJson::failAt(const std::string& key, const std::string& problem) const {
  throw FormatError(m_file, path(key) + ": " + problem);
}

void TokenizerJson::unsupportedType(const char* what) const {
  fail(std::string("unsupported ") + what + " type \"" + string("type") + "\"");
}

const nlohmann::json& TokenizerJson::field(const char* key) const {
  if (!m_json.is_object()) fail(std::string("expected an object, found ") + typeName(m_json));
  if (!has(key)) failAt(key, "missing required field");
  return m_json.at(key);
}

TokenizerJson TokenizerJson::child(const char* key) const {
  return TokenizerJson(field(key), m_file, path(key));
}

TokenizerJson TokenizerJson::element(const Json& value, std::size_t index) const {
  return TokenizerJson(value, m_file, m_where + "[" + std::to_string(index) + "]");
}

std::string TokenizerJson::string(const char* key) const {
  const Json& v = field(key);
  if (!v.is_string()) failAt(key, "expected a string, found " + typeName(v));
  return v.get<std::string>();
}

std::string TokenizerJson::string(const char* key, const std::string& fallback) const {
  return has(key) ? string(key) : fallback;
}

std::optional<std::string> TokenizerJson::optionalString(const char* key) const {
  return has(key) ? std::optional<std::string>(string(key)) : std::nullopt;
}

bool TokenizerJson::boolean(const char* key, bool fallback) const {
  if (!has(key)) return fallback;
  const Json& v = m_json.at(key);
  if (!v.is_boolean()) failAt(key, "expected true or false, found " + typeName(v));
  return v.get<bool>();
}

std::int64_t TokenizerJson::integer(const char* key) const {
  const Json& v = field(key);
  if (!v.is_number_integer()) failAt(key, "expected an integer, found " + typeName(v));
  return v.get<std::int64_t>();
}

std::int64_t TokenizerJson::integer(const char* key, std::int64_t fallback) const {
  return has(key) ? integer(key) : fallback;
}

const nlohmann::json& TokenizerJson::array(const char* key) const {
  const Json& v = field(key);
  if (!v.is_array()) failAt(key, "expected an array, found " + typeName(v));
  return v;
}

const nlohmann::json& TokenizerJson::object(const char* key) const {
  const Json& v = field(key);
  if (!v.is_object()) failAt(key, "expected an object, found " + typeName(v));
  return v;
}

} // namespace lorafa
