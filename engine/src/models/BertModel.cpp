#include "BertModel.h"

#include "Attention.h"
#include "BlockCheckpoint.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/cumsum.h>
#include <ATen/ops/tanh.h>

#include <cmath>
#include <stdexcept>

namespace lorafa {
namespace {

bool startsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

class BertModel::Block : public torch::nn::Module {
public:
  Block(const ModelConfig& c, const std::string& prefix, LinearRegistry& registry)
      : m_heads(c.numHeads), m_headDim(c.headDim), m_act(c.hiddenAct) {
    const auto& opts = registry.options();
    const std::int64_t inner = c.numHeads * c.headDim;
    m_attention = register_module("attention", std::make_shared<torch::nn::Module>());
    m_self = m_attention->register_module("self", std::make_shared<torch::nn::Module>());
    const std::string self = prefix + "attention.self.";
    registry.add(*m_self, self, "query", c.hiddenSize, inner, true, m_query);
    registry.add(*m_self, self, "key", c.hiddenSize, inner, true, m_key);
    registry.add(*m_self, self, "value", c.hiddenSize, inner, true, m_value);
    m_attentionOutput = m_attention->register_module("output", std::make_shared<torch::nn::Module>());
    registry.add(*m_attentionOutput, prefix + "attention.output.", "dense", inner, c.hiddenSize, true,
                 m_attentionDense);
    m_attentionNorm = m_attentionOutput->register_module(
        "LayerNorm", std::make_shared<LayerNorm>(c.hiddenSize, c.normEps, opts));
    m_intermediate = register_module("intermediate", std::make_shared<torch::nn::Module>());
    registry.add(*m_intermediate, prefix + "intermediate.", "dense", c.hiddenSize, c.intermediateSize, true,
                 m_intermediateDense);
    m_output = register_module("output", std::make_shared<torch::nn::Module>());
    registry.add(*m_output, prefix + "output.", "dense", c.intermediateSize, c.hiddenSize, true,
                 m_outputDense);
    m_outputNorm =
        m_output->register_module("LayerNorm", std::make_shared<LayerNorm>(c.hiddenSize, c.normEps, opts));
  }

