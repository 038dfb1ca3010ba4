#include "DatasetSegmentDelegate.h"

#include "DatasetPreviewModel.h"

#include <QAbstractTextDocumentLayout>
#include <QApplication>
#include <QPainter>
#include <QTableView>
#include <QTextCursor>
#include <QTextDocument>

#include <algorithm>

namespace lorafa::ui {

namespace {

/// Rows show at most this many lines; the tooltip has the whole text.
constexpr int kMaxLines = 6;

} // namespace

DatasetSegmentDelegate::DatasetSegmentDelegate(QObject* parent) : QStyledItemDelegate(parent) {}

QTextCharFormat DatasetSegmentDelegate::segmentFormat(bool trained, const QPalette& palette,
                                                      const QFont& font) {
  QTextCharFormat format;
  format.setFont(font);
  if (trained) {
    format.setFontWeight(QFont::Bold);
    format.setForeground(palette.color(QPalette::Text));
  } else {
    format.setFontWeight(QFont::Normal);
    format.setFontItalic(true);
    format.setForeground(palette.color(QPalette::PlaceholderText));
  }
  return format;
}

void DatasetSegmentDelegate::fillDocument(QTextDocument& document, const QVariantList& segments,
                                          const QPalette& palette, const QFont& font) {
  document.clear();
  document.setDefaultFont(font);
  document.setDocumentMargin(2);
  QTextCursor cursor(&document);
  for (const QVariant& value : segments) {
    const QVariantMap segment = value.toMap();
    cursor.insertText(segment.value(QStringLiteral("text")).toString(),
                      segmentFormat(segment.value(QStringLiteral("trained")).toBool(), palette, font));
  }
}

QString DatasetSegmentDelegate::legendHtml(const QPalette& palette) {
  const QString masked = palette.color(QPalette::PlaceholderText).name();
  const QString trained = palette.color(QPalette::Text).name();
  return tr("<span style=\"color:%1; font-style:italic\">Grey italic: masked, not trained on (the "
            "prompt)</span>"
            " &nbsp;·&nbsp; <span style=\"color:%2; font-weight:bold\">Bold: trained on (counts in the "
            "loss)</span>")
      .arg(masked, trained);
}

void DatasetSegmentDelegate::paint(QPainter* painter, const QStyleOptionViewItem& option,
                                   const QModelIndex& index) const {
  QStyleOptionViewItem opt = option;
  initStyleOption(&opt, index);
  const QWidget* widget = option.widget;
  QStyle* style = widget != nullptr ? widget->style() : QApplication::style();
  // The background (selection, alternating rows) as the style draws it, without the text.
  opt.text.clear();
  style->drawControl(QStyle::CE_ItemViewItem, &opt, painter, widget);

  QPalette palette = option.palette;
  if (option.state & QStyle::State_Selected)
    palette.setColor(QPalette::Text, palette.color(QPalette::HighlightedText));
  QTextDocument document;
  fillDocument(document, index.data(DatasetPreviewModel::SegmentsRole).toList(), palette, option.font);
  const QRect rect = style->subElementRect(QStyle::SE_ItemViewItemText, &opt, widget);
  document.setTextWidth(rect.width());
  painter->save();
  painter->translate(rect.topLeft());
  painter->setClipRect(QRect(QPoint(0, 0), rect.size()));
  QAbstractTextDocumentLayout::PaintContext context;
  context.palette = palette;
  context.clip = QRectF(QPointF(0, 0), rect.size());
  document.documentLayout()->draw(painter, context);
  painter->restore();
}

QSize DatasetSegmentDelegate::sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const {
  QTextDocument document;
  fillDocument(document, index.data(DatasetPreviewModel::SegmentsRole).toList(), option.palette, option.font);
  // The row is as tall as the text wrapped at the column's width, up to kMaxLines lines.
  int width = 480;
  if (const auto* view = qobject_cast<const QTableView*>(option.widget)) {
    width = std::max(120, view->columnWidth(index.column()) - 8);
  }
  document.setTextWidth(width);
  const int lineHeight = QFontMetrics(option.font).lineSpacing();
  const int height = std::min(static_cast<int>(document.size().height()) + 2, kMaxLines * lineHeight + 6);
  return {width, std::max(height, lineHeight + 4)};
}

} // namespace lorafa::ui
