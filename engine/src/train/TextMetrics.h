#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lorafa {

/// sacrebleu's default "13a" tokenization (mteval-v13a.pl): unescapes &quot; &amp; &lt; &gt;,
/// drops <skipped>, splits off ASCII punctuation and symbols, periods and commas unless next to a
/// digit, and a dash after a digit; then splits on whitespace.
std::vector<std::string> tokenize13a(std::string_view line);

/// Corpus BLEU as sacrebleu computes it with one reference per hypothesis: clipped n-gram
/// matches (n = 1..4) summed over the corpus, score = 100 · BP · exp(mean of log p_n), brevity
/// penalty BP = exp(1 − r/c) when the hypotheses' length c is below the references' r.
struct BleuScore {
  double score = 0.0;                 ///< 0..100 (sacrebleu's scale)
  std::array<double, 4> precisions{}; ///< p_1..p_4 in 0..100
  std::array<std::int64_t, 4> matches{};
  std::array<std::int64_t, 4> totals{};
  double brevityPenalty = 0.0;
  std::int64_t hypothesisLength = 0;
  std::int64_t referenceLength = 0;
};

/// No smoothing: when any n-gram order has no match (or the hypotheses have no n-grams of that
/// order), the score is 0, as sacrebleu's smooth_method="none" and NLTK's unsmoothed corpus_bleu
/// give. (sacrebleu's default "exp" smoothing differs only in that case.) Throws
/// std::invalid_argument when the two lists differ in length.
BleuScore corpusBleu(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references);

/// The text without leading and trailing whitespace (space, tab, CR, LF, VT, FF).
std::string trimWhitespace(std::string_view text);

/// Share of hypotheses equal to their reference after trimming whitespace at both ends, 0..1
/// (0 for empty lists).
double exactMatch(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references);

} // namespace lorafa
