#include "MainWindow.h"

#include "EngineInfoPanel.h"
#include "RunDraft.h"
#include "StudioSettings.h"
#include "TrainingController.h"
#include "pages/DataPage.h"
#include "pages/ExportPage.h"
#include "pages/MethodPage.h"
#include "pages/ModelPage.h"
#include "pages/PlaygroundPage.h"
#include "pages/RunsPage.h"
#include "pages/TrainPage.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDialog>
#include <QDialogButtonBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>
#include <QTimer>
#include <QVBoxLayout>

namespace lorafa::ui {

MainWindow::MainWindow(const EngineInfo& info, StudioPaths paths, QWidget* parent)
    : QMainWindow(parent), m_settings(std::make_unique<StudioSettings>(paths.settingsPath)) {
  setObjectName("mainWindow");
  setWindowTitle(tr("LoRA-FA Studio %1").arg(QString::fromStdString(info.version)));
  m_context.engineInfo = info;
  m_context.paths = std::move(paths);
  m_context.settings = m_settings.get();
  m_context.draft = new RunDraft(this);
  m_context.controller = new TrainingController(m_context.paths.runStorePath, this);
  loadDraft();

  m_pageList = new QListWidget(this);
  m_pageList->setObjectName("pageList");
  m_pageList->setMaximumWidth(160);
  m_pages = new QStackedWidget(this);
  m_pages->setObjectName("pages");
  auto* splitter = new QSplitter(this);
  splitter->addWidget(m_pageList);
  splitter->addWidget(m_pages);
  splitter->setStretchFactor(0, 0);
  splitter->setStretchFactor(1, 1);
  splitter->setCollapsible(0, false);
  splitter->setSizes({m_pageList->maximumWidth(), 10000}); // the list no wider than its maximum
  setCentralWidget(splitter);

  addPage(new ModelPage(m_context, this), tr("Model"));
  addPage(new DataPage(m_context, this), tr("Data"));
  addPage(new MethodPage(m_context, this), tr("Method"));
  m_trainPage = new TrainPage(m_context, this);
  addPage(m_trainPage, tr("Train"));
  auto* runsPage = new RunsPage(m_context, this);
  addPage(runsPage, tr("Runs"));
  // A finished twin run is also selected on the Runs page, for its diff and the stored curves.
  connect(m_trainPage, &TrainPage::twinFinished, runsPage,
          [runsPage](bool, const QVector<qint64>& ids) { runsPage->selectRuns(QList<qint64>(ids.begin(), ids.end())); });
  addPage(new ExportPage(m_context, this), tr("Export"));
  addPage(new PlaygroundPage(m_context, this), tr("Playground"));
  connect(m_pageList, &QListWidget::currentRowChanged, m_pages, &QStackedWidget::setCurrentIndex);

  QMenu* fileMenu = menuBar()->addMenu(tr("&File"));
  QAction* quit = fileMenu->addAction(tr("&Quit"));
  quit->setObjectName("quitAction");
  quit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q)); // spelled out: not every platform theme maps QKeySequence::Quit
  connect(quit, &QAction::triggered, this, &QWidget::close);

  QMenu* goMenu = menuBar()->addMenu(tr("&Go"));
  for (int i = 0; i < m_pages->count(); ++i) {
    QAction* go = goMenu->addAction(m_pageList->item(i)->text());
    go->setObjectName(QStringLiteral("goAction%1").arg(i + 1));
    go->setShortcut(QKeySequence(Qt::CTRL | static_cast<Qt::Key>(Qt::Key_1 + i)));
    connect(go, &QAction::triggered, this, [this, i] { m_pageList->setCurrentRow(i); });
  }

  addRunMenu();

  // The About box: versions of the app, Qt, LibTorch and CUDA. Built now (hidden) so its labels
  // exist as children of the window.
  m_about = new QDialog(this);
  m_about->setObjectName("aboutDialog");
  m_about->setWindowTitle(tr("About LoRA-FA Studio"));
  auto* aboutLayout = new QVBoxLayout(m_about);
  auto* blurb = new QLabel(tr("<b>LoRA-FA Studio</b><br>Fine-tune language models with LoRA-FA: LoRA with the "
                              "down-projection A frozen, so the backward pass keeps only x·Aᵀ."),
                           m_about);
  blurb->setWordWrap(true);
  aboutLayout->addWidget(blurb);
  aboutLayout->addWidget(new EngineInfoPanel(info, m_about));
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, m_about);
  connect(buttons, &QDialogButtonBox::rejected, m_about, &QDialog::reject);
  aboutLayout->addWidget(buttons);
  QMenu* helpMenu = menuBar()->addMenu(tr("&Help"));
  QAction* about = helpMenu->addAction(tr("&About LoRA-FA Studio"));
  about->setObjectName("aboutAction");
  connect(about, &QAction::triggered, m_about, &QDialog::show);

  auto* device = new QLabel(tr("Device: %1").arg(QString::fromStdString(info.defaultDevice)), this);
  device->setObjectName("statusDevice");
  statusBar()->addPermanentWidget(device);

  // The edited configuration is saved shortly after each change, so a crash loses at most a moment.
  m_saveDraftTimer = new QTimer(this);
  m_saveDraftTimer->setSingleShot(true);
  m_saveDraftTimer->setInterval(500);
  connect(m_saveDraftTimer, &QTimer::timeout, this, [this] {
    m_settings->setDraftConfigJson(QString::fromStdString(toJson(m_context.draft->config())));
    m_settings->sync();
  });
  connect(m_context.draft, &RunDraft::changed, m_saveDraftTimer, qOverload<>(&QTimer::start));

  resize(1200, 800);
  restoreGeometry(m_settings->windowGeometry());
  restoreState(m_settings->windowState());
  showPage(m_settings->lastPage());
  if (m_pageList->currentRow() < 0) m_pageList->setCurrentRow(0);
}

