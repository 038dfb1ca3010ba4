#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lorafa {

/// How a linear layer is trained.
enum class TrainMethod {
  LoraFa, ///< LoRA-FA: A frozen, only B trained; backward keeps x·Aᵀ, never x
  Lora,   ///< LoRA baseline: A and B trained; keeps x
  Full,   ///< full fine-tuning: W (and bias) trained
  Frozen, ///< nothing trained; gradients flow to the input only
};

/// How the frozen (LoRA-FA) or trainable (LoRA) down-projection A starts. B always starts at 0.
enum class LoraInit {
  KaimingUniform, ///< PEFT's default: kaiming_uniform_(a = √5), i.e. U(-1/√in, 1/√in)
  Gaussian,       ///< PEFT's "gaussian": N(0, (1/r)²)
  Orthogonal,     ///< orthonormal rows (r ≤ in)
};

/// Adapter settings shared by every adapted linear layer of a run.
struct AdapterConfig {
  TrainMethod method = TrainMethod::LoraFa;
  int rank = 8;        ///< r
  double alpha = 8.0;  ///< lora_alpha; PEFT's default with r = 8 gives scaling 1
  bool useRslora = false; ///< scaling α/√r instead of α/r
  LoraInit init = LoraInit::KaimingUniform;
  double dropout = 0.0; ///< adapter dropout on the input, in [0, 1)

  /// s = α/r, or α/√r with rsLoRA.
  double scaling() const;
  /// Throws std::invalid_argument naming the bad field when a value is out of range.
  void validate() const;
};

const char* toString(TrainMethod method);
const char* toString(LoraInit init);
/// Accepts "lora-fa"/"lorafa", "lora", "full", "frozen" (case-insensitive).
std::optional<TrainMethod> parseTrainMethod(std::string_view text);
std::optional<LoraInit> parseLoraInit(std::string_view text);

} // namespace lorafa
