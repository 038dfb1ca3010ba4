#include "lorafa/RunConfig.h"

#include "data/TextUtil.h"
#include "io/StrictJson.h"
#include "lorafa/ChatTemplate.h"
#include "lorafa/FormatError.h"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <utility>

namespace lorafa {
namespace {

std::string lowered(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

/// YAML and JSON both become this tree, so one schema walker serves both formats.
struct Node {
  enum class Kind { Null, Scalar, Map, List };
  enum class ScalarType { String, Number, Bool, YamlPlain }; // YamlPlain: untyped until read
  Kind kind = Kind::Null;
  ScalarType scalarType = ScalarType::String;
  std::string text;
  int line = 0; // 1-based; 0: unknown (JSON)
  std::vector<std::pair<std::string, Node>> entries; // Map, in file order; duplicates rejected
  std::vector<int> keyLines;
  std::vector<Node> items; // List
};

std::string kindName(const Node& n) {
  switch (n.kind) {
  case Node::Kind::Null: return "null";
  case Node::Kind::Map: return "a mapping";
  case Node::Kind::List: return "a list";
  case Node::Kind::Scalar: break;
  }
  switch (n.scalarType) {
  case Node::ScalarType::String: return "a string";
  case Node::ScalarType::Number: return "a number";
  case Node::ScalarType::Bool: return "a boolean";
  case Node::ScalarType::YamlPlain: break;
  }
  return "\"" + n.text + "\"";
}

class Reader {
public:
  explicit Reader(std::string path) : m_path(std::move(path)) {}

  void problem(int line, const std::string& key, const std::string& what) {
    std::string where = m_path;
    if (line > 0) where += ":" + std::to_string(line);
    m_problems.push_back(where + ": " + (key.empty() ? "" : key + ": ") + what);
  }
  std::vector<std::string>& problems() { return m_problems; }

  std::optional<std::string> str(const Node& n, const std::string& key) {
    if (n.kind == Node::Kind::Scalar &&
        (n.scalarType == Node::ScalarType::String || n.scalarType == Node::ScalarType::YamlPlain)) {
      // The text was valid UTF-8, but a YAML parser may still decode something into bytes that
      // are not (seen with yaml-cpp and a NUL byte, found by fuzzing); every string ends up in
      // JSON (the run store, checkpoints), which must be UTF-8.
      if (const auto bad = findInvalidUtf8(n.text)) {
        problem(n.line, key, "the value is not valid UTF-8 once decoded: " + describeUtf8Problem(*bad, 0));
        return std::nullopt;
      }
      return n.text;
    }
    problem(n.line, key, "expected a string, found " + kindName(n));
    return std::nullopt;
  }

  std::optional<bool> boolean(const Node& n, const std::string& key) {
    if (n.kind == Node::Kind::Scalar) {
      if (n.scalarType == Node::ScalarType::Bool) return n.text == "true";
      if (n.scalarType == Node::ScalarType::YamlPlain) {
        const std::string t = lowered(n.text);
        if (t == "true" || t == "yes" || t == "on") return true;
        if (t == "false" || t == "no" || t == "off") return false;
      }
    }
    problem(n.line, key, "expected true or false, found " + kindName(n));
    return std::nullopt;
  }

  std::optional<double> number(const Node& n, const std::string& key) {
    if (n.kind == Node::Kind::Scalar &&
        (n.scalarType == Node::ScalarType::Number || n.scalarType == Node::ScalarType::YamlPlain)) {
      errno = 0;
      char* end = nullptr;
      const double value = std::strtod(n.text.c_str(), &end);
      if (!n.text.empty() && end == n.text.c_str() + n.text.size() && errno == 0 && std::isfinite(value)) {
        return value;
      }
    }
    problem(n.line, key, "expected a number, found " + kindName(n));
    return std::nullopt;
  }

  std::optional<std::int64_t> integer(const Node& n, const std::string& key, std::int64_t min) {
    if (n.kind == Node::Kind::Scalar &&
        (n.scalarType == Node::ScalarType::Number || n.scalarType == Node::ScalarType::YamlPlain)) {
      errno = 0;
      char* end = nullptr;
      const long long value = std::strtoll(n.text.c_str(), &end, 10);
      if (!n.text.empty() && end == n.text.c_str() + n.text.size() && errno == 0) {
        if (value < min) {
          problem(n.line, key, "must be at least " + std::to_string(min) + ", found " + n.text);
          return std::nullopt;
        }
        return value;
      }
    }
    problem(n.line, key, "expected a whole number, found " + kindName(n));
    return std::nullopt;
  }

  using Field = std::function<void(const Node&, const std::string&)>;

  /// Calls the field for each key of `n`; unknown keys and a non-mapping are problems.
  void walk(const Node& n, const std::string& prefix, const std::vector<std::pair<std::string, Field>>& fields) {
    if (n.kind != Node::Kind::Map) {
      problem(n.line, prefix, "expected a mapping of keys, found " + kindName(n));
      return;
    }
    for (std::size_t i = 0; i < n.entries.size(); ++i) {
      // Named references, not a structured binding: a lambda may not capture a binding before C++20.
      const std::string& key = n.entries[i].first;
      const Node& value = n.entries[i].second;
      const std::string full = prefix.empty() ? key : prefix + "." + key;
      const auto it = std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.first == key; });
      if (it == fields.end()) {
        std::string known;
        for (const auto& f : fields) known += (known.empty() ? "" : ", ") + f.first;
        problem(n.keyLines[i], full, "unknown key (expected one of: " + known + ")");
        continue;
      }
      it->second(value, full);
    }
  }

private:
  std::string m_path;
  std::vector<std::string> m_problems;
};

Node fromYaml(const YAML::Node& y) {
  Node n;
  n.line = y.Mark().line >= 0 ? y.Mark().line + 1 : 0;
  switch (y.Type()) {
  case YAML::NodeType::Undefined:
  case YAML::NodeType::Null: n.kind = Node::Kind::Null; break;
  case YAML::NodeType::Scalar:
    n.kind = Node::Kind::Scalar;
    n.text = y.Scalar();
    // "!" marks a quoted scalar (always a string); "?" a plain one, typed by the field reading it.
    n.scalarType = y.Tag() == "!" ? Node::ScalarType::String : Node::ScalarType::YamlPlain;
    if (n.scalarType == Node::ScalarType::YamlPlain && (n.text == "~" || lowered(n.text) == "null")) {
      n.kind = Node::Kind::Null;
    }
    break;
  case YAML::NodeType::Sequence:
    n.kind = Node::Kind::List;
    for (const YAML::Node& item : y) n.items.push_back(fromYaml(item));
    break;
  case YAML::NodeType::Map:
    n.kind = Node::Kind::Map;
    for (const auto& kv : y) {
      n.entries.emplace_back(kv.first.Scalar(), fromYaml(kv.second));
      n.keyLines.push_back(kv.first.Mark().line + 1);
    }
    break;
  }
  return n;
}

Node fromJson(const nlohmann::ordered_json& j) {
  Node n;
  if (j.is_null()) {
    n.kind = Node::Kind::Null;
  } else if (j.is_object()) {
    n.kind = Node::Kind::Map;
    for (const auto& [key, value] : j.items()) {
      n.entries.emplace_back(key, fromJson(value));
      n.keyLines.push_back(0);
    }
  } else if (j.is_array()) {
    n.kind = Node::Kind::List;
    for (const auto& item : j) n.items.push_back(fromJson(item));
  } else {
    n.kind = Node::Kind::Scalar;
    if (j.is_string()) {
      n.text = j.get<std::string>();
    } else if (j.is_boolean()) {
      n.scalarType = Node::ScalarType::Bool;
      n.text = j.get<bool>() ? "true" : "false";
    } else {
      n.scalarType = Node::ScalarType::Number;
      n.text = j.dump();
    }
  }
  return n;
}

bool looksLikeJson(const std::string& text, const std::string& path) {
  const std::string ext = lowered(std::filesystem::path(path).extension().string());
  if (ext == ".json") return true;
  if (ext == ".yaml" || ext == ".yml") return false;
  const auto first = text.find_first_not_of(" \t\r\n");
  return first != std::string::npos && text[first] == '{';
}

/// Reads the tree into `config`, collecting every problem.
void readConfig(const Node& root, Reader& r, RunConfig& c) {
  bool haveModel = false, haveDatasetPath = false, haveOutput = false;
  auto setString = [&](std::string& target, bool* seen = nullptr) {
    return [&r, &target, seen](const Node& v, const std::string& key) {
      if (auto s = r.str(v, key)) {
        target = *s;
        if (seen) *seen = !s->empty();
      }
    };
  };
  auto setBool = [&](bool& target) {
    return [&r, &target](const Node& v, const std::string& key) {
      if (auto b = r.boolean(v, key)) target = *b;
    };
  };
  auto setInt = [&](std::int64_t& target, std::int64_t min) {
    return [&r, &target, min](const Node& v, const std::string& key) {
      if (auto i = r.integer(v, key, min)) target = *i;
    };
  };
  // A number checked against a range; `range` says it in words for the message.
  auto setNumber = [&](double& target, std::function<bool(double)> ok, std::string range) {
    return [&r, &target, ok, range](const Node& v, const std::string& key) {
      if (auto d = r.number(v, key)) {
        if (ok(*d)) {
          target = *d;
        } else {
          std::ostringstream found;
          found << *d;
          r.problem(v.line, key, "must be " + range + ", found " + found.str());
        }
      }
    };
  };
  auto positive = [](double x) { return x > 0.0; };
  auto nonNegative = [](double x) { return x >= 0.0; };
  auto unit = [](double x) { return x >= 0.0 && x < 1.0; };

  r.walk(root, "", {
    {"name", setString(c.name)},
    {"model", setString(c.modelPath, &haveModel)},
    {"tokenizer", setString(c.tokenizerPath)},
    {"output_dir", setString(c.outputDir, &haveOutput)},
    {"pretrain", setBool(c.pretrain)},
    {"method", [&](const Node& v, const std::string& key) {
       if (auto s = r.str(v, key)) {
         const auto m = parseTrainMethod(*s);
         if (!m || *m == TrainMethod::Frozen) {
           r.problem(v.line, key, "expected lora-fa, lora or full, found \"" + *s + "\"");
         } else {
           c.adapter.method = *m;
         }
       }
     }},
    {"dataset", [&](const Node& v, const std::string& key) {
       r.walk(v, key, {
         {"path", setString(c.dataset.path, &haveDatasetPath)},
         {"format", [&](const Node& f, const std::string& k) {
            if (auto s = r.str(f, k)) {
              if (auto fmt = parseDatasetFormat(*s)) c.dataset.format = *fmt;
              else r.problem(f.line, k, "expected auto, alpaca, chat, text, classification or source-target, found \"" + *s + "\"");
            }
          }},
         {"template", [&](const Node& f, const std::string& k) {
            if (auto s = r.str(f, k)) {
              if (lowered(*s) == "auto" || s->empty()) c.dataset.chatTemplate.clear();
              else if (parseChatTemplateKind(*s)) c.dataset.chatTemplate = *s;
              else r.problem(f.line, k, "expected auto or one of " + chatTemplateNames() + ", found \"" + *s + "\"");
            }
          }},
         {"template_date", setString(c.dataset.templateDate)},
         {"validation_fraction", setNumber(c.dataset.validationFraction, unit, "in [0, 1)")},
         {"eval_path", setString(c.dataset.evalPath)},
         {"text_column", setString(c.dataset.textColumn)},
         {"label_column", setString(c.dataset.labelColumn)},
         {"source_column", setString(c.dataset.sourceColumn)},
         {"target_column", setString(c.dataset.targetColumn)},
         {"train_on_prompt", setBool(c.dataset.trainOnPrompt)},
         {"packing", setBool(c.dataset.packing)},
       });
     }},
    {"adapter", [&](const Node& v, const std::string& key) {
       r.walk(v, key, {
         {"rank", [&](const Node& f, const std::string& k) {
            if (auto i = r.integer(f, k, 1)) {
              if (*i > 1'000'000) r.problem(f.line, k, "is implausibly large: " + std::to_string(*i));
              else c.adapter.rank = static_cast<int>(*i);
            }
          }},
         {"alpha", setNumber(c.adapter.alpha, positive, "positive")},
         {"rslora", setBool(c.adapter.useRslora)},
         {"dropout", setNumber(c.adapter.dropout, unit, "in [0, 1)")},
         {"init", [&](const Node& f, const std::string& k) {
            if (auto s = r.str(f, k)) {
              if (auto init = parseLoraInit(*s)) c.adapter.init = *init;
              else r.problem(f.line, k, "expected kaiming-uniform, gaussian or orthogonal, found \"" + *s + "\"");
            }
          }},
         {"init_from", setString(c.adapterInitFrom)},
         {"targets", [&](const Node& f, const std::string& k) {
            if (f.kind == Node::Kind::List) {
              std::string joined;
              for (const Node& item : f.items) {
                if (auto s = r.str(item, k)) joined += (joined.empty() ? "" : ",") + *s;
              }
              if (joined.empty()) r.problem(f.line, k, "the list is empty");
              else c.targets = joined;
              return;
            }
            if (auto s = r.str(f, k)) {
              if (s->find_first_not_of(" \t,") == std::string::npos) r.problem(f.line, k, "is empty");
              else c.targets = *s;
            }
          }},
       });
     }},
    {"optim", [&](const Node& v, const std::string& key) {
       r.walk(v, key, {
         {"lr", setNumber(c.optim.learningRate, positive, "positive")},
         {"schedule", [&](const Node& f, const std::string& k) {
            if (auto s = r.str(f, k)) {
              if (auto sch = parseLrSchedule(*s)) c.optim.schedule = *sch;
              else r.problem(f.line, k, "expected constant, linear or cosine, found \"" + *s + "\"");
            }
          }},
         {"warmup_steps", setInt(c.optim.warmupSteps, 0)},
         {"weight_decay", setNumber(c.optim.weightDecay, nonNegative, "at least 0")},
         {"grad_clip", setNumber(c.optim.gradClip, nonNegative, "at least 0 (0: no clipping)")},
         {"betas", [&](const Node& f, const std::string& k) {
            if (f.kind != Node::Kind::List || f.items.size() != 2) {
              r.problem(f.line, k, "expected a list of two numbers [beta1, beta2], found " + kindName(f));
              return;
            }
            double b[2] = {c.optim.beta1, c.optim.beta2};
            for (int i = 0; i < 2; ++i) {
              if (auto d = r.number(f.items[static_cast<std::size_t>(i)], k)) {
                if (unit(*d)) b[i] = *d;
                else r.problem(f.line, k, "each beta must be in [0, 1)");
              }
            }
            c.optim.beta1 = b[0];
            c.optim.beta2 = b[1];
          }},
         {"eps", setNumber(c.optim.eps, positive, "positive")},
         {"projected_b", setBool(c.optim.projectedB)},
       });
     }},
    {"train", [&](const Node& v, const std::string& key) {
       r.walk(v, key, {
         {"epochs", setInt(c.train.epochs, 1)},
         {"max_steps", setInt(c.train.maxSteps, 0)},
         {"batch_size", setInt(c.train.batchSize, 1)},
         {"grad_accumulation", setInt(c.train.gradAccumulation, 1)},
         {"max_seq_len", setInt(c.train.maxSeqLen, 2)},
         {"seed", [&](const Node& f, const std::string& k) {
            if (auto i = r.integer(f, k, 0)) c.train.seed = static_cast<std::uint64_t>(*i);
          }},
         {"eval_every", setInt(c.train.evalEvery, 0)},
         {"save_every", setInt(c.train.saveEvery, 0)},
         {"keep_last", setInt(c.train.keepLast, 1)},
         {"early_stopping_patience", setInt(c.train.earlyStoppingPatience, 0)},
         {"precision", [&](const Node& f, const std::string& k) {
            if (auto s = r.str(f, k)) {
              if (auto p = parsePrecision(*s)) c.train.precision = *p;
              else r.problem(f.line, k, "expected fp32, bf16 or fp16, found \"" + *s + "\"");
            }
          }},
         {"gradient_checkpointing", setBool(c.train.gradientCheckpointing)},
         {"recompute_mlp", setBool(c.train.recomputeMlp)},
         {"device", [&](const Node& f, const std::string& k) {
            if (auto s = r.str(f, k)) {
              const std::string d = lowered(*s);
              bool ok = d == "auto" || d == "cpu" || d == "cuda";
              if (!ok && d.rfind("cuda:", 0) == 0 && d.size() > 5) {
                ok = d.find_first_not_of("0123456789", 5) == std::string::npos;
              }
              if (ok) c.train.device = d;
              else r.problem(f.line, k, "expected auto, cpu, cuda or cuda:N, found \"" + *s + "\"");
            }
          }},
       });
     }},
    {"eval", [&](const Node& v, const std::string& key) {
       r.walk(v, key, {
         {"generate_max_examples", setInt(c.eval.generateMaxExamples, 0)},
         {"max_new_tokens", setInt(c.eval.maxNewTokens, 0)},
       });
     }},
  });

  if (!haveModel) r.problem(0, "model", "is required (the Hugging Face model folder)");
  if (!haveDatasetPath) r.problem(0, "dataset.path", "is required (the training data file)");
  if (!haveOutput) r.problem(0, "output_dir", "is required (where checkpoints and the adapter go)");
  if (c.train.device == "cpu" && c.train.precision == Precision::Fp16) {
    r.problem(0, "train.precision",
              "fp16 needs a CUDA device (LibTorch's CPU autocast does bf16 only); use bf16 or fp32 on cpu");
  }
  if (c.pretrain && c.adapter.method != TrainMethod::Full) {
    r.problem(0, "pretrain", "needs method: full (every weight trains from random initialisation)");
  }
  if (!c.adapterInitFrom.empty() && c.adapter.method != TrainMethod::LoraFa && c.adapter.method != TrainMethod::Lora) {
    r.problem(0, "adapter.init_from", "applies to methods lora-fa and lora only");
  }
  if (c.optim.projectedB && c.adapter.method != TrainMethod::LoraFa) {
    r.problem(0, "optim.projected_b", "applies to method lora-fa only");
  }
}

} // namespace

