#include "train/TextMetrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

namespace lorafa {
namespace {

void replaceAll(std::string& text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  std::size_t at = 0;
  while (true) {
    const std::size_t hit = text.find(from, at);
    if (hit == std::string::npos) break;
    out.append(text, at, hit - at);
    out.append(to);
    at = hit + from.size();
  }
  out.append(text, at, std::string::npos);
  text = std::move(out);
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isPeriodOrComma(char c) { return c == '.' || c == ','; }

/// The class [\{-\~\[-\` -\&\(-\+\:-\@\/] of the 13a tokenizer: ASCII symbols and punctuation
/// except ' - . , (and space, which splitting removes anyway).
bool isSplitSymbol(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 0x7B && u <= 0x7E) || (u >= 0x5B && u <= 0x60) || (u >= 0x20 && u <= 0x26) ||
         (u >= 0x28 && u <= 0x2B) || (u >= 0x3A && u <= 0x40) || u == 0x2F;
}

/// The length in bytes of a whitespace character at `at` as Python's str.split() sees it
/// (str.isspace), 0 when there is none.
std::size_t whitespaceAt(const std::string& s, std::size_t at) {
  const auto b0 = static_cast<unsigned char>(s[at]);
  if (b0 == ' ' || (b0 >= 0x09 && b0 <= 0x0D) || (b0 >= 0x1C && b0 <= 0x1F)) return 1;
  if (b0 == 0xC2 && at + 1 < s.size()) {
    const auto b1 = static_cast<unsigned char>(s[at + 1]);
    return b1 == 0x85 || b1 == 0xA0 ? 2 : 0; // U+0085, U+00A0
  }
  if (at + 2 >= s.size()) return 0;
  const auto b1 = static_cast<unsigned char>(s[at + 1]);
  const auto b2 = static_cast<unsigned char>(s[at + 2]);
  if (b0 == 0xE1 && b1 == 0x9A && b2 == 0x80) return 3; // U+1680
  if (b0 == 0xE2 && b1 == 0x80 && ((b2 >= 0x80 && b2 <= 0x8A) || b2 == 0xA8 || b2 == 0xA9 || b2 == 0xAF)) {
    return 3; // U+2000..U+200A, U+2028, U+2029, U+202F
  }
  if (b0 == 0xE2 && b1 == 0x81 && b2 == 0x9F) return 3; // U+205F
  if (b0 == 0xE3 && b1 == 0x80 && b2 == 0x80) return 3; // U+3000
  return 0;
}

using Ngrams = std::map<std::vector<std::string>, std::int64_t>;

Ngrams countNgrams(const std::vector<std::string>& tokens, std::size_t n) {
  Ngrams counts;
  for (std::size_t i = 0; i + n <= tokens.size(); ++i) {
    ++counts[std::vector<std::string>(tokens.begin() + static_cast<std::ptrdiff_t>(i),
                                      tokens.begin() + static_cast<std::ptrdiff_t>(i + n))];
  }
  return counts;
}

} // namespace

std::vector<std::string> tokenize13a(std::string_view line) {
  std::string s(line);
  replaceAll(s, "<skipped>", "");
  replaceAll(s, "-\n", "");
  replaceAll(s, "\n", " ");
  if (s.find('&') != std::string::npos) {
    replaceAll(s, "&quot;", "\"");
    replaceAll(s, "&amp;", "&");
    replaceAll(s, "&lt;", "<");
    replaceAll(s, "&gt;", ">");
  }
  // sacrebleu pads the line with a space at each end before the substitutions, so that a period
  // or comma at either end is split off too ("in 1990." → "1990 .").
  s = " " + s + " ";
  // The four regular-expression substitutions, each a left-to-right scan over non-overlapping
  // matches as re.sub does. Working on bytes is equivalent to working on code points here: every
  // byte the patterns name is ASCII, and a multi-byte character only ever matches [^0-9].
  std::string t;
  t.reserve(s.size() * 2);
  for (char c : s) { // ([\{-\~\[-\` -\&\(-\+\:-\@\/]) → " \1 "
    if (isSplitSymbol(c)) {
      t += ' ';
      t += c;
      t += ' ';
    } else {
      t += c;
    }
  }
  s.clear();
  for (std::size_t i = 0; i < t.size();) { // ([^0-9])([\.,]) → "\1 \2 "
    if (i + 1 < t.size() && !isDigit(t[i]) && isPeriodOrComma(t[i + 1])) {
      s += t[i];
      s += ' ';
      s += t[i + 1];
      s += ' ';
      i += 2;
    } else {
      s += t[i++];
    }
  }
  t.clear();
  for (std::size_t i = 0; i < s.size();) { // ([\.,])([^0-9]) → " \1 \2"
    if (i + 1 < s.size() && isPeriodOrComma(s[i]) && !isDigit(s[i + 1])) {
      t += ' ';
      t += s[i];
      t += ' ';
      t += s[i + 1];
      i += 2;
    } else {
      t += s[i++];
    }
  }
  s.clear();
  for (std::size_t i = 0; i < t.size();) { // ([0-9])(-) → "\1 \2 "
    if (i + 1 < t.size() && isDigit(t[i]) && t[i + 1] == '-') {
      s += t[i];
      s += " - ";
      i += 2;
    } else {
      s += t[i++];
    }
  }
  std::vector<std::string> tokens;
  std::string current;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t space = whitespaceAt(s, i);
    if (space > 0) {
      if (!current.empty()) tokens.push_back(std::move(current));
      current.clear();
      i += space;
    } else {
      current += s[i++];
    }
  }
  if (!current.empty()) tokens.push_back(std::move(current));
  return tokens;
}

