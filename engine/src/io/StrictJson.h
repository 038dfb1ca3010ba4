#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace lorafa {

/// Parses the JSON text [begin, end) keeping object keys in file order. Unlike a plain
/// nlohmann::json::parse, a key that appears twice in one object is an error (the library would
/// silently keep the last value). Whitespace around the value is allowed; anything else is not.
///
/// Errors throw FormatError(path, ...) starting with `what` (e.g. "header") and giving the byte
/// offset in the file, where `firstByte` is the offset of `begin` in the file.
nlohmann::ordered_json parseJsonStrictly(const char* begin, const char* end, const std::string& path,
                                         const std::string& what, std::uint64_t firstByte = 0);

/// Deepest nesting of arrays and objects any JSON file may have. Real files nest a few levels;
/// the library's serializer and copies recurse per level, so a file nested a million deep would
/// overflow the stack when a value is copied or quoted in a message.
inline constexpr std::size_t kMaxJsonDepth = 128;

/// The offset in [begin, end) of the bracket that opens level kMaxJsonDepth + 1, or -1 when the
/// text nests no deeper than that (brackets inside strings do not count). Linear, no allocation.
std::int64_t findJsonTooDeep(const char* begin, const char* end);

/// "object", "array", "string", "integer", "number", "boolean" or "null", for error messages.
std::string jsonTypeName(const nlohmann::ordered_json& value);

} // namespace lorafa
