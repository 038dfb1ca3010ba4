#include "io/StrictJson.h"

#include "lorafa/FormatError.h"

#include <cstring>
#include <optional>
#include <unordered_set>
#include <vector>

namespace lorafa {
namespace {

// nlohmann's message without its "[json.exception.xxx.nnn] " prefix, in printable ASCII (the
// library quotes what it read, which may be any bytes).
std::string printableJsonMessage(std::string detail) {
  const std::size_t bracket = detail.find("] ");
  if (detail.rfind("[json.exception.", 0) == 0 && bracket != std::string::npos) {
    detail.erase(0, bracket + 2);
  }
  for (char& c : detail) {
    const auto byte = static_cast<unsigned char>(c);
    c = byte < 0x20 || byte >= 0x7F ? '?' : c;
  }
  return detail;
}

} // namespace

std::int64_t findJsonTooDeep(const char* begin, const char* end) {
  std::size_t depth = 0;
  bool inString = false;
  for (const char* p = begin; p < end; ++p) {
    const char c = *p;
    if (inString) {
      if (c == '\\') {
        ++p; // the escaped character cannot end the string
      } else if (c == '"') {
        inString = false;
      }
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return p - begin;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return -1;
}

nlohmann::ordered_json parseJsonStrictly(const char* begin, const char* end, const std::string& path,
                                         const std::string& what, std::uint64_t firstByte) {
  if (const std::int64_t deep = findJsonTooDeep(begin, end); deep >= 0) {
    throw FormatError(path, what + " nests arrays and objects deeper than " + std::to_string(kMaxJsonDepth) +
                                " levels (at byte " + std::to_string(firstByte + static_cast<std::uint64_t>(deep)) +
                                " of the file)");
  }
  using Json = nlohmann::ordered_json;
  struct OpenObject {
    std::string key; // the key this object is the value of, if any
    std::unordered_set<std::string> keys;
  };
  std::vector<OpenObject> open;
  std::string lastKey;
  std::optional<std::string> duplicate;
  std::string duplicateParent;
  std::size_t duplicateLevel = 0;

  const Json::parser_callback_t callback = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
    case Json::parse_event_t::object_start:
      open.push_back(OpenObject{open.empty() ? std::string() : lastKey, {}});
      break;
    case Json::parse_event_t::key:
      lastKey = parsed.get<std::string>();
      if (!open.empty() && !open.back().keys.insert(lastKey).second && !duplicate) {
        duplicate = lastKey;
        duplicateParent = open.back().key;
        duplicateLevel = open.size();
      }
      break;
    case Json::parse_event_t::object_end:
      if (!open.empty()) {
        open.pop_back();
      }
      break;
    default: break;
    }
    return true;
  };

  // nlohmann's lexer takes a NUL byte for the end of the input and would ignore what follows.
  const void* nul = std::memchr(begin, '\0', static_cast<std::size_t>(end - begin));
  if (nul != nullptr) {
    const auto at = firstByte + static_cast<std::uint64_t>(static_cast<const char*>(nul) - begin);
    throw FormatError(path,
                      what + " is not valid JSON: NUL byte at byte " + std::to_string(at) + " of the file");
  }

  Json value;
  try {
    value = Json::parse(begin, end, callback, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const Json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 7: ..."
    std::string detail = e.what();
    const std::size_t bracket = detail.find("] ");
    if (detail.rfind("[json.exception.", 0) == 0 && bracket != std::string::npos) {
      detail.erase(0, bracket + 2);
    }
    // The library quotes what it read, which may be any bytes: keep the message printable ASCII.
    for (char& c : detail) {
      const auto byte = static_cast<unsigned char>(c);
      c = byte < 0x20 || byte >= 0x7F ? '?' : c;
    }
    const std::uint64_t at = firstByte + (e.byte > 0 ? e.byte - 1 : 0);
    throw FormatError(path, what + " is not valid JSON (near byte " + std::to_string(at) +
                                " of the file): " + detail);
  } catch (const Json::exception& e) {
    // Valid syntax the library cannot hold, e.g. out_of_range.406 for a number beyond a double
    // (1e400): it has no byte offset.
    throw FormatError(path, what + " cannot be read: " + printableJsonMessage(e.what()));
  }
  if (duplicate) {
    const std::string where = duplicateLevel <= 1 ? std::string("at the top level")
                                                  : "in the object of \"" + duplicateParent + "\"";
    throw FormatError(path, what + " has the key \"" + *duplicate + "\" twice " + where);
  }
  return value;
}

std::string jsonTypeName(const nlohmann::ordered_json& value) {
  switch (value.type()) {
  case nlohmann::ordered_json::value_t::object: return "object";
  case nlohmann::ordered_json::value_t::array: return "array";
  case nlohmann::ordered_json::value_t::string: return "string";
  case nlohmann::ordered_json::value_t::number_integer:
  case nlohmann::ordered_json::value_t::number_unsigned: return "integer";
  case nlohmann::ordered_json::value_t::number_float: return "number";
  case nlohmann::ordered_json::value_t::boolean: return "boolean";
  case nlohmann::ordered_json::value_t::null: return "null";
  default: return "unknown";
  }
}

} // namespace lorafa
