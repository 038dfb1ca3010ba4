#include "Generation.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/tensor.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <stdexcept>

namespace lorafa {
namespace {

at::Tensor idsTensor(const std::vector<std::int64_t>& ids, const c10::Device& device) {
  return at::tensor(ids, at::TensorOptions().dtype(at::kLong)).view({1, static_cast<std::int64_t>(ids.size())}).to(device);
}

c10::Device modelDevice(LanguageModel& model) { return model.parameters().front().device(); }

} // namespace

std::int64_t sampleToken(const at::Tensor& logits, const GenerationOptions& options, std::uint64_t& rngState) {
  const at::Tensor row = logits.detach().to(at::kDouble).cpu().contiguous();
  const double* data = row.data_ptr<double>();
  const std::int64_t vocab = row.numel();
  if (options.temperature <= 0.0) {
    return std::max_element(data, data + vocab) - data;
  }
  std::vector<std::int64_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return data[a] > data[b]; });
  std::size_t keep = order.size();
  if (options.topK > 0) keep = std::min<std::size_t>(keep, static_cast<std::size_t>(options.topK));
  // Softmax over the kept tokens at the temperature, highest first.
  std::vector<double> probs(keep);
  const double top = data[order[0]] / options.temperature;
  double sum = 0.0;
  for (std::size_t i = 0; i < keep; ++i) sum += probs[i] = std::exp(data[order[i]] / options.temperature - top);
  for (double& p : probs) p /= sum;
  if (options.topP < 1.0) { // smallest prefix whose mass reaches top-p (at least one token)
    double mass = 0.0;
    std::size_t n = 0;
    while (n < keep && (n == 0 || mass < options.topP)) mass += probs[n++];
    probs.resize(n);
  }
  std::mt19937_64 rng(rngState);
  std::discrete_distribution<std::size_t> pick(probs.begin(), probs.end());
  const std::size_t chosen = pick(rng);
  rngState = rng();
  return order[chosen];
}

std::vector<std::int64_t> generate(LanguageModel& model, const std::vector<std::int64_t>& prompt,
                                   const GenerationOptions& options) {
  if (prompt.empty()) throw std::invalid_argument("generation needs a prompt of at least one token");
  if (model.config().family == ModelFamily::Bert || model.config().family == ModelFamily::Roberta ||
      model.config().isSequenceClassifier()) {
    throw std::invalid_argument("sequence classifiers do not generate text");
  }
  c10::NoGradGuard noGrad;
  const bool wasTraining = model.is_training();
  model.eval();
  std::vector<std::int64_t> stops = options.stopTokens;
  if (stops.empty() && model.config().eosTokenIds) stops = *model.config().eosTokenIds;
  const c10::Device device = modelDevice(model);
  std::uint64_t rngState = options.seed;
  std::vector<std::int64_t> produced;

  const bool encoderDecoder = model.config().family == ModelFamily::T5;
  KvCache cache;
  ModelInputs inputs;
  std::vector<std::int64_t> sequence; // what the decoder has seen so far
  if (encoderDecoder) {
    inputs.inputIds = idsTensor(prompt, device);
    inputs.encoderHidden = model.encode(inputs);
    sequence = {model.config().decoderStartTokenId};
  } else {
    sequence = prompt;
  }
  std::size_t fed = 0; // tokens of `sequence` already in the cache
  // LongRoPE (Phi-3): cached keys were rotated with the short factors; once the sequence outgrows
  // the pretraining length, the whole sequence is computed again with the long ones, once, as
  // transformers' Phi3ForCausalLM.prepare_inputs_for_generation does.
  const RopeScaling& rope = model.config().ropeScaling;
  const bool longRope = !encoderDecoder && rope.type == "longrope";
  for (std::int64_t step = 0; step < options.maxNewTokens; ++step) {
    const bool cached = options.useCache;
    if (cached && longRope && static_cast<std::int64_t>(sequence.size()) >= rope.originalMaxPositions + 1 &&
        cache.length() > 0 && cache.length() <= rope.originalMaxPositions) {
      cache = KvCache();
      fed = 0;
    }
    const std::vector<std::int64_t> feed(sequence.begin() + (cached ? fed : 0), sequence.end());
    at::Tensor& target = encoderDecoder ? inputs.decoderInputIds : inputs.inputIds;
    target = idsTensor(feed, device);
    inputs.cache = cached ? &cache : nullptr;
    if (!encoderDecoder) {
      inputs.attentionMask = at::ones({1, static_cast<std::int64_t>(sequence.size())},
                                      at::TensorOptions().dtype(at::kLong).device(device));
    }
    const at::Tensor logits = model.forward(inputs);
    fed = sequence.size();
    const std::int64_t next = sampleToken(logits[0][logits.size(1) - 1], options, rngState);
    produced.push_back(next);
    sequence.push_back(next);
    if (std::find(stops.begin(), stops.end(), next) != stops.end()) break;
  }
  if (wasTraining) model.train();
  return produced;
}

} // namespace lorafa
