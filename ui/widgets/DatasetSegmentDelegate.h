#pragma once

#include <QStyledItemDelegate>
#include <QTextCharFormat>
#include <QVariantList>

class QTextDocument;

namespace lorafa::ui {

/// Paints a preview row's text with its masked spans (prompt, not trained on) greyed in the
/// palette's placeholder colour and its trained spans (what the loss counts) bold in the text
/// colour. Reads DatasetPreviewModel::SegmentsRole.
class DatasetSegmentDelegate : public QStyledItemDelegate {
  Q_OBJECT
public:
  explicit DatasetSegmentDelegate(QObject* parent = nullptr);

  /// How a span is drawn: trained bold in `palette`'s text colour, masked greyed.
  static QTextCharFormat segmentFormat(bool trained, const QPalette& palette, const QFont& font);
  /// Writes `segments` (SegmentsRole) into `document` with segmentFormat().
  static void fillDocument(QTextDocument& document, const QVariantList& segments, const QPalette& palette,
                           const QFont& font);
  /// The legend shown above the table, in the same colours.
  static QString legendHtml(const QPalette& palette);

  void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override;
  QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override;
};

} // namespace lorafa::ui
