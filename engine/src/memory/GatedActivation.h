#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace lorafa {

/// act(gate) · up, as gated MLPs compute it (Llama's SwiGLU, Gemma's GeGLU). For silu/swish and
/// the tanh GELUs it is one autograd node that keeps only gate and up for backward (act(gate) is
/// recomputed there), where the plain ops keep gate, act(gate) and up: one [tokens, intermediate]
/// tensor less per layer. Other activations take the plain ops (applyActivation(act, gate) · up).
at::Tensor gatedActivation(const std::string& act, const at::Tensor& gate, const at::Tensor& up);

} // namespace lorafa
