#include "LlamaModel.h"

#include "Attention.h"
#include "BlockCheckpoint.h"
#include "memory/GatedActivation.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/full.h>
#include <ATen/TensorIndexing.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/pow.h>
#include <ATen/ops/where.h>

#include <cmath>

namespace lorafa {
namespace {

at::Tensor rotateHalf(const at::Tensor& x) {
  const std::int64_t half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

} // namespace

at::Tensor ropeInverseFrequencies(const ModelConfig& c) {
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  at::Tensor invFreq = 1.0 / at::pow(c.ropeTheta, at::arange(0, c.headDim, 2, opts) / static_cast<double>(c.headDim));
  const RopeScaling& s = c.ropeScaling;
  if (s.type == "linear") {
    invFreq = invFreq / s.factor;
  } else if (s.type == "llama3") {
    const double oldLength = static_cast<double>(s.originalMaxPositions);
    const double lowFreqWavelen = oldLength / s.lowFreqFactor;
    const double highFreqWavelen = oldLength / s.highFreqFactor;
    const at::Tensor wavelen = 2.0 * M_PI / invFreq;
    const at::Tensor scaled = at::where(wavelen > lowFreqWavelen, invFreq / s.factor, invFreq);
    const at::Tensor smooth = (oldLength / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    const at::Tensor smoothed = (1.0 - smooth) * scaled / s.factor + smooth * scaled;
    const at::Tensor medium = (wavelen >= highFreqWavelen).logical_and(wavelen <= lowFreqWavelen);
    invFreq = at::where(medium, smoothed, scaled);
  }
  return invFreq;
}

class LlamaModel::Block : public torch::nn::Module {
public:
  Block(const ModelConfig& c, const std::string& prefix, LinearRegistry& registry)
      : m_heads(c.numHeads), m_kvHeads(c.numKvHeads), m_headDim(c.headDim), m_act(c.hiddenAct) {
    const auto& opts = registry.options();
    m_inputNorm = register_module("input_layernorm", std::make_shared<RmsNorm>(c.hiddenSize, c.normEps, opts));
    m_attention = register_module("self_attn", std::make_shared<torch::nn::Module>());
    const std::string attn = prefix + "self_attn.";
    const bool qkvBias = c.attentionBias;
    const bool oBias = c.attentionBias && !c.qkvBiasOnly;
    registry.add(*m_attention, attn, "q_proj", c.hiddenSize, c.numHeads * c.headDim, qkvBias, m_q);
    registry.add(*m_attention, attn, "k_proj", c.hiddenSize, c.numKvHeads * c.headDim, qkvBias, m_k);
    registry.add(*m_attention, attn, "v_proj", c.hiddenSize, c.numKvHeads * c.headDim, qkvBias, m_v);
    registry.add(*m_attention, attn, "o_proj", c.numHeads * c.headDim, c.hiddenSize, oBias, m_o);
    m_postNorm =
        register_module("post_attention_layernorm", std::make_shared<RmsNorm>(c.hiddenSize, c.normEps, opts));
    m_mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
    const std::string mlp = prefix + "mlp.";
    registry.add(*m_mlp, mlp, "gate_proj", c.hiddenSize, c.intermediateSize, c.mlpBias, m_gate);
    registry.add(*m_mlp, mlp, "up_proj", c.hiddenSize, c.intermediateSize, c.mlpBias, m_up);
    registry.add(*m_mlp, mlp, "down_proj", c.intermediateSize, c.hiddenSize, c.mlpBias, m_down);
  }

  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                     at::Tensor* cachedKeys, at::Tensor* cachedValues, bool recomputeMlp = false) {
    const std::int64_t batch = hidden.size(0), length = hidden.size(1);
    const at::Tensor x = m_inputNorm->forward(hidden);
    at::Tensor q = m_q->forward(x).view({batch, length, m_heads, m_headDim}).transpose(1, 2);
    at::Tensor k = m_k->forward(x).view({batch, length, m_kvHeads, m_headDim}).transpose(1, 2);
    at::Tensor v = m_v->forward(x).view({batch, length, m_kvHeads, m_headDim}).transpose(1, 2);
    q = q * cos + rotateHalf(q) * sin;
    k = k * cos + rotateHalf(k) * sin;
    if (cachedKeys != nullptr) {
      if (cachedKeys->defined()) {
        k = at::cat({*cachedKeys, k}, 2);
        v = at::cat({*cachedValues, v}, 2);
      }
      *cachedKeys = k;
      *cachedValues = v;
    }
    const at::Tensor attended = scaledDotProductAttention(q, k, v, mask, 1.0 / std::sqrt(static_cast<double>(m_headDim)));
    const at::Tensor h = hidden + m_o->forward(attended.transpose(1, 2).reshape({batch, length, m_heads * m_headDim}));
    const at::Tensor y = m_postNorm->forward(h);
    // SwiGLU as one node that keeps gate and up only (memory/GatedActivation).
    if (!recomputeMlp) return h + m_down->forward(gatedActivation(m_act, m_gate->forward(y), m_up->forward(y)));
    // train.recompute_mlp: keep y only; gate and up (with their adapters) and the activation run
    // again in backward. down_proj is outside the checkpoint: its input is made once.
    std::vector<at::Tensor> parameters = m_gate->parameters();
    for (const at::Tensor& p : m_up->parameters()) parameters.push_back(p);
    const at::Tensor activated = checkpointFunction(parameters, [this](const std::vector<at::Tensor>& in) {
      return gatedActivation(m_act, m_gate->forward(in[0]), m_up->forward(in[0]));
    }, {y});
    return h + m_down->forward(activated);
  }

private:
  std::int64_t m_heads, m_kvHeads, m_headDim;
  std::string m_act;
  std::shared_ptr<RmsNorm> m_inputNorm, m_postNorm;
  std::shared_ptr<torch::nn::Module> m_attention, m_mlp;
  std::shared_ptr<LinearLayer> m_q, m_k, m_v, m_o, m_gate, m_up, m_down;
};

LlamaModel::LlamaModel(const ModelConfig& c, const c10::TensorOptions& options) : LanguageModel(c, options) {
  checkActivation(c.hiddenAct);
  m_body = register_module("model", std::make_shared<torch::nn::Module>());
  m_embed = m_body->register_module("embed_tokens", std::make_shared<EmbeddingTable>(c.vocabSize, c.hiddenSize, options));
  m_layers = m_body->register_module("layers", std::make_shared<IndexedModules<Block>>());
  for (std::int64_t i = 0; i < c.numLayers; ++i) {
    m_layers->append(std::make_shared<Block>(c, "model.layers." + std::to_string(i) + ".", registry()));
  }
  m_norm = m_body->register_module("norm", std::make_shared<RmsNorm>(c.hiddenSize, c.normEps, options));
  if (c.isSequenceClassifier()) {
    registry().add(*this, "", "score", c.hiddenSize, c.numLabels, false, m_score);
  } else if (!c.tieWordEmbeddings) {
    registry().add(*this, "", "lm_head", c.hiddenSize, c.vocabSize, false, m_lmHead);
  }
  m_invFreq = ropeInverseFrequencies(c);
}

std::pair<at::Tensor, at::Tensor> LlamaModel::rotary(std::int64_t start, std::int64_t length,
                                                     const at::Tensor& positionIds, c10::ScalarType dtype,
                                                     const c10::Device& device) const {
  at::Tensor invFreq = m_invFreq;
  const ModelConfig& c = config();
  // Hugging Face sizes dynamic scaling by the largest position (max(position_ids) + 1).
  const std::int64_t total = positionIds.defined() && c.ropeScaling.type == "dynamic"
                                 ? positionIds.max().item<std::int64_t>() + 1
                                 : start + length;
  if (c.ropeScaling.type == "dynamic" && total > c.maxPositions) {
    // Dynamic NTK: a larger base once the sequence outgrows the trained length.
    const double f = c.ropeScaling.factor;
    const double base = c.ropeTheta * std::pow(f * total / c.maxPositions - (f - 1.0),
                                               static_cast<double>(c.headDim) / (c.headDim - 2));
    invFreq = 1.0 / at::pow(base, at::arange(0, c.headDim, 2, invFreq.options()) / static_cast<double>(c.headDim));
  }
  if (positionIds.defined()) {
    // Per-row positions (packed segments restart at 0): cos/sin [B, 1, T, D], broadcast over
    // heads. Same float64 arithmetic as below, so a segment gets exactly its standalone values.
    const at::Tensor positions = positionIds.to(at::kDouble);
    const at::Tensor freqs = positions.unsqueeze(-1) * invFreq.to(positionIds.device());
    const at::Tensor emb = at::cat({freqs, freqs}, -1).unsqueeze(1);
    return {emb.cos().to(device, dtype), emb.sin().to(device, dtype)};
  }
  const at::Tensor positions = at::arange(start, start + length, invFreq.options());
  const at::Tensor freqs = positions.unsqueeze(1) * invFreq.unsqueeze(0);
  const at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(device, dtype), emb.sin().to(device, dtype)};
}

at::Tensor LlamaModel::forward(const ModelInputs& inputs) {
  at::Tensor hidden = inputs.inputEmbeds.defined() ? inputs.inputEmbeds : m_embed->forward(inputs.inputIds);
  const std::int64_t length = hidden.size(1);
  KvCache* cache = inputs.cache;
  const std::int64_t past = cache != nullptr ? cache->length() : 0;
  const auto [cos, sin] = rotary(past, length, inputs.positionIds, hidden.scalar_type(), hidden.device());
  const at::Tensor mask = causalAttentionMask(inputs.attentionMask, inputs.segmentIds, length, past,
                                              hidden.scalar_type(), hidden.device());
  if (cache != nullptr) {
    cache->keys.resize(m_layers->size());
    cache->values.resize(m_layers->size());
  }
  for (std::size_t i = 0; i < m_layers->size(); ++i) {
    Block& block = (*m_layers)[i];
    if (cache == nullptr && checkpointingBlocks()) {
      hidden = checkpointBlock(block, [&block, cos = cos, sin = sin, mask](const std::vector<at::Tensor>& in) {
        return block.forward(in[0], cos, sin, mask, nullptr, nullptr);
      }, {hidden});
      continue;
    }
    hidden = block.forward(hidden, cos, sin, mask, cache ? &cache->keys[i] : nullptr,
                           cache ? &cache->values[i] : nullptr, cache == nullptr && recomputingMlp());
  }
  hidden = m_norm->forward(hidden);
  if (m_score) {
    // The last real token of each row (rows are padded on the right): it has seen the whole text.
    const std::int64_t rows = hidden.size(0);
    const at::Tensor last = inputs.attentionMask.defined()
                                ? (inputs.attentionMask.sum(1) - 1).clamp_min(0).to(at::kLong)
                                : at::full({rows}, length - 1, at::TensorOptions().dtype(at::kLong).device(hidden.device()));
    const at::Tensor pooled = hidden.index({at::arange(rows, last.options()), last});
    return m_score->forward(pooled);
  }
  if (inputs.returnHidden) return hidden; // the loss applies outputHead() chunk by chunk
  return m_lmHead ? m_lmHead->forward(hidden) : at::matmul(hidden, m_embed->weight.t());
}

std::optional<OutputHead> LlamaModel::outputHead() const {
  if (m_score) return std::nullopt;
  return plainOutputHead(m_lmHead, m_embed->weight);
}

} // namespace lorafa
