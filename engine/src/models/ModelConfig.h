#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lorafa {

/// The model families the engine builds.
enum class ModelFamily { Llama, Gpt2, Bert, Roberta, T5 };

const char* toString(ModelFamily family);

/// The config.json model types this build loads, as a comma-separated list for messages.
std::string supportedModelTypes();

/// RoPE frequency scaling as Hugging Face configs give it (`rope_scaling` / `rope_parameters`).
struct RopeScaling {
  std::string type = "default"; ///< default, linear, dynamic, llama3, longrope (Phi-3's "su"), yarn
  double factor = 1.0;
  double lowFreqFactor = 1.0;
  double highFreqFactor = 4.0;
  std::int64_t originalMaxPositions = 8192;
  /// longrope: per-frequency divisors for sequences up to / beyond originalMaxPositions, and the
  /// factor cos and sin are multiplied by (the config's attention_factor, else
  /// sqrt(1 + ln(factor) / ln(originalMaxPositions)) for factor > 1).
  std::vector<double> shortFactor;
  std::vector<double> longFactor;
  double attentionFactor = 1.0; ///< longrope and yarn: cos and sin are multiplied by it
  /// yarn: the rotation counts that bound the interpolated band, and whether its bounds are
  /// rounded outwards (the config's beta_fast, beta_slow, truncate).
  double betaFast = 32.0;
  double betaSlow = 1.0;
  bool truncate = true;
};

/// One set of rotary position embeddings: its base and scaling.
struct RopeSettings {
  double theta = 10000.0;
  RopeScaling scaling;
};

/// Everything the module trees need from a Hugging Face `config.json`, with HF's defaults.
/// Fields a family does not use keep their defaults.
struct ModelConfig {
  ModelFamily family = ModelFamily::Llama;
  std::string modelType;    ///< config "model_type": llama, mistral, qwen2, qwen3, gemma3_text, phi3, gpt2, bert, roberta, t5
  std::string architecture; ///< first of "architectures", or the family's default class

  std::int64_t vocabSize = 0;
  std::int64_t hiddenSize = 0;       ///< d_model / n_embd for T5 / GPT-2
  std::int64_t intermediateSize = 0; ///< d_ff / n_inner (GPT-2 default 4·hidden)
  std::int64_t numLayers = 0;        ///< encoder layers for T5
  std::int64_t numDecoderLayers = 0; ///< T5 only
  std::int64_t numHeads = 0;
  std::int64_t numKvHeads = 0; ///< default numHeads
  std::int64_t headDim = 0;    ///< default hidden/heads; T5's d_kv
  std::int64_t maxPositions = 0;
  std::string hiddenAct;
  double normEps = 1e-6; ///< rms_norm_eps / layer_norm_eps / layer_norm_epsilon
  double ropeTheta = 10000.0;
  RopeScaling ropeScaling;
  bool tieWordEmbeddings = false;
  bool attentionBias = false; ///< q/k/v (and o for Llama) biases
  bool qkvBiasOnly = false;   ///< Qwen2: biases on q/k/v but not o
  bool mlpBias = false;

  // Decoder variants of the Llama family
  bool qkNorm = false;          ///< Qwen3, Gemma 3: RMSNorm over head_dim on q and k before RoPE
  bool fusedProjections = false; ///< Phi-3: one qkv_proj (q, k, v rows) and one gate_up_proj (gate, up)
  std::int64_t rotaryDim = 0;   ///< rotated dims of each head (partial_rotary_factor); 0: head_dim
  /// Gemma: RMSNorm weights act as (1 + w) and multiply in float32; embeddings are scaled by
  /// sqrt(hidden_size) (rounded to the weights' dtype); norms after attention and around the MLP.
  bool gemmaNorms = false;
  double attentionScale = 0.0;  ///< query_pre_attn_scalar^-0.5 (Gemma); 0: head_dim^-0.5
  std::optional<double> finalLogitSoftcap; ///< logits = cap · tanh(logits / cap)
  /// Sliding-window attention: layers marked true see the last slidingWindow keys only (key j
  /// visible to query i when i − window < j ≤ i). Empty, or a window of 0: every layer is global.
  std::int64_t slidingWindow = 0;
  std::vector<bool> slidingLayers;
  /// The rotary settings of sliding layers where they differ (Gemma 3's local base); theta 0:
  /// the same as the global ones (ropeTheta, ropeScaling).
  RopeSettings localRope{0.0, {}};
  /// SmolLM3: which layers apply RoPE ("no_rope_layers", 1 = rotary); empty: every layer.
  std::vector<bool> ropeLayers;

  // Encoders
  std::int64_t typeVocabSize = 2;
  std::int64_t numLabels = 2;
  std::vector<std::string> labels; ///< id2label in id order, when given

  // T5
  std::int64_t relativeBuckets = 32;
  std::int64_t relativeMaxDistance = 128;
  bool gatedFeedForward = false; ///< "gated-gelu" (v1.1) vs "relu" (v1.0)
  std::string feedForwardAct = "relu";
  std::int64_t decoderStartTokenId = 0;
  /// T5: the decoder output is multiplied by d_model^-0.5 before the head (Mesh TensorFlow's
  /// tied-head rescaling). transformers 4 derived it from tie_word_embeddings; transformers 5
  /// always ties the head and writes "scale_decoder_outputs" (false for T5 v1.1 / Flan-T5).
  bool scaleDecoderOutputs = true;

  std::optional<std::int64_t> bosTokenId;
  std::optional<std::vector<std::int64_t>> eosTokenIds;
  std::optional<std::int64_t> padTokenId;

  /// Parses a config.json text. `source` names the file in errors (FormatError).
  static ModelConfig fromJson(const std::string& jsonText, const std::string& source);
  static ModelConfig fromFile(const std::string& path);
  /// A config.json a Hugging Face loader accepts for this config.
  std::string toJson() const;
  /// True for the *ForSequenceClassification architectures (logits [B, labels]).
  bool isSequenceClassifier() const;
  /// This decoder-only (Llama-family) config as its *ForSequenceClassification class with
  /// `labels` (id order), as Hugging Face's AutoModelForSequenceClassification makes it from a
  /// causal LM: same body, a new `score` head. Throws std::invalid_argument for other families.
  ModelConfig asSequenceClassifier(const std::vector<std::string>& labels) const;
};

} // namespace lorafa
