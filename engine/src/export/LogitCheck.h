#pragma once

#include "models/LanguageModel.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lorafa {

/// The fixed prompts an export is verified on, as token ids: a few short texts encoded with the
/// tokenizer at `tokenizerPath` (a file or folder; empty or unreadable: fixed ids spread over
/// the vocabulary), every id in the model's vocabulary, no longer than its positions allow.
std::vector<std::vector<std::int64_t>> verificationPrompts(const std::string& tokenizerPath,
                                                           const ModelConfig& config);

/// The model's logits for each prompt (one row each, no padding), fp32, computed without
/// gradients. T5 decodes a fixed few decoder tokens starting at decoder_start_token_id.
std::vector<at::Tensor> promptLogits(LanguageModel& model,
                                     const std::vector<std::vector<std::int64_t>>& prompts);

/// max |a − b| over all prompts (shapes must agree), and max |a| into `maxAbs` when given.
double maxAbsDifference(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b,
                        double* maxAbs = nullptr);

} // namespace lorafa