  /// Post-LayerNorm: LN(x + attention(x)), then LN(h + dense(act(dense(h)))).
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& mask) {
    const std::int64_t batch = hidden.size(0), length = hidden.size(1);
    auto heads = [&](const at::Tensor& t) {
      return t.view({batch, length, m_heads, m_headDim}).transpose(1, 2);
    };
    const at::Tensor q = heads(m_query->forward(hidden));
    const at::Tensor k = heads(m_key->forward(hidden));
    const at::Tensor v = heads(m_value->forward(hidden));
    const at::Tensor attended =
        scaledDotProductAttention(q, k, v, mask, 1.0 / std::sqrt(static_cast<double>(m_headDim)));
    const at::Tensor context = attended.transpose(1, 2).reshape({batch, length, m_heads * m_headDim});
    const at::Tensor h = m_attentionNorm->forward(m_attentionDense->forward(context) + hidden);
    const at::Tensor inner = applyActivation(m_act, m_intermediateDense->forward(h));
    return m_outputNorm->forward(m_outputDense->forward(inner) + h);
  }

private:
  std::int64_t m_heads, m_headDim;
  std::string m_act;
  std::shared_ptr<torch::nn::Module> m_attention, m_self, m_attentionOutput, m_intermediate, m_output;
  std::shared_ptr<LayerNorm> m_attentionNorm, m_outputNorm;
  std::shared_ptr<LinearLayer> m_query, m_key, m_value, m_attentionDense, m_intermediateDense, m_outputDense;
};

BertModel::BertModel(const ModelConfig& c, const c10::TensorOptions& options) : LanguageModel(c, options) {
  if (c.family != ModelFamily::Bert && c.family != ModelFamily::Roberta) {
    throw std::invalid_argument(std::string("BertModel serves bert and roberta configs, not ") +
                                toString(c.family));
  }
  checkActivation(c.hiddenAct);
  const std::string root = isRoberta() ? "roberta" : "bert";
  m_prefix = root + ".";
  m_body = register_module(root, std::make_shared<torch::nn::Module>());
  m_embeddings = m_body->register_module("embeddings", std::make_shared<torch::nn::Module>());
  m_wordEmbeddings = m_embeddings->register_module(
      "word_embeddings", std::make_shared<EmbeddingTable>(c.vocabSize, c.hiddenSize, options));
  m_positionEmbeddings = m_embeddings->register_module(
      "position_embeddings", std::make_shared<EmbeddingTable>(c.maxPositions, c.hiddenSize, options));
  m_tokenTypeEmbeddings = m_embeddings->register_module(
      "token_type_embeddings", std::make_shared<EmbeddingTable>(c.typeVocabSize, c.hiddenSize, options));
  m_embeddingNorm = m_embeddings->register_module(
      "LayerNorm", std::make_shared<LayerNorm>(c.hiddenSize, c.normEps, options));
  m_encoder = m_body->register_module("encoder", std::make_shared<torch::nn::Module>());
  m_layers = m_encoder->register_module("layer", std::make_shared<IndexedModules<Block>>());
  for (std::int64_t i = 0; i < c.numLayers; ++i) {
    m_layers->append(
        std::make_shared<Block>(c, m_prefix + "encoder.layer." + std::to_string(i) + ".", registry()));
  }
  if (isRoberta()) {
    m_classifierHead = register_module("classifier", std::make_shared<torch::nn::Module>());
    registry().add(*m_classifierHead, "classifier.", "dense", c.hiddenSize, c.hiddenSize, true,
                   m_classifierDense);
    registry().add(*m_classifierHead, "classifier.", "out_proj", c.hiddenSize, c.numLabels, true,
                   m_classifier);
  } else {
    m_pooler = m_body->register_module("pooler", std::make_shared<torch::nn::Module>());
    registry().add(*m_pooler, m_prefix + "pooler.", "dense", c.hiddenSize, c.hiddenSize, true, m_poolerDense);
    registry().add(*this, "", "classifier", c.hiddenSize, c.numLabels, true, m_classifier);
  }
}

at::Tensor BertModel::positionIds(const at::Tensor& ids) const {
  const std::int64_t length = ids.size(1);
  if (!isRoberta()) return at::arange(length, ids.options().dtype(at::kLong)).unsqueeze(0);
  // Hugging Face's create_position_ids_from_input_ids: real tokens count up from pad + 1,
  // padding keeps the padding id.
  const std::int64_t pad = config().padTokenId.value_or(1);
  const at::Tensor real = ids.ne(pad).to(at::kLong);
  return at::cumsum(real, 1) * real + pad;
}

at::Tensor BertModel::forward(const ModelInputs& inputs) {
  const at::Tensor& ids = inputs.inputIds;
  if (!ids.defined() || ids.dim() != 2) {
    throw std::invalid_argument("BERT/RoBERTa input_ids must be [batch, length]");
  }
  const std::int64_t length = ids.size(1);
  const std::int64_t highest = isRoberta() ? config().padTokenId.value_or(1) + length : length - 1;
  if (highest >= config().maxPositions) {
    throw std::invalid_argument(
        std::string(toString(config().family)) + " sequence of " + std::to_string(length) +
        " tokens needs position " + std::to_string(highest) +
        ", beyond max_position_embeddings = " + std::to_string(config().maxPositions));
  }
  at::Tensor hidden =
      m_wordEmbeddings->forward(ids) + m_tokenTypeEmbeddings->weight.select(0, 0); // token_type_ids = 0
  hidden = m_embeddingNorm->forward(hidden + m_positionEmbeddings->forward(positionIds(ids)));
  const at::Tensor mask = additiveAttentionMask(inputs.attentionMask, length, length, false,
                                                hidden.scalar_type(), hidden.device());
  for (std::size_t i = 0; i < m_layers->size(); ++i) {
    Block& block = (*m_layers)[i];
    if (checkpointingBlocks()) {
      hidden = checkpointBlock(block, [&block, mask](const std::vector<at::Tensor>& in) {
        return block.forward(in[0], mask);
      }, {hidden});
    } else {
      hidden = block.forward(hidden, mask);
    }
  }
  const at::Tensor first = hidden.select(1, 0); // [CLS] / <s>
  if (isRoberta()) return m_classifier->forward(at::tanh(m_classifierDense->forward(first)));
  return m_classifier->forward(at::tanh(m_poolerDense->forward(first)));
}

std::vector<std::string> BertModel::outputHeadNames() const {
  if (isRoberta()) return {"classifier.dense", "classifier.out_proj"};
  return {"classifier"};
}

std::vector<std::string> BertModel::checkpointNames(const std::string& parameterName) const {
  std::vector<std::string> bases{parameterName};
  if (startsWith(parameterName, m_prefix)) {
    // BertModel / RobertaModel checkpoints (no task head) drop the prefix.
    bases.push_back(parameterName.substr(m_prefix.size()));
  }
  std::vector<std::string> names = bases;
  for (const std::string& base : bases) {
    // Checkpoints converted from TensorFlow name LayerNorm parameters gamma and beta.
    if (endsWith(base, "LayerNorm.weight")) names.push_back(base.substr(0, base.size() - 6) + "gamma");
    if (endsWith(base, "LayerNorm.bias")) names.push_back(base.substr(0, base.size() - 4) + "beta");
  }
  return names;
}

bool BertModel::isIgnoredCheckpointTensor(const std::string& name) const {
  // Buffers, and the pretraining heads of base checkpoints (MLM / NSP; RoBERTa's unused pooler).
  return endsWith(name, "embeddings.position_ids") || endsWith(name, "embeddings.token_type_ids") ||
         startsWith(name, "cls.") || startsWith(name, "lm_head.") ||
         (isRoberta() && (startsWith(name, "roberta.pooler.") || startsWith(name, "pooler.")));
}

} // namespace lorafa
