#pragma once

#include "LanguageModel.h"

namespace lorafa {

/// GPT2LMHeadModel: learned positions, pre-LayerNorm blocks, fused c_attn, gelu_new, head tied
/// to wte. Conv1D weights are [in, out] in checkpoints and [out, in] here (transposed on load).
class Gpt2Model : public LanguageModel {
public:
  Gpt2Model(const ModelConfig& config, const c10::TensorOptions& options);
  at::Tensor forward(const ModelInputs& inputs) override;
  std::optional<OutputHead> outputHead() const override;
  std::vector<std::string> outputHeadNames() const override { return {"lm_head"}; }
  std::vector<std::string> checkpointNames(const std::string& parameterName) const override;
  bool isIgnoredCheckpointTensor(const std::string& name) const override;
  bool isStoredTransposed(const std::string& name) const override;

  class Block;

private:
  std::shared_ptr<torch::nn::Module> m_body; // "transformer"
  std::shared_ptr<EmbeddingTable> m_wte, m_wpe;
  std::shared_ptr<IndexedModules<Block>> m_layers;
  std::shared_ptr<LayerNorm> m_lnF;
  std::shared_ptr<LinearLayer> m_lmHead; // only when not tied
};

} // namespace lorafa
