#include "T5Model.h"

#include "Attention.h"
#include "BlockCheckpoint.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/abs.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/clamp.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/isinf.h>
#include <ATen/ops/log.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/minimum.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros_like.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace lorafa {
namespace {

// Hugging Face clamps T5's residual stream in float16, where it can overflow.
at::Tensor clampIfHalf(const at::Tensor& hidden) {
  if (hidden.scalar_type() != at::kHalf) return hidden;
  const double max = 65504.0; // largest finite float16
  const auto opts = hidden.options().requires_grad(false);
  const at::Tensor limit =
      at::where(at::isinf(hidden).any(), at::scalar_tensor(max - 1000.0, opts), at::scalar_tensor(max, opts));
  return at::clamp(hidden, -limit, limit);
}

} // namespace

at::Tensor t5RelativePositionBucket(const at::Tensor& relativePosition, bool bidirectional,
                                    std::int64_t numBuckets, std::int64_t maxDistance) {
  at::Tensor buckets = at::zeros_like(relativePosition);
  at::Tensor distance;
  if (bidirectional) {
    numBuckets /= 2;
    buckets = buckets + relativePosition.gt(0).to(at::kLong) * numBuckets;
    distance = at::abs(relativePosition);
  } else {
    distance = -at::minimum(relativePosition, at::zeros_like(relativePosition));
  }
  const std::int64_t maxExact = numBuckets / 2;
  const at::Tensor isSmall = distance.lt(maxExact);
  // Float32 as in Hugging Face, so the truncation lands on the same buckets. Distances below
  // maxExact take the exact branch; clamping them to 1 only keeps log() finite.
  const at::Tensor logarithmic =
      (at::log(distance.clamp_min(1).to(at::kFloat) / static_cast<double>(maxExact)) /
       std::log(static_cast<double>(maxDistance) / static_cast<double>(maxExact)) *
       static_cast<double>(numBuckets - maxExact))
          .to(at::kLong) +
      maxExact;
  const at::Tensor large = at::minimum(logarithmic, at::full_like(logarithmic, numBuckets - 1));
  return buckets + at::where(isSmall, distance, large);
}

/// T5Attention: q, k, v, o without bias; block 0 of a stack also owns relative_attention_bias.
class T5Model::Attention : public torch::nn::Module {
public:
  Attention(const ModelConfig& c, const std::string& prefix, bool relativeBias, bool bidirectional,
            LinearRegistry& registry)
      : m_heads(c.numHeads), m_headDim(c.headDim), m_buckets(c.relativeBuckets),
        m_maxDistance(c.relativeMaxDistance), m_bidirectional(bidirectional) {
    const std::int64_t inner = c.numHeads * c.headDim;
    registry.add(*this, prefix, "q", c.hiddenSize, inner, false, m_q);
    registry.add(*this, prefix, "k", c.hiddenSize, inner, false, m_k);
    registry.add(*this, prefix, "v", c.hiddenSize, inner, false, m_v);
    registry.add(*this, prefix, "o", inner, c.hiddenSize, false, m_o);
    if (relativeBias) {
      m_relativeBias = register_module(
          "relative_attention_bias",
          std::make_shared<EmbeddingTable>(c.relativeBuckets, c.numHeads, registry.options()));
    }
  }

  /// [1, H, Tq, Tk] for queries at absolute positions queryStart.. and keys at 0..keyLength-1.
  at::Tensor positionBias(std::int64_t queryStart, std::int64_t queryLength, std::int64_t keyLength) const {
    const auto longs = at::TensorOptions().dtype(at::kLong).device(m_relativeBias->weight.device());
    const at::Tensor queries = at::arange(queryStart, queryStart + queryLength, longs).unsqueeze(1);
    const at::Tensor keys = at::arange(keyLength, longs).unsqueeze(0);
    const at::Tensor buckets =
        t5RelativePositionBucket(keys - queries, m_bidirectional, m_buckets, m_maxDistance);
    return m_relativeBias->forward(buckets).permute({2, 0, 1}).unsqueeze(0);
  }

