#pragma once

#include "widgets/RunCurves.h"
#include "widgets/RunTableModel.h"

#include <QList>
#include <QSet>
#include <QThreadPool>
#include <QWidget>

#include <functional>
#include <memory>

class QAction;
class QCheckBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSortFilterProxyModel;
class QTableView;
class QTimer;

namespace lorafa::ui {

struct StudioContext;
class RunStoreAccess;

/// The run history (DESIGN §6): every run in the SQLite store, the Studio's and the CLI's alike,
/// in a sortable, filterable table refreshed every kRefreshIntervalMs while the page is visible
/// and whenever the controller starts or finishes a run. Selecting runs overlays their loss and
/// memory curves and lists the settings that differ. All store access runs on one background
/// thread; the UI thread only applies the results.
class RunsPage : public QWidget {
  Q_OBJECT
public:
  static constexpr int kRefreshIntervalMs = 2000;

  explicit RunsPage(StudioContext& context, QWidget* parent = nullptr);
  ~RunsPage() override;

  /// The selected run ids, ascending.
  QList<qint64> selectedRunIds() const;

public Q_SLOTS:
  /// Selects these runs (e.g. the two halves of a twin run); runs not in the table yet are
  /// selected as soon as a refresh brings them.
  void selectRuns(const QList<qint64>& ids);
  /// Reads the store again now (also done on a timer).
  void refresh();

protected:
  void showEvent(QShowEvent* event) override;

private:
  struct Snapshot;
  void applySnapshot(const Snapshot& snapshot);
  void selectionChanged();
  void updateActions();
  void showConfigDiff();
  /// Runs `change` on the store thread; the message says `done`, or `failed` with the error.
  void runInStore(const QString& done, const QString& failed, std::function<void()> change);
  void renameSelected();
  void deleteSelected();
  void resumeSelected();
  void openSelectedFolder();
  void useSelectedSettings();
  const RunRow* singleSelection() const;

  StudioContext& m_context;
  QThreadPool m_pool; // one thread: every store access, in order
  std::shared_ptr<RunStoreAccess> m_store;
  RunTableModel* m_model = nullptr;
  QSortFilterProxyModel* m_proxy = nullptr;
  QTableView* m_table = nullptr;
  QLineEdit* m_filter = nullptr;
  RunCurves* m_curves = nullptr;
  QPlainTextEdit* m_diff = nullptr;
  QLabel* m_message = nullptr;
  QPushButton* m_renameButton = nullptr;
  QPushButton* m_deleteButton = nullptr;
  QPushButton* m_resumeButton = nullptr;
  QPushButton* m_openButton = nullptr;
  QPushButton* m_useButton = nullptr;
  QAction* m_renameAction = nullptr;
  QAction* m_deleteAction = nullptr;
  QAction* m_resumeAction = nullptr;
  QAction* m_openAction = nullptr;
  QAction* m_useAction = nullptr;
  QTimer* m_timer = nullptr;
  bool m_refreshing = false;
  bool m_refreshAgain = false;
  QSet<qint64> m_pendingSelection;
  bool m_readFailed = false; ///< the message shows a read error, cleared by the next good read
};

} // namespace lorafa::ui