ConfigError::ConfigError(std::string path, std::vector<std::string> problems)
    : std::runtime_error([&] {
        std::string text = problems.size() == 1 ? "invalid run configuration:"
                                                : "invalid run configuration (" + std::to_string(problems.size()) +
                                                      " problems):";
        for (const std::string& p : problems) text += "\n  " + p;
        return text;
      }()),
      m_path(std::move(path)), m_problems(std::move(problems)) {}

RunConfig parseRunConfig(const std::string& text, const std::string& path) {
  // Every string of a config ends up in JSON (the run store, checkpoints), which must be UTF-8.
  if (const auto bad = findInvalidUtf8(text)) {
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad->offset), '\n');
    throw ConfigError(path, {path + ":" + std::to_string(line) + ": " + describeUtf8Problem(*bad, 0)});
  }
  // YAML 1.2 and JSON allow no control characters but tab, line feed and carriage return.
  const auto control = std::find_if(text.begin(), text.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f;
  });
  if (control != text.end()) {
    const auto line = 1 + std::count(text.begin(), control, '\n');
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(*control)));
    throw ConfigError(path, {path + ":" + std::to_string(line) + ": a control character (byte " + byte + " at offset " +
                             std::to_string(control - text.begin()) +
                             ") is not allowed; a run config may hold tab, line feed and carriage return only"});
  }
  Reader reader(path);
  Node root;
  if (looksLikeJson(text, path)) {
    try {
      root = fromJson(parseJsonStrictly(text.data(), text.data() + text.size(), path, "config"));
    } catch (const FormatError& e) {
      throw ConfigError(path, {e.what()});
    }
  } else {
    try {
      root = fromYaml(YAML::Load(text));
    } catch (const YAML::Exception& e) {
      throw ConfigError(path, {path + ":" + std::to_string(e.mark.line + 1) + ": YAML: " + e.msg});
    }
    // yaml-cpp keeps both entries of a repeated key; a config must say each thing once.
    std::function<void(const Node&, const std::string&)> checkDuplicates = [&](const Node& n, const std::string& prefix) {
      for (std::size_t i = 0; i < n.entries.size(); ++i) {
        const std::string full = prefix.empty() ? n.entries[i].first : prefix + "." + n.entries[i].first;
        for (std::size_t j = 0; j < i; ++j) {
          if (n.entries[j].first == n.entries[i].first) {
            reader.problem(n.keyLines[i], full, "appears twice (first on line " + std::to_string(n.keyLines[j]) + ")");
          }
        }
        checkDuplicates(n.entries[i].second, full);
      }
    };
    checkDuplicates(root, "");
  }
  RunConfig config;
  if (root.kind == Node::Kind::Null) {
    throw ConfigError(path, {path + ": the file holds no configuration"});
  }
  readConfig(root, reader, config);
  if (!reader.problems().empty()) throw ConfigError(path, std::move(reader.problems()));
  return config;
}

