#pragma once

#include "RunCurves.h"
#include "RunTableModel.h"

#include <QHash>
#include <QList>
#include <QMap>
#include <QString>
#include <QVector>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace lorafa {
class RunStore;
}

namespace lorafa::ui {

/// The run store as the Runs and Playground pages use it: opened on first use, on the worker
/// thread that calls it, and shared by every call (one connection per page). Calls are serialised
/// by a mutex. Never call it on the UI thread: SQLite reads and the checkpoint look-ups may take
/// a while on a big history.
class RunStoreAccess {
public:
  /// While a run is listed as running, the store is opened again after this long (see rows()).
  static constexpr qint64 kReopenWhileRunningMs = 10000;

  explicit RunStoreAccess(QString path);
  ~RunStoreAccess();

  const QString& path() const { return m_path; }

  /// Every run, newest first, with what the table shows. A running run gets its best eval loss
  /// and peak memory from its metrics and memory samples so far.
  QVector<RunRow> rows();
  /// Train loss per step and engine memory over time of these runs, in the order given.
  QVector<RunCurve> curves(const QVector<RunRow>& runs);
  /// Runs `change` with the open store (rename, delete...). Throws what the store throws.
  void modify(const std::function<void(RunStore&)>& change);

  /// The newest complete checkpoint of an output folder, empty when none.
  static QString checkpointOf(const QString& outputDir);

private:
  RunStore& store();

  // What a stored config gives the table, kept while the text is the same: a refresh every two
  // seconds need not parse every run's config again.
  struct ParsedConfig {
    std::string text;
    std::optional<int> rank;
    QMap<QString, QString> flat;
  };

  QString m_path;
  std::mutex m_mutex;
  std::unique_ptr<RunStore> m_store;
  qint64 m_openedAtMs = 0;
  QHash<qint64, ParsedConfig> m_parsed;
};

} // namespace lorafa::ui
