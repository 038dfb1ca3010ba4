#include "lorafa/TokenizedDataset.h"

#include "data/ErrorPolicy.h"
#include "data/ExampleRendering.h"
#include "data/RowPacker.h"
#include "data/SpecialTokenWrap.h"
#include "lorafa/DataError.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace lorafa {
namespace {

std::size_t commonPrefixLength(const std::vector<TokenId>& a, const TokenId* b, std::size_t bSize) {
  const std::size_t n = std::min(a.size(), bSize);
  std::size_t i = 0;
  while (i < n && a[i] == b[i])
    ++i;
  return i;
}

std::int64_t countTrainable(const std::vector<TokenId>& labels) {
  return static_cast<std::int64_t>(
      std::count_if(labels.begin(), labels.end(), [](TokenId id) { return id != kIgnoreIndex; }));
}

// A place where the whole text's tokenization is known to split cleanly: the tokens before
// `token` cover exactly the bytes before `offset`.
struct CleanSplit {
  std::size_t offset = 0;
  std::size_t token = 0;
};

// The token index where byte `offset` of the text falls in the whole text's tokens `ids`. The
// text from the last clean split up to `offset` is tokenized on its own: when its tokens are the
// next tokens of `ids`, they cover exactly those bytes (a token id always stands for the same
// bytes), so `offset` is a clean split too. Otherwise the text before `offset` is tokenized from
// the start and compared with `ids`; a token straddling `offset` counts as response: it is
// included after a span's start and before a span's end. Spans are visited in order, so a
// conversation costs about two tokenizations of its text, not one per turn.
std::size_t tokenBoundary(const Tokenizer& tokenizer, const std::string& text, std::size_t offset,
                          const std::vector<TokenId>& ids, std::size_t lead, bool spanEnd,
                          CleanSplit& clean) {
  if (offset <= clean.offset) return clean.token; // an empty span, or the start of the text
  if (offset >= text.size()) return ids.size();
  const std::string_view view(text);
  const std::vector<TokenId> piece =
      tokenizer.encode(view.substr(clean.offset, offset - clean.offset), false);
  std::size_t agree = commonPrefixLength(piece, ids.data() + clean.token, ids.size() - clean.token);
  if (agree == piece.size()) {
    clean = CleanSplit{offset, clean.token + agree};
    return clean.token;
  }
  std::size_t base = clean.token;
  if (clean.offset > 0) { // retry from the start of the text
    const std::vector<TokenId> before = tokenizer.encode(view.substr(0, offset), false);
    agree = commonPrefixLength(before, ids.data() + lead, ids.size() - lead);
    base = lead;
    if (agree == before.size()) {
      clean = CleanSplit{offset, lead + agree};
      return clean.token;
    }
  }
  return std::min(base + agree + (spanEnd ? 1 : 0), ids.size());
}

MaskedTokens maskTokens(const Tokenizer& tokenizer, const RenderedChat& rendered,
                        const std::vector<TokenId>& lead, bool trainOnPrompt) {
  MaskedTokens out;
  out.inputIds = lead;
  const std::vector<TokenId> body = tokenizer.encode(rendered.text, false);
  out.inputIds.insert(out.inputIds.end(), body.begin(), body.end());
  if (trainOnPrompt) {
    out.labels = out.inputIds;
    return out;
  }
  out.labels.assign(out.inputIds.size(), kIgnoreIndex);
  CleanSplit clean{0, lead.size()};
  for (const TextSpan& span : rendered.responseSpans) {
    const std::size_t begin =
        tokenBoundary(tokenizer, rendered.text, span.begin, out.inputIds, lead.size(), false, clean);
    const std::size_t end =
        tokenBoundary(tokenizer, rendered.text, span.end, out.inputIds, lead.size(), true, clean);
    for (std::size_t i = begin; i < end; ++i) {
      out.labels[i] = out.inputIds[i];
    }
  }
  return out;
}

// prefix + content cut to fit maxLength with the suffix + suffix; true when cut.
bool wrapAndTruncate(const SpecialTokenWrap& wrap, std::vector<TokenId> content, std::int64_t maxLength,
                     std::vector<TokenId>& out) {
  const std::int64_t room = std::max<std::int64_t>(
      0, maxLength - static_cast<std::int64_t>(wrap.prefix.size() + wrap.suffix.size()));
  bool cut = false;
  if (static_cast<std::int64_t>(content.size()) > room) {
    content.resize(static_cast<std::size_t>(room));
    cut = true;
  }
  out = wrap.prefix;
  out.insert(out.end(), content.begin(), content.end());
  out.insert(out.end(), wrap.suffix.begin(), wrap.suffix.end());
  return cut;
}

class Processor {
public:
  Processor(const Dataset& dataset, const Tokenizer& tokenizer, const ProcessingOptions& options)
      : m_data(dataset), m_tokenizer(tokenizer), m_options(options),
        m_errors(options.onError, options.maxReportedErrors, m_out.skipped) {
    if (options.maxLength <= 0) throw std::invalid_argument("maxLength must be positive");
    m_out.maxLength = options.maxLength;
    m_out.labelNames = dataset.labelNames;
    m_out.padId = tokenizer.padId().value_or(tokenizer.eosId().value_or(0));
    m_out.task = dataset.format == DatasetFormat::Classification ? TaskType::Classification : options.task;
    if (m_out.task == TaskType::Classification && dataset.format != DatasetFormat::Classification) {
      throw DataError(dataset.path, 0,
                      "the classification task needs classification data (a text and a label)");
    }
    if (m_out.task == TaskType::Seq2Seq && dataset.format != DatasetFormat::SourceTarget &&
        dataset.format != DatasetFormat::Alpaca) {
      throw DataError(dataset.path, 0,
                      std::string("the sequence-to-sequence task needs source/target or Alpaca data, not ") +
                          toString(dataset.format));
    }
    if (options.packing && m_out.task != TaskType::CausalLm) {
      // Classifiers read one label per row and seq2seq pairs one target per source: several
      // examples in a row would silently train on the wrong thing.
      throw DataError(dataset.path, 0,
                      std::string("packing applies to causal language modelling only, not to ") +
                          (m_out.task == TaskType::Classification ? "classification" : "sequence-to-sequence") +
                          " training: set dataset.packing to false");
    }
    m_wrap = probeSpecialTokens(tokenizer);
    m_template = trainingTemplateOptions(options.templateOptions, tokenizer);
  }