RunConfig loadRunConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path, {path + ": cannot be read (missing or not readable)"});
  std::ostringstream text;
  text << in.rdbuf();
  RunConfig config = parseRunConfig(text.str(), path);
  const std::filesystem::path base = std::filesystem::absolute(path).parent_path();
  auto resolve = [&](std::string& p) {
    if (!p.empty() && std::filesystem::path(p).is_relative()) p = (base / p).lexically_normal().string();
  };
  resolve(config.modelPath);
  resolve(config.tokenizerPath);
  resolve(config.dataset.path);
  resolve(config.dataset.evalPath);
  resolve(config.outputDir);
  resolve(config.adapterInitFrom);
  return config;
}

std::string toJson(const RunConfig& c) {
  nlohmann::ordered_json j;
  j["name"] = c.name;
  j["model"] = c.modelPath;
  j["tokenizer"] = c.tokenizerPath;
  j["output_dir"] = c.outputDir;
  j["method"] = toString(c.adapter.method);
  j["pretrain"] = c.pretrain;
  j["dataset"] = {{"path", c.dataset.path},
                  {"format", toString(c.dataset.format)},
                  {"template", c.dataset.chatTemplate.empty() ? "auto" : c.dataset.chatTemplate},
                  {"template_date", c.dataset.templateDate},
                  {"validation_fraction", c.dataset.validationFraction},
                  {"eval_path", c.dataset.evalPath},
                  {"text_column", c.dataset.textColumn},
                  {"label_column", c.dataset.labelColumn},
                  {"source_column", c.dataset.sourceColumn},
                  {"target_column", c.dataset.targetColumn},
                  {"train_on_prompt", c.dataset.trainOnPrompt},
                  {"packing", c.dataset.packing}};
  j["adapter"] = {{"rank", c.adapter.rank},        {"alpha", c.adapter.alpha},
                  {"rslora", c.adapter.useRslora}, {"dropout", c.adapter.dropout},
                  {"init", toString(c.adapter.init)}, {"targets", c.targets},
                  {"init_from", c.adapterInitFrom}};
  j["optim"] = {{"lr", c.optim.learningRate},          {"schedule", toString(c.optim.schedule)},
                {"warmup_steps", c.optim.warmupSteps}, {"weight_decay", c.optim.weightDecay},
                {"grad_clip", c.optim.gradClip},       {"betas", {c.optim.beta1, c.optim.beta2}},
                {"eps", c.optim.eps},                  {"projected_b", c.optim.projectedB}};
  j["train"] = {{"epochs", c.train.epochs},
                {"max_steps", c.train.maxSteps},
                {"batch_size", c.train.batchSize},
                {"grad_accumulation", c.train.gradAccumulation},
                {"max_seq_len", c.train.maxSeqLen},
                {"seed", c.train.seed},
                {"eval_every", c.train.evalEvery},
                {"save_every", c.train.saveEvery},
                {"keep_last", c.train.keepLast},
                {"early_stopping_patience", c.train.earlyStoppingPatience},
                {"precision", toString(c.train.precision)},
                {"gradient_checkpointing", c.train.gradientCheckpointing},
                {"recompute_mlp", c.train.recomputeMlp},
                {"device", c.train.device}};
  j["eval"] = {{"generate_max_examples", c.eval.generateMaxExamples}, {"max_new_tokens", c.eval.maxNewTokens}};
  return j.dump(2);
}

