#include "lorafa/Dataset.h"

#include "data/ChunkedFile.h"
#include "data/DelimitedReader.h"
#include "data/ErrorPolicy.h"
#include "data/JsonRecordReader.h"
#include "data/TextUtil.h"
#include "lorafa/DataError.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

namespace lorafa {
namespace {

using Json = nlohmann::ordered_json;

// Plain text is read in pieces of about this size, cut at paragraph breaks (hard cut at four times
// it when a text has none).
constexpr std::size_t kTextPieceBytes = std::size_t(1) << 20;

std::string extensionOf(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  const std::size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return {};
  return asciiLower(path.substr(dot + 1));
}

std::string joinQuoted(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    if (!out.empty()) out += ", ";
    out += "\"" + n + "\"";
  }
  return out.empty() ? "none" : out;
}

DatasetFileType resolveFileType(const std::string& path, const DatasetOptions& options, ChunkedFile& file) {
  if (options.fileType != DatasetFileType::Auto) return options.fileType;
  const std::string ext = extensionOf(path);
  const int first = file.firstNonSpaceByte();
  if (ext == "jsonl" || ext == "ndjson") return DatasetFileType::JsonLines;
  if (ext == "json") return first == '[' ? DatasetFileType::JsonArray : DatasetFileType::JsonLines;
  if (ext == "csv") return DatasetFileType::Csv;
  if (ext == "tsv" || ext == "tab") return DatasetFileType::Tsv;
  if (ext == "txt" || ext == "text" || ext == "md") return DatasetFileType::Text;
  if (options.format == DatasetFormat::PlainText) return DatasetFileType::Text;
  if (first == '[') return DatasetFileType::JsonArray;
  if (first == '{') return DatasetFileType::JsonLines;
  throw DataError(path, 0,
                  "cannot tell the file type from its name" +
                      (ext.empty() ? std::string() : " (." + ext + ")") +
                      " or its first bytes; choose one: jsonl, json, csv, tsv, txt");
}

// The format a record's field names suggest.
template <typename Has>
std::optional<DatasetFormat> formatFromFields(const Has& has, const DatasetOptions& o) {
  if (has("messages") || has("conversations")) return DatasetFormat::Chat;
  if (has("instruction") && has("output")) return DatasetFormat::Alpaca;
  if (has(o.textColumn) && has(o.labelColumn)) return DatasetFormat::Classification;
  if (has(o.sourceColumn) && has(o.targetColumn)) return DatasetFormat::SourceTarget;
  if (has(o.textColumn)) return DatasetFormat::PlainText;
  return std::nullopt;
}

std::string expectedFields(const DatasetOptions& o) {
  return "\"messages\" or \"conversations\" (chat), \"instruction\" and \"output\" (Alpaca), \"" +
         o.textColumn + "\" and \"" + o.labelColumn + "\" (classification), \"" + o.sourceColumn +
         "\" and \"" + o.targetColumn + "\" (source/target) or only \"" + o.textColumn + "\" (plain text)";
}

// Loads one dataset file into a Dataset.
class Loader {
public:
  Loader(const std::string& path, const DatasetOptions& options)
      : m_path(path), m_options(options),
        m_errors(options.onError, options.maxReportedErrors, m_out.skipped) {
    m_out.path = path;
    m_out.format = options.format;
  }

  Dataset load(bool detectOnly) {
    ChunkedFile file(m_path);
    m_out.fileType = resolveFileType(m_path, m_options, file);
    switch (m_out.fileType) {
    case DatasetFileType::Text: loadText(file, detectOnly); break;
    case DatasetFileType::JsonLines:
    case DatasetFileType::JsonArray: loadJson(file, detectOnly); break;
    case DatasetFileType::Csv:
    case DatasetFileType::Tsv: loadTable(file, detectOnly); break;
    case DatasetFileType::Auto: break;
    }
    if (!detectOnly) finish();
    return std::move(m_out);
  }

private:
  bool full() const { return m_options.maxRecords > 0 && m_out.recordsRead >= m_options.maxRecords; }

  [[noreturn]] void failRecord(std::uint64_t line, std::uint64_t column, const std::string& problem) const {
    throw DataError(m_path, line, column, problem);
  }

