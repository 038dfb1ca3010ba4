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
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/tanh.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/where.h>

#include <cmath>
#include <tuple>

namespace lorafa {
namespace {

at::Tensor rotateHalf(const at::Tensor& x) {
  const std::int64_t half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

} // namespace

at::Tensor ropeInverseFrequencies(const RopeSettings& rope, std::int64_t dim, bool longFactors) {
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  at::Tensor invFreq = 1.0 / at::pow(rope.theta, at::arange(0, dim, 2, opts) / static_cast<double>(dim));
  const RopeScaling& s = rope.scaling;
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
  } else if (s.type == "longrope") {
    const std::vector<double>& factors = longFactors ? s.longFactor : s.shortFactor;
    invFreq = invFreq / at::tensor(factors, opts);
  } else if (s.type == "yarn") {
    // YaRN: frequencies rotating fewer than beta_slow times over the original length are
    // interpolated (divided by factor), those rotating more than beta_fast times kept, a linear
    // ramp over the dimensions in between.
    const double d = static_cast<double>(dim);
    auto correctionDim = [&](double rotations) {
      return d * std::log(static_cast<double>(s.originalMaxPositions) / (rotations * 2.0 * M_PI)) /
             (2.0 * std::log(rope.theta));
    };
    double low = correctionDim(s.betaFast), high = correctionDim(s.betaSlow);
    if (s.truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, d - 1.0);
    if (low == high) high += 0.001; // as transformers: no division by zero
    const at::Tensor ramp = ((at::arange(0, dim / 2, opts) - low) / (high - low)).clamp(0.0, 1.0);
    const at::Tensor keep = 1.0 - ramp; // the share of the original (extrapolated) frequency
    invFreq = (invFreq / s.factor) * (1.0 - keep) + invFreq * keep;
  }
  return invFreq;
}

at::Tensor ropeInverseFrequencies(const ModelConfig& c) {
  return ropeInverseFrequencies(RopeSettings{c.ropeTheta, c.ropeScaling}, c.rotaryDim > 0 ? c.rotaryDim : c.headDim);
}

class LlamaModel::Block : public torch::nn::Module {
public:
  Block(const ModelConfig& c, const std::string& prefix, LinearRegistry& registry, bool sliding, bool rotary)
      : m_sliding(sliding), m_rotary(rotary), m_heads(c.numHeads), m_kvHeads(c.numKvHeads), m_headDim(c.headDim),
        m_rotaryDim(c.rotaryDim > 0 ? c.rotaryDim : c.headDim), m_intermediate(c.intermediateSize),
        m_scale(c.attentionScale > 0.0 ? c.attentionScale : 1.0 / std::sqrt(static_cast<double>(c.headDim))),
        m_act(c.hiddenAct) {
    const auto& opts = registry.options();
    const bool gemma = c.gemmaNorms;
    auto norm = [&](torch::nn::Module& parent, const char* name, std::int64_t dim) {
      return parent.register_module(name, std::make_shared<RmsNorm>(dim, c.normEps, opts, gemma));
    };
    m_inputNorm = norm(*this, "input_layernorm", c.hiddenSize);
    m_attention = register_module("self_attn", std::make_shared<torch::nn::Module>());
    const std::string attn = prefix + "self_attn.";
    const bool qkvBias = c.attentionBias;
    const bool oBias = c.attentionBias && !c.qkvBiasOnly;
    const std::int64_t qRows = c.numHeads * c.headDim, kvRows = c.numKvHeads * c.headDim;
    if (c.fusedProjections) {
      registry.add(*m_attention, attn, "qkv_proj", c.hiddenSize, qRows + 2 * kvRows, qkvBias, m_qkv);
    } else {
      registry.add(*m_attention, attn, "q_proj", c.hiddenSize, qRows, qkvBias, m_q);
      registry.add(*m_attention, attn, "k_proj", c.hiddenSize, kvRows, qkvBias, m_k);
      registry.add(*m_attention, attn, "v_proj", c.hiddenSize, kvRows, qkvBias, m_v);
    }
    registry.add(*m_attention, attn, "o_proj", qRows, c.hiddenSize, oBias, m_o);
    if (c.qkNorm) {
      m_qNorm = norm(*m_attention, "q_norm", c.headDim);
      m_kNorm = norm(*m_attention, "k_norm", c.headDim);
    }
    // Llama: post_attention_layernorm is the MLP's input norm. Gemma: it normalises the attention
    // output, and pre_/post_feedforward_layernorm surround the MLP.
    m_postNorm = norm(*this, "post_attention_layernorm", c.hiddenSize);
    if (gemma) {
      m_preMlpNorm = norm(*this, "pre_feedforward_layernorm", c.hiddenSize);
      m_postMlpNorm = norm(*this, "post_feedforward_layernorm", c.hiddenSize);
    }
    m_mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
    const std::string mlp = prefix + "mlp.";
    if (c.fusedProjections) {
      registry.add(*m_mlp, mlp, "gate_up_proj", c.hiddenSize, 2 * c.intermediateSize, c.mlpBias, m_gateUp);
    } else {
      registry.add(*m_mlp, mlp, "gate_proj", c.hiddenSize, c.intermediateSize, c.mlpBias, m_gate);
      registry.add(*m_mlp, mlp, "up_proj", c.hiddenSize, c.intermediateSize, c.mlpBias, m_up);
    }
    registry.add(*m_mlp, mlp, "down_proj", c.intermediateSize, c.hiddenSize, c.mlpBias, m_down);
  }