  /// `source` undefined: self-attention on x; else cross-attention to source. `bias` is the
  /// additive mask plus position bias. The cache (self-attention only) is appended to in place.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& source, const at::Tensor& bias,
                     at::Tensor* cachedKeys, at::Tensor* cachedValues) {
    const at::Tensor& kv = source.defined() ? source : x;
    const std::int64_t batch = x.size(0), length = x.size(1);
    auto heads = [&](const at::Tensor& t) {
      return t.view({batch, t.size(1), m_heads, m_headDim}).transpose(1, 2);
    };
    const at::Tensor q = heads(m_q->forward(x));
    at::Tensor k = heads(m_k->forward(kv));
    at::Tensor v = heads(m_v->forward(kv));
    if (cachedKeys != nullptr) {
      if (cachedKeys->defined()) {
        k = at::cat({*cachedKeys, k}, 2);
        v = at::cat({*cachedValues, v}, 2);
      }
      *cachedKeys = k;
      *cachedValues = v;
    }
    const at::Tensor attended = scaledDotProductAttention(q, k, v, bias, 1.0); // T5 does not scale q·kᵀ
    return m_o->forward(attended.transpose(1, 2).reshape({batch, length, m_heads * m_headDim}));
  }

private:
  std::int64_t m_heads, m_headDim, m_buckets, m_maxDistance;
  bool m_bidirectional;
  std::shared_ptr<LinearLayer> m_q, m_k, m_v, m_o;
  std::shared_ptr<EmbeddingTable> m_relativeBias; // block 0 only
};

/// T5LayerSelfAttention / T5LayerCrossAttention: pre-norm attention (residual added by Block).
class T5Model::AttentionLayer : public torch::nn::Module {
public:
  AttentionLayer(const ModelConfig& c, const std::string& prefix, const std::string& attentionName,
                 bool relativeBias, bool bidirectional, LinearRegistry& registry) {
    m_attention =
        register_module(attentionName, std::make_shared<Attention>(c, prefix + attentionName + ".",
                                                                   relativeBias, bidirectional, registry));
    m_norm =
        register_module("layer_norm", std::make_shared<RmsNorm>(c.hiddenSize, c.normEps, registry.options()));
  }
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& source, const at::Tensor& bias,
                     at::Tensor* cachedKeys = nullptr, at::Tensor* cachedValues = nullptr) {
    return m_attention->forward(m_norm->forward(hidden), source, bias, cachedKeys, cachedValues);
  }
  const Attention& attention() const { return *m_attention; }

private:
  std::shared_ptr<Attention> m_attention;
  std::shared_ptr<RmsNorm> m_norm;
};

/// T5LayerFF: pre-norm DenseReluDense (wi, relu, wo) or the gated form act(wi_0 x) * wi_1 x.
class T5Model::FeedForwardLayer : public torch::nn::Module {
public:
  FeedForwardLayer(const ModelConfig& c, const std::string& prefix, LinearRegistry& registry)
      : m_act(c.feedForwardAct) {
    m_dense = register_module("DenseReluDense", std::make_shared<torch::nn::Module>());
    const std::string dense = prefix + "DenseReluDense.";
    if (c.gatedFeedForward) {
      registry.add(*m_dense, dense, "wi_0", c.hiddenSize, c.intermediateSize, false, m_wi0);
      registry.add(*m_dense, dense, "wi_1", c.hiddenSize, c.intermediateSize, false, m_wi1);
    } else {
      registry.add(*m_dense, dense, "wi", c.hiddenSize, c.intermediateSize, false, m_wi0);
    }
    registry.add(*m_dense, dense, "wo", c.intermediateSize, c.hiddenSize, false, m_wo);
    m_norm =
        register_module("layer_norm", std::make_shared<RmsNorm>(c.hiddenSize, c.normEps, registry.options()));
  }
  at::Tensor forward(const at::Tensor& hidden) {
    const at::Tensor x = m_norm->forward(hidden);
    at::Tensor inner = applyActivation(m_act, m_wi0->forward(x));
    if (m_wi1) inner = inner * m_wi1->forward(x);
    return m_wo->forward(inner);
  }

private:
  std::string m_act;
  std::shared_ptr<torch::nn::Module> m_dense;
  std::shared_ptr<RmsNorm> m_norm;
  std::shared_ptr<LinearLayer> m_wi0, m_wi1, m_wo; // m_wi0 is "wi" without gating; m_wi1 null then
};

