#pragma once

#include "StudioContext.h"
#include "StudioPaths.h"

#include "lorafa/EngineInfo.h"

#include <QMainWindow>
#include <QPointer>

#include <memory>

class QDialog;
class QAction;
class QListWidget;
class QMessageBox;
class QStackedWidget;
class QTimer;

namespace lorafa::ui {

class StudioSettings;
class TrainPage;

/// The studio's frame: a page list on the left, the current page, menus, the status bar and the
/// About box. Pages are their own widgets (ui/pages); the frame only wires them to the shared
/// StudioContext and keeps window state and the edited configuration across restarts.
class MainWindow : public QMainWindow {
  Q_OBJECT
public:
  explicit MainWindow(const EngineInfo& info, StudioPaths paths = StudioPaths::standard(), QWidget* parent = nullptr);
  ~MainWindow() override;

  StudioContext& context() { return m_context; }
  /// Shows the page with this object name (e.g. "trainPage").
  void showPage(const QString& objectName);
  QString currentPageName() const;
  TrainPage* trainPage() const { return m_trainPage; }
  /// The question asked when the window is closed during a run, while it is open; else null.
  QMessageBox* closeQuestion() const;

protected:
  void closeEvent(QCloseEvent* event) override;

private:
  void loadDraft();
  void saveState();
  void addPage(QWidget* page, const QString& title);
  void addRunMenu();
  void updateRunActions();
  void stopRunThenClose();

  std::unique_ptr<StudioSettings> m_settings;
  StudioContext m_context;
  QListWidget* m_pageList = nullptr;
  QStackedWidget* m_pages = nullptr;
  QDialog* m_about = nullptr;
  QTimer* m_saveDraftTimer = nullptr;
  TrainPage* m_trainPage = nullptr;
  QAction* m_startAction = nullptr;
  QAction* m_pauseAction = nullptr;
  QAction* m_stopAction = nullptr;
  QAction* m_twinAction = nullptr;
  QPointer<QMessageBox> m_closeQuestion;
  bool m_closeAfterRun = false; ///< the user chose to quit: close as soon as the run has ended
};

} // namespace lorafa::ui