  // ---- plain text ---------------------------------------------------------------------------
  void loadText(ChunkedFile& file, bool detectOnly) {
    if (m_out.format == DatasetFormat::Auto) m_out.format = DatasetFormat::PlainText;
    if (m_out.format != DatasetFormat::PlainText) {
      throw DataError(m_path, 0,
                      std::string("a text file holds plain text; the ") + toString(m_out.format) +
                          " format needs JSON Lines, JSON or CSV/TSV records");
    }
    if (detectOnly) return;
    std::string line;
    std::string piece;
    std::uint64_t lineNumber = 0;
    std::uint64_t pieceLine = 1;
    bool previousBlank = false;
    auto emit = [&]() {
      if (piece.empty()) return;
      Example e;
      e.line = pieceLine;
      e.text = std::move(piece);
      e.document = 0;
      m_out.examples.push_back(std::move(e));
      ++m_out.recordsRead;
      piece.clear();
    };
    std::uint64_t lineStart = 0;
    while (!full() && file.readLine(line, &lineStart)) {
      ++lineNumber;
      if (const auto bad = findInvalidUtf8(line)) {
        m_errors.handle(DataError(m_path, lineNumber, bad->offset + 1, describeUtf8Problem(*bad, lineStart)));
        continue; // skipped: the line is left out
      }
      const bool blank = line.find_first_not_of(" \t\r\f\v") == std::string::npos;
      if (!piece.empty() && !blank &&
          ((previousBlank && piece.size() >= kTextPieceBytes) || piece.size() >= 4 * kTextPieceBytes)) {
        emit();
      }
      if (piece.empty()) pieceLine = lineNumber;
      piece += line;
      if (file.lineHadNewline()) piece += '\n';
      previousBlank = blank;
    }
    emit();
  }

  // ---- JSON ---------------------------------------------------------------------------------
  void loadJson(ChunkedFile& file, bool detectOnly) {
    JsonRecordReader reader(file, m_out.fileType == DatasetFileType::JsonArray);
    JsonRecord record;
    while (!full() && reader.next(record)) {
      ++m_out.recordsRead;
      if (record.error) {
        m_errors.handle(*record.error);
        continue;
      }
      if (m_out.format == DatasetFormat::Auto) {
        const auto has = [&](const std::string& key) { return record.value.contains(key); };
        const auto format = formatFromFields(has, m_options);
        if (!format) {
          std::vector<std::string> keys;
          for (auto it = record.value.begin(); it != record.value.end(); ++it)
            keys.push_back(it.key());
          throw DataError(m_path, record.line,
                          "cannot tell the dataset format: the first record has the keys " +
                              joinQuoted(keys) + "; expected " + expectedFields(m_options) +
                              ", or choose the format and the key names");
        }
        m_out.format = *format;
      }
      if (detectOnly) return;
      try {
        convertJson(record);
      } catch (const DataError& error) {
        m_errors.handle(error);
      }
    }
  }

  // A string field of a JSON record; nullptr when absent or null.
  const std::string* jsonString(const JsonRecord& r, const std::string& key, bool required,
                                const char* needs) const {
    const auto it = r.value.find(key);
    if (it == r.value.end() || it->is_null()) {
      if (required) failRecord(r.line, r.column, "missing key \"" + key + "\" (" + needs + ")");
      return nullptr;
    }
    if (!it->is_string()) {
      failRecord(r.line, r.column, "key \"" + key + "\" must be a string, found " + it->type_name());
    }
    return it->get_ptr<const std::string*>();
  }

  void convertJson(const JsonRecord& r) {
    Example e;
    e.line = r.line;
    const DatasetOptions& o = m_options;
    switch (m_out.format) {
    case DatasetFormat::Alpaca: {
      const char* needs = "an Alpaca record needs \"instruction\" and \"output\"; \"input\" is optional";
      e.instruction = *jsonString(r, "instruction", true, needs);
      if (const std::string* input = jsonString(r, "input", false, needs)) e.input = *input;
      e.output = *jsonString(r, "output", true, needs);
      break;
    }
    case DatasetFormat::Chat: e.messages = chatMessages(r); break;
    case DatasetFormat::PlainText: {
      const std::string needs = "a plain-text record needs \"" + o.textColumn + "\"";
      e.text = *jsonString(r, o.textColumn, true, needs.c_str());
      e.document = m_documents++;
      break;
    }
    case DatasetFormat::Classification: {
      const std::string needs =
          "a classification record needs \"" + o.textColumn + "\" and \"" + o.labelColumn + "\"";
      e.text = *jsonString(r, o.textColumn, true, needs.c_str());
      const auto it = r.value.find(o.labelColumn);
      if (it == r.value.end() || it->is_null())
        failRecord(r.line, r.column, "missing key \"" + o.labelColumn + "\" (" + needs + ")");
      std::string label;
      if (it->is_string()) {
        label = it->get<std::string>();
      } else if (it->is_number_integer()) {
        label = it->dump();
      } else {
        failRecord(r.line, r.column,
                   "key \"" + o.labelColumn + "\" must be a string or an integer, found " + it->type_name());
      }
      e.label = labelId(label, r.line, r.column);
      break;
    }
    case DatasetFormat::SourceTarget: {
      const std::string needs =
          "a source/target record needs \"" + o.sourceColumn + "\" and \"" + o.targetColumn + "\"";
      e.text = *jsonString(r, o.sourceColumn, true, needs.c_str());
      e.target = *jsonString(r, o.targetColumn, true, needs.c_str());
      break;
    }
    case DatasetFormat::Auto: break;
    }
    m_out.examples.push_back(std::move(e));
  }

