// A tokenizer.json, then a little text encoded and decoded with it. The input is the JSON text,
// optionally followed by a NUL byte and the text to encode (else a fixed sample with letters,
// digits, spaces, newlines, accents, an emoji and special-token look-alikes).
#include "FuzzTargets.h"

#include "lorafa/FormatError.h"
#include "tokenize/HfTokenizer.h"
#include "tokenize/Pcre2Regex.h"

#include <cstdlib>
#include <string>

namespace lorafa::fuzz {

int tokenizer(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string json = input.substr(0, nul);
  const std::string text = nul == std::string::npos
                               ? std::string("Hello world! It's 2024, caf\xC3\xA9 \xF0\x9F\x98\x80\n\n  "
                                             "tabs\tand <s> </s> <|endoftext|> [CLS] x")
                               : input.substr(nul + 1);
  std::shared_ptr<HfTokenizer> loaded;
  try {
    loaded = HfTokenizer::fromJsonText(json, "tokenizer.json");
  } catch (const FormatError&) {
    return 0;
  }
  try {
    for (const bool special : {true, false}) {
      const std::vector<TokenId> ids = loaded->encode(text, special);
      for (const TokenId id : ids) {
        if (id < 0) std::abort(); // an id outside the vocabulary is a bug, not bad input
        (void)loaded->idToToken(id);
      }
      (void)loaded->decode(ids, !special);
    }
    (void)loaded->vocabSize();
  } catch (const Pcre2LimitError&) {
  } catch (const FormatError&) {
    // A Unigram model without unk_id cannot encode a character none of its pieces covers.
  }
  return 0;
}

} // namespace lorafa::fuzz
