#pragma once

#include "LanguageModel.h"

namespace lorafa {

/// BertForSequenceClassification and RobertaForSequenceClassification: learned absolute
/// positions, post-LayerNorm encoder blocks, bidirectional attention with a key padding mask.
/// BERT classifies through its pooler (dense + tanh on token 0) and `classifier`; RoBERTa has no
/// pooler and a two-layer `classifier` (dense + tanh, out_proj) on token 0. RoBERTa positions
/// start after the padding id and skip padding, as Hugging Face counts them.
class BertModel : public LanguageModel {
public:
  BertModel(const ModelConfig& config, const c10::TensorOptions& options);
  /// Logits [B, num_labels]. token_type_ids are all zero.
  at::Tensor forward(const ModelInputs& inputs) override;
  std::vector<std::string> outputHeadNames() const override;
  std::vector<std::string> trainedHeadModules() const override { return {"classifier"}; }
  std::vector<std::string> checkpointNames(const std::string& parameterName) const override;
  bool isIgnoredCheckpointTensor(const std::string& name) const override;

  class Block;

private:
  bool isRoberta() const { return config().family == ModelFamily::Roberta; }
  at::Tensor positionIds(const at::Tensor& ids) const;

  std::string m_prefix; // "bert." or "roberta."
  std::shared_ptr<torch::nn::Module> m_body, m_embeddings, m_encoder;
  std::shared_ptr<EmbeddingTable> m_wordEmbeddings, m_positionEmbeddings, m_tokenTypeEmbeddings;
  std::shared_ptr<LayerNorm> m_embeddingNorm;
  std::shared_ptr<IndexedModules<Block>> m_layers;
  std::shared_ptr<torch::nn::Module> m_pooler;         // BERT only
  std::shared_ptr<LinearLayer> m_poolerDense;          // BERT only
  std::shared_ptr<torch::nn::Module> m_classifierHead; // RoBERTa: "classifier" holds dense + out_proj
  std::shared_ptr<LinearLayer> m_classifierDense;      // RoBERTa only
  std::shared_ptr<LinearLayer> m_classifier;           // BERT: classifier; RoBERTa: classifier.out_proj
};

} // namespace lorafa
