#include "lorafa/AdapterConfig.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <stdexcept>
#include <string>

namespace lorafa {
namespace {

std::string lowered(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  out.erase(std::remove(out.begin(), out.end(), '_'), out.end());
  out.erase(std::remove(out.begin(), out.end(), '-'), out.end());
  return out;
}

} // namespace

double AdapterConfig::scaling() const {
  return useRslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / rank;
}

void AdapterConfig::validate() const {
  if (method != TrainMethod::LoraFa && method != TrainMethod::Lora) {
    return; // rank, alpha and dropout only matter for adapters
  }
  if (rank < 1) {
    throw std::invalid_argument("adapter rank must be at least 1, got " + std::to_string(rank));
  }
  if (!std::isfinite(alpha) || alpha <= 0.0) {
    throw std::invalid_argument("lora_alpha must be a positive number, got " + std::to_string(alpha));
  }
  if (!(dropout >= 0.0 && dropout < 1.0)) {
    throw std::invalid_argument("adapter dropout must be in [0, 1), got " + std::to_string(dropout));
  }
}

const char* toString(TrainMethod method) {
  switch (method) {
  case TrainMethod::LoraFa: return "lora-fa";
  case TrainMethod::Lora: return "lora";
  case TrainMethod::Full: return "full";
  case TrainMethod::Frozen: return "frozen";
  }
  return "unknown";
}

const char* toString(LoraInit init) {
  switch (init) {
  case LoraInit::KaimingUniform: return "kaiming-uniform";
  case LoraInit::Gaussian: return "gaussian";
  case LoraInit::Orthogonal: return "orthogonal";
  }
  return "unknown";
}

std::optional<TrainMethod> parseTrainMethod(std::string_view text) {
  const std::string key = lowered(text);
  if (key == "lorafa") return TrainMethod::LoraFa;
  if (key == "lora") return TrainMethod::Lora;
  if (key == "full") return TrainMethod::Full;
  if (key == "frozen") return TrainMethod::Frozen;
  return std::nullopt;
}

std::optional<LoraInit> parseLoraInit(std::string_view text) {
  const std::string key = lowered(text);
  if (key == "kaiminguniform" || key == "kaiming" || key == "true") return LoraInit::KaimingUniform;
  if (key == "gaussian") return LoraInit::Gaussian;
  if (key == "orthogonal") return LoraInit::Orthogonal;
  return std::nullopt;
}

} // namespace lorafa
