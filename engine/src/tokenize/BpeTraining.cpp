// The public face of tokenizer training (lorafa/BpeTraining.h): reading and checking the corpus,
// counting pre-tokenized words on several threads, and writing tokenizer.json /
// tokenizer_config.json. The merges themselves are BpeTrainer's.
#include "lorafa/BpeTraining.h"

#include "io/AtomicFile.h"
#include "lorafa/FormatError.h"
#include "tokenize/BpeTrainer.h"
#include "tokenize/Components.h"
#include "tokenize/TokenizerJson.h"
#include "tokenize/Unicode.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace lorafa {
namespace {

namespace fs = std::filesystem;
using OrderedJson = nlohmann::ordered_json;

// Llama 3's pre-tokenizer pattern (its tokenizer.json), also Qwen2's apart from single digits.
constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr std::size_t kPieceBytes = std::size_t{1} << 20; // unit of work for the counting threads

OrderedJson byteLevel(bool useRegex) {
  OrderedJson j;
  j["type"] = "ByteLevel";
  j["add_prefix_space"] = false;
  j["trim_offsets"] = true;
  j["use_regex"] = useRegex;
  return j;
}

OrderedJson preTokenizerJson(const BpeTrainerOptions& options) {
  if (options.preTokenizer == BpePreTokenizer::Gpt2) return byteLevel(true);
  OrderedJson split;
  split["type"] = "Split";
  split["pattern"] = {{"Regex", kLlama3Pattern}};
  split["behavior"] = "Isolated";
  split["invert"] = false;
  OrderedJson sequence;
  sequence["type"] = "Sequence";
  sequence["pretokenizers"] = OrderedJson::array({split, byteLevel(false)});
  return sequence;
}

/// Counts the pre-tokenized words of texts, line by line, with special tokens cut out.
class WordCounter {
public:
  WordCounter(const BpeTrainerOptions& options, const BpeTrainingCallbacks& callbacks,
              std::int64_t bytesTotal)
      : m_specials(options.specialTokens), m_callbacks(callbacks) {
    // The same pre-tokenizer the written tokenizer.json will run when encoding.
    m_preTokenizerJson = nlohmann::json::parse(preTokenizerJson(options).dump());
    m_preTokenizer = makePreTokenizer(TokenizerJson(m_preTokenizerJson, m_name, "pre_tokenizer"));
    m_threads = options.threads > 0
                    ? options.threads
                    : static_cast<int>(std::min(8u, std::max(1u, std::thread::hardware_concurrency())));
    m_progress.bytesTotal = bytesTotal;
  }

