#include "DatasetAnalysis.h"

#include "lorafa/ChatTemplate.h"
#include "lorafa/DataError.h"
#include "lorafa/ModelInspector.h"

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <algorithm>
#include <exception>
#include <stdexcept>

namespace lorafa::ui {

namespace {

QString fromStd(const std::string& text) { return QString::fromStdString(text); }

bool cancelled(const std::shared_ptr<const std::atomic<bool>>& cancel) { return cancel && cancel->load(); }

/// Splits `text` (a CSV/TSV file's beginning) into the fields of its first record, RFC 4180 style.
QStringList firstRecordFields(const QString& text, QChar separator) {
  QStringList fields;
  QString field;
  bool quoted = false;
  for (qsizetype i = 0; i < text.size(); ++i) {
    const QChar c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == separator) {
      fields << field;
      field.clear();
    } else if (c == '\n' || c == '\r') {
      break;
    } else {
      field += c;
    }
  }
  fields << field;
  if (!fields.isEmpty() && fields.first().startsWith(QChar(0xFEFF))) fields.first().remove(0, 1);
  return fields;
}

/// Byte length of the longest prefix of `text` of at most `maxBytes` that ends on a UTF-8 boundary.
std::size_t utf8Prefix(const std::string& text, std::size_t maxBytes) {
  if (text.size() <= maxBytes) return text.size();
  std::size_t end = maxBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
    --end;
  return end;
}

std::vector<PreviewSegment> segmentsOf(const RenderedChat& rendered) {
  std::vector<PreviewSegment> segments;
  std::size_t at = 0;
  for (const TextSpan& span : rendered.responseSpans) {
    if (span.begin > at) segments.push_back(PreviewSegment{rendered.text.substr(at, span.begin - at), false});
    segments.push_back(PreviewSegment{rendered.text.substr(span.begin, span.end - span.begin), true});
    at = span.end;
  }
  if (at < rendered.text.size()) segments.push_back(PreviewSegment{rendered.text.substr(at), false});
  return segments;
}

/// The first rows written by the template alone, for when there is no tokenizer to count with.
std::vector<ExamplePreview> renderWithoutTokenizer(const Dataset& dataset,
                                                   std::optional<ChatTemplateKind> kind, std::size_t count) {
  std::vector<ExamplePreview> previews;
  const ChatTemplateKind templ = kind.value_or(ChatTemplateKind::Plain);
  for (std::size_t i = 0; i < dataset.examples.size() && previews.size() < count; ++i) {
    const Example& e = dataset.examples[i];
    ExamplePreview p;
    p.exampleIndex = i;
    p.line = e.line;
    p.tokens = -1;
    p.trainableTokens = -1;
    try {
      switch (dataset.format) {
      case DatasetFormat::Classification:
        p.segments.push_back(PreviewSegment{e.text, false});
        if (e.label >= 0 && static_cast<std::size_t>(e.label) < dataset.labelNames.size()) {
          p.label = dataset.labelNames[static_cast<std::size_t>(e.label)];
        }
        break;
      case DatasetFormat::PlainText:
        p.segments.push_back(PreviewSegment{e.text.substr(0, utf8Prefix(e.text, 4000)), true});
        break;
      case DatasetFormat::Alpaca:
        p.segments = segmentsOf(renderInstruction(templ, e.instruction, e.input, e.output));
        break;
      case DatasetFormat::Chat: p.segments = segmentsOf(renderChat(templ, e.messages)); break;
      case DatasetFormat::SourceTarget:
        p.segments = segmentsOf(renderChat(
            templ, {ChatMessage{ChatRole::User, e.text}, ChatMessage{ChatRole::Assistant, e.target}}));
        break;
      case DatasetFormat::Auto: break;
      }
    } catch (const std::exception& error) {
      p.error = error.what();
    }
    previews.push_back(std::move(p));
  }
  return previews;
}

bool isSeq2SeqModel(const QString& modelPath) {
  if (modelPath.isEmpty()) return false;
  try {
    return inspectModelDirectory(modelPath.toStdString()).summary.family == "t5";
  } catch (const std::exception&) {
    return false; // the Model page reports an unusable model
  }
}

/// Training on the prompt counts every token; the preview shows it all as trained then.
void applyTrainOnPrompt(std::vector<ExamplePreview>& previews, const Dataset& dataset, bool trainOnPrompt) {
  if (!trainOnPrompt || dataset.format == DatasetFormat::Classification) return;
  for (ExamplePreview& p : previews) {
    for (PreviewSegment& s : p.segments)
      s.trained = true;
  }
}

} // namespace

