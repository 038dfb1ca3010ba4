#include "Gpt2Model.h"

#include "Attention.h"
#include "BlockCheckpoint.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/matmul.h>

#include <cmath>

namespace lorafa {
namespace {

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

class Gpt2Model::Block : public torch::nn::Module {
public:
  Block(const ModelConfig& c, const std::string& prefix, LinearRegistry& registry)
      : m_heads(c.numHeads), m_headDim(c.headDim), m_act(c.hiddenAct) {
    const auto& opts = registry.options();
    m_ln1 = register_module("ln_1", std::make_shared<LayerNorm>(c.hiddenSize, c.normEps, opts));
    m_attn = register_module("attn", std::make_shared<torch::nn::Module>());
    registry.add(*m_attn, prefix + "attn.", "c_attn", c.hiddenSize, 3 * c.hiddenSize, true, m_cAttn);
    registry.add(*m_attn, prefix + "attn.", "c_proj", c.hiddenSize, c.hiddenSize, true, m_attnProj);
    m_ln2 = register_module("ln_2", std::make_shared<LayerNorm>(c.hiddenSize, c.normEps, opts));
    m_mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
    registry.add(*m_mlp, prefix + "mlp.", "c_fc", c.hiddenSize, c.intermediateSize, true, m_fc);
    registry.add(*m_mlp, prefix + "mlp.", "c_proj", c.intermediateSize, c.hiddenSize, true, m_mlpProj);
  }

  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& mask, at::Tensor* cachedKeys, at::Tensor* cachedValues) {
    const std::int64_t batch = hidden.size(0), length = hidden.size(1), width = hidden.size(2);
    const auto qkv = m_cAttn->forward(m_ln1->forward(hidden)).split(width, -1);
    auto heads = [&](const at::Tensor& t) { return t.view({batch, length, m_heads, m_headDim}).transpose(1, 2); };
    const at::Tensor q = heads(qkv[0]);
    at::Tensor k = heads(qkv[1]);
    at::Tensor v = heads(qkv[2]);
    if (cachedKeys != nullptr) {
      if (cachedKeys->defined()) {
        k = at::cat({*cachedKeys, k}, 2);
        v = at::cat({*cachedValues, v}, 2);
      }
      *cachedKeys = k;
      *cachedValues = v;
    }
    const at::Tensor attended = scaledDotProductAttention(q, k, v, mask, 1.0 / std::sqrt(static_cast<double>(m_headDim)));
    const at::Tensor h = hidden + m_attnProj->forward(attended.transpose(1, 2).reshape({batch, length, width}));
    return h + m_mlpProj->forward(applyActivation(m_act, m_fc->forward(m_ln2->forward(h))));
  }

private:
  std::int64_t m_heads, m_headDim;
  std::string m_act;
  std::shared_ptr<LayerNorm> m_ln1, m_ln2;
  std::shared_ptr<torch::nn::Module> m_attn, m_mlp;
  std::shared_ptr<LinearLayer> m_cAttn, m_attnProj, m_fc, m_mlpProj;
};

Gpt2Model::Gpt2Model(const ModelConfig& c, const c10::TensorOptions& options) : LanguageModel(c, options) {
  checkActivation(c.hiddenAct);
  m_body = register_module("transformer", std::make_shared<torch::nn::Module>());
  m_wte = m_body->register_module("wte", std::make_shared<EmbeddingTable>(c.vocabSize, c.hiddenSize, options));
  m_wpe = m_body->register_module("wpe", std::make_shared<EmbeddingTable>(c.maxPositions, c.hiddenSize, options));
  m_layers = m_body->register_module("h", std::make_shared<IndexedModules<Block>>());
  for (std::int64_t i = 0; i < c.numLayers; ++i) {
    m_layers->append(std::make_shared<Block>(c, "transformer.h." + std::to_string(i) + ".", registry()));
  }
  m_lnF = m_body->register_module("ln_f", std::make_shared<LayerNorm>(c.hiddenSize, c.normEps, options));
  if (!c.tieWordEmbeddings) {
    registry().add(*this, "", "lm_head", c.hiddenSize, c.vocabSize, false, m_lmHead);
  }
}

at::Tensor Gpt2Model::forward(const ModelInputs& inputs) {
  const at::Tensor tokens = inputs.inputEmbeds.defined() ? inputs.inputEmbeds : m_wte->forward(inputs.inputIds);
  const std::int64_t length = tokens.size(1);
  KvCache* cache = inputs.cache;
  const std::int64_t past = cache != nullptr ? cache->length() : 0;
  if (past + length > config().maxPositions) {
    throw std::invalid_argument("GPT-2 sequence of " + std::to_string(past + length) +
                                " tokens exceeds n_positions = " + std::to_string(config().maxPositions));
  }
  // Packed rows: each segment's positions restart at 0 ([B, T] -> [B, T, hidden]).
  at::Tensor hidden =
      inputs.positionIds.defined()
          ? tokens + m_wpe->forward(inputs.positionIds.to(tokens.device()))
          : tokens + m_wpe->forward(at::arange(past, past + length,
                                               at::TensorOptions().dtype(at::kLong).device(tokens.device())))
                         .unsqueeze(0);
  const at::Tensor mask = causalAttentionMask(inputs.attentionMask, inputs.segmentIds, length, past,
                                              hidden.scalar_type(), hidden.device());
  if (cache != nullptr) {
    cache->keys.resize(m_layers->size());
    cache->values.resize(m_layers->size());
  }
  for (std::size_t i = 0; i < m_layers->size(); ++i) {
    Block& block = (*m_layers)[i];
    if (cache == nullptr && checkpointingBlocks()) {
      hidden = checkpointBlock(block, [&block, mask](const std::vector<at::Tensor>& in) {
        return block.forward(in[0], mask, nullptr, nullptr);
      }, {hidden});
      continue;
    }
    hidden = block.forward(hidden, mask, cache ? &cache->keys[i] : nullptr, cache ? &cache->values[i] : nullptr);
  }
  hidden = m_lnF->forward(hidden);
  if (inputs.returnHidden) return hidden; // the loss applies outputHead() chunk by chunk
  return m_lmHead ? m_lmHead->forward(hidden) : at::matmul(hidden, m_wte->weight.t());
}

std::optional<OutputHead> Gpt2Model::outputHead() const { return plainOutputHead(m_lmHead, m_wte->weight); }

std::vector<std::string> Gpt2Model::checkpointNames(const std::string& parameterName) const {
  const std::string prefix = "transformer.";
  if (parameterName.rfind(prefix, 0) == 0) {
    return {parameterName, parameterName.substr(prefix.size())}; // GPT2Model checkpoints drop the prefix
  }
  return {parameterName};
}

bool Gpt2Model::isIgnoredCheckpointTensor(const std::string& name) const {
  return endsWith(name, ".attn.bias") || endsWith(name, ".attn.masked_bias") ||
         (config().tieWordEmbeddings && name == "lm_head.weight");
}

bool Gpt2Model::isStoredTransposed(const std::string& name) const {
  return endsWith(name, ".c_attn.weight") || endsWith(name, ".c_proj.weight") || endsWith(name, ".c_fc.weight");
}

} // namespace lorafa
