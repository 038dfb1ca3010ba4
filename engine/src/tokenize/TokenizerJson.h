#pragma once

#include "lorafa/FormatError.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace lorafa {

/// One object of a tokenizer.json being read: typed field access whose errors name the file and
/// where in it the field sits ("pre_tokenizer.pretokenizers[1].pattern"), so that a user can find
/// what is wrong. Unknown keys are ignored (the format grows new optional fields); unknown
/// component *types* are errors, raised by the factories.
class TokenizerJson {
public:
  using Json = nlohmann::json;

  TokenizerJson(const Json& json, const std::string& file, std::string where)
      : m_json(json), m_file(file), m_where(std::move(where)) {}

  const Json& json() const { return m_json; }
  const std::string& file() const { return m_file; }
  const std::string& where() const { return m_where; }

  bool has(const char* key) const {
    return m_json.is_object() && m_json.contains(key) && !m_json.at(key).is_null();
  }
  TokenizerJson child(const char* key) const;
  TokenizerJson element(const Json& value,
                        std::size_t index) const; ///< value is an element of an array field

  std::string string(const char* key) const;
  std::string string(const char* key, const std::string& fallback) const;
  std::optional<std::string> optionalString(const char* key) const;
  bool boolean(const char* key, bool fallback) const;
  std::int64_t integer(const char* key) const;
  std::int64_t integer(const char* key, std::int64_t fallback) const;
  const Json& array(const char* key) const;
  const Json& object(const char* key) const;
  /// The component's "type" field.
  std::string type() const { return string("type"); }

  [[noreturn]] void fail(const std::string& problem) const;
  [[noreturn]] void failAt(const std::string& key, const std::string& problem) const;
  [[noreturn]] void unsupportedType(const char* what) const;

private:
  std::string path(const std::string& key) const { return m_where.empty() ? key : m_where + "." + key; }
  const Json& field(const char* key) const;

  const Json& m_json;
  const std::string& m_file;
  std::string m_where;
};

} // namespace lorafa