  TokenizedDataset run(const std::vector<std::size_t>& indices) {
    const bool causal = m_out.task == TaskType::CausalLm;
    const bool plain = causal && m_data.format == DatasetFormat::PlainText;
    if (causal && !plain && m_template.eosToken.empty() &&
        (m_options.chatTemplate == ChatTemplateKind::Alpaca ||
         m_options.chatTemplate == ChatTemplateKind::Plain)) {
      m_out.warnings.push_back(
          "the tokenizer has no EOS token: responses are not followed by one, so the model "
          "does not learn where to stop");
    }
    std::optional<RowPacker> packer;
    if (plain || (causal && m_options.packing)) {
      packer.emplace(m_options.maxLength, m_out.rows);
      m_out.packed = true;
    }

    std::optional<std::size_t> openDocument; // PlainText: the document being written
    for (std::size_t n = 0; n < indices.size(); ++n) {
      if (m_options.progress && n % 256 == 0 && !m_options.progress(n, indices.size())) {
        throw std::runtime_error("cancelled");
      }
      const std::size_t index = indices[n];
      if (index >= m_data.examples.size()) throw std::out_of_range("example index out of range");
      const Example& example = m_data.examples[index];
      try {
        if (plain) {
          addTextPiece(index, example, openDocument, *packer);
        } else if (m_out.task == TaskType::CausalLm) {
          addCausal(index, example, packer ? &*packer : nullptr);
        } else if (m_out.task == TaskType::Seq2Seq) {
          addSeq2Seq(index, example);
        } else {
          addClassification(index, example);
        }
      } catch (const std::invalid_argument& error) {
        m_errors.handle(DataError(m_data.path, example.line, error.what()));
      } catch (const DataError& error) {
        m_errors.handle(error);
      }
    }
    if (plain && openDocument) closeDocument(*packer);
    if (packer) packer->finish();
    if (m_options.progress) m_options.progress(indices.size(), indices.size());

    if (causal) dropRowsWithoutTargets();
    if (m_out.truncatedExamples > 0) {
      m_out.warnings.push_back(std::to_string(m_out.truncatedExamples) + " of " +
                               std::to_string(m_out.counts.size()) + " examples are longer than " +
                               std::to_string(m_options.maxLength) + " tokens and were cut");
    }
    if (m_out.rows.empty()) {
      throw DataError(m_data.path, 0,
                      "no example is left to train on" +
                          (m_out.skipped.count > 0
                               ? " (" + std::to_string(m_out.skipped.count) +
                                     " skipped; the first: " + m_out.skipped.firstErrors.front() + ")"
                               : std::string()));
    }
    return std::move(m_out);
  }

private:
  void addCausal(std::size_t index, const Example& e, RowPacker* packer) {
    const RenderedChat rendered = renderExample(m_data.format, e, m_options.chatTemplate, m_template);
    const std::vector<TokenId> noLead;
    MaskedTokens tokens = maskTokens(
        m_tokenizer, rendered, templateOwnsSpecialTokens(m_options.chatTemplate) ? noLead : m_wrap.prefix,
        m_options.trainOnPrompt);
    ExampleTokenCount count;
    count.exampleIndex = index;
    count.tokens = static_cast<std::int64_t>(tokens.inputIds.size());
    count.trainableTokens = countTrainable(tokens.labels);
    m_out.counts.push_back(count);
    if (count.trainableTokens == 0) {
      ++m_out.droppedWithoutTargets;
      return;
    }
    if (packer != nullptr) {
      // Examples are separated by EOS (not counted in the loss) unless they end with it.
      const auto eos = m_tokenizer.eosId();
      if (eos && tokens.inputIds.back() != *eos) {
        tokens.inputIds.push_back(*eos);
        tokens.labels.push_back(kIgnoreIndex);
      }
      packer->beginSegment(index);
      packer->append(tokens.inputIds.data(), tokens.labels.data(), tokens.inputIds.size());
      return;
    }
    TokenizedExample row;
    row.exampleIndex = index;
    if (count.tokens > m_options.maxLength) {
      ++m_out.truncatedExamples;
      tokens.inputIds.resize(static_cast<std::size_t>(m_options.maxLength));
      tokens.labels.resize(static_cast<std::size_t>(m_options.maxLength));
    }
    row.inputIds = std::move(tokens.inputIds);
    row.labels = std::move(tokens.labels);
    row.segmentLengths = {static_cast<std::int64_t>(row.inputIds.size())};
    m_out.rows.push_back(std::move(row));
  }

