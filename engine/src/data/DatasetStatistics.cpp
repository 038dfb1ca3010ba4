#include "lorafa/DatasetStatistics.h"

#include "data/ExampleRendering.h"
#include "data/SpecialTokenWrap.h"
#include "data/TextUtil.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace lorafa {
namespace {

// The smallest of 1, 2, 5, 10, 20, 50, … that is at least `raw`.
std::int64_t roundWidth(std::int64_t raw) {
  std::int64_t scale = 1;
  for (;;) {
    for (const std::int64_t step : {1, 2, 5}) {
      if (step * scale >= raw) return step * scale;
    }
    scale *= 10;
  }
}

// Nearest rank: the smallest value with at least p% of the sorted values at or below it.
std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  const auto n = static_cast<double>(sorted.size());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * n));
  rank = std::min(std::max<std::size_t>(rank, 1), sorted.size());
  return sorted[rank - 1];
}

} // namespace

DatasetStatistics computeStatistics(const TokenizedDataset& tokenized, std::int64_t maxLength,
                                    std::size_t bins) {
  DatasetStatistics s;
  s.maxLength = maxLength > 0 ? maxLength : tokenized.maxLength;
  if (tokenized.task == TaskType::Classification) {
    s.labels.resize(tokenized.labelNames.size());
    for (std::size_t i = 0; i < s.labels.size(); ++i)
      s.labels[i].name = tokenized.labelNames[i];
    for (const TokenizedExample& row : tokenized.rows) {
      if (row.classLabel >= 0 && static_cast<std::size_t>(row.classLabel) < s.labels.size()) {
        ++s.labels[static_cast<std::size_t>(row.classLabel)].count;
      }
    }
  }
  s.examples = tokenized.counts.size();
  if (s.examples == 0) return s;

  std::vector<std::int64_t> lengths;
  lengths.reserve(s.examples);
  for (const ExampleTokenCount& c : tokenized.counts) {
    lengths.push_back(c.tokens);
    s.totalTokens += c.tokens;
    s.trainableTokens += c.trainableTokens;
    if (!tokenized.packed && c.tokens > s.maxLength) {
      ++s.truncatedExamples;
      s.truncatedTokens += c.tokens - s.maxLength;
    }
  }
  std::sort(lengths.begin(), lengths.end());
  s.minTokens = lengths.front();
  s.maxTokens = lengths.back();
  s.meanTokens = static_cast<double>(s.totalTokens) / static_cast<double>(s.examples);
  s.p50Tokens = percentile(lengths, 50);
  s.p90Tokens = percentile(lengths, 90);
  s.p95Tokens = percentile(lengths, 95);
  s.p99Tokens = percentile(lengths, 99);

  bins = std::max<std::size_t>(bins, 1);
  const auto binCount = static_cast<std::int64_t>(bins);
  const std::int64_t width = roundWidth((s.maxTokens + 1 + binCount - 1) / binCount);
  const std::int64_t used = s.maxTokens / width + 1;
  s.histogram.resize(static_cast<std::size_t>(used));
  for (std::int64_t i = 0; i < used; ++i) {
    s.histogram[static_cast<std::size_t>(i)].from = i * width;
    s.histogram[static_cast<std::size_t>(i)].to = (i + 1) * width;
  }
  for (const std::int64_t length : lengths)
    ++s.histogram[static_cast<std::size_t>(length / width)].count;
  return s;
}

std::vector<ExamplePreview> previewExamples(const Dataset& dataset, const Tokenizer& tokenizer,
                                            const ProcessingOptions& options, std::size_t count,
                                            std::size_t maxChars) {
  std::vector<ExamplePreview> previews;
  const ChatTemplateOptions templateOptions = trainingTemplateOptions(options.templateOptions, tokenizer);
  const SpecialTokenWrap wrap = probeSpecialTokens(tokenizer);
  const auto wrapped = static_cast<std::int64_t>(wrap.prefix.size() + wrap.suffix.size());
  const bool seq2seq = options.task == TaskType::Seq2Seq && dataset.format != DatasetFormat::Classification;
  for (std::size_t i = 0; i < dataset.examples.size() && previews.size() < count; ++i) {
    const Example& e = dataset.examples[i];
    ExamplePreview p;
    p.exampleIndex = i;
    p.line = e.line;
    try {
      switch (dataset.format) {
      case DatasetFormat::Classification:
        p.segments.push_back(PreviewSegment{e.text, false});
        if (e.label >= 0 && static_cast<std::size_t>(e.label) < dataset.labelNames.size()) {
          p.label = dataset.labelNames[static_cast<std::size_t>(e.label)];
        }
        p.tokens = static_cast<std::int64_t>(tokenizer.encode(e.text, false).size()) + wrapped;
        break;
      case DatasetFormat::PlainText: {
        const std::string_view text(e.text);
        p.segments.push_back(
            PreviewSegment{std::string(text.substr(0, utf8PrefixLength(text, maxChars))), true});
        p.tokens = static_cast<std::int64_t>(tokenizer.encode(e.text, false).size());
        p.trainableTokens = p.tokens;
        break;
      }
      default:
        if (seq2seq) {
          const bool alpaca = dataset.format == DatasetFormat::Alpaca;
          const std::string source =
              alpaca ? (e.input.empty() ? e.instruction : e.instruction + "\n\n" + e.input) : e.text;
          const std::string& target = alpaca ? e.output : e.target;
          p.segments.push_back(PreviewSegment{source, false});
          p.segments.push_back(PreviewSegment{target, true});
          p.tokens = static_cast<std::int64_t>(tokenizer.encode(source, false).size()) + wrapped;
          p.trainableTokens = static_cast<std::int64_t>(tokenizer.encode(target, false).size()) + wrapped;
        } else {
          const RenderedChat rendered =
              renderExample(dataset.format, e, options.chatTemplate, templateOptions);
          std::size_t at = 0;
          for (const TextSpan& span : rendered.responseSpans) {
            if (span.begin > at)
              p.segments.push_back(PreviewSegment{rendered.text.substr(at, span.begin - at), false});
            p.segments.push_back(
                PreviewSegment{rendered.text.substr(span.begin, span.end - span.begin), true});
            at = span.end;
          }
          if (at < rendered.text.size())
            p.segments.push_back(PreviewSegment{rendered.text.substr(at), false});
          const MaskedTokens tokens = tokenizeWithMask(
              tokenizer, rendered, !templateOwnsSpecialTokens(options.chatTemplate), options.trainOnPrompt);
          p.tokens = static_cast<std::int64_t>(tokens.inputIds.size());
          p.trainableTokens = static_cast<std::int64_t>(std::count_if(
              tokens.labels.begin(), tokens.labels.end(), [](TokenId id) { return id != kIgnoreIndex; }));
        }
        break;
      }
    } catch (const std::invalid_argument& error) {
      p.error = error.what();
    }
    p.truncated = dataset.format != DatasetFormat::PlainText && p.tokens > options.maxLength;
    previews.push_back(std::move(p));
  }
  return previews;
}

} // namespace lorafa