/// T5Block: layer.0 self-attention, (decoder) layer.1 cross-attention, then the feed-forward.
class T5Model::Block : public torch::nn::Module {
public:
  Block(const ModelConfig& c, const std::string& prefix, bool decoder, bool relativeBias,
        LinearRegistry& registry) {
    m_layer = register_module("layer", std::make_shared<IndexedModules<torch::nn::Module>>());
    m_self = std::make_shared<AttentionLayer>(c, prefix + "layer.0.", "SelfAttention", relativeBias, !decoder,
                                              registry);
    m_layer->append(m_self);
    if (decoder) {
      m_cross =
          std::make_shared<AttentionLayer>(c, prefix + "layer.1.", "EncDecAttention", false, false, registry);
      m_layer->append(m_cross);
    }
    m_feedForward = std::make_shared<FeedForwardLayer>(
        c, prefix + "layer." + std::to_string(m_layer->size()) + ".", registry);
    m_layer->append(m_feedForward);
  }

  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& selfBias, const at::Tensor& encoderHidden,
                     const at::Tensor& crossMask, at::Tensor* cachedKeys, at::Tensor* cachedValues) {
    at::Tensor h =
        clampIfHalf(hidden + m_self->forward(hidden, at::Tensor(), selfBias, cachedKeys, cachedValues));
    if (m_cross) h = clampIfHalf(h + m_cross->forward(h, encoderHidden, crossMask));
    return clampIfHalf(h + m_feedForward->forward(h));
  }

  const AttentionLayer& selfAttention() const { return *m_self; }

private:
  std::shared_ptr<IndexedModules<torch::nn::Module>> m_layer;
  std::shared_ptr<AttentionLayer> m_self, m_cross;
  std::shared_ptr<FeedForwardLayer> m_feedForward;
};

/// T5Stack: the blocks and final_layer_norm of the encoder or the decoder (embeddings are shared).
class T5Model::Stack : public torch::nn::Module {
public:
  Stack(const ModelConfig& c, const std::string& name, std::int64_t layers, bool decoder,
        LinearRegistry& registry) {
    m_blocks = register_module("block", std::make_shared<IndexedModules<Block>>());
    for (std::int64_t i = 0; i < layers; ++i) {
      m_blocks->append(
          std::make_shared<Block>(c, name + ".block." + std::to_string(i) + ".", decoder, i == 0, registry));
    }
    m_finalNorm = register_module("final_layer_norm",
                                  std::make_shared<RmsNorm>(c.hiddenSize, c.normEps, registry.options()));
  }

  /// `selfMask` is additive over keys 0..past+T-1 for queries at past..past+T-1.
  at::Tensor forward(at::Tensor hidden, const at::Tensor& selfMask, std::int64_t past,
                     const at::Tensor& encoderHidden, const at::Tensor& crossMask, KvCache* cache) {
    const std::int64_t length = hidden.size(1);
    const at::Tensor bias = (*m_blocks)[0]
                                .selfAttention()
                                .attention()
                                .positionBias(past, length, past + length)
                                .to(hidden.scalar_type()) +
                            selfMask;
    if (cache != nullptr) {
      cache->keys.resize(m_blocks->size());
      cache->values.resize(m_blocks->size());
    }
    const bool checkpoint = m_checkpointing && cache == nullptr && is_training() && c10::GradMode::is_enabled();
    for (std::size_t i = 0; i < m_blocks->size(); ++i) {
      Block& block = (*m_blocks)[i];
      if (checkpoint) {
        // The shared position bias and the encoder output are inputs: they may need gradients.
        std::vector<at::Tensor> in{hidden, bias};
        if (encoderHidden.defined()) in.push_back(encoderHidden);
        hidden = checkpointBlock(block, [&block, crossMask](const std::vector<at::Tensor>& x) {
          return block.forward(x[0], x[1], x.size() > 2 ? x[2] : at::Tensor(), crossMask, nullptr, nullptr);
        }, in);
        continue;
      }
      hidden = block.forward(hidden, bias, encoderHidden, crossMask,
                             cache ? &cache->keys[i] : nullptr, cache ? &cache->values[i] : nullptr);
    }
    return m_finalNorm->forward(hidden);
  }

  void setCheckpointing(bool enabled) { m_checkpointing = enabled; }

private:
  std::shared_ptr<IndexedModules<Block>> m_blocks;
  std::shared_ptr<RmsNorm> m_finalNorm;
  bool m_checkpointing = false;
};

