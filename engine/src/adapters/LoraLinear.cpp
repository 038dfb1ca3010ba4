#include "LoraLinear.h"

#include "LinearLayerCommon.h"

#include <ATen/ops/dropout.h>
#include <ATen/ops/linear.h>

namespace lorafa {

LoraLinear::LoraLinear(const torch::Tensor& weight, const torch::Tensor& bias, const AdapterConfig& config)
    : m_weight(adoptWeight(weight, false, "LoRA layer")),
      m_bias(adoptBias(bias, m_weight, false, "LoRA layer")),
      m_adapter(m_weight.size(1), m_weight.size(0), config, m_weight.options()) {
  registerBase(*this, m_weight, m_bias);
  m_adapter.a() = register_parameter("lora_A", m_adapter.a(), /*requires_grad=*/true);
  m_adapter.b() = register_parameter("lora_B", m_adapter.b(), /*requires_grad=*/true);
}

torch::Tensor LoraLinear::forward(const torch::Tensor& input) {
  at::Tensor base = at::linear(input, m_weight, m_bias);
  if (isMerged()) {
    return base;
  }
  const bool useDropout = is_training() && m_adapter.dropout() > 0.0;
  const at::Tensor x = useDropout ? at::dropout(input, m_adapter.dropout(), /*train=*/true) : input;
  return base + at::linear(at::linear(x, m_adapter.a()), m_adapter.b()) * m_adapter.scaling();
}

} // namespace lorafa
