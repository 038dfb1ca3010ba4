#pragma once

#include "LanguageModel.h"

namespace lorafa {

/// T5ForConditionalGeneration (v1.0 with a ReLU feed-forward, v1.1 / Flan-T5 with gated-gelu):
/// RMS layer norms without bias, no linear biases, unscaled attention with a learned relative
/// position bias (computed in block 0 of each stack and shared by its blocks), cross-attention
/// in the decoder. With tied embeddings the decoder output is scaled by d_model^-0.5 before the
/// product with `shared.weight`.
class T5Model : public LanguageModel {
public:
  T5Model(const ModelConfig& config, const c10::TensorOptions& options);
  /// Logits [B, Tdec, vocab] for inputs.decoderInputIds. Uses inputs.encoderHidden when defined
  /// (else encodes inputIds / attentionMask); with inputs.cache the decoder's self-attention keys
  /// and values are appended to it (cross-attention keys are recomputed each call).
  at::Tensor forward(const ModelInputs& inputs) override;
  /// The encoder's final hidden states [B, T, d_model].
  at::Tensor encode(const ModelInputs& inputs) override;
  std::optional<OutputHead> outputHead() const override;
  std::vector<std::string> outputHeadNames() const override { return {"lm_head"}; }
  std::vector<std::string> checkpointNames(const std::string& parameterName) const override;
  bool isIgnoredCheckpointTensor(const std::string& name) const override;
  void setGradientCheckpointing(bool enabled) override;

  class Attention;
  class AttentionLayer;
  class FeedForwardLayer;
  class Block;
  class Stack;

private:
  /// d_model^-0.5 with scale_decoder_outputs, else 1.
  double outputScale() const;
  std::shared_ptr<EmbeddingTable> m_shared;
  std::shared_ptr<Stack> m_encoder, m_decoder;
  std::shared_ptr<LinearLayer> m_lmHead; // null when tied to `shared`
};

/// Hugging Face's T5Attention._relative_position_bucket: relative positions (key − query) to
/// bucket ids, half the buckets exact, the rest logarithmic up to maxDistance; bidirectional
/// (encoder) buckets split by sign, unidirectional (decoder) ones count only keys in the past.
at::Tensor t5RelativePositionBucket(const at::Tensor& relativePosition, bool bidirectional,
                                    std::int64_t numBuckets, std::int64_t maxDistance);

} // namespace lorafa
