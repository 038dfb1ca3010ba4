#include "TokenizeCommand.h"

#include "lorafa/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace lorafa::cli {
namespace {

using Json = nlohmann::json;

bool isBlank(const std::string& line) { return line.find_first_not_of(" \t\r\n") == std::string::npos; }

[[noreturn]] void fail(const std::string& source, std::size_t line, const std::string& problem) {
  throw std::runtime_error(source + ":" + std::to_string(line) + ": " + problem);
}

std::string typeName(const Json& value) { return value.is_number_integer() ? "integer" : value.type_name(); }

std::vector<TokenId> parseIds(const std::string& line, const std::string& source, std::size_t lineNumber,
                              const Tokenizer& tokenizer) {
  std::vector<TokenId> ids;
  const std::size_t first = line.find_first_not_of(" \t");
  if (line[first] == '{') {
    Json json;
    try {
      json = Json::parse(line);
    } catch (const Json::parse_error& error) {
      fail(source, lineNumber, std::string("invalid JSON: ") + error.what());
    }
    if (!json.is_object() || !json.contains("ids") || !json.at("ids").is_array()) {
      fail(source, lineNumber, "expected {\"ids\": [...]}");
    }
    for (const Json& id : json.at("ids")) {
      if (!id.is_number_integer())
        fail(source, lineNumber, "ids must be integers, found " + typeName(id) + " " + id.dump());
      ids.push_back(id.get<TokenId>());
    }
  } else {
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
      errno = 0;
      char* end = nullptr;
      const long long id = std::strtoll(word.c_str(), &end, 10);
      if (end == word.c_str() || *end != '\0' || errno == ERANGE) {
        fail(source, lineNumber,
             "expected space-separated token ids or {\"ids\": [...]}, found \"" + word + "\"");
      }
      ids.push_back(id);
    }
  }
  for (const TokenId id : ids) {
    if (id < 0 || id >= tokenizer.vocabSize() || !tokenizer.idToToken(id)) {
      fail(source, lineNumber,
           "id " + std::to_string(id) + " is not in the vocabulary (" +
               std::to_string(tokenizer.vocabSize()) + " ids)");
    }
  }
  return ids;
}

void writeIds(std::ostream& out, const std::vector<TokenId>& ids) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out << ' ';
    out << ids[i];
  }
  out << '\n';
}

} // namespace

void runTokenize(const TokenizeOptions& options, std::istream& in, std::ostream& out) {
  const std::shared_ptr<Tokenizer> tokenizer = Tokenizer::load(options.tokenizerPath);
  std::ifstream file;
  if (!options.inputPath.empty()) {
    file.open(options.inputPath, std::ios::binary);
    if (!file) throw std::runtime_error(options.inputPath + ": cannot open the file");
  }
  std::istream& input = options.inputPath.empty() ? in : file;
  const std::string source = options.inputPath.empty() ? "<stdin>" : options.inputPath;

  if (!options.decode && options.inputPath.empty()) {
    const std::string text((std::istreambuf_iterator<char>(input)), std::istreambuf_iterator<char>());
    writeIds(out, tokenizer->encode(text, !options.noSpecial));
    return;
  }
  std::string line;
  std::size_t lineNumber = 0;
  while (std::getline(input, line)) {
    ++lineNumber;
    if (isBlank(line)) continue;
    if (options.decode) {
      const std::string text =
          tokenizer->decode(parseIds(line, source, lineNumber, *tokenizer), options.noSpecial);
      out << Json{{"text", text}}.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
      continue;
    }
    Json record;
    try {
      record = Json::parse(line);
    } catch (const Json::parse_error& error) {
      fail(source, lineNumber, std::string("invalid JSON: ") + error.what());
    }
    if (!record.is_object())
      fail(source, lineNumber, "expected an object {\"text\": ...}, found " + typeName(record));
    if (!record.contains("text")) fail(source, lineNumber, "the record has no \"text\" field");
    if (!record.at("text").is_string()) {
      fail(source, lineNumber, "\"text\" must be a string, found " + typeName(record.at("text")));
    }
    writeIds(out, tokenizer->encode(record.at("text").get<std::string>(), !options.noSpecial));
  }
  if (input.bad()) throw std::runtime_error(source + ": read error");
}

} // namespace lorafa::cli
