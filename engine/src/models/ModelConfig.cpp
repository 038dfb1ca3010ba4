#include "ModelConfig.h"

#include "io/StrictJson.h"
#include "lorafa/FormatError.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
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

/// One rope object ("rope_scaling", "rope_parameters" or one of Gemma 3's per-layer-type entries
/// of "rope_parameters"), named `key` in errors. `theta` is the base when the object has none.
RopeSettings parseRopeObject(const ConfigReader& r, const Json& j, const std::string& key, double theta,
                             std::int64_t rotaryDim) {
  RopeSettings rope;
  rope.theta = theta;
  if (j.is_null()) return rope;
  if (!j.is_object()) r.fail("key \"" + key + "\" must be an object, found " + j.type_name());
  ConfigReader s(j, r.source()); // errors name the config file
  RopeScaling& scaling = rope.scaling;
  rope.theta = s.number("rope_theta", theta);
  scaling.type = s.string("rope_type", s.string("type", "default"));
  if (scaling.type == "su") scaling.type = "longrope"; // Phi-3's first name for it
  const std::int64_t maxPositions = r.integer("max_position_embeddings", 2048);
  // Phi-3 keeps the pretraining length at the top level of config.json; transformers prefers that
  // one to the rope object's.
  scaling.originalMaxPositions = r.has("original_max_position_embeddings")
                                     ? r.integer("original_max_position_embeddings")
                                     : s.integer("original_max_position_embeddings", maxPositions);
  const bool derivedFactor = scaling.type == "longrope" || scaling.type == "yarn";
  scaling.factor = s.number("factor", derivedFactor ? static_cast<double>(maxPositions) / scaling.originalMaxPositions
                                                    : 1.0);
  scaling.lowFreqFactor = s.number("low_freq_factor", 1.0);
  scaling.highFreqFactor = s.number("high_freq_factor", 4.0);
  if (scaling.type != "default" && scaling.type != "linear" && scaling.type != "dynamic" && scaling.type != "llama3" &&
      scaling.type != "longrope" && scaling.type != "yarn") {
    r.fail(key + " type \"" + scaling.type + "\" is not supported (default, linear, dynamic, llama3, longrope, yarn)");
  }
  if ((scaling.type == "yarn" || scaling.type == "llama3") && scaling.originalMaxPositions <= 0) {
    r.fail(key + " original_max_position_embeddings must be positive, found " +
           std::to_string(scaling.originalMaxPositions));
  }
  if (scaling.type == "yarn") {
    // YaRN's attention factor: 0.1·mscale·ln(factor) + 1 (1 for factor ≤ 1), or the ratio of two
    // such terms when mscale and mscale_all_dim are both given (DeepSeek).
    auto yarnScale = [](double factor, double m) { return factor <= 1.0 ? 1.0 : 0.1 * m * std::log(factor) + 1.0; };
    const double mscale = s.number("mscale", 0.0), mscaleAllDim = s.number("mscale_all_dim", 0.0);
    const double fallback = mscale != 0.0 && mscaleAllDim != 0.0
                                ? yarnScale(scaling.factor, mscale) / yarnScale(scaling.factor, mscaleAllDim)
                                : yarnScale(scaling.factor, 1.0);
    scaling.attentionFactor = s.number("attention_factor", fallback);
    scaling.betaFast = s.number("beta_fast", 32.0);
    scaling.betaSlow = s.number("beta_slow", 1.0);
    scaling.truncate = s.boolean("truncate", true);
    if (scaling.betaFast == 0.0) scaling.betaFast = 32.0; // transformers: `or 32`
    if (scaling.betaSlow == 0.0) scaling.betaSlow = 1.0;
  }
  if (scaling.type != "default" && scaling.factor <= 0.0) r.fail(key + " factor must be positive");
  if (scaling.type == "longrope") {
    auto factors = [&](const char* name) {
      if (!s.has(name) || !j.at(name).is_array()) r.fail(key + " (longrope) needs a list \"" + name + "\"");
      std::vector<double> values;
      for (const Json& v : j.at(name)) {
        if (!v.is_number()) r.fail(key + " " + name + " must hold numbers, found " + v.type_name());
        values.push_back(v.get<double>());
      }
      if (static_cast<std::int64_t>(values.size()) != rotaryDim / 2) {
        r.fail(key + " " + name + " has " + std::to_string(values.size()) + " values; the rotary dimension " +
               std::to_string(rotaryDim) + " needs " + std::to_string(rotaryDim / 2));
      }
      return values;
    };
    scaling.shortFactor = factors("short_factor");
    scaling.longFactor = factors("long_factor");
    if (scaling.originalMaxPositions <= 1) r.fail(key + " original_max_position_embeddings must be above 1");
    const double fallback = scaling.factor <= 1.0
                                ? 1.0
                                : std::sqrt(1.0 + std::log(scaling.factor) /
                                                      std::log(static_cast<double>(scaling.originalMaxPositions)));
    scaling.attentionFactor = s.number("attention_factor", fallback);
  }
  return rope;
}