  bool sliding() const { return m_sliding; }

  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask,
                     at::Tensor* cachedKeys, at::Tensor* cachedValues, bool recomputeMlp = false) {
    const std::int64_t batch = hidden.size(0), length = hidden.size(1);
    const at::Tensor x = m_inputNorm->forward(hidden);
    at::Tensor q, k, v;
    if (m_qkv) {
      const at::Tensor qkv = m_qkv->forward(x);
      const std::int64_t qRows = m_heads * m_headDim, kvRows = m_kvHeads * m_headDim;
      q = qkv.slice(-1, 0, qRows);
      k = qkv.slice(-1, qRows, qRows + kvRows);
      // A copy: q and k become new tensors at RoPE, so qkv's buffer is freed after this block's
      // forward instead of living on through v, which attention keeps for backward.
      v = qkv.slice(-1, qRows + kvRows).contiguous();
    } else {
      q = m_q->forward(x);
      k = m_k->forward(x);
      v = m_v->forward(x);
    }
    q = q.view({batch, length, m_heads, m_headDim});
    k = k.view({batch, length, m_kvHeads, m_headDim});
    if (m_qNorm) {
      q = m_qNorm->forward(q);
      k = m_kNorm->forward(k);
    }
    q = rotate(q.transpose(1, 2), cos, sin);
    k = rotate(k.transpose(1, 2), cos, sin);
    v = v.view({batch, length, m_kvHeads, m_headDim}).transpose(1, 2);
    if (cachedKeys != nullptr) {
      if (cachedKeys->defined()) {
        k = at::cat({*cachedKeys, k}, 2);
        v = at::cat({*cachedValues, v}, 2);
      }
      *cachedKeys = k;
      *cachedValues = v;
    }
    const at::Tensor attended = scaledDotProductAttention(q, k, v, mask, m_scale);
    at::Tensor attnOut = m_o->forward(attended.transpose(1, 2).reshape({batch, length, m_heads * m_headDim}));
    if (m_preMlpNorm) {
      attnOut = m_postNorm->forward(attnOut);
      const at::Tensor h = hidden + attnOut;
      return h + m_postMlpNorm->forward(mlp(m_preMlpNorm->forward(h), recomputeMlp));
    }
    const at::Tensor h = hidden + attnOut;
    return h + mlp(m_postNorm->forward(h), recomputeMlp);
  }

private:
  /// Rotary embedding of the first rotaryDim dims of each head (all of them but for Phi-4-mini's
  /// partial rotary); x [B, H, T, D].
  at::Tensor rotate(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) const {
    if (!m_rotary) return x; // SmolLM3's layers without positions (NoPE)
    if (m_rotaryDim == m_headDim) return x * cos + rotateHalf(x) * sin;
    const at::Tensor rot = x.slice(-1, 0, m_rotaryDim);
    return at::cat({rot * cos + rotateHalf(rot) * sin, x.slice(-1, m_rotaryDim)}, -1);
  }

  /// The gated feed-forward down(act(gate(y)) · up(y)): one node that keeps gate and up only
  /// (memory/GatedActivation).
  at::Tensor gated(const at::Tensor& y) {
    if (m_gateUp) {
      const at::Tensor gateUp = m_gateUp->forward(y);
      return gatedActivation(m_act, gateUp.slice(-1, 0, m_intermediate), gateUp.slice(-1, m_intermediate));
    }
    return gatedActivation(m_act, m_gate->forward(y), m_up->forward(y));
  }