QString displayName(DatasetFileType fileType) {
  switch (fileType) {
  case DatasetFileType::JsonLines: return QStringLiteral("JSON Lines");
  case DatasetFileType::JsonArray: return QStringLiteral("JSON array");
  case DatasetFileType::Csv: return QStringLiteral("CSV");
  case DatasetFileType::Tsv: return QStringLiteral("TSV");
  case DatasetFileType::Text: return QStringLiteral("plain text");
  case DatasetFileType::Auto: break;
  }
  return QStringLiteral("unknown layout");
}

QStringList readDatasetColumns(const QString& path, DatasetFileType fileType) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) return {};
  if (fileType == DatasetFileType::Csv || fileType == DatasetFileType::Tsv) {
    // A header longer than 1 MiB is not a header anyone maps by hand.
    const QString head = QString::fromUtf8(file.read(1 << 20));
    return firstRecordFields(head, fileType == DatasetFileType::Tsv ? QChar('\t') : QChar(','));
  }
  if (fileType == DatasetFileType::JsonArray) {
    // The keys of the first object; a file too large to parse whole here offers none.
    if (file.size() > (64 << 20)) return {};
    const QJsonDocument document = QJsonDocument::fromJson(file.readAll());
    if (!document.isArray() || document.array().isEmpty() || !document.array().first().isObject()) return {};
    return document.array().first().toObject().keys();
  }
  if (fileType == DatasetFileType::JsonLines) {
    while (!file.atEnd()) {
      const QByteArray line = file.readLine(16 << 20).trimmed();
      if (line.isEmpty()) continue;
      const QJsonDocument document = QJsonDocument::fromJson(line);
      return document.isObject() ? document.object().keys() : QStringList{};
    }
  }
  return {};
}