const char* toString(LrSchedule schedule) {
  switch (schedule) {
  case LrSchedule::Constant: return "constant";
  case LrSchedule::Linear: return "linear";
  case LrSchedule::Cosine: return "cosine";
  }
  return "unknown";
}

const char* toString(Precision precision) {
  switch (precision) {
  case Precision::Fp32: return "fp32";
  case Precision::Bf16: return "bf16";
  case Precision::Fp16: return "fp16";
  }
  return "unknown";
}

std::optional<LrSchedule> parseLrSchedule(std::string_view text) {
  const std::string t = lowered(text);
  if (t == "constant") return LrSchedule::Constant;
  if (t == "linear") return LrSchedule::Linear;
  if (t == "cosine") return LrSchedule::Cosine;
  return std::nullopt;
}

std::optional<Precision> parsePrecision(std::string_view text) {
  const std::string t = lowered(text);
  if (t == "fp32" || t == "float32") return Precision::Fp32;
  if (t == "bf16" || t == "bfloat16") return Precision::Bf16;
  if (t == "fp16" || t == "float16") return Precision::Fp16;
  return std::nullopt;
}

RunConfig withRunStartValues(RunConfig config) {
  if (config.dataset.templateDate.empty()) config.dataset.templateDate = todayDateString();
  return config;
}

} // namespace lorafa
