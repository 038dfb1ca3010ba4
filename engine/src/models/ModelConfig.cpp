#include "ModelConfig.h"

#include "io/StrictJson.h"
#include "lorafa/FormatError.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lorafa {
namespace {

using Json = nlohmann::json;

// Typed reads that name the file, the key and what was found.
class ConfigReader {
public:
  ConfigReader(const Json& json, const std::string& source) : m_json(json), m_source(source) {}

  bool has(const char* key) const { return m_json.contains(key) && !m_json.at(key).is_null(); }

  std::int64_t integer(const char* key) const {
    if (!has(key)) fail(std::string("missing required key \"") + key + "\"");
    return integerValue(key, m_json.at(key));
  }
  std::int64_t integer(const char* key, std::int64_t fallback) const {
    return has(key) ? integerValue(key, m_json.at(key)) : fallback;
  }
  double number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const Json& v = m_json.at(key);
    if (!v.is_number()) fail(std::string("key \"") + key + "\" must be a number, found " + v.type_name());
    return v.get<double>();
  }
  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const Json& v = m_json.at(key);
    if (!v.is_boolean()) fail(std::string("key \"") + key + "\" must be true or false, found " + v.type_name());
    return v.get<bool>();
  }
  std::string string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const Json& v = m_json.at(key);
    if (!v.is_string()) fail(std::string("key \"") + key + "\" must be a string, found " + v.type_name());
    return v.get<std::string>();
  }
  std::optional<std::int64_t> optionalInteger(const char* key) const {
    return has(key) ? std::optional<std::int64_t>(integerValue(key, m_json.at(key))) : std::nullopt;
  }
  const Json& json() const { return m_json; }
  const std::string& source() const { return m_source; }
  [[noreturn]] void fail(const std::string& problem) const { throw FormatError(m_source, problem); }

private:
  std::int64_t integerValue(const char* key, const Json& v) const {
    if (!v.is_number_integer()) {
      fail(std::string("key \"") + key + "\" must be an integer, found " + v.type_name() + " " + v.dump());
    }
    return v.get<std::int64_t>();
  }

  const Json& m_json;
  const std::string& m_source;
};

void requirePositive(const ConfigReader& r, const char* key, std::int64_t value) {
  if (value <= 0) r.fail(std::string("key \"") + key + "\" must be positive, found " + std::to_string(value));
}

RopeScaling parseRopeScaling(const ConfigReader& r) {
  RopeScaling scaling;
  const char* key = r.has("rope_scaling") ? "rope_scaling" : (r.has("rope_parameters") ? "rope_parameters" : nullptr);
  if (key == nullptr) return scaling;
  const Json& j = r.json().at(key);
  if (!j.is_object()) r.fail(std::string("key \"") + key + "\" must be an object, found " + j.type_name());
  ConfigReader s(j, r.source()); // errors name the config file
  scaling.type = s.string("rope_type", s.string("type", "default"));
  scaling.factor = s.number("factor", 1.0);
  scaling.lowFreqFactor = s.number("low_freq_factor", 1.0);
  scaling.highFreqFactor = s.number("high_freq_factor", 4.0);
  scaling.originalMaxPositions = s.integer("original_max_position_embeddings", r.integer("max_position_embeddings", 2048));
  if (scaling.type != "default" && scaling.type != "linear" && scaling.type != "dynamic" && scaling.type != "llama3") {
    r.fail(std::string(key) + " type \"" + scaling.type + "\" is not supported (default, linear, dynamic, llama3)");
  }
  if (scaling.type != "default" && scaling.factor <= 0.0) r.fail(std::string(key) + " factor must be positive");
  return scaling;
}

void parseEos(const ConfigReader& r, ModelConfig& c) {
  if (!r.has("eos_token_id")) return;
  const Json& v = r.json().at("eos_token_id");
  std::vector<std::int64_t> ids;
  if (v.is_number_integer()) {
    ids.push_back(v.get<std::int64_t>());
  } else if (v.is_array()) {
    for (const Json& e : v) {
      if (!e.is_number_integer()) r.fail("key \"eos_token_id\" must be an integer or a list of integers");
      ids.push_back(e.get<std::int64_t>());
    }
  } else {
    r.fail(std::string("key \"eos_token_id\" must be an integer or a list, found ") + v.type_name());
  }
  c.eosTokenIds = ids;
}

void parseLabels(const ConfigReader& r, ModelConfig& c) {
  if (r.has("id2label") && r.json().at("id2label").is_object()) {
    const Json& map = r.json().at("id2label");
    c.labels.assign(map.size(), std::string());
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::size_t id = 0;
      try {
        id = std::stoul(it.key());
      } catch (...) {
        r.fail("id2label key \"" + it.key() + "\" is not a label id");
      }
      if (id >= c.labels.size() || !it.value().is_string()) r.fail("id2label must map ids 0..n-1 to names");
      c.labels[id] = it.value().get<std::string>();
    }
  }
  c.numLabels = r.integer("num_labels", c.labels.empty() ? 2 : static_cast<std::int64_t>(c.labels.size()));
  requirePositive(r, "num_labels", c.numLabels);
}

} // namespace