MainWindow::~MainWindow() = default;

void MainWindow::addPage(QWidget* page, const QString& title) {
  m_pages->addWidget(page);
  auto* item = new QListWidgetItem(title, m_pageList);
  item->setData(Qt::UserRole, page->objectName());
}

void MainWindow::showPage(const QString& objectName) {
  for (int i = 0; i < m_pages->count(); ++i) {
    if (m_pages->widget(i)->objectName() == objectName) m_pageList->setCurrentRow(i);
  }
}

QString MainWindow::currentPageName() const {
  QWidget* page = m_pages->currentWidget();
  return page != nullptr ? page->objectName() : QString();
}

void MainWindow::loadDraft() {
  const QString json = m_settings->draftConfigJson();
  if (!json.isEmpty()) {
    try {
      m_context.draft->setConfig(parseRunConfig(json.toStdString(), "settings draft"));
      return;
    } catch (const std::exception&) {
      // A draft from another version that no longer parses: start from the demo instead.
    }
  }
  const QString demo = m_context.paths.demoConfigPath();
  if (demo.isEmpty()) return;
  try {
    m_context.draft->setConfig(loadRunConfig(demo.toStdString()));
    m_context.draft->setSourcePath(demo);
  } catch (const std::exception& e) {
    statusBar()->showMessage(tr("The demo configuration could not be read: %1").arg(e.what()));
  }
}

void MainWindow::saveState() {
  m_settings->setWindowGeometry(saveGeometry());
  m_settings->setWindowState(QMainWindow::saveState());
  m_settings->setLastPage(currentPageName());
  m_settings->setDraftConfigJson(QString::fromStdString(toJson(m_context.draft->config())));
  m_settings->sync();
}

QMessageBox* MainWindow::closeQuestion() const { return m_closeQuestion.data(); }

void MainWindow::addRunMenu() {
  QMenu* runMenu = menuBar()->addMenu(tr("&Run"));
  m_startAction = runMenu->addAction(tr("&Start"));
  m_startAction->setObjectName("startAction");
  m_startAction->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Return), QKeySequence(Qt::CTRL | Qt::Key_Enter)});
  m_startAction->setShortcutContext(Qt::WindowShortcut);
  connect(m_startAction, &QAction::triggered, m_trainPage, [this] {
    showPage("trainPage");
    m_trainPage->startRun();
  });
  m_pauseAction = runMenu->addAction(tr("&Pause / Resume"));
  m_pauseAction->setObjectName("pauseAction");
  m_pauseAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
  connect(m_pauseAction, &QAction::triggered, m_trainPage, &TrainPage::togglePause);
  m_stopAction = runMenu->addAction(tr("S&top"));
  m_stopAction->setObjectName("stopAction");
  m_stopAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Period));
  connect(m_stopAction, &QAction::triggered, m_trainPage, [this] { m_trainPage->stopRun(false); });
  runMenu->addSeparator();
  m_twinAction = runMenu->addAction(tr("&Twin Run: LoRA vs LoRA-FA"));
  m_twinAction->setObjectName("twinAction");
  connect(m_twinAction, &QAction::triggered, m_trainPage, [this] {
    showPage("trainPage");
    m_trainPage->startTwin();
  });
  connect(m_trainPage, &TrainPage::controlsChanged, this, &MainWindow::updateRunActions);
  updateRunActions();
}

void MainWindow::updateRunActions() {
  const bool startable = m_trainPage->canStart();
  const bool active = m_context.controller->isActive();
  m_startAction->setEnabled(startable);
  m_twinAction->setEnabled(startable);
  m_pauseAction->setEnabled(active);
  m_pauseAction->setText(m_context.controller->isPaused() ? tr("&Resume") : tr("&Pause"));
  m_stopAction->setEnabled(active);
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (m_context.controller->isActive() || m_trainPage->isTwinActive()) {
    event->ignore(); // closes once the run has ended and its checkpoint is written
    if (m_closeAfterRun) return;
    if (m_closeQuestion) {
      m_closeQuestion->raise();
      return;
    }
    // Asked without a nested event loop (open(), not exec()): the run keeps reporting meanwhile.
    auto* box = new QMessageBox(QMessageBox::Question, tr("A run is in progress"),
                                tr("Stop the run and quit? A checkpoint is written first; the run is marked "
                                   "interrupted and can be resumed from the Runs page."),
                                QMessageBox::Yes | QMessageBox::No, this);
    box->setObjectName("closeDuringRunBox");
    box->setDefaultButton(QMessageBox::No);
    box->setAttribute(Qt::WA_DeleteOnClose);
    m_closeQuestion = box;
    connect(box, &QMessageBox::finished, this, [this, box] {
      if (box->clickedButton() == box->button(QMessageBox::Yes)) stopRunThenClose();
    });
    box->open();
    return;
  }
  saveState();
  event->accept();
}

void MainWindow::stopRunThenClose() {
  TrainingController* controller = m_context.controller;
  m_closeAfterRun = true;
  if (!controller->isActive()) {
    // The run ended while the question was open, or a twin is between its two runs: cancel the
    // rest and close once that has been handled.
    m_trainPage->stopRun(/*interrupted=*/true);
    QTimer::singleShot(0, this, [this] { close(); });
    return;
  }
  statusBar()->showMessage(tr("Stopping the run before quitting..."));
  connect(controller, &TrainingController::runFinished, this, [this] { close(); }, Qt::SingleShotConnection);
  m_trainPage->stopRun(/*interrupted=*/true);
}

} // namespace lorafa::ui
