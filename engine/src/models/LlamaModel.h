#pragma once

#include "LanguageModel.h"

namespace lorafa {

/// LlamaForCausalLM, which also covers Mistral and Qwen2 (q/k/v biases): RMSNorm, rotary
/// position embeddings (half-split), grouped-query attention, SwiGLU feed-forward. With a
/// *ForSequenceClassification architecture: no lm_head; `score` (hidden → labels, no bias) on the
/// last real token of each row, as Hugging Face's LlamaForSequenceClassification.
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

private:
  /// cos and sin [T, headDim] for absolute positions start..start+T, or [B, 1, T, headDim] for
  /// `positionIds` [B, T] when defined.
  std::pair<at::Tensor, at::Tensor> rotary(std::int64_t start, std::int64_t length, const at::Tensor& positionIds,
                                           c10::ScalarType dtype, const c10::Device& device) const;

  std::shared_ptr<torch::nn::Module> m_body; // "model"
  std::shared_ptr<EmbeddingTable> m_embed;
  std::shared_ptr<IndexedModules<Block>> m_layers;
  std::shared_ptr<RmsNorm> m_norm;
  std::shared_ptr<LinearLayer> m_lmHead; // null when tied to the embeddings, or for a classifier
  std::shared_ptr<LinearLayer> m_score;  // sequence classifiers only
  at::Tensor m_invFreq;                  // [headDim / 2], float64, scaling applied
};

/// Rotary inverse frequencies with Hugging Face's rope scaling (linear, llama3; dynamic is
/// applied per sequence length in rotary()). float64.
at::Tensor ropeInverseFrequencies(const ModelConfig& config);

} // namespace lorafa