BleuScore corpusBleu(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references) {
  if (hypotheses.size() != references.size()) {
    throw std::invalid_argument(
        "BLEU needs one reference per hypothesis: " + std::to_string(hypotheses.size()) + " hypotheses, " +
        std::to_string(references.size()) + " references");
  }
  BleuScore out;
  for (std::size_t i = 0; i < hypotheses.size(); ++i) {
    const std::vector<std::string> hyp = tokenize13a(hypotheses[i]);
    const std::vector<std::string> ref = tokenize13a(references[i]);
    out.hypothesisLength += static_cast<std::int64_t>(hyp.size());
    out.referenceLength += static_cast<std::int64_t>(ref.size());
    for (std::size_t n = 1; n <= 4; ++n) {
      const Ngrams h = countNgrams(hyp, n);
      const Ngrams r = countNgrams(ref, n);
      for (const auto& [gram, count] : h) {
        out.totals[n - 1] += count;
        const auto it = r.find(gram);
        if (it != r.end()) out.matches[n - 1] += std::min(count, it->second);
      }
    }
  }
  const double c = static_cast<double>(out.hypothesisLength);
  const double r = static_cast<double>(out.referenceLength);
  out.brevityPenalty = c >= r ? 1.0 : (c > 0.0 ? std::exp(1.0 - r / c) : 0.0);
  double logSum = 0.0;
  bool zero = false;
  for (std::size_t n = 0; n < 4; ++n) {
    if (out.totals[n] == 0 || out.matches[n] == 0) {
      zero = true;
      continue;
    }
    out.precisions[n] = 100.0 * static_cast<double>(out.matches[n]) / static_cast<double>(out.totals[n]);
    logSum += std::log(out.precisions[n]);
  }
  out.score = zero ? 0.0 : out.brevityPenalty * std::exp(logSum / 4.0);
  return out;
}

std::string trimWhitespace(std::string_view text) {
  const char* spaces = " \t\r\n\v\f";
  const std::size_t first = text.find_first_not_of(spaces);
  if (first == std::string_view::npos) return {};
  const std::size_t last = text.find_last_not_of(spaces);
  return std::string(text.substr(first, last - first + 1));
}

double exactMatch(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references) {
  if (hypotheses.size() != references.size()) {
    throw std::invalid_argument(
        "exact match needs one reference per hypothesis: " + std::to_string(hypotheses.size()) +
        " hypotheses, " + std::to_string(references.size()) + " references");
  }
  if (hypotheses.empty()) return 0.0;
  std::size_t same = 0;
  for (std::size_t i = 0; i < hypotheses.size(); ++i) {
    same += trimWhitespace(hypotheses[i]) == trimWhitespace(references[i]);
  }
  return static_cast<double>(same) / static_cast<double>(hypotheses.size());
}

} // namespace lorafa
