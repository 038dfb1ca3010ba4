#pragma once

#include <istream>
#include <ostream>
#include <string>

namespace lorafa::cli {

/// `lorafa tokenize`: text → ids, or ids → text with `decode`.
struct TokenizeOptions {
  std::string tokenizerPath; ///< tokenizer.json or a directory holding one
  std::string inputPath;     ///< JSON Lines file; empty: standard input
  bool decode = false;
  bool noSpecial = false; ///< encode without BOS/CLS..., decode skipping special tokens
};

/// Encodes: each {"text": ...} line of the input file gives one line of space-separated ids (with
/// no file, all of `in` is one text). Decodes: each line of space-separated ids, or {"ids": [...]},
/// gives one {"text": ...} line. Blank lines are not records and are passed over. A malformed
/// line throws std::runtime_error "<file>:<line>: <problem>".
void runTokenize(const TokenizeOptions& options, std::istream& in, std::ostream& out);

} // namespace lorafa::cli