/// The decoder families' rotary settings: transformers 4's rope_theta + rope_scaling, transformers
/// 5's rope_parameters (one object, or one per layer type for Gemma 3).
void parseRope(const ConfigReader& r, ModelConfig& c, double defaultTheta) {
  const Json& json = r.json();
  const double topTheta = r.number("rope_theta", defaultTheta);
  const bool perLayerType = r.has("rope_parameters") && json.at("rope_parameters").is_object() &&
                            (json.at("rope_parameters").contains("full_attention") ||
                             json.at("rope_parameters").contains("sliding_attention"));
  RopeSettings global;
  if (perLayerType) {
    const Json& p = json.at("rope_parameters");
    global = parseRopeObject(r, p.value("full_attention", Json()), "rope_parameters.full_attention", topTheta,
                             c.rotaryDim);
    c.localRope = parseRopeObject(r, p.value("sliding_attention", Json()), "rope_parameters.sliding_attention",
                                  r.number("rope_local_base_freq", 10000.0), c.rotaryDim);
  } else {
    const char* key = r.has("rope_scaling") ? "rope_scaling" : (r.has("rope_parameters") ? "rope_parameters" : nullptr);
    global = key ? parseRopeObject(r, json.at(key), key, topTheta, c.rotaryDim) : RopeSettings{topTheta, {}};
    // transformers 5 writes the base inside rope_parameters (and no top-level rope_theta).
    if (r.has("rope_parameters") && json.at("rope_parameters").is_object()) {
      global.theta = ConfigReader(json.at("rope_parameters"), r.source()).number("rope_theta", global.theta);
    }
    if (c.modelType == "gemma3_text") c.localRope = {r.number("rope_local_base_freq", 10000.0), {}};
  }
  c.ropeTheta = global.theta;
  c.ropeScaling = global.scaling;
}

/// SmolLM3's "no_rope_layers" (1: the layer applies RoPE, 0: it does not), else one layer without
/// RoPE every "no_rope_layer_interval" (default 4) layers: layer i rotates when (i + 1) % interval ≠ 0.
void parseRopeLayers(const ConfigReader& r, ModelConfig& c) {
  c.ropeLayers.assign(static_cast<std::size_t>(std::max<std::int64_t>(c.numLayers, 0)), true);
  if (r.has("no_rope_layers")) {
    const Json& flags = r.json().at("no_rope_layers");
    if (!flags.is_array() || static_cast<std::int64_t>(flags.size()) != c.numLayers) {
      r.fail("key \"no_rope_layers\" must be a list of " + std::to_string(c.numLayers) + " flags (0 or 1)");
    }
    for (std::size_t i = 0; i < flags.size(); ++i) {
      if (!flags[i].is_number_integer() || (flags[i].get<std::int64_t>() != 0 && flags[i].get<std::int64_t>() != 1)) {
        r.fail("no_rope_layers[" + std::to_string(i) + "] must be 0 or 1, found " + flags[i].dump());
      }
      c.ropeLayers[i] = flags[i].get<std::int64_t>() == 1;
    }
    return;
  }
  const std::int64_t interval = r.integer("no_rope_layer_interval", 4);
  requirePositive(r, "no_rope_layer_interval", interval);
  for (std::int64_t i = 0; i < c.numLayers; ++i) c.ropeLayers[i] = (i + 1) % interval != 0;
}

