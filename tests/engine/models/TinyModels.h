#pragma once

// Tiny random models of each family, built in the test from a seed.
#include "models/ModelConfig.h"
#include "models/ModelFactory.h"

#include <torch/torch.h>

namespace lorafa::test {

inline ModelConfig tinyConfig(const std::string& modelType) {
  std::string json;
  if (modelType == "llama" || modelType == "qwen2" || modelType == "mistral") {
    json = R"({"model_type": ")" + modelType + R"(", "vocab_size": 61, "hidden_size": 32, "intermediate_size": 48,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64,
      "rms_norm_eps": 1e-6, "eos_token_id": 2, "bos_token_id": 1})";
  } else if (modelType == "gpt2") {
    json = R"({"model_type": "gpt2", "vocab_size": 61, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64,
      "eos_token_id": 2})";
  } else {
    throw std::invalid_argument("no tiny config for " + modelType);
  }
  return ModelConfig::fromJson(json, "<tiny " + modelType + ">");
}

inline std::shared_ptr<LanguageModel> tinyModel(const std::string& modelType, std::uint64_t seed = 1) {
  auto model = createModel(tinyConfig(modelType), torch::dtype(torch::kFloat));
  initializeRandom(*model, seed);
  return model;
}

/// Next-token cross-entropy of a causal LM on `ids` [B, T].
inline at::Tensor causalLmLoss(LanguageModel& model, const at::Tensor& ids) {
  ModelInputs inputs;
  inputs.inputIds = ids;
  const at::Tensor logits = model.forward(inputs);
  const std::int64_t vocab = logits.size(-1);
  return torch::nn::functional::cross_entropy(logits.slice(1, 0, -1).reshape({-1, vocab}),
                                              ids.slice(1, 1).reshape({-1}));
}

} // namespace lorafa::test
