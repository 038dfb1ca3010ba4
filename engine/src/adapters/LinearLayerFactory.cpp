#include "LinearLayerFactory.h"

#include "DenseLinear.h"
#include "LoraFaLinear.h"
#include "LoraLinear.h"

#include <ATen/ops/empty.h>

#include <cmath>
#include <stdexcept>

namespace lorafa {

std::shared_ptr<LinearLayer> makeLinearLayer(const torch::Tensor& weight, const torch::Tensor& bias,
                                             const AdapterConfig& config) {
  switch (config.method) {
  case TrainMethod::LoraFa: return std::make_shared<LoraFaLinear>(weight, bias, config);
  case TrainMethod::Lora: return std::make_shared<LoraLinear>(weight, bias, config);
  case TrainMethod::Full:
  case TrainMethod::Frozen: return std::make_shared<DenseLinear>(weight, bias, config.method);
  }
  throw std::invalid_argument("unknown training method");
}

torch::Tensor randomLinearWeight(std::int64_t inFeatures, std::int64_t outFeatures,
                                 const torch::TensorOptions& options) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(inFeatures));
  return at::empty({outFeatures, inFeatures}, options.requires_grad(false)).uniform_(-bound, bound);
}

} // namespace lorafa
