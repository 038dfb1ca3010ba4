#pragma once

#include "LanguageModel.h"

#include <cstdint>
#include <vector>

namespace lorafa {

struct GenerationOptions {
  std::int64_t maxNewTokens = 64;
  double temperature = 0.0; ///< 0: greedy
  std::int64_t topK = 0;    ///< 0: no top-k cut
  double topP = 1.0;        ///< 1: no nucleus cut
  std::uint64_t seed = 0;
  /// Tokens that end generation; empty: the config's eos_token_id.
  std::vector<std::int64_t> stopTokens;
  bool useCache = true; ///< false recomputes the whole sequence each step (for checking the cache)
};

/// Continues one prompt (token ids) with a decoder-only model, or answers it with T5. Returns the
/// new tokens, including the stop token when one was produced.
std::vector<std::int64_t> generate(LanguageModel& model, const std::vector<std::int64_t>& prompt,
                                   const GenerationOptions& options);

/// Picks the next token from logits [vocab] with the options' temperature, top-k and top-p.
std::int64_t sampleToken(const at::Tensor& logits, const GenerationOptions& options, std::uint64_t& rngState);

} // namespace lorafa