  at::Tensor mlp(const at::Tensor& y, bool recomputeMlp) {
    if (!recomputeMlp) return m_down->forward(gated(y));
    // train.recompute_mlp: keep y only; gate and up (with their adapters) and the activation run
    // again in backward. down_proj is outside the checkpoint: its input is made once.
    std::vector<at::Tensor> parameters;
    for (const auto* layer : {&m_gate, &m_up, &m_gateUp}) {
      if (!*layer) continue;
      for (const at::Tensor& p : (*layer)->parameters()) parameters.push_back(p);
    }
    const at::Tensor activated =
        checkpointFunction(parameters, [this](const std::vector<at::Tensor>& in) { return gated(in[0]); }, {y});
    return m_down->forward(activated);
  }

  bool m_sliding;
  bool m_rotary;
  std::int64_t m_heads, m_kvHeads, m_headDim, m_rotaryDim, m_intermediate;
  double m_scale;
  std::string m_act;
  std::shared_ptr<RmsNorm> m_inputNorm, m_postNorm, m_qNorm, m_kNorm, m_preMlpNorm, m_postMlpNorm;
  std::shared_ptr<torch::nn::Module> m_attention, m_mlp;
  std::shared_ptr<LinearLayer> m_q, m_k, m_v, m_qkv, m_o, m_gate, m_up, m_gateUp, m_down;
};

LlamaModel::LlamaModel(const ModelConfig& c, const c10::TensorOptions& options) : LanguageModel(c, options) {
  checkActivation(c.hiddenAct);
  m_body = register_module("model", std::make_shared<torch::nn::Module>());
  m_embed = m_body->register_module("embed_tokens", std::make_shared<EmbeddingTable>(c.vocabSize, c.hiddenSize, options));
  m_layers = m_body->register_module("layers", std::make_shared<IndexedModules<Block>>());
  for (std::int64_t i = 0; i < c.numLayers; ++i) {
    const bool sliding = c.slidingWindow > 0 && static_cast<std::size_t>(i) < c.slidingLayers.size() &&
                         c.slidingLayers[static_cast<std::size_t>(i)];
    m_anySliding = m_anySliding || sliding;
    const bool rotary = c.ropeLayers.empty() || c.ropeLayers[static_cast<std::size_t>(i)];
    m_layers->append(
        std::make_shared<Block>(c, "model.layers." + std::to_string(i) + ".", registry(), sliding, rotary));
  }
  m_norm = m_body->register_module("norm", std::make_shared<RmsNorm>(c.hiddenSize, c.normEps, options, c.gemmaNorms));
  if (c.isSequenceClassifier()) {
    registry().add(*this, "", "score", c.hiddenSize, c.numLabels, false, m_score);
  } else if (!c.tieWordEmbeddings) {
    registry().add(*this, "", "lm_head", c.hiddenSize, c.vocabSize, false, m_lmHead);
  }
  const std::int64_t dim = c.rotaryDim > 0 ? c.rotaryDim : c.headDim;
  auto table = [dim](const RopeSettings& settings) {
    Rotary r{settings, ropeInverseFrequencies(settings, dim), at::Tensor()};
    if (settings.scaling.type == "longrope") r.longInvFreq = ropeInverseFrequencies(settings, dim, true);
    return r;
  };
  m_global = table(RopeSettings{c.ropeTheta, c.ropeScaling});
  if (c.localRope.theta > 0.0) m_local = table(c.localRope);
}

std::pair<at::Tensor, at::Tensor> LlamaModel::rotary(const Rotary& table, std::int64_t start, std::int64_t length,
                                                     const at::Tensor& positionIds, c10::ScalarType dtype,
                                                     const c10::Device& device) const {
  at::Tensor invFreq = table.invFreq;
  const ModelConfig& c = config();
  const RopeScaling& scaling = table.settings.scaling;
  const std::int64_t dim = invFreq.size(0) * 2;
  // Hugging Face sizes dynamic and longrope scaling by the largest position (max(position_ids) + 1).
  const bool bySequence = scaling.type == "dynamic" || scaling.type == "longrope";
  const std::int64_t total = positionIds.defined() && bySequence ? positionIds.max().item<std::int64_t>() + 1
                                                                 : start + length;
  double attentionFactor = 1.0;
  if (scaling.type == "dynamic" && total > c.maxPositions) {
    // Dynamic NTK: a larger base once the sequence outgrows the trained length.
    const double f = scaling.factor;
    const double base = table.settings.theta *
                        std::pow(f * total / c.maxPositions - (f - 1.0), static_cast<double>(dim) / (dim - 2));
    invFreq = 1.0 / at::pow(base, at::arange(0, dim, 2, invFreq.options()) / static_cast<double>(dim));
  } else if (scaling.type == "longrope") {
    // LongRoPE: the long factors once the sequence outgrows the pretraining length; cos and sin
    // scaled by the attention factor either way.
    if (total > scaling.originalMaxPositions) invFreq = table.longInvFreq;
    attentionFactor = scaling.attentionFactor;
  } else if (scaling.type == "yarn") {
    attentionFactor = scaling.attentionFactor;
  }
  at::Tensor emb;
  if (positionIds.defined()) {
    // Per-row positions (packed segments restart at 0): cos/sin [B, 1, T, D], broadcast over
    // heads. Same float64 arithmetic as below, so a segment gets exactly its standalone values.
    const at::Tensor positions = positionIds.to(at::kDouble);
    const at::Tensor freqs = positions.unsqueeze(-1) * invFreq.to(positionIds.device());
    emb = at::cat({freqs, freqs}, -1).unsqueeze(1);
  } else {
    const at::Tensor positions = at::arange(start, start + length, invFreq.options());
    const at::Tensor freqs = positions.unsqueeze(1) * invFreq.unsqueeze(0);
    emb = at::cat({freqs, freqs}, -1);
  }
  at::Tensor cos = emb.cos(), sin = emb.sin();
  if (attentionFactor != 1.0) {
    cos = cos * attentionFactor;
    sin = sin * attentionFactor;
  }
  return {cos.to(device, dtype), sin.to(device, dtype)};
}

