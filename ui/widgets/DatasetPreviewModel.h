#pragma once

#include "lorafa/DatasetStatistics.h"

#include <QAbstractTableModel>

#include <vector>

namespace lorafa::ui {

/// The Data page's preview rows: each example as the model sees it, cut into masked (not trained
/// on) and trained spans, with its token counts. Rows rendered without a tokenizer (no model yet)
/// have no counts.
class DatasetPreviewModel : public QAbstractTableModel {
  Q_OBJECT
public:
  enum Column {
    LineColumn,
    TextColumn,
    TokensColumn,
    TrainableColumn,
    TruncatedColumn,
    LabelColumn,
    ErrorColumn,
    ColumnCount
  };
  enum Role {
    /// TextColumn: a QVariantList of QVariantMap {"text": QString, "trained": bool}, in text order.
    SegmentsRole = Qt::UserRole + 1,
    /// TruncatedColumn: bool.
    TruncatedRole,
  };

  explicit DatasetPreviewModel(QObject* parent = nullptr);

  void setRows(std::vector<ExamplePreview> rows, bool tokenized);
  const std::vector<ExamplePreview>& rows() const { return m_rows; }
  bool tokenized() const { return m_tokenized; }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
  std::vector<ExamplePreview> m_rows;
  bool m_tokenized = false;
};

} // namespace lorafa::ui
