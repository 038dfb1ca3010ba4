#include "LanguageModel.h"

#include "adapters/DenseLinear.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/layer_norm.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/rsqrt.h>
#include <ATen/ops/silu.h>
#include <ATen/ops/zeros.h>
#include <c10/core/GradMode.h>

#include <stdexcept>

namespace lorafa {

void LinearRegistry::add(torch::nn::Module& parent, const std::string& prefix, const std::string& child,
                         std::int64_t in, std::int64_t out, bool bias, std::shared_ptr<LinearLayer>& slot) {
  const at::Tensor weight = at::zeros({out, in}, m_options);
  const at::Tensor biasTensor = bias ? at::zeros({out}, m_options) : at::Tensor();
  slot = std::make_shared<DenseLinear>(weight, biasTensor, TrainMethod::Frozen);
  parent.register_module(child, slot);
  m_handles.push_back(LinearHandle{prefix + child, &parent, child, &slot});
}

void LanguageModel::replaceLinear(const LinearHandle& handle, const std::shared_ptr<LinearLayer>& layer) {
  *handle.slot = handle.parent->replace_module(handle.childName, layer);
}

bool LanguageModel::checkpointingBlocks() const {
  return m_gradientCheckpointing && is_training() && c10::GradMode::is_enabled();
}

bool LanguageModel::recomputingMlp() const {
  return m_recomputeMlp && !m_gradientCheckpointing && is_training() && c10::GradMode::is_enabled();
}

std::optional<OutputHead> LanguageModel::plainOutputHead(const std::shared_ptr<LinearLayer>& head,
                                                         const at::Tensor& embedding, double hiddenScale) {
  if (!head) return OutputHead{embedding, hiddenScale};
  if (head->bias().defined() || (head->method() != TrainMethod::Full && head->method() != TrainMethod::Frozen)) {
    return std::nullopt; // an adapter (or a bias) on lm_head: only its own forward computes it
  }
  return OutputHead{head->weight(), hiddenScale};
}

EmbeddingTable::EmbeddingTable(std::int64_t count, std::int64_t dim, const c10::TensorOptions& options) {
  weight = register_parameter("weight", at::zeros({count, dim}, options), false);
}

at::Tensor EmbeddingTable::forward(const at::Tensor& ids) const { return at::embedding(weight, ids); }

RmsNorm::RmsNorm(std::int64_t dim, double eps, const c10::TensorOptions& options, bool offsetOne)
    : m_eps(eps), m_offsetOne(offsetOne) {
  weight = register_parameter("weight", offsetOne ? at::zeros({dim}, options) : at::ones({dim}, options), false);
}

at::Tensor RmsNorm::forward(const at::Tensor& x) const {
  const at::Tensor x32 = x.to(at::kFloat);
  // sum / n, not mean(): LibTorch 1.13's mean keeps its whole input ([tokens, hidden] float32,
  // the squares) for backward where sum keeps its sizes only. The same values: on the CPU mean is
  // sum then a division by n, and both backwards give grad / n per element.
  const at::Tensor squares = x32.pow(2).sum(-1, true) / static_cast<double>(x32.size(-1));
  const at::Tensor normed = x32 * at::rsqrt(squares + m_eps);
  if (m_offsetOne) return (normed * (weight.to(at::kFloat) + 1.0)).to(x.scalar_type());
  return weight * normed.to(x.scalar_type());
}

LayerNorm::LayerNorm(std::int64_t dim, double eps, const c10::TensorOptions& options) : m_eps(eps) {
  weight = register_parameter("weight", at::ones({dim}, options), false);
  bias = register_parameter("bias", at::zeros({dim}, options), false);
}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  return at::layer_norm(x, {weight.size(0)}, weight, bias, m_eps);
}

void checkActivation(const std::string& name) {
  if (name != "silu" && name != "swish" && name != "relu" && name != "gelu" && name != "gelu_new" &&
      name != "gelu_pytorch_tanh" && name != "gelu_fast") {
    throw std::invalid_argument("activation \"" + name +
                                "\" is not supported (silu, relu, gelu, gelu_new, gelu_pytorch_tanh)");
  }
}

at::Tensor applyActivation(const std::string& name, const at::Tensor& x) {
  if (name == "silu" || name == "swish") return at::silu(x);
  if (name == "relu") return at::relu(x);
  if (name == "gelu") return at::gelu(x);
  return at::gelu(x, "tanh"); // gelu_new, gelu_pytorch_tanh, gelu_fast: the tanh approximation
}

} // namespace lorafa