  std::vector<ChatMessage> chatMessages(const JsonRecord& r) {
    const bool openAi = r.value.contains("messages");
    const char* listKey = openAi ? "messages" : "conversations";
    const char* roleKey = openAi ? "role" : "from";
    const char* contentKey = openAi ? "content" : "value";
    if (m_out.chatStyle.empty()) m_out.chatStyle = listKey;
    const auto list = r.value.find(listKey);
    if (list == r.value.end()) {
      failRecord(r.line, r.column,
                 "missing key \"messages\" (or ShareGPT's \"conversations\") in a chat record");
    }
    if (!list->is_array()) {
      failRecord(r.line, r.column,
                 std::string("\"") + listKey + "\" must be an array of messages, found " + list->type_name());
    }
    std::vector<ChatMessage> messages;
    bool hasAssistant = false;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const Json& m = (*list)[i];
      const std::string where = std::string(listKey) + "[" + std::to_string(i) + "]";
      if (!m.is_object()) failRecord(r.line, r.column, where + " must be an object, found " + m.type_name());
      const auto role = m.find(roleKey);
      if (role == m.end() || !role->is_string()) {
        failRecord(r.line, r.column,
                   where + (role == m.end() ? " has no \"" : " has a non-string \"") + roleKey + "\"");
      }
      const std::string roleText = role->get<std::string>();
      const auto parsed = parseChatRole(roleText);
      if (!parsed) {
        failRecord(r.line, r.column,
                   where + " has the role \"" + roleText + "\", which is not supported (" +
                       (openAi ? "system, user, assistant" : "system, human, gpt") + ")");
      }
      const auto content = m.find(contentKey);
      if (content == m.end() || content->is_null()) {
        failRecord(r.line, r.column, where + " has no \"" + contentKey + "\"");
      }
      ChatMessage message;
      message.role = *parsed;
      if (content->is_string()) {
        message.content = content->get<std::string>();
      } else if (content->is_array()) {
        // OpenAI content parts: only text parts can be trained on.
        for (const Json& part : *content) {
          const auto type = part.is_object() ? part.find("type") : part.end();
          const auto text = part.is_object() ? part.find("text") : part.end();
          if (type == part.end() || *type != "text" || text == part.end() || !text->is_string()) {
            failRecord(r.line, r.column,
                       where + " has a content part that is not {\"type\": \"text\", \"text\": …}");
          }
          message.content += text->get<std::string>();
        }
      } else {
        failRecord(r.line, r.column,
                   where + " \"" + contentKey + "\" must be a string, found " + content->type_name());
      }
      hasAssistant = hasAssistant || message.role == ChatRole::Assistant;
      messages.push_back(std::move(message));
    }
    if (messages.empty()) failRecord(r.line, r.column, std::string("\"") + listKey + "\" is empty");
    if (!hasAssistant) {
      failRecord(r.line, r.column, "the conversation has no assistant message, so there is nothing to learn");
    }
    return messages;
  }

