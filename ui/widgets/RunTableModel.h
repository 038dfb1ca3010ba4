#pragma once

#include <QAbstractTableModel>
#include <QMap>
#include <QString>
#include <QVector>

#include <optional>

namespace lorafa::ui {

/// One run as the Runs page shows it: what the store holds, plus what is derived from it off the
/// UI thread (rank from the config, live best eval and peak memory of a running run, whether a
/// checkpoint exists).
struct RunRow {
  qint64 id = 0;
  QString name;
  QString method;
  std::optional<int> rank; ///< empty for full fine-tuning or an unreadable config
  QString status;          ///< lorafa::toString(RunStatus): running, completed, ...
  qint64 lastStep = -1;
  std::optional<double> bestEvalLoss;
  qint64 peakMemoryBytes = 0; ///< 0: not known (yet)
  std::optional<qint64> durationMs;
  std::optional<qint64> startedAtMs; ///< Unix time
  QString outputDir;
  QString configText;
  QString message;                   ///< why it failed / stopped
  QString checkpoint;                ///< the newest complete checkpoint folder, empty when none
  QMap<QString, QString> flatConfig; ///< "optim.lr" → "0.0002", for the settings diff

  bool operator==(const RunRow& other) const;
  bool operator!=(const RunRow& other) const { return !(*this == other); }
};

/// The run history as a table. Updated in place by setRuns() (rows removed, changed, appended by
/// run id), so a view's selection and a proxy's sort survive a refresh. Qt::UserRole gives the raw
/// value to sort by (numbers for the numeric columns); kFilterRole the text the filter box matches.
class RunTableModel : public QAbstractTableModel {
  Q_OBJECT
public:
  enum Column { Name, Method, Rank, Status, Step, BestEval, PeakMemory, Duration, Started, ColumnCount };
  static constexpr int kSortRole = Qt::UserRole;
  static constexpr int kFilterRole = Qt::UserRole + 1;
  static constexpr int kIdRole = Qt::UserRole + 2;

  explicit RunTableModel(QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

  void setRuns(const QVector<RunRow>& runs);
  const QVector<RunRow>& runs() const { return m_runs; }
  /// The row of run `id`, or -1.
  int rowOf(qint64 id) const;
  const RunRow* run(qint64 id) const;

  static QString formatBytes(qint64 bytes);
  static QString formatDuration(qint64 ms);

private:
  QVector<RunRow> m_runs;
};

} // namespace lorafa::ui
