#include "export/LogitCheck.h"

#include "lorafa/Tokenizer.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/ones_like.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace lorafa {

std::vector<std::vector<std::int64_t>> verificationPrompts(const std::string& tokenizerPath,
                                                           const ModelConfig& config) {
  const std::int64_t vocabSize = config.vocabSize;
  // Learned positions bound the length (RoBERTa's start after the padding id).
  std::size_t maxLength = 32;
  if (config.maxPositions > 0 && config.family != ModelFamily::T5) {
    const std::int64_t offset = config.family == ModelFamily::Roberta ? config.padTokenId.value_or(1) + 1 : 0;
    maxLength = static_cast<std::size_t>(
        std::max<std::int64_t>(1, std::min<std::int64_t>(32, config.maxPositions - offset)));
  }
  static const char* const kTexts[] = {
      "The quick brown fox jumps over the lazy dog.",
      "Question: What is the capital of France?\nAnswer:",
      "In the beginning God created the heaven and the earth.",
      "def add(a, b):\n    return a + b",
  };
  std::vector<std::vector<std::int64_t>> prompts;
  if (!tokenizerPath.empty()) {
    try {
      const auto tokenizer = Tokenizer::load(tokenizerPath);
      for (const char* text : kTexts) {
        std::vector<std::int64_t> ids;
        for (TokenId id : tokenizer->encode(text, true))
          ids.push_back(static_cast<std::int64_t>(id));
        if (ids.size() > maxLength) ids.resize(maxLength);
        if (!ids.empty() &&
            std::all_of(ids.begin(), ids.end(), [&](std::int64_t id) { return id >= 0 && id < vocabSize; })) {
          prompts.push_back(std::move(ids));
        }
      }
    } catch (const std::exception&) {
      prompts.clear();
    }
  }
  if (prompts.empty()) {
    // No usable tokenizer: fixed ids, spread over the vocabulary by a stride prime to it.
    for (std::int64_t p = 0; p < 3; ++p) {
      std::vector<std::int64_t> ids;
      for (std::size_t i = 0; i < std::min<std::size_t>(12, maxLength); ++i)
        ids.push_back((1 + p * 131 + static_cast<std::int64_t>(i) * 7919) % vocabSize);
      prompts.push_back(std::move(ids));
    }
  }
  return prompts;
}

namespace {

at::Tensor idRow(std::vector<std::int64_t> ids, const at::Device& device) {
  const auto n = static_cast<std::int64_t>(ids.size());
  return at::from_blob(ids.data(), {1, n}, at::TensorOptions().dtype(at::kLong)).clone().to(device);
}

} // namespace

std::vector<at::Tensor> promptLogits(LanguageModel& model,
                                     const std::vector<std::vector<std::int64_t>>& prompts) {
  c10::NoGradGuard noGrad;
  const bool wasTraining = model.is_training();
  model.eval();
  std::vector<at::Tensor> out;
  const auto device = model.parameters().empty() ? at::Device(at::kCPU) : model.parameters()[0].device();
  for (const auto& ids : prompts) {
    ModelInputs inputs;
    inputs.inputIds = idRow(ids, device);
    inputs.attentionMask = at::ones_like(inputs.inputIds);
    if (model.config().family == ModelFamily::T5) {
      std::vector<std::int64_t> decoder{model.config().decoderStartTokenId};
      for (std::size_t i = 0; i < ids.size() && i < 4; ++i)
        decoder.push_back(ids[i]);
      inputs.decoderInputIds = idRow(decoder, device);
    }
    out.push_back(model.forward(inputs).to(at::kCPU).to(at::kFloat));
  }
  if (wasTraining) model.train();
  return out;
}

double maxAbsDifference(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b, double* maxAbs) {
  if (a.size() != b.size()) throw std::logic_error("maxAbsDifference: different prompt counts");
  double worst = 0.0;
  double largest = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].sizes().equals(b[i].sizes())) {
      throw std::runtime_error("the re-loaded export gives logits of another shape than the trained model");
    }
    // A NaN or infinite logit on either side is a difference, never "no difference": std::max
    // would drop a NaN (NaN < x is false), so it is carried over explicitly.
    const double d = (a[i].to(at::kDouble) - b[i].to(at::kDouble)).abs().max().item<double>();
    if (std::isnan(d) || std::isnan(worst)) {
      worst = std::numeric_limits<double>::quiet_NaN();
    } else {
      worst = std::max(worst, d);
    }
    largest = std::max(largest, a[i].abs().max().item<double>());
  }
  if (maxAbs != nullptr) *maxAbs = largest;
  return worst;
}

} // namespace lorafa