  // ---- CSV/TSV ------------------------------------------------------------------------------
  void loadTable(ChunkedFile& file, bool detectOnly) {
    const char delimiter = m_out.fileType == DatasetFileType::Tsv ? '\t' : ',';
    DelimitedReader reader(file, delimiter);
    TableRecord record;
    if (!reader.next(record)) throw DataError(m_path, 0, "the file is empty (a header line is required)");
    if (record.error) throw *record.error; // a broken header spoils every record
    const std::vector<std::string> header = record.fields;
    const std::uint64_t headerLine = record.line;
    std::unordered_map<std::string, std::size_t> columns;
    std::set<std::string> duplicates;
    for (std::size_t i = 0; i < header.size(); ++i) {
      if (!columns.emplace(header[i], i).second) duplicates.insert(header[i]);
    }
    const auto has = [&](const std::string& name) { return columns.count(name) > 0; };
    if (m_out.format == DatasetFormat::Auto) {
      const auto format = formatFromFields(has, m_options);
      if (!format) {
        throw DataError(m_path, headerLine,
                        "cannot tell the dataset format from the header (columns: " + joinQuoted(header) +
                            "); expected " + expectedFields(m_options) +
                            ", or choose the format and the column names");
      }
      m_out.format = *format;
    }
    if (m_out.format == DatasetFormat::Chat) {
      throw DataError(m_path, 0, "chat data needs JSON Lines or JSON (its messages are nested), not CSV/TSV");
    }
    const DatasetOptions& o = m_options;
    std::vector<std::string> required;
    std::vector<std::string> optional;
    switch (m_out.format) {
    case DatasetFormat::Alpaca:
      required = {"instruction", "output"};
      optional = {"input"};
      break;
    case DatasetFormat::PlainText: required = {o.textColumn}; break;
    case DatasetFormat::Classification: required = {o.textColumn, o.labelColumn}; break;
    case DatasetFormat::SourceTarget: required = {o.sourceColumn, o.targetColumn}; break;
    default: break;
    }
    std::vector<std::size_t> at;
    for (const std::string& name : required) {
      if (!has(name)) {
        throw DataError(m_path, headerLine,
                        "no column \"" + name + "\" in the header (columns: " + joinQuoted(header) +
                            "); choose the column names");
      }
      if (duplicates.count(name) > 0) {
        throw DataError(m_path, headerLine,
                        "the column \"" + name + "\" appears more than once in the header");
      }
      at.push_back(columns[name]);
    }
    constexpr std::size_t kNone = static_cast<std::size_t>(-1);
    const std::size_t inputAt = !optional.empty() && has(optional[0]) ? columns[optional[0]] : kNone;
    if (detectOnly) return;

    while (!full() && reader.next(record)) {
      ++m_out.recordsRead;
      try {
        if (record.error) throw *record.error;
        if (record.fields.size() != header.size()) {
          failRecord(record.line, 0,
                     "the record has " + std::to_string(record.fields.size()) + " fields, the header has " +
                         std::to_string(header.size()));
        }
        Example e;
        e.line = record.line;
        switch (m_out.format) {
        case DatasetFormat::Alpaca:
          e.instruction = std::move(record.fields[at[0]]);
          e.output = std::move(record.fields[at[1]]);
          if (inputAt != kNone) e.input = std::move(record.fields[inputAt]);
          break;
        case DatasetFormat::PlainText:
          e.text = std::move(record.fields[at[0]]);
          e.document = m_documents++;
          break;
        case DatasetFormat::Classification:
          e.text = std::move(record.fields[at[0]]);
          e.label = labelId(record.fields[at[1]], record.line, 0);
          break;
        case DatasetFormat::SourceTarget:
          e.text = std::move(record.fields[at[0]]);
          e.target = std::move(record.fields[at[1]]);
          break;
        default: break;
        }
        m_out.examples.push_back(std::move(e));
      } catch (const DataError& error) {
        m_errors.handle(error);
      }
    }
  }

  // ---- labels -------------------------------------------------------------------------------
  // With given names: the id now. Without: a provisional id in order of appearance, remapped
  // to sorted order by finish().
  std::int64_t labelId(const std::string& label, std::uint64_t line, std::uint64_t column) {
    if (label.empty()) failRecord(line, column, "the label is empty");
    if (!m_options.labelNames.empty()) {
      const auto it = std::find(m_options.labelNames.begin(), m_options.labelNames.end(), label);
      if (it == m_options.labelNames.end()) {
        failRecord(line, column,
                   "the label \"" + label + "\" is not one of the given labels (" +
                       joinQuoted(m_options.labelNames) + ")");
      }
      return it - m_options.labelNames.begin();
    }
    const auto it = m_seenLabels.find(label);
    if (it != m_seenLabels.end()) return it->second;
    const auto id = static_cast<std::int64_t>(m_seenLabels.size());
    m_seenLabels.emplace(label, id);
    return id;
  }

