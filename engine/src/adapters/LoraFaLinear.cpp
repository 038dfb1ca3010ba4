#include "LoraFaLinear.h"

#include "DropoutMask.h"
#include "LinearLayerCommon.h"
#include "LoraFaFunction.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>

namespace lorafa {

LoraFaLinear::LoraFaLinear(const torch::Tensor& weight, const torch::Tensor& bias,
                           const AdapterConfig& config)
    : m_weight(adoptWeight(weight, false, "LoRA-FA layer")),
      m_bias(adoptBias(bias, m_weight, false, "LoRA-FA layer")),
      m_adapter(m_weight.size(1), m_weight.size(0), config, m_weight.options()) {
  registerBase(*this, m_weight, m_bias);
  if (!m_bias.defined()) {
    m_noBias = at::empty({0}, m_weight.options());
  }
  m_adapter.a() = register_parameter("lora_A", m_adapter.a(), /*requires_grad=*/false);
  m_adapter.b() = register_parameter("lora_B", m_adapter.b(), /*requires_grad=*/true);
}

torch::Tensor LoraFaLinear::forward(const torch::Tensor& input) {
  if (isMerged()) {
    return at::linear(input, m_weight, m_bias);
  }
  const bool useDropout = is_training() && m_adapter.dropout() > 0.0;
  return LoraFaFunction::apply(input, m_weight, m_bias.defined() ? m_bias : m_noBias, m_adapter.a(), m_adapter.b(), m_adapter.scaling(),
                               useDropout ? m_adapter.dropout() : 0.0,
                               useDropout ? drawDropoutSeed() : std::int64_t{0});
}

} // namespace lorafa