const char* toString(ModelFamily family) {
  switch (family) {
  case ModelFamily::Llama: return "llama";
  case ModelFamily::Gpt2: return "gpt2";
  case ModelFamily::Bert: return "bert";
  case ModelFamily::Roberta: return "roberta";
  case ModelFamily::T5: return "t5";
  }
  return "unknown";
}

ModelConfig ModelConfig::fromJson(const std::string& jsonText, const std::string& source) {
  if (const std::int64_t deep = findJsonTooDeep(jsonText.data(), jsonText.data() + jsonText.size()); deep >= 0) {
    throw FormatError(source, "arrays and objects nest deeper than " + std::to_string(kMaxJsonDepth) +
                                  " levels (at byte " + std::to_string(deep) + ")");
  }
  Json json;
  try {
    json = Json::parse(jsonText);
  } catch (const Json::parse_error& error) {
    throw FormatError(source, std::string("invalid JSON at byte ") + std::to_string(error.byte) + ": " + error.what());
  } catch (const Json::exception& error) { // e.g. a number beyond a double (1e400)
    throw FormatError(source, std::string("invalid JSON: ") + error.what());
  }
  if (!json.is_object()) throw FormatError(source, std::string("expected a JSON object, found ") + json.type_name());
  const ConfigReader r(json, source);
  ModelConfig c;
  c.modelType = r.string("model_type", "");
  if (r.has("architectures") && json.at("architectures").is_array() && !json.at("architectures").empty() &&
      json.at("architectures")[0].is_string()) {
    c.architecture = json.at("architectures")[0].get<std::string>();
  }
  c.bosTokenId = r.optionalInteger("bos_token_id");
  c.padTokenId = r.optionalInteger("pad_token_id");
  parseEos(r, c);

  const std::string& t = c.modelType;
  if (t == "llama" || t == "mistral" || t == "qwen2") {
    c.family = ModelFamily::Llama;
    c.vocabSize = r.integer("vocab_size");
    c.hiddenSize = r.integer("hidden_size");
    c.intermediateSize = r.integer("intermediate_size");
    c.numLayers = r.integer("num_hidden_layers");
    c.numHeads = r.integer("num_attention_heads");
    requirePositive(r, "num_attention_heads", c.numHeads);
    c.numKvHeads = r.integer("num_key_value_heads", c.numHeads);
    c.headDim = r.integer("head_dim", c.hiddenSize / c.numHeads);
    c.hiddenAct = r.string("hidden_act", "silu");
    c.maxPositions = r.integer("max_position_embeddings", 2048);
    c.normEps = r.number("rms_norm_eps", 1e-6);
    c.ropeTheta = r.number("rope_theta", 10000.0);
    // transformers 5 writes the base inside rope_parameters (and no top-level rope_theta).
    if (r.has("rope_parameters") && r.json().at("rope_parameters").is_object()) {
      c.ropeTheta = ConfigReader(r.json().at("rope_parameters"), r.source()).number("rope_theta", c.ropeTheta);
    }
    c.ropeScaling = parseRopeScaling(r);
    c.tieWordEmbeddings = r.boolean("tie_word_embeddings", false);
    c.attentionBias = r.boolean("attention_bias", false);
    c.mlpBias = r.boolean("mlp_bias", false);
    if (t == "qwen2") {
      c.attentionBias = true; // Qwen2: biases on q, k and v; not on o
      c.qkvBiasOnly = true;
    }
    if (c.architecture.empty()) {
      c.architecture = t == "qwen2" ? "Qwen2ForCausalLM" : (t == "mistral" ? "MistralForCausalLM" : "LlamaForCausalLM");
    }
    if (c.isSequenceClassifier()) parseLabels(r, c);
    if (c.numKvHeads <= 0 || c.numHeads % c.numKvHeads != 0) {
      r.fail("num_attention_heads (" + std::to_string(c.numHeads) + ") must be a multiple of num_key_value_heads (" +
             std::to_string(c.numKvHeads) + ")");
    }
    if (c.headDim % 2 != 0) r.fail("head_dim must be even for rotary embeddings, found " + std::to_string(c.headDim));
  } else if (t == "gpt2") {
    c.family = ModelFamily::Gpt2;
    c.vocabSize = r.integer("vocab_size", 50257);
    c.hiddenSize = r.integer("n_embd", 768);
    c.numLayers = r.integer("n_layer", 12);
    c.numHeads = r.integer("n_head", 12);
    requirePositive(r, "n_head", c.numHeads);
    c.numKvHeads = c.numHeads;
    c.headDim = c.hiddenSize / c.numHeads;
    c.intermediateSize = r.integer("n_inner", 4 * c.hiddenSize);
    c.maxPositions = r.integer("n_positions", 1024);
    c.hiddenAct = r.string("activation_function", "gelu_new");
    c.normEps = r.number("layer_norm_epsilon", 1e-5);
    c.tieWordEmbeddings = r.boolean("tie_word_embeddings", true);
    c.attentionBias = true;
    c.mlpBias = true;
    if (c.architecture.empty()) c.architecture = "GPT2LMHeadModel";
  } else if (t == "bert" || t == "roberta") {
    c.family = t == "bert" ? ModelFamily::Bert : ModelFamily::Roberta;
    c.vocabSize = r.integer("vocab_size");
    c.hiddenSize = r.integer("hidden_size", 768);
    c.numLayers = r.integer("num_hidden_layers", 12);
    c.numHeads = r.integer("num_attention_heads", 12);
    requirePositive(r, "num_attention_heads", c.numHeads);
    c.numKvHeads = c.numHeads;
    c.headDim = c.hiddenSize / c.numHeads;
    c.intermediateSize = r.integer("intermediate_size", 3072);
    c.hiddenAct = r.string("hidden_act", "gelu");
    c.maxPositions = r.integer("max_position_embeddings", 512);
    c.typeVocabSize = r.integer("type_vocab_size", 2);
    c.normEps = r.number("layer_norm_eps", 1e-12);
    c.attentionBias = true;
    c.mlpBias = true;
    if (!c.padTokenId) c.padTokenId = t == "bert" ? 0 : 1;
    parseLabels(r, c);
    if (c.architecture.empty()) {
      c.architecture = t == "bert" ? "BertForSequenceClassification" : "RobertaForSequenceClassification";
    }
  } else if (t == "t5") {
    c.family = ModelFamily::T5;
    c.vocabSize = r.integer("vocab_size", 32128);
    c.hiddenSize = r.integer("d_model", 512);
    c.headDim = r.integer("d_kv", 64);
    c.intermediateSize = r.integer("d_ff", 2048);
    c.numLayers = r.integer("num_layers", 6);
    c.numDecoderLayers = r.integer("num_decoder_layers", c.numLayers);
    c.numHeads = r.integer("num_heads", 8);
    c.numKvHeads = c.numHeads;
    c.relativeBuckets = r.integer("relative_attention_num_buckets", 32);
    c.relativeMaxDistance = r.integer("relative_attention_max_distance", 128);
    c.normEps = r.number("layer_norm_epsilon", 1e-6);
    const std::string ff = r.string("feed_forward_proj", "relu");
    c.gatedFeedForward = ff.rfind("gated-", 0) == 0;
    c.feedForwardAct = c.gatedFeedForward ? ff.substr(6) : ff;
    if (c.feedForwardAct == "gelu") c.feedForwardAct = "gelu_new"; // HF maps gated-gelu to gelu_new
    if (c.feedForwardAct != "relu" && c.feedForwardAct != "gelu_new") {
      r.fail("feed_forward_proj \"" + ff + "\" is not supported (relu, gated-gelu)");
    }
    c.hiddenAct = c.feedForwardAct;
    c.tieWordEmbeddings = r.boolean("tie_word_embeddings", true);
    c.scaleDecoderOutputs = r.boolean("scale_decoder_outputs", c.tieWordEmbeddings);
    c.decoderStartTokenId = r.integer("decoder_start_token_id", 0);
    if (!c.padTokenId) c.padTokenId = 0;
    if (!c.eosTokenIds) c.eosTokenIds = std::vector<std::int64_t>{1};
    if (c.architecture.empty()) c.architecture = "T5ForConditionalGeneration";
  } else {
    r.fail("model_type \"" + t + "\" is not supported (llama, mistral, qwen2, gpt2, bert, roberta, t5)");
  }
  requirePositive(r, "vocab_size", c.vocabSize);
  requirePositive(r, "hidden size", c.hiddenSize);
  requirePositive(r, "number of layers", c.numLayers);
  requirePositive(r, "head_dim", c.headDim);
  return c;
}

