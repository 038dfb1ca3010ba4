#pragma once

#include "LanguageModel.h"

namespace lorafa {

/// LlamaForCausalLM and the decoders built like it: Mistral, Qwen2 (q/k/v biases), Qwen3 (q/k
/// RMSNorm per head), Phi-3 (fused qkv_proj and gate_up_proj, partial rotary, LongRoPE) and Gemma 3
/// text models ((1 + w) norms around attention and MLP, scaled embeddings, sliding-window layers
/// with their own RoPE base, GeGLU, final logit soft-capping). RMSNorm, rotary position
/// embeddings (half-split), grouped-query attention, gated feed-forward. With a
/// *ForSequenceClassification architecture: no lm_head; `score` (hidden → labels, no bias) on the
/// last real token of each row, as Hugging Face's *ForSequenceClassification.
class LlamaModel : public LanguageModel {
public:
  LlamaModel(const ModelConfig& config, const c10::TensorOptions& options);
  at::Tensor forward(const ModelInputs& inputs) override;
  std::optional<OutputHead> outputHead() const override;
  std::vector<std::string> outputHeadNames() const override {
    return m_score ? std::vector<std::string>{"score"} : std::vector<std::string>{"lm_head"};
  }
  std::vector<std::string> trainedHeadModules() const override {
    return m_score ? std::vector<std::string>{"score"} : std::vector<std::string>{};
  }
  /// A classifier made from a causal LM checkpoint leaves its lm_head unused.
  bool isIgnoredCheckpointTensor(const std::string& name) const override {
    return m_score != nullptr && name == "lm_head.weight";
  }

  class Block;

  /// One set of rotary frequencies (global layers; Gemma 3's sliding layers have their own).
  struct Rotary {
    RopeSettings settings;
    at::Tensor invFreq;     ///< [rotaryDim / 2], float64, scaling applied (longrope: the short factors)
    at::Tensor longInvFreq; ///< longrope: for sequences beyond its original length
  };

private:
  /// cos and sin [T, rotaryDim] for absolute positions start..start+T, or [B, 1, T, rotaryDim]
  /// for `positionIds` [B, T] when defined.
  std::pair<at::Tensor, at::Tensor> rotary(const Rotary& table, std::int64_t start, std::int64_t length,
                                           const at::Tensor& positionIds, c10::ScalarType dtype,
                                           const c10::Device& device) const;

  std::shared_ptr<torch::nn::Module> m_body; // "model"
  std::shared_ptr<EmbeddingTable> m_embed;
  std::shared_ptr<IndexedModules<Block>> m_layers;
  std::shared_ptr<RmsNorm> m_norm;
  std::shared_ptr<LinearLayer> m_lmHead; // null when tied to the embeddings, or for a classifier
  std::shared_ptr<LinearLayer> m_score;  // sequence classifiers only
  Rotary m_global;
  Rotary m_local; // sliding layers, when their settings differ (localRope.theta > 0)
  bool m_anySliding = false;
};

/// Rotary inverse frequencies [dim / 2] with Hugging Face's rope scaling (linear, llama3,
/// longrope's short or long factors; dynamic is applied per sequence length in rotary()). float64.
at::Tensor ropeInverseFrequencies(const RopeSettings& rope, std::int64_t dim, bool longFactors = false);
at::Tensor ropeInverseFrequencies(const ModelConfig& config);

} // namespace lorafa