T5Model::T5Model(const ModelConfig& c, const c10::TensorOptions& options) : LanguageModel(c, options) {
  checkActivation(c.feedForwardAct);
  if (c.numDecoderLayers <= 0) {
    throw std::invalid_argument("T5 num_decoder_layers must be positive, found " +
                                std::to_string(c.numDecoderLayers));
  }
  m_shared = register_module("shared", std::make_shared<EmbeddingTable>(c.vocabSize, c.hiddenSize, options));
  m_encoder =
      register_module("encoder", std::make_shared<Stack>(c, "encoder", c.numLayers, false, registry()));
  m_decoder =
      register_module("decoder", std::make_shared<Stack>(c, "decoder", c.numDecoderLayers, true, registry()));
  if (!c.tieWordEmbeddings) {
    registry().add(*this, "", "lm_head", c.hiddenSize, c.vocabSize, false, m_lmHead);
  }
}

at::Tensor T5Model::encode(const ModelInputs& inputs) {
  const at::Tensor& ids = inputs.inputIds;
  if (!ids.defined() || ids.dim() != 2) throw std::invalid_argument("T5 input_ids must be [batch, length]");
  const at::Tensor hidden = m_shared->forward(ids);
  const std::int64_t length = ids.size(1);
  const at::Tensor mask = additiveAttentionMask(inputs.attentionMask, length, length, false,
                                                hidden.scalar_type(), hidden.device());
  return m_encoder->forward(hidden, mask, 0, at::Tensor(), at::Tensor(), nullptr);
}

at::Tensor T5Model::forward(const ModelInputs& inputs) {
  const at::Tensor& ids = inputs.decoderInputIds;
  if (!ids.defined() || ids.dim() != 2) {
    throw std::invalid_argument(
        "T5 needs decoder_input_ids [batch, length] (the targets shifted right, starting "
        "with decoder_start_token_id)");
  }
  const at::Tensor encoderHidden = inputs.encoderHidden.defined() ? inputs.encoderHidden : encode(inputs);
  KvCache* cache = inputs.cache;
  const std::int64_t past = cache != nullptr ? cache->length() : 0;
  const std::int64_t length = ids.size(1);
  const at::Tensor hidden = m_shared->forward(ids);
  const auto dtype = hidden.scalar_type();
  const at::Tensor selfMask =
      additiveAttentionMask(at::Tensor(), length, past + length, true, dtype, hidden.device());
  const at::Tensor crossMask = additiveAttentionMask(inputs.attentionMask, length, encoderHidden.size(1),
                                                     false, dtype, hidden.device());
  at::Tensor out = m_decoder->forward(hidden, selfMask, past, encoderHidden, crossMask, cache);
  if (inputs.returnHidden) return out; // the loss applies outputHead() (and its scale) chunk by chunk
  if (config().scaleDecoderOutputs) out = out * outputScale(); // as Mesh TensorFlow did
  if (m_lmHead) return m_lmHead->forward(out);
  return at::matmul(out, m_shared->weight.t());
}

double T5Model::outputScale() const {
  return config().scaleDecoderOutputs ? std::pow(static_cast<double>(config().hiddenSize), -0.5) : 1.0;
}

std::optional<OutputHead> T5Model::outputHead() const {
  // scale_decoder_outputs (tied heads of T5 v1.0): the decoder output is rescaled by d_model^-0.5 first.
  return plainOutputHead(m_lmHead, m_shared->weight, outputScale());
}

void T5Model::setGradientCheckpointing(bool enabled) {
  LanguageModel::setGradientCheckpointing(enabled);
  m_encoder->setCheckpointing(enabled);
  m_decoder->setCheckpointing(enabled);
}

std::vector<std::string> T5Model::checkpointNames(const std::string& parameterName) const {
  if (parameterName == "shared.weight") {
    return {parameterName, "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"};
  }
  return {parameterName};
}

bool T5Model::isIgnoredCheckpointTensor(const std::string& name) const {
  // Aliases of shared.weight, and a cross-attention bias old checkpoints carry but T5 never uses.
  return name == "encoder.embed_tokens.weight" || name == "decoder.embed_tokens.weight" ||
         name == "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight" ||
         (config().tieWordEmbeddings && name == "lm_head.weight");
}

} // namespace lorafa