/// Which layers use sliding-window attention: "layer_types" when the config has it, else each
/// family's rule as transformers applies it to older configs.
void parseSlidingWindow(const ConfigReader& r, ModelConfig& c) {
  const std::string& t = c.modelType;
  // transformers' defaults when the key is absent: 4096 for Mistral and Gemma 3, none otherwise.
  c.slidingWindow = r.json().contains("sliding_window")
                        ? r.integer("sliding_window", 0)
                        : (t == "mistral" || t == "gemma3_text" ? 4096 : 0);
  if ((t == "qwen2" || t == "qwen3" || t == "smollm3") && !r.boolean("use_sliding_window", false)) c.slidingWindow = 0;
  if (c.slidingWindow < 0) r.fail("key \"sliding_window\" must be positive, found " + std::to_string(c.slidingWindow));
  c.slidingLayers.assign(static_cast<std::size_t>(std::max<std::int64_t>(c.numLayers, 0)), false);
  if (r.has("layer_types")) {
    const Json& types = r.json().at("layer_types");
    if (!types.is_array() || static_cast<std::int64_t>(types.size()) != c.numLayers) {
      r.fail("key \"layer_types\" must be a list of " + std::to_string(c.numLayers) + " layer types");
    }
    for (std::size_t i = 0; i < types.size(); ++i) {
      const std::string type = types[i].is_string() ? types[i].get<std::string>() : types[i].dump();
      if (type != "full_attention" && type != "sliding_attention") {
        r.fail("layer_types[" + std::to_string(i) + "] is \"" + type +
               "\"; supported: full_attention, sliding_attention");
      }
      c.slidingLayers[i] = type == "sliding_attention";
    }
  } else if (t == "gemma3_text") {
    const std::int64_t pattern = r.integer("sliding_window_pattern", r.integer("_sliding_window_pattern", 6));
    requirePositive(r, "sliding_window_pattern", pattern);
    for (std::int64_t i = 0; i < c.numLayers; ++i) c.slidingLayers[i] = (i + 1) % pattern != 0;
  } else if (t == "smollm3") {
    // SmolLM3: the layers without RoPE slide, when use_sliding_window is on.
    for (std::int64_t i = 0; i < c.numLayers; ++i) c.slidingLayers[i] = !c.ropeLayers[i];
  } else if (t == "qwen2" || t == "qwen3") {
    const std::int64_t first = r.integer("max_window_layers", c.numLayers);
    for (std::int64_t i = first; i < c.numLayers; ++i) c.slidingLayers[i] = true;
  } else {
    for (std::int64_t i = 0; i < c.numLayers; ++i) c.slidingLayers[i] = true; // Mistral, Phi-3: every layer
  }
  if (c.slidingWindow == 0) c.slidingLayers.assign(c.slidingLayers.size(), false);
}