DatasetAnalysis analyzeDataset(const DatasetRequest& request,
                               std::shared_ptr<const Tokenizer> cachedTokenizer, const QString& cachedSource,
                               std::shared_ptr<const std::atomic<bool>> cancel) {
  DatasetAnalysis result;
  result.request = request;
  const DatasetConfig& config = request.dataset;
  const std::string path = config.path;

  DatasetOptions options;
  options.format = config.format;
  options.textColumn = config.textColumn;
  options.labelColumn = config.labelColumn;
  options.sourceColumn = config.sourceColumn;
  options.targetColumn = config.targetColumn;

  // What the file is, whatever format the draft asks for.
  try {
    DatasetOptions detectOptions = options;
    detectOptions.format = DatasetFormat::Auto;
    result.detection = detectDatasetFormat(path, detectOptions);
  } catch (const std::exception& error) {
    result.detectionError = fromStd(error.what());
  }
  {
    // The layout alone (from the extension) tells which header to read when detection failed.
    DatasetFileType fileType = result.detection ? result.detection->fileType : DatasetFileType::Auto;
    if (fileType == DatasetFileType::Auto) {
      const QString suffix = QFileInfo(QString::fromStdString(path)).suffix().toLower();
      if (suffix == "csv") fileType = DatasetFileType::Csv;
      if (suffix == "tsv" || suffix == "tab") fileType = DatasetFileType::Tsv;
      if (suffix == "jsonl" || suffix == "ndjson") fileType = DatasetFileType::JsonLines;
      if (suffix == "json") fileType = DatasetFileType::JsonArray;
    }
    result.columns = readDatasetColumns(QString::fromStdString(path), fileType);
  }
  if (cancelled(cancel)) {
    result.cancelled = true;
    return result;
  }

  try {
    result.dataset = std::make_shared<const Dataset>(loadDataset(path, options));
  } catch (const DataError& error) {
    result.loadError = fromStd(error.what());
    result.errorLine = error.line();
  } catch (const std::exception& error) {
    result.loadError = fromStd(error.what());
  }
  if (!result.dataset || cancelled(cancel)) {
    result.cancelled = cancelled(cancel);
    return result;
  }
  const Dataset& dataset = *result.dataset;

  // The tokenizer of the draft's model, when there is one.
  result.tokenizerSource = request.tokenizerPath;
  if (request.tokenizerPath.isEmpty()) {
    result.tokenizerError = QStringLiteral("no model is chosen yet");
  } else if (cachedTokenizer && cachedSource == request.tokenizerPath) {
    result.tokenizer = std::move(cachedTokenizer);
  } else {
    try {
      result.tokenizer = Tokenizer::load(request.tokenizerPath.toStdString());
    } catch (const std::exception& error) {
      result.tokenizerError = fromStd(error.what());
    }
  }

  ProcessingOptions processing;
  processing.maxLength = request.maxSeqLen;
  processing.maxTargetLength = request.maxSeqLen;
  processing.trainOnPrompt = config.trainOnPrompt;
  processing.packing = false; // statistics are those of unpacked examples
  processing.onError = OnError::Skip;
  if (dataset.format == DatasetFormat::SourceTarget && isSeq2SeqModel(request.modelPath)) {
    processing.task = TaskType::Seq2Seq;
  }
  result.usesTemplate = processing.task != TaskType::Seq2Seq &&
                        (dataset.format == DatasetFormat::Alpaca || dataset.format == DatasetFormat::Chat ||
                         dataset.format == DatasetFormat::SourceTarget);
  // The template as the trainer chooses it: the draft's, else the tokenizer's, else a fallback.
  if (result.usesTemplate) {
    std::optional<ChatTemplateKind> requested;
    if (!config.chatTemplate.empty()) {
      requested = parseChatTemplateKind(config.chatTemplate);
      if (!requested) {
        result.templateError = QStringLiteral("unknown chat template \"%1\"; use one of %2")
                                   .arg(fromStd(config.chatTemplate), fromStd(chatTemplateNames()));
      }
    }
    const ChatTemplateKind fallback =
        dataset.format == DatasetFormat::Alpaca ? ChatTemplateKind::Alpaca : ChatTemplateKind::Plain;
    if (result.templateError.isEmpty()) {
      if (result.tokenizer) {
        try {
          const ChatTemplateChoice choice = resolveChatTemplate(*result.tokenizer, requested, fallback);
          result.chatTemplate = choice.kind;
          processing.chatTemplate = choice.kind;
          processing.templateOptions.defaultSystemPrompt = choice.defaultSystemPrompt;
          processing.templateOptions.dateString = choice.dateString;
          result.templateNote = choice.fromTokenizer ? QStringLiteral("from the tokenizer's chat_template")
                                : requested
                                    ? QStringLiteral("as chosen")
                                    : QStringLiteral("the tokenizer has none; the default for this format");
          if (!choice.note.empty()) result.templateNote += QStringLiteral("; ") + fromStd(choice.note);
        } catch (const std::exception& error) {
          result.templateError = fromStd(error.what());
        }
      } else {
        result.chatTemplate = requested.value_or(fallback);
        result.templateNote = requested
                                  ? QStringLiteral("as chosen")
                                  : QStringLiteral("until a model is chosen: the default for this format");
      }
    }
  }

  if (!result.tokenizer || !result.templateError.isEmpty()) {
    result.previews = renderWithoutTokenizer(dataset, result.chatTemplate, request.previewCount);
    applyTrainOnPrompt(result.previews, dataset, config.trainOnPrompt);
    return result;
  }

  result.processing = processing;
  result.previews = previewExamples(dataset, *result.tokenizer, processing, request.previewCount);
  applyTrainOnPrompt(result.previews, dataset, config.trainOnPrompt);
  result.previewTokenized = true;
  if (cancelled(cancel)) {
    result.cancelled = true;
    return result;
  }

  try {
    ProcessingOptions withProgress = processing;
    withProgress.progress = [cancel](std::size_t, std::size_t) { return !cancelled(cancel); };
    TokenizedDataset all;
    if (dataset.examples.size() > request.maxStatisticsExamples) {
      // A very large file: count a sample (the first examples) and say so.
      std::vector<std::size_t> indices(request.maxStatisticsExamples);
      for (std::size_t i = 0; i < indices.size(); ++i)
        indices[i] = i;
      all = tokenizeDataset(dataset, indices, *result.tokenizer, withProgress);
    } else {
      all = tokenizeDataset(dataset, *result.tokenizer, withProgress);
    }
    auto tokenized = std::make_shared<TokenizedDataset>(std::move(all));
    // Recounting needs only the per-example counts (and the class labels): drop the token ids,
    // which would otherwise hold the whole dataset's tokens for as long as the page shows it.
    for (TokenizedExample& row : tokenized->rows) {
      std::vector<TokenId>().swap(row.inputIds);
      std::vector<TokenId>().swap(row.labels);
      std::vector<std::int64_t>().swap(row.segmentLengths);
    }
    result.statistics = computeStatistics(*tokenized, request.maxSeqLen);
    result.tokenized = std::move(tokenized);
  } catch (const std::exception& error) {
    if (cancelled(cancel)) {
      result.cancelled = true;
      return result;
    }
    result.tokenizeError = fromStd(error.what());
  }
  return result;
}

MaxLengthUpdate recountAtMaxLength(const DatasetAnalysis& analysis, std::int64_t maxLength) {
  MaxLengthUpdate update;
  update.maxLength = maxLength;
  if (analysis.dataset && analysis.tokenizer && analysis.previewTokenized) {
    ProcessingOptions processing = analysis.processing;
    processing.maxLength = maxLength;
    processing.maxTargetLength = maxLength;
    update.previews =
        previewExamples(*analysis.dataset, *analysis.tokenizer, processing, analysis.request.previewCount);
    applyTrainOnPrompt(update.previews, *analysis.dataset, analysis.request.dataset.trainOnPrompt);
  } else {
    update.previews = analysis.previews;
  }
  if (analysis.tokenized) update.statistics = computeStatistics(*analysis.tokenized, maxLength);
  return update;
}

} // namespace lorafa::ui