at::Tensor LlamaModel::forward(const ModelInputs& inputs) {
  const ModelConfig& c = config();
  at::Tensor hidden = inputs.inputEmbeds;
  if (!hidden.defined()) {
    hidden = m_embed->forward(inputs.inputIds);
    if (c.gemmaNorms) {
      // Gemma scales the embeddings by sqrt(hidden_size), a float32 number rounded to the
      // embeddings' dtype (Gemma3TextScaledWordEmbedding).
      const at::Tensor scale = at::scalar_tensor(static_cast<float>(std::sqrt(static_cast<double>(c.hiddenSize))),
                                                 at::TensorOptions().dtype(at::kFloat))
                                   .to(m_embed->weight.scalar_type());
      hidden = hidden * scale.to(hidden.device());
    }
  }
  const std::int64_t length = hidden.size(1);
  KvCache* cache = inputs.cache;
  const std::int64_t past = cache != nullptr ? cache->length() : 0;
  const auto [cos, sin] = rotary(m_global, past, length, inputs.positionIds, hidden.scalar_type(), hidden.device());
  at::Tensor localCos = cos, localSin = sin;
  if (m_local.invFreq.defined()) {
    std::tie(localCos, localSin) = rotary(m_local, past, length, inputs.positionIds, hidden.scalar_type(), hidden.device());
  }
  const at::Tensor mask = causalAttentionMask(inputs.attentionMask, inputs.segmentIds, length, past,
                                              hidden.scalar_type(), hidden.device());
  const at::Tensor slidingMask = m_anySliding ? causalAttentionMask(inputs.attentionMask, inputs.segmentIds, length,
                                                                    past, hidden.scalar_type(), hidden.device(),
                                                                    c.slidingWindow)
                                              : at::Tensor();
  if (cache != nullptr) {
    cache->keys.resize(m_layers->size());
    cache->values.resize(m_layers->size());
  }
  for (std::size_t i = 0; i < m_layers->size(); ++i) {
    Block& block = (*m_layers)[i];
    const bool sliding = block.sliding();
    const at::Tensor& layerCos = sliding ? localCos : cos;
    const at::Tensor& layerSin = sliding ? localSin : sin;
    const at::Tensor& layerMask = sliding ? slidingMask : mask;
    if (cache == nullptr && checkpointingBlocks()) {
      hidden = checkpointBlock(block, [&block, cos = layerCos, sin = layerSin, mask = layerMask](
                                          const std::vector<at::Tensor>& in) {
        return block.forward(in[0], cos, sin, mask, nullptr, nullptr);
      }, {hidden});
      continue;
    }
    hidden = block.forward(hidden, layerCos, layerSin, layerMask, cache ? &cache->keys[i] : nullptr,
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
  if (inputs.returnHidden && !c.finalLogitSoftcap) return hidden; // the loss applies outputHead() chunk by chunk
  at::Tensor logits = m_lmHead ? m_lmHead->forward(hidden) : at::matmul(hidden, m_embed->weight.t());
  if (c.finalLogitSoftcap) {
    const double cap = *c.finalLogitSoftcap;
    logits = at::tanh(logits / cap) * cap;
  }
  return logits;
}

std::optional<OutputHead> LlamaModel::outputHead() const {
  // Soft-capped logits are not a plain matrix product: the loss takes the full logits.
  if (m_score || config().finalLogitSoftcap) return std::nullopt;
  return plainOutputHead(m_lmHead, m_embed->weight);
}

} // namespace lorafa