ModelConfig ModelConfig::fromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, "cannot open the model config (config.json)");
  std::ostringstream text;
  text << in.rdbuf();
  return fromJson(text.str(), path);
}

std::string ModelConfig::toJson() const {
  Json j;
  j["architectures"] = Json::array({architecture});
  j["model_type"] = modelType;
  j["vocab_size"] = vocabSize;
  j["torch_dtype"] = "float32";
  switch (family) {
  case ModelFamily::Llama:
    j["hidden_size"] = hiddenSize;
    j["intermediate_size"] = intermediateSize;
    j["num_hidden_layers"] = numLayers;
    j["num_attention_heads"] = numHeads;
    j["num_key_value_heads"] = numKvHeads;
    j["head_dim"] = headDim;
    j["hidden_act"] = hiddenAct;
    j["max_position_embeddings"] = maxPositions;
    j["rms_norm_eps"] = normEps;
    j["rope_theta"] = ropeTheta;
    if (ropeScaling.type != "default") {
      j["rope_scaling"] = {{"rope_type", ropeScaling.type},
                           {"factor", ropeScaling.factor},
                           {"low_freq_factor", ropeScaling.lowFreqFactor},
                           {"high_freq_factor", ropeScaling.highFreqFactor},
                           {"original_max_position_embeddings", ropeScaling.originalMaxPositions}};
    }
    j["tie_word_embeddings"] = tieWordEmbeddings;
    if (modelType != "qwen2") j["attention_bias"] = attentionBias;
    j["mlp_bias"] = mlpBias;
    if (isSequenceClassifier()) {
      j["num_labels"] = numLabels;
      if (!labels.empty()) {
        Json id2label = Json::object(), label2id = Json::object();
        for (std::size_t i = 0; i < labels.size(); ++i) {
          id2label[std::to_string(i)] = labels[i];
          label2id[labels[i]] = static_cast<std::int64_t>(i);
        }
        j["id2label"] = id2label;
        j["label2id"] = label2id;
      }
    }
    break;
  case ModelFamily::Gpt2:
    j["n_embd"] = hiddenSize;
    j["n_layer"] = numLayers;
    j["n_head"] = numHeads;
    j["n_inner"] = intermediateSize;
    j["n_positions"] = maxPositions;
    j["activation_function"] = hiddenAct;
    j["layer_norm_epsilon"] = normEps;
    j["tie_word_embeddings"] = tieWordEmbeddings;
    break;
  case ModelFamily::Bert:
  case ModelFamily::Roberta:
    j["hidden_size"] = hiddenSize;
    j["num_hidden_layers"] = numLayers;
    j["num_attention_heads"] = numHeads;
    j["intermediate_size"] = intermediateSize;
    j["hidden_act"] = hiddenAct;
    j["max_position_embeddings"] = maxPositions;
    j["type_vocab_size"] = typeVocabSize;
    j["layer_norm_eps"] = normEps;
    j["num_labels"] = numLabels;
    break;
  case ModelFamily::T5:
    j["d_model"] = hiddenSize;
    j["d_kv"] = headDim;
    j["d_ff"] = intermediateSize;
    j["num_layers"] = numLayers;
    j["num_decoder_layers"] = numDecoderLayers;
    j["num_heads"] = numHeads;
    j["relative_attention_num_buckets"] = relativeBuckets;
    j["relative_attention_max_distance"] = relativeMaxDistance;
    j["layer_norm_epsilon"] = normEps;
    j["feed_forward_proj"] = gatedFeedForward ? "gated-gelu" : "relu";
    j["tie_word_embeddings"] = tieWordEmbeddings;
    // Written only where transformers 4's reading of tie_word_embeddings would get it wrong.
    if (scaleDecoderOutputs != tieWordEmbeddings) j["scale_decoder_outputs"] = scaleDecoderOutputs;
    j["decoder_start_token_id"] = decoderStartTokenId;
    break;
  }
  if (bosTokenId) j["bos_token_id"] = *bosTokenId;
  if (padTokenId) j["pad_token_id"] = *padTokenId;
  if (eosTokenIds) {
    j["eos_token_id"] = eosTokenIds->size() == 1 ? Json((*eosTokenIds)[0]) : Json(*eosTokenIds);
  }
  return j.dump(2);
}

bool ModelConfig::isSequenceClassifier() const {
  static const std::string suffix = "ForSequenceClassification";
  return architecture.size() > suffix.size() &&
         architecture.compare(architecture.size() - suffix.size(), suffix.size(), suffix) == 0;
}

ModelConfig ModelConfig::asSequenceClassifier(const std::vector<std::string>& labelNames) const {
  if (family != ModelFamily::Llama) {
    throw std::invalid_argument(std::string("a ") + toString(family) +
                                " model cannot be turned into a sequence classifier here; use a BERT/RoBERTa "
                                "classifier or a LLaMA-family model");
  }
  ModelConfig c = *this;
  c.architecture = modelType == "qwen2" ? "Qwen2ForSequenceClassification"
                                        : (modelType == "mistral" ? "MistralForSequenceClassification"
                                                                  : "LlamaForSequenceClassification");
  c.labels = labelNames;
  c.numLabels = static_cast<std::int64_t>(labelNames.size());
  return c;
}

} // namespace lorafa
