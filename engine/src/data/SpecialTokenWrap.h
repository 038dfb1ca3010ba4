#pragma once

#include "lorafa/Tokenizer.h"

#include <algorithm>
#include <vector>

namespace lorafa {

/// The special tokens a tokenizer's post-processor puts around a text (Llama: BOS before; BERT:
/// CLS before, SEP after; T5: EOS after; GPT-2, Qwen: none).
struct SpecialTokenWrap {
  std::vector<TokenId> prefix;
  std::vector<TokenId> suffix;
};

/// Found by encoding a short probe text with and without special tokens and locating the plain
/// ids inside the decorated ones.
inline SpecialTokenWrap probeSpecialTokens(const Tokenizer& tokenizer) {
  SpecialTokenWrap wrap;
  const std::vector<TokenId> plain = tokenizer.encode("a", false);
  const std::vector<TokenId> full = tokenizer.encode("a", true);
  if (plain.empty()) {
    wrap.prefix = full;
    return wrap;
  }
  const auto at = std::search(full.begin(), full.end(), plain.begin(), plain.end());
  if (at == full.end()) return wrap;
  wrap.prefix.assign(full.begin(), at);
  wrap.suffix.assign(at + static_cast<std::ptrdiff_t>(plain.size()), full.end());
  return wrap;
}

} // namespace lorafa