  /// `text` must be valid UTF-8.
  void add(std::string_view text) {
    // Pieces of about kPieceBytes, cut after a newline.
    std::vector<std::string_view> pieces;
    for (std::size_t begin = 0; begin < text.size();) {
      std::size_t end = std::min(text.size(), begin + kPieceBytes);
      if (end < text.size()) {
        const std::size_t newline = text.find('\n', end);
        end = newline == std::string_view::npos ? text.size() : newline + 1;
      }
      pieces.push_back(text.substr(begin, end - begin));
      begin = end;
    }
    const int threads = std::max(1, std::min<int>(m_threads, static_cast<int>(pieces.size())));
    std::vector<BpeWordCounts> counts(threads);
    std::atomic<std::size_t> next{0};
    std::atomic<std::int64_t> done{0};
    std::atomic<bool> stop{false};
    std::exception_ptr failure;
    std::mutex failureMutex;
    const std::int64_t doneBefore = m_progress.bytesDone;
    const auto work = [&](int t) {
      try {
        for (std::size_t i; !stop && (i = next++) < pieces.size();) {
          countLines(pieces[i], counts[t]);
          done += static_cast<std::int64_t>(pieces[i].size());
          if (t == 0) { // the calling thread reports and polls
            m_progress.bytesDone = doneBefore + done;
            report();
            if (m_callbacks.shouldStop && m_callbacks.shouldStop()) stop = true;
          }
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(failureMutex);
        if (!failure) failure = std::current_exception();
        stop = true;
      }
    };
    std::vector<std::thread> workers;
    for (int t = 1; t < threads; ++t)
      workers.emplace_back(work, t);
    work(0);
    for (std::thread& worker : workers)
      worker.join();
    if (failure) std::rethrow_exception(failure);
    if (stop) throw BpeTrainingCancelled();
    m_progress.bytesDone = doneBefore + done;
    report();
    for (BpeWordCounts& part : counts) {
      if (m_words.empty()) {
        m_words = std::move(part);
        continue;
      }
      for (auto& [word, count] : part)
        m_words[word] += count;
    }
  }

  BpeWordCounts& words() { return m_words; }

private:
  void report() {
    if (m_callbacks.onProgress) m_callbacks.onProgress(m_progress);
  }

  void countLines(std::string_view text, BpeWordCounts& counts) const {
    for (std::size_t begin = 0; begin < text.size();) {
      const std::size_t newline = text.find('\n', begin);
      const std::size_t end = newline == std::string_view::npos ? text.size() : newline + 1;
      countLine(text.substr(begin, end - begin), counts);
      begin = end;
    }
  }

  // Special tokens are split out first (leftmost, then longest), as encoding does.
  void countLine(std::string_view line, BpeWordCounts& counts) const {
    std::size_t pos = 0;
    while (pos < line.size()) {
      std::size_t found = std::string_view::npos;
      std::size_t length = 0;
      for (const std::string& special : m_specials) {
        const std::size_t at = line.find(special, pos);
        if (at < found || (at == found && at != std::string_view::npos && special.size() > length)) {
          found = at;
          length = special.size();
        }
      }
      const std::size_t end = found == std::string_view::npos ? line.size() : found;
      countSegment(line.substr(pos, end - pos), counts);
      pos = found == std::string_view::npos ? line.size() : found + length;
    }
  }

  void countSegment(std::string_view segment, BpeWordCounts& counts) const {
    if (segment.empty()) return;
    TextSplits splits{TextSplit{std::string(segment), false}};
    m_preTokenizer->preTokenize(splits);
    for (TextSplit& split : splits)
      ++counts[std::move(split.text)];
  }

  const std::vector<std::string>& m_specials;
  const BpeTrainingCallbacks& m_callbacks;
  const std::string m_name = "(tokenizer trainer)";
  nlohmann::json m_preTokenizerJson;
  std::unique_ptr<PreTokenizer> m_preTokenizer;
  int m_threads = 1;
  BpeTrainingProgress m_progress;
  BpeWordCounts m_words;
};

void checkUtf8(const std::string& text, const std::string& name) {
  const std::size_t valid = unicode::validUtf8Prefix(text);
  if (valid == text.size()) return;
  const std::size_t line = 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + valid, '\n'));
  char byte[8];
  std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[valid]));
  throw FormatError(name, "not valid UTF-8: byte " + std::string(byte) + " at byte offset " +
                              std::to_string(valid) + " (line " + std::to_string(line) + ")");
}

std::string readTextFile(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw FormatError(path, "is a directory, expected a text file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw FormatError(path, std::string("read failed: ") + std::strerror(errno));
  return std::move(text).str();
}

TrainedBpe finish(WordCounter& counter, const BpeTrainer& trainer, const BpeTrainingCallbacks& callbacks,
                  std::int64_t bytes) {
  if (counter.words().empty())
    throw std::invalid_argument("the training text is empty: there is nothing to learn from");
  TrainedBpe result = trainer.train(counter.words(), callbacks);
  result.bytes = bytes;
  return result;
}

OrderedJson specialTokenJson(const std::string& content) {
  OrderedJson j;
  j["content"] = content;
  j["single_word"] = false;
  j["lstrip"] = false;
  j["rstrip"] = false;
  j["normalized"] = false;
  j["special"] = true;
  return j;
}

OrderedJson templateFor(const BpeTrainerOptions& options, std::int64_t bosId) {
  const auto special = [&](int typeId) {
    return OrderedJson{{"SpecialToken", OrderedJson{{"id", options.bosToken}, {"type_id", typeId}}}};
  };
  const auto sequence = [](const char* id, int typeId) {
    return OrderedJson{{"Sequence", OrderedJson{{"id", id}, {"type_id", typeId}}}};
  };
  OrderedJson j;
  j["type"] = "TemplateProcessing";
  j["single"] = OrderedJson::array({special(0), sequence("A", 0)});
  j["pair"] = OrderedJson::array({special(0), sequence("A", 0), special(1), sequence("B", 1)});
  OrderedJson bos;
  bos["id"] = options.bosToken;
  bos["ids"] = OrderedJson::array({bosId});
  bos["tokens"] = OrderedJson::array({options.bosToken});
  j["special_tokens"] = OrderedJson{{options.bosToken, bos}};
  return j;
}

std::int64_t specialId(const BpeTrainerOptions& options, const std::string& token) {
  const auto it = std::find(options.specialTokens.begin(), options.specialTokens.end(), token);
  return static_cast<std::int64_t>(it - options.specialTokens.begin());
}

void checkTrained(const TrainedBpe& bpe, const BpeTrainerOptions& options) {
  BpeTrainer::validate(options);
  if (bpe.tokens.size() < options.specialTokens.size() ||
      !std::equal(options.specialTokens.begin(), options.specialTokens.end(), bpe.tokens.begin())) {
    throw std::invalid_argument("the trained tokens do not start with the options' special tokens");
  }
}

void writeText(const std::string& path, const std::string& text) {
  writeFileAtomically(path, [&](std::FILE* file) { std::fwrite(text.data(), 1, text.size(), file); });
}

} // namespace

