#include "DenseLinear.h"

#include "LinearLayerCommon.h"

#include <ATen/ops/linear.h>

#include <stdexcept>
#include <string>

namespace lorafa {

DenseLinear::DenseLinear(const torch::Tensor& weight, const torch::Tensor& bias, TrainMethod method)
    : m_method(method) {
  if (method != TrainMethod::Full && method != TrainMethod::Frozen) {
    throw std::invalid_argument(std::string("DenseLinear supports full and frozen training, not ") +
                                toString(method));
  }
  const bool trainable = method == TrainMethod::Full;
  m_weight = adoptWeight(weight, trainable, "linear layer");
  m_bias = adoptBias(bias, m_weight, trainable, "linear layer");
  registerBase(*this, m_weight, m_bias);
}

torch::Tensor DenseLinear::forward(const torch::Tensor& input) { return at::linear(input, m_weight, m_bias); }

} // namespace lorafa
