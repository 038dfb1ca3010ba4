#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lorafa {

/// SentencePiece's compiled normalization rules (`precompiled_charsmap` of a model's normalizer
/// spec, the `Precompiled` normalizer of tokenizer.json): a little-endian uint32 byte size of a
/// Darts double-array trie, the trie's uint32 units, then a pool of NUL-terminated replacement
/// strings that the trie's values index.
///
/// normalize() follows the reference (tokenizers with its spm_precompiled crate), which is not
/// SentencePiece's own longest-match rule: the text is cut into extended grapheme clusters; a
/// cluster shorter than 6 bytes that has a rule for one of its prefixes becomes the replacement of
/// its *shortest* such prefix (the rest of the cluster is dropped), and any other cluster is
/// replaced code point by code point, each one that has a rule by its replacement.
class PrecompiledCharsmap {
public:
  /// Parses the decoded blob. Throws std::invalid_argument saying what is malformed.
  explicit PrecompiledCharsmap(std::string_view blob);

  /// The replacement for the shortest prefix of `chunk` that has a rule (a NUL byte ends the
  /// search), or nullopt.
  std::optional<std::string_view> transform(std::string_view chunk) const;
  /// `text` must be valid UTF-8; so is the result.
  std::string normalize(std::string_view text) const;

private:
  std::vector<std::uint32_t> m_units;
  std::string m_pool;
};

/// Decodes standard base64 with padding (RFC 4648 §4), rejecting anything else the way the
/// reference's decoder does. Throws std::invalid_argument naming the offending position.
std::string decodeBase64(std::string_view text);

} // namespace lorafa