  void finish() {
    if (m_out.examples.empty()) {
      if (m_out.skipped.count > 0) {
        throw DataError(m_path, 0,
                        "no usable record: all " + std::to_string(m_out.skipped.count) +
                            " records were skipped; the first: " + m_out.skipped.firstErrors.front());
      }
      throw DataError(m_path, 0, "the dataset is empty (no records)");
    }
    if (m_out.format != DatasetFormat::Classification) return;
    if (!m_options.labelNames.empty()) {
      m_out.labelNames = m_options.labelNames;
    } else {
      std::vector<std::string> names;
      for (const auto& entry : m_seenLabels)
        names.push_back(entry.first);
      const bool numeric = std::all_of(names.begin(), names.end(), [](const std::string& n) {
        return !n.empty() && n.size() < 19 && n.find_first_not_of("0123456789") == std::string::npos;
      });
      if (numeric) {
        std::sort(names.begin(), names.end(),
                  [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
      } else {
        std::sort(names.begin(), names.end());
      }
      std::vector<std::int64_t> remap(names.size());
      for (std::size_t i = 0; i < names.size(); ++i)
        remap[static_cast<std::size_t>(m_seenLabels[names[i]])] = static_cast<std::int64_t>(i);
      for (Example& e : m_out.examples)
        e.label = remap[static_cast<std::size_t>(e.label)];
      m_out.labelNames = std::move(names);
    }
    std::set<std::int64_t> present;
    for (const Example& e : m_out.examples)
      present.insert(e.label);
    if (present.size() < 2) {
      throw DataError(m_path, 0,
                      "every example has the label \"" +
                          m_out.labelNames[static_cast<std::size_t>(*present.begin())] +
                          "\": a classifier needs at least two classes");
    }
  }

  const std::string& m_path;
  const DatasetOptions& m_options;
  Dataset m_out;
  ErrorPolicy m_errors;
  std::size_t m_documents = 0;
  std::map<std::string, std::int64_t> m_seenLabels;
};

} // namespace

Dataset loadDataset(const std::string& path, const DatasetOptions& options) {
  return Loader(path, options).load(false);
}

DatasetDetection detectDatasetFormat(const std::string& path, const DatasetOptions& options) {
  DatasetOptions quick = options;
  quick.onError = OnError::Skip; // look past malformed records to the first good one
  Dataset d = Loader(path, quick).load(true);
  return DatasetDetection{d.format, d.fileType};
}

const char* toString(DatasetFormat format) {
  switch (format) {
  case DatasetFormat::Auto: return "auto";
  case DatasetFormat::Alpaca: return "alpaca";
  case DatasetFormat::Chat: return "chat";
  case DatasetFormat::PlainText: return "text";
  case DatasetFormat::Classification: return "classification";
  case DatasetFormat::SourceTarget: return "source-target";
  }
  return "unknown";
}

const char* toString(DatasetFileType fileType) {
  switch (fileType) {
  case DatasetFileType::Auto: return "auto";
  case DatasetFileType::JsonLines: return "jsonl";
  case DatasetFileType::JsonArray: return "json";
  case DatasetFileType::Csv: return "csv";
  case DatasetFileType::Tsv: return "tsv";
  case DatasetFileType::Text: return "txt";
  }
  return "unknown";
}

const char* toString(OnError onError) { return onError == OnError::Stop ? "stop" : "skip"; }

std::optional<DatasetFormat> parseDatasetFormat(std::string_view text) {
  const std::string key = asciiLower(text);
  if (key == "auto") return DatasetFormat::Auto;
  if (key == "alpaca" || key == "instruction") return DatasetFormat::Alpaca;
  if (key == "chat" || key == "sharegpt" || key == "messages") return DatasetFormat::Chat;
  if (key == "text" || key == "plain" || key == "plaintext" || key == "plain-text")
    return DatasetFormat::PlainText;
  if (key == "classification" || key == "cls") return DatasetFormat::Classification;
  if (key == "source-target" || key == "source_target" || key == "sourcetarget" || key == "seq2seq" ||
      key == "pairs") {
    return DatasetFormat::SourceTarget;
  }
  return std::nullopt;
}

std::optional<DatasetFileType> parseDatasetFileType(std::string_view text) {
  const std::string key = asciiLower(text);
  if (key == "auto") return DatasetFileType::Auto;
  if (key == "jsonl" || key == "ndjson" || key == "jsonlines") return DatasetFileType::JsonLines;
  if (key == "json") return DatasetFileType::JsonArray;
  if (key == "csv") return DatasetFileType::Csv;
  if (key == "tsv" || key == "tab") return DatasetFileType::Tsv;
  if (key == "txt" || key == "text") return DatasetFileType::Text;
  return std::nullopt;
}

std::optional<OnError> parseOnError(std::string_view text) {
  const std::string key = asciiLower(text);
  if (key == "stop") return OnError::Stop;
  if (key == "skip") return OnError::Skip;
  return std::nullopt;
}

} // namespace lorafa
