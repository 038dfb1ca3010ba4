#include "RunTableModel.h"

#include <QDateTime>
#include <QLocale>
#include <QSet>

#include <limits>

namespace lorafa::ui {

bool RunRow::operator==(const RunRow& o) const {
  return id == o.id && name == o.name && method == o.method && rank == o.rank && status == o.status &&
         lastStep == o.lastStep && bestEvalLoss == o.bestEvalLoss && peakMemoryBytes == o.peakMemoryBytes &&
         durationMs == o.durationMs && startedAtMs == o.startedAtMs && outputDir == o.outputDir &&
         configText == o.configText && message == o.message && checkpoint == o.checkpoint;
}

RunTableModel::RunTableModel(QObject* parent) : QAbstractTableModel(parent) {}

int RunTableModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : m_runs.size(); }

int RunTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QString RunTableModel::formatBytes(qint64 bytes) {
  if (bytes <= 0) return QStringLiteral("–");
  const double mib = static_cast<double>(bytes) / (1024.0 * 1024.0);
  if (mib >= 1024.0) return QStringLiteral("%1 GiB").arg(mib / 1024.0, 0, 'f', 2);
  return QStringLiteral("%1 MiB").arg(mib, 0, 'f', 1);
}

QString RunTableModel::formatDuration(qint64 ms) {
  const qint64 seconds = ms / 1000;
  if (seconds < 60) return QStringLiteral("%1 s").arg(seconds);
  if (seconds < 3600)
    return QStringLiteral("%1 min %2 s").arg(seconds / 60).arg(seconds % 60, 2, 10, QChar('0'));
  return QStringLiteral("%1 h %2 min").arg(seconds / 3600).arg((seconds % 3600) / 60, 2, 10, QChar('0'));
}

QVariant RunTableModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= m_runs.size()) return {};
  const RunRow& r = m_runs.at(index.row());
  if (role == kIdRole) return r.id;
  if (role == kFilterRole) return QStringList{r.name, r.method, r.status}.join(QLatin1Char('\n'));
  if (role == Qt::ToolTipRole) {
    QString tip = tr("Run %1 in %2").arg(r.id).arg(r.outputDir);
    if (!r.message.isEmpty()) tip += QLatin1Char('\n') + r.message;
    if (!r.checkpoint.isEmpty()) tip += QLatin1Char('\n') + tr("Checkpoint: %1").arg(r.checkpoint);
    return tip;
  }
  if (role == Qt::TextAlignmentRole) {
    const bool numeric = index.column() == Rank || index.column() == Step || index.column() == BestEval ||
                         index.column() == PeakMemory || index.column() == Duration;
    return static_cast<int>(numeric ? Qt::AlignRight | Qt::AlignVCenter : Qt::AlignLeft | Qt::AlignVCenter);
  }
  if (role != Qt::DisplayRole && role != kSortRole) return {};
  const bool sort = role == kSortRole;
  switch (index.column()) {
  case Name: return r.name;
  case Method: return r.method;
  case Rank:
    if (sort) return r.rank ? QVariant(*r.rank) : QVariant(-1);
    return r.rank ? QString::number(*r.rank) : QStringLiteral("–");
  case Status: return r.status;
  case Step:
    if (sort) return r.lastStep;
    return r.lastStep >= 0 ? QString::number(r.lastStep) : QStringLiteral("–");
  case BestEval:
    // Runs without an evaluation sort after every real loss (ascending: best first).
    if (sort) return r.bestEvalLoss ? *r.bestEvalLoss : std::numeric_limits<double>::max();
    return r.bestEvalLoss ? QString::number(*r.bestEvalLoss, 'f', 4) : QStringLiteral("–");
  case PeakMemory:
    if (sort) return r.peakMemoryBytes;
    return formatBytes(r.peakMemoryBytes);
  case Duration:
    if (sort) return r.durationMs.value_or(-1);
    return r.durationMs ? formatDuration(*r.durationMs) : QStringLiteral("–");
  case Started:
    if (sort) return r.startedAtMs.value_or(0);
    return r.startedAtMs
               ? QLocale().toString(QDateTime::fromMSecsSinceEpoch(*r.startedAtMs), QLocale::ShortFormat)
               : QStringLiteral("–");
  default: return {};
  }
}

QVariant RunTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return {};
  if (role == Qt::ToolTipRole) {
    switch (section) {
    case Rank: return tr("Adapter rank r from the run's settings (– for full fine-tuning)");
    case BestEval: return tr("Lowest validation loss the run reached (eval/loss)");
    case PeakMemory: return tr("Highest engine memory (CPU allocator or CUDA allocated) during the run");
    case Step: return tr("Last optimizer step with a stored metric");
    default: return {};
    }
  }
  if (role != Qt::DisplayRole) return {};
  switch (section) {
  case Name: return tr("Name");
  case Method: return tr("Method");
  case Rank: return tr("Rank");
  case Status: return tr("Status");
  case Step: return tr("Step");
  case BestEval: return tr("Best eval loss");
  case PeakMemory: return tr("Peak memory");
  case Duration: return tr("Duration");
  case Started: return tr("Started");
  default: return {};
  }
}

int RunTableModel::rowOf(qint64 id) const {
  for (int i = 0; i < m_runs.size(); ++i) {
    if (m_runs[i].id == id) return i;
  }
  return -1;
}

const RunRow* RunTableModel::run(qint64 id) const {
  const int row = rowOf(id);
  return row < 0 ? nullptr : &m_runs[row];
}

void RunTableModel::setRuns(const QVector<RunRow>& runs) {
  QSet<qint64> incoming;
  for (const RunRow& r : runs)
    incoming.insert(r.id);
  // Rows that went away, from the bottom so the indexes stay valid.
  for (int i = m_runs.size() - 1; i >= 0; --i) {
    if (incoming.contains(m_runs[i].id)) continue;
    beginRemoveRows({}, i, i);
    m_runs.removeAt(i);
    endRemoveRows();
  }
  QVector<RunRow> added;
  for (const RunRow& r : runs) {
    const int row = rowOf(r.id);
    if (row < 0) {
      added.push_back(r);
    } else if (m_runs[row] != r || m_runs[row].flatConfig != r.flatConfig) {
      m_runs[row] = r;
      Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
    }
  }
  if (!added.isEmpty()) {
    beginInsertRows({}, m_runs.size(), m_runs.size() + added.size() - 1);
    m_runs += added;
    endInsertRows();
  }
}

} // namespace lorafa::ui