/// The Hugging Face classes of a decoder model type: causal LM and sequence classifier.
struct DecoderClasses {
  const char* modelType;
  const char* causal;
  const char* classifier;
};
constexpr DecoderClasses kDecoderClasses[] = {
    {"llama", "LlamaForCausalLM", "LlamaForSequenceClassification"},
    {"mistral", "MistralForCausalLM", "MistralForSequenceClassification"},
    {"qwen2", "Qwen2ForCausalLM", "Qwen2ForSequenceClassification"},
    {"qwen3", "Qwen3ForCausalLM", "Qwen3ForSequenceClassification"},
    {"gemma3_text", "Gemma3ForCausalLM", "Gemma3TextForSequenceClassification"},
    {"phi3", "Phi3ForCausalLM", "Phi3ForSequenceClassification"},
    {"smollm3", "SmolLM3ForCausalLM", "SmolLM3ForSequenceClassification"},
};

const DecoderClasses* decoderClasses(const std::string& modelType) {
  for (const DecoderClasses& d : kDecoderClasses) {
    if (modelType == d.modelType) return &d;
  }
  return nullptr;
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

std::string supportedModelTypes() {
  std::string list;
  for (const DecoderClasses& d : kDecoderClasses) list += std::string(d.modelType) + ", ";
  return list + "gpt2, bert, roberta, t5";
}

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
  if (const DecoderClasses* classes = decoderClasses(t)) {
    const bool gemma = t == "gemma3_text";
    c.family = ModelFamily::Llama;
    c.vocabSize = r.integer("vocab_size");
    c.hiddenSize = r.integer("hidden_size");
    c.intermediateSize = r.integer("intermediate_size");
    c.numLayers = r.integer("num_hidden_layers");
    c.numHeads = r.integer("num_attention_heads");
    requirePositive(r, "num_attention_heads", c.numHeads);
    c.numKvHeads = r.integer("num_key_value_heads", c.numHeads);
    c.headDim = r.integer("head_dim", gemma ? 256 : c.hiddenSize / c.numHeads);
    // Gemma names it hidden_activation (its hidden_act is the older, unused key).
    c.hiddenAct = gemma ? r.string("hidden_activation", "gelu_pytorch_tanh") : r.string("hidden_act", "silu");
    c.maxPositions = r.integer("max_position_embeddings", 2048);
    c.normEps = r.number("rms_norm_eps", t == "phi3" ? 1e-5 : 1e-6);
    // partial_rotary_factor: Phi-4-mini rotates the first 3/4 of each head.
    double partial = r.number("partial_rotary_factor", 1.0);
    if (r.has("rope_parameters") && json.at("rope_parameters").is_object()) {
      partial = ConfigReader(json.at("rope_parameters"), source).number("partial_rotary_factor", partial);
    }
    if (partial <= 0.0 || partial > 1.0) r.fail("partial_rotary_factor must be in (0, 1], found " + std::to_string(partial));
    c.rotaryDim = static_cast<std::int64_t>(static_cast<double>(c.headDim) * partial);
    if (c.rotaryDim % 2 != 0 || c.rotaryDim <= 0) {
      r.fail("the rotary dimension (head_dim · partial_rotary_factor = " + std::to_string(c.rotaryDim) +
             ") must be even and positive");
    }
    parseRope(r, c, gemma ? 1000000.0 : 10000.0);
    c.tieWordEmbeddings = r.boolean("tie_word_embeddings", gemma);
    c.attentionBias = r.boolean("attention_bias", false);
    c.mlpBias = r.boolean("mlp_bias", false);
    if (t == "qwen2") {
      c.attentionBias = true; // Qwen2: biases on q, k and v; not on o
      c.qkvBiasOnly = true;
    }
    c.qkNorm = t == "qwen3" || gemma;
    c.fusedProjections = t == "phi3";
    if (gemma) {
      c.gemmaNorms = true;
      c.attentionScale = 1.0 / std::sqrt(r.number("query_pre_attn_scalar", 256.0));
      if (r.has("final_logit_softcapping")) {
        c.finalLogitSoftcap = r.number("final_logit_softcapping", 0.0);
        if (*c.finalLogitSoftcap <= 0.0) {
          r.fail("final_logit_softcapping must be positive or null, found " + std::to_string(*c.finalLogitSoftcap));
        }
      }
      if (r.has("attn_logit_softcapping")) {
        r.fail("attn_logit_softcapping is set (Gemma 2-style attention soft-capping); this build supports "
               "Gemma 3 text models, which leave it null");
      }
      if (r.boolean("use_bidirectional_attention", false)) {
        r.fail("use_bidirectional_attention is true (an embedding model); only causal Gemma 3 models are supported");
      }
    }
    if (t == "smollm3") parseRopeLayers(r, c);
    parseSlidingWindow(r, c);
    if (c.architecture.empty()) c.architecture = classes->causal;
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
  } else if (t == "gemma3") {
    r.fail("model_type \"gemma3\" is Gemma 3's image-and-text checkpoint; this build trains its text models "
           "(model_type \"gemma3_text\", e.g. gemma-3-1b or gemma-3-270m)");
  } else {
    r.fail("model_type \"" + t + "\" is not supported (" + supportedModelTypes() + ")");
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
    if (ropeScaling.type == "longrope") {
      j["rope_scaling"] = {{"rope_type", "longrope"},
                           {"short_factor", ropeScaling.shortFactor},
                           {"long_factor", ropeScaling.longFactor},
                           {"factor", ropeScaling.factor},
                           {"attention_factor", ropeScaling.attentionFactor},
                           {"original_max_position_embeddings", ropeScaling.originalMaxPositions}};
    } else if (ropeScaling.type == "yarn") {
      j["rope_scaling"] = {{"rope_type", "yarn"},
                           {"factor", ropeScaling.factor},
                           {"attention_factor", ropeScaling.attentionFactor},
                           {"beta_fast", ropeScaling.betaFast},
                           {"beta_slow", ropeScaling.betaSlow},
                           {"truncate", ropeScaling.truncate},
                           {"original_max_position_embeddings", ropeScaling.originalMaxPositions}};
    } else if (ropeScaling.type != "default") {
      j["rope_scaling"] = {{"rope_type", ropeScaling.type},
                           {"factor", ropeScaling.factor},
                           {"low_freq_factor", ropeScaling.lowFreqFactor},
                           {"high_freq_factor", ropeScaling.highFreqFactor},
                           {"original_max_position_embeddings", ropeScaling.originalMaxPositions}};
    }
    if (rotaryDim != 0 && rotaryDim != headDim) {
      j["partial_rotary_factor"] = static_cast<double>(rotaryDim) / static_cast<double>(headDim);
    }
    if (gemmaNorms) {
      j.erase("hidden_act");
      j["hidden_activation"] = hiddenAct;
      j["query_pre_attn_scalar"] = attentionScale > 0.0 ? 1.0 / (attentionScale * attentionScale) : headDim;
      j["rope_local_base_freq"] = localRope.theta > 0.0 ? localRope.theta : ropeTheta;
      j["final_logit_softcapping"] = finalLogitSoftcap ? Json(*finalLogitSoftcap) : Json();
    }
    if (!ropeLayers.empty()) {
      Json flags = Json::array();
      for (const bool rotary : ropeLayers) flags.push_back(rotary ? 1 : 0);
      j["no_rope_layers"] = flags;
    }
    if (slidingWindow > 0) {
      j["sliding_window"] = slidingWindow;
      if (modelType == "qwen2" || modelType == "qwen3" || modelType == "smollm3") j["use_sliding_window"] = true;
      Json types = Json::array();
      for (const bool sliding : slidingLayers) types.push_back(sliding ? "sliding_attention" : "full_attention");
      j["layer_types"] = types;
    } else {
      j["sliding_window"] = nullptr;
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
  const DecoderClasses* classes = decoderClasses(modelType);
  c.architecture = classes != nullptr ? classes->classifier : "LlamaForSequenceClassification";
  c.labels = labelNames;
  c.numLabels = static_cast<std::int64_t>(labelNames.size());
  return c;
}

} // namespace lorafa
