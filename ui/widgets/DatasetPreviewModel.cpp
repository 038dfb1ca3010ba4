#include "DatasetPreviewModel.h"

#include <QVariantList>
#include <QVariantMap>

namespace lorafa::ui {

namespace {

QString plainText(const ExamplePreview& row) {
  QString text;
  for (const PreviewSegment& segment : row.segments)
    text += QString::fromStdString(segment.text);
  return text;
}

} // namespace

DatasetPreviewModel::DatasetPreviewModel(QObject* parent) : QAbstractTableModel(parent) {}

void DatasetPreviewModel::setRows(std::vector<ExamplePreview> rows, bool tokenized) {
  // A record with a multi-megabyte field would be laid out in full by the delegate on the UI
  // thread: the preview shows the start of each piece (the counts still cover all of it).
  constexpr int kMaxSegmentChars = 2000;
  for (ExamplePreview& row : rows) {
    for (PreviewSegment& segment : row.segments) {
      if (segment.text.size() <= static_cast<std::size_t>(kMaxSegmentChars)) continue;
      QString text = QString::fromStdString(segment.text);
      if (text.size() <= kMaxSegmentChars) continue;
      int cut = kMaxSegmentChars;
      if (text.at(cut - 1).isHighSurrogate()) --cut;
      segment.text = text.left(cut).toStdString() + "\u2026";
    }
  }
  beginResetModel();
  m_rows = std::move(rows);
  m_tokenized = tokenized;
  endResetModel();
}

int DatasetPreviewModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}

int DatasetPreviewModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QVariant DatasetPreviewModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount()) return {};
  const ExamplePreview& row = m_rows[static_cast<std::size_t>(index.row())];
  const auto count = [&](std::int64_t value) -> QVariant {
    if (!m_tokenized || value < 0) return QStringLiteral("—");
    return QVariant::fromValue<qlonglong>(value);
  };
  switch (index.column()) {
  case LineColumn:
    if (role == Qt::DisplayRole) return QVariant::fromValue<qulonglong>(row.line);
    if (role == Qt::ToolTipRole) return tr("Line %1 of the file").arg(row.line);
    break;
  case TextColumn:
    if (role == Qt::DisplayRole || role == Qt::ToolTipRole) return plainText(row);
    if (role == SegmentsRole) {
      QVariantList segments;
      for (const PreviewSegment& segment : row.segments) {
        segments.append(QVariantMap{{QStringLiteral("text"), QString::fromStdString(segment.text)},
                                    {QStringLiteral("trained"), segment.trained}});
      }
      return segments;
    }
    break;
  case TokensColumn:
    if (role == Qt::DisplayRole) return count(row.tokens);
    if (role == Qt::TextAlignmentRole) return int(Qt::AlignRight | Qt::AlignVCenter);
    break;
  case TrainableColumn:
    if (role == Qt::DisplayRole) return count(row.trainableTokens);
    if (role == Qt::TextAlignmentRole) return int(Qt::AlignRight | Qt::AlignVCenter);
    break;
  case TruncatedColumn:
    if (role == Qt::DisplayRole)
      return !m_tokenized ? QStringLiteral("—") : row.truncated ? tr("yes") : tr("no");
    if (role == TruncatedRole) return row.truncated;
    break;
  case LabelColumn:
    if (role == Qt::DisplayRole) return QString::fromStdString(row.label);
    break;
  case ErrorColumn:
    if (role == Qt::DisplayRole || role == Qt::ToolTipRole) return QString::fromStdString(row.error);
    break;
  default: break;
  }
  return {};
}

QVariant DatasetPreviewModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return {};
  if (role == Qt::DisplayRole) {
    switch (section) {
    case LineColumn: return tr("Line");
    case TextColumn: return tr("Text as the model sees it");
    case TokensColumn: return tr("Tokens");
    case TrainableColumn: return tr("Trained tokens");
    case TruncatedColumn: return tr("Truncated");
    case LabelColumn: return tr("Label");
    case ErrorColumn: return tr("Error");
    default: break;
    }
  }
  if (role == Qt::ToolTipRole) {
    switch (section) {
    case LineColumn: return tr("Where the example starts in the file");
    case TextColumn:
      return tr("The example written by the chat template; greyed parts are masked (not trained on), bold "
                "parts are trained on");
    case TokensColumn: return tr("Tokens in the whole example, before truncation");
    case TrainableColumn: return tr("Tokens that count in the loss, before truncation");
    case TruncatedColumn: return tr("Whether the example is longer than the max length and will be cut");
    case LabelColumn: return tr("The class label (classification data)");
    case ErrorColumn: return tr("Why the example cannot be used");
    default: break;
    }
  }
  return {};
}

} // namespace lorafa::ui