TrainedBpe trainBpe(const std::vector<std::string>& files, const BpeTrainerOptions& options,
                    const BpeTrainingCallbacks& callbacks) {
  const BpeTrainer trainer(options);
  if (files.empty()) throw std::invalid_argument("no training text files given");
  std::int64_t total = 0;
  for (const std::string& file : files) {
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (!ec) total += static_cast<std::int64_t>(size);
  }
  WordCounter counter(options, callbacks, total);
  std::int64_t bytes = 0;
  for (const std::string& file : files) {
    const std::string text = readTextFile(file);
    checkUtf8(text, file);
    counter.add(text);
    bytes += static_cast<std::int64_t>(text.size());
  }
  return finish(counter, trainer, callbacks, bytes);
}

TrainedBpe trainBpeOnTexts(const std::vector<std::string>& texts, const BpeTrainerOptions& options,
                           const BpeTrainingCallbacks& callbacks) {
  const BpeTrainer trainer(options);
  std::int64_t total = 0;
  for (const std::string& text : texts)
    total += static_cast<std::int64_t>(text.size());
  WordCounter counter(options, callbacks, total);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    checkUtf8(texts[i], "text " + std::to_string(i + 1));
    counter.add(texts[i]);
  }
  return finish(counter, trainer, callbacks, total);
}

std::string bpeTokenizerJson(const TrainedBpe& bpe, const BpeTrainerOptions& options) {
  checkTrained(bpe, options);
  OrderedJson root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  OrderedJson added = OrderedJson::array();
  for (std::size_t i = 0; i < options.specialTokens.size(); ++i) {
    OrderedJson token;
    token["id"] = i;
    const OrderedJson fields = specialTokenJson(options.specialTokens[i]);
    for (const auto& [key, value] : fields.items())
      token[key] = value;
    added.push_back(std::move(token));
  }
  root["added_tokens"] = std::move(added);
  root["normalizer"] = nullptr;
  root["pre_tokenizer"] = preTokenizerJson(options);
  root["post_processor"] =
      options.addBosToken ? templateFor(options, specialId(options, options.bosToken)) : OrderedJson(nullptr);
  OrderedJson decoder;
  decoder["type"] = "ByteLevel";
  decoder["add_prefix_space"] = true;
  decoder["trim_offsets"] = true;
  decoder["use_regex"] = true;
  root["decoder"] = std::move(decoder);

  OrderedJson model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = nullptr;
  model["continuing_subword_prefix"] = nullptr;
  model["end_of_word_suffix"] = nullptr;
  model["fuse_unk"] = false;
  model["byte_fallback"] = false;
  model["ignore_merges"] = false;
  OrderedJson vocab = OrderedJson::object();
  for (std::size_t id = 0; id < bpe.tokens.size(); ++id)
    vocab[bpe.tokens[id]] = id;
  model["vocab"] = std::move(vocab);
  // The legacy "left right" form, readable by every tokenizers version: byte-level tokens never
  // hold a space (a space byte is "Ġ").
  OrderedJson merges = OrderedJson::array();
  for (const auto& [left, right] : bpe.merges)
    merges.push_back(left + " " + right);
  model["merges"] = std::move(merges);
  root["model"] = std::move(model);
  return root.dump(2) + "\n";
}

std::string bpeTokenizerConfigJson(const TrainedBpe& bpe, const BpeTrainerOptions& options) {
  checkTrained(bpe, options);
  OrderedJson config;
  OrderedJson decoderMap = OrderedJson::object();
  for (std::size_t i = 0; i < options.specialTokens.size(); ++i) {
    decoderMap[std::to_string(i)] = specialTokenJson(options.specialTokens[i]);
  }
  config["added_tokens_decoder"] = std::move(decoderMap);
  if (!options.bosToken.empty()) config["bos_token"] = options.bosToken;
  config["clean_up_tokenization_spaces"] = false;
  if (!options.eosToken.empty()) config["eos_token"] = options.eosToken;
  config["model_max_length"] = options.modelMaxLength;
  if (!options.padToken.empty()) config["pad_token"] = options.padToken;
  config["tokenizer_class"] = "PreTrainedTokenizerFast";
  return config.dump(2) + "\n";
}

void saveBpeTokenizer(const TrainedBpe& bpe, const BpeTrainerOptions& options, const std::string& directory) {
  const std::string tokenizer = bpeTokenizerJson(bpe, options);
  const std::string config = bpeTokenizerConfigJson(bpe, options);
  writeText((fs::path(directory) / "tokenizer.json").string(), tokenizer);
  writeText((fs::path(directory) / "tokenizer_config.json").string(), config);
}

} // namespace lorafa