  void addSeq2Seq(std::size_t index, const Example& e) {
    std::string source = e.text;
    const std::string* target = &e.target;
    if (m_data.format == DatasetFormat::Alpaca) {
      source = e.input.empty() ? e.instruction : e.instruction + "\n\n" + e.input;
      target = &e.output;
    }
    TokenizedExample row;
    row.exampleIndex = index;
    std::vector<TokenId> sourceIds = m_tokenizer.encode(source, false);
    std::vector<TokenId> targetIds = m_tokenizer.encode(*target, false);
    ExampleTokenCount count;
    count.exampleIndex = index;
    count.tokens = static_cast<std::int64_t>(sourceIds.size() + m_wrap.prefix.size() + m_wrap.suffix.size());
    count.targetTokens =
        static_cast<std::int64_t>(targetIds.size() + m_wrap.prefix.size() + m_wrap.suffix.size());
    count.trainableTokens = count.targetTokens;
    m_out.counts.push_back(count);
    const bool cutSource = wrapAndTruncate(m_wrap, std::move(sourceIds), m_options.maxLength, row.inputIds);
    const bool cutTarget =
        wrapAndTruncate(m_wrap, std::move(targetIds), m_options.maxTargetLength, row.labels);
    if (cutSource || cutTarget) ++m_out.truncatedExamples;
    row.segmentLengths = {static_cast<std::int64_t>(row.inputIds.size())};
    m_out.rows.push_back(std::move(row));
  }

  void addClassification(std::size_t index, const Example& e) {
    TokenizedExample row;
    row.exampleIndex = index;
    row.classLabel = e.label;
    std::vector<TokenId> ids = m_tokenizer.encode(e.text, false);
    ExampleTokenCount count;
    count.exampleIndex = index;
    count.tokens = static_cast<std::int64_t>(ids.size() + m_wrap.prefix.size() + m_wrap.suffix.size());
    m_out.counts.push_back(count);
    if (wrapAndTruncate(m_wrap, std::move(ids), m_options.maxLength, row.inputIds)) ++m_out.truncatedExamples;
    row.segmentLengths = {static_cast<std::int64_t>(row.inputIds.size())};
    m_out.rows.push_back(std::move(row));
  }

  // PlainText: documents are [BOS] pieces… EOS, streamed into blocks of maxLength.
  void addTextPiece(std::size_t index, const Example& e, std::optional<std::size_t>& openDocument,
                    RowPacker& packer) {
    if (!openDocument || *openDocument != e.document) {
      if (openDocument) closeDocument(packer);
      openDocument = e.document;
      ExampleTokenCount count;
      count.exampleIndex = index;
      m_out.counts.push_back(count);
      packer.beginSegment(index);
      appendAll(packer, m_wrap.prefix);
    }
    appendAll(packer, m_tokenizer.encode(e.text, false));
  }

  void closeDocument(RowPacker& packer) {
    if (const auto eos = m_tokenizer.eosId()) appendAll(packer, {*eos});
  }

  void appendAll(RowPacker& packer, const std::vector<TokenId>& ids) {
    packer.append(ids.data(), ids.data(), ids.size());
    m_out.counts.back().tokens += static_cast<std::int64_t>(ids.size());
    m_out.counts.back().trainableTokens += static_cast<std::int64_t>(ids.size());
  }

  void dropRowsWithoutTargets() {
    const auto before = m_out.rows.size();
    m_out.rows.erase(
        std::remove_if(m_out.rows.begin(), m_out.rows.end(),
                       [](const TokenizedExample& row) { return countTrainable(row.labels) == 0; }),
        m_out.rows.end());
    m_out.droppedWithoutTargets += before - m_out.rows.size();
    if (m_out.droppedWithoutTargets > 0) {
      m_out.warnings.push_back(
          std::to_string(m_out.droppedWithoutTargets) +
          " rows have no response token to learn from (empty, or cut off by truncation) and "
          "were left out");
    }
  }

  const Dataset& m_data;
  const Tokenizer& m_tokenizer;
  const ProcessingOptions& m_options;
  TokenizedDataset m_out;
  ErrorPolicy m_errors;
  SpecialTokenWrap m_wrap;
  ChatTemplateOptions m_template;
};

} // namespace

TokenizedDataset tokenizeDataset(const Dataset& dataset, const Tokenizer& tokenizer,
                                 const ProcessingOptions& options) {
  std::vector<std::size_t> all(dataset.examples.size());
  std::iota(all.begin(), all.end(), std::size_t(0));
  return Processor(dataset, tokenizer, options).run(all);
}

TokenizedDataset tokenizeDataset(const Dataset& dataset, const std::vector<std::size_t>& indices,
                                 const Tokenizer& tokenizer, const ProcessingOptions& options) {
  return Processor(dataset, tokenizer, options).run(indices);
}

MaskedTokens tokenizeWithMask(const Tokenizer& tokenizer, const RenderedChat& rendered, bool addBos,
                              bool trainOnPrompt) {
  const std::vector<TokenId> lead = addBos ? probeSpecialTokens(tokenizer).prefix : std::vector<TokenId>();
  return maskTokens(tokenizer, rendered, lead, trainOnPrompt);
}

} // namespace lorafa
