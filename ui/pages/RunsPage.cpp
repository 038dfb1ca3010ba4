#include "RunsPage.h"

#include "BackgroundTask.h"
#include "RunDraft.h"
#include "StudioContext.h"
#include "StudioSettings.h"
#include "TrainingController.h"
#include "widgets/RunConfigDiff.h"
#include "widgets/RunStoreAccess.h"

#include "lorafa/RunConfig.h"
#include "lorafa/RunStore.h"

#include <QAction>
#include <QDesktopServices>
#include <QDir>
#include <QFileInfo>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QTextDocument>
#include <QTextOption>
#include <QTimer>
#include <QUrl>
#include <QVBoxLayout>

#include <algorithm>

namespace lorafa::ui {

struct RunsPage::Snapshot {
  QVector<RunRow> rows;
  QVector<RunCurve> curves; ///< of the runs selected when the read started, ascending id
  QString error;
};

namespace {

QPushButton* makeButton(QWidget* parent, const char* objectName, const QString& text, const QString& tip) {
  auto* button = new QPushButton(text, parent);
  button->setObjectName(objectName);
  button->setToolTip(tip);
  return button;
}

// What the overlay shows, to replot only when something changed.
QString curvesSignature(const QVector<RunCurve>& curves) {
  QString s;
  for (const RunCurve& c : curves) {
    s += QStringLiteral("%1/%2/%3/%4/%5;")
             .arg(c.id)
             .arg(c.name)
             .arg(c.losses.size())
             .arg(c.memoryMiB.size())
             .arg(c.losses.isEmpty() ? 0.0 : c.losses.back());
  }
  return s;
}

bool resumable(const RunRow& r) {
  return (r.status == QLatin1String("stopped") || r.status == QLatin1String("interrupted") ||
          r.status == QLatin1String("failed")) &&
         !r.checkpoint.isEmpty();
}

} // namespace

RunsPage::RunsPage(StudioContext& context, QWidget* parent)
    : QWidget(parent), m_context(context),
      m_store(std::make_shared<RunStoreAccess>(context.paths.runStorePath)) {
  setObjectName("runsPage");
  m_pool.setMaxThreadCount(1);

  m_model = new RunTableModel(this);
  m_proxy = new QSortFilterProxyModel(this);
  m_proxy->setSourceModel(m_model);
  m_proxy->setSortRole(RunTableModel::kSortRole);
  m_proxy->setFilterRole(RunTableModel::kFilterRole);
  m_proxy->setFilterKeyColumn(RunTableModel::Name);
  m_proxy->setFilterCaseSensitivity(Qt::CaseInsensitive);
  m_proxy->setSortCaseSensitivity(Qt::CaseInsensitive);
  m_proxy->setDynamicSortFilter(true);

  m_filter = new QLineEdit(this);
  m_filter->setObjectName("runsFilter");
  m_filter->setPlaceholderText(tr("Filter by name, method or status"));
  m_filter->setClearButtonEnabled(true);
  m_filter->setToolTip(tr("Shows only the runs whose name, method or status contains this text"));
  connect(m_filter, &QLineEdit::textChanged, this,
          [this](const QString& text) { m_proxy->setFilterFixedString(text); });

  m_renameButton = makeButton(this, "renameButton", tr("Rename…"), tr("Give the selected run another name"));
  m_deleteButton =
      makeButton(this, "deleteButton", tr("Delete…"),
                 tr("Remove the selected runs from the history (their output folders are kept)"));
  m_resumeButton =
      makeButton(this, "resumeButton", tr("Resume"),
                 tr("Continue the selected stopped, interrupted or failed run from its latest checkpoint"));
  m_openButton =
      makeButton(this, "openFolderButton", tr("Open folder"),
                 tr("Open the selected run's output folder (checkpoints, exports) in the file manager"));
  m_useButton = makeButton(this, "useSettingsButton", tr("Use these settings"),
                           tr("Load the selected run's configuration into the Model, Data and Method pages"));

  m_table = new QTableView(this);
  m_table->setObjectName("runsTable");
  m_table->setModel(m_proxy);
  m_table->setSortingEnabled(true);
  m_table->sortByColumn(RunTableModel::Started, Qt::DescendingOrder);
  m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
  m_table->setSelectionMode(QAbstractItemView::ExtendedSelection);
  m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  m_table->setAlternatingRowColors(true);
  m_table->verticalHeader()->hide();
  m_table->horizontalHeader()->setStretchLastSection(true);
  m_table->horizontalHeader()->setSectionResizeMode(RunTableModel::Name, QHeaderView::Stretch);
  m_table->setContextMenuPolicy(Qt::ActionsContextMenu);
  m_table->setToolTip(tr("Every run in the history; select several (Ctrl or Shift) to compare them"));

  auto makeAction = [this](const QString& text, const QKeySequence& key, void (RunsPage::*slot)()) {
    auto* action = new QAction(text, this);
    if (!key.isEmpty()) {
      action->setShortcut(key);
      action->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    }
    connect(action, &QAction::triggered, this, slot);
    m_table->addAction(action);
    return action;
  };
  m_renameAction = makeAction(tr("Rename…"), QKeySequence(Qt::Key_F2), &RunsPage::renameSelected);
  m_deleteAction = makeAction(tr("Delete…"), QKeySequence::Delete, &RunsPage::deleteSelected);
  m_resumeAction = makeAction(tr("Resume"), {}, &RunsPage::resumeSelected);
  m_openAction = makeAction(tr("Open output folder"), {}, &RunsPage::openSelectedFolder);
  m_useAction = makeAction(tr("Use these settings"), {}, &RunsPage::useSelectedSettings);
  connect(m_renameButton, &QPushButton::clicked, this, &RunsPage::renameSelected);
  connect(m_deleteButton, &QPushButton::clicked, this, &RunsPage::deleteSelected);
  connect(m_resumeButton, &QPushButton::clicked, this, &RunsPage::resumeSelected);
  connect(m_openButton, &QPushButton::clicked, this, &RunsPage::openSelectedFolder);
  connect(m_useButton, &QPushButton::clicked, this, &RunsPage::useSelectedSettings);
  connect(m_table->selectionModel(), &QItemSelectionModel::selectionChanged, this,
          &RunsPage::selectionChanged);

  m_curves = new RunCurves(this);
  m_diff = new QPlainTextEdit(this);
  m_diff->setObjectName("configDiff");
  m_diff->setReadOnly(true);
  m_diff->setLineWrapMode(QPlainTextEdit::NoWrap);
  m_diff->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  m_diff->setToolTip(tr("The settings whose values differ between the selected runs"));
  m_message = new QLabel(this);
  m_message->setObjectName("runsMessage");
  m_message->setWordWrap(true);
  m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto* bar = new QHBoxLayout;
  bar->addWidget(m_filter, 1);
  for (QPushButton* b : {m_renameButton, m_deleteButton, m_resumeButton, m_openButton, m_useButton})
    bar->addWidget(b);

  auto* lower = new QSplitter(Qt::Horizontal, this);
  lower->addWidget(m_curves);
  lower->addWidget(m_diff);
  lower->setStretchFactor(0, 2);
  lower->setStretchFactor(1, 1);
  lower->setSizes({600, 400}); // the diff needs room for a path or two
  auto* split = new QSplitter(Qt::Vertical, this);
  split->addWidget(m_table);
  split->addWidget(lower);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 1);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(bar);
  layout->addWidget(split, 1);
  layout->addWidget(m_message);

  // The filter, the sort and the splitters as the user left them.
  if (StudioSettings* settings = m_context.settings) {
    m_filter->setText(settings->pageValue("runs/filter").toString());
    const int column = settings->pageValue("runs/sortColumn", int(RunTableModel::Started)).toInt();
    const int order = settings->pageValue("runs/sortOrder", int(Qt::DescendingOrder)).toInt();
    if (column >= 0 && column < RunTableModel::ColumnCount) {
      m_table->sortByColumn(column,
                            order == int(Qt::AscendingOrder) ? Qt::AscendingOrder : Qt::DescendingOrder);
    }
    split->restoreState(settings->pageValue("runs/splitter").toByteArray());
    lower->restoreState(settings->pageValue("runs/plotSplitter").toByteArray());
    connect(m_filter, &QLineEdit::textChanged, this,
            [settings](const QString& text) { settings->setPageValue("runs/filter", text); });
    connect(m_table->horizontalHeader(), &QHeaderView::sortIndicatorChanged, this,
            [settings](int section, Qt::SortOrder sortOrder) {
              settings->setPageValue("runs/sortColumn", section);
              settings->setPageValue("runs/sortOrder", int(sortOrder));
            });
    connect(split, &QSplitter::splitterMoved, this,
            [settings, split] { settings->setPageValue("runs/splitter", split->saveState()); });
    connect(lower, &QSplitter::splitterMoved, this,
            [settings, lower] { settings->setPageValue("runs/plotSplitter", lower->saveState()); });
  }

  m_timer = new QTimer(this);
  m_timer->setInterval(kRefreshIntervalMs);
  connect(m_timer, &QTimer::timeout, this, [this] {
    if (isVisible()) refresh();
  });
  m_timer->start();
  if (m_context.controller != nullptr) {
    connect(m_context.controller, &TrainingController::runStarted, this, [this] { refresh(); });
    connect(m_context.controller, &TrainingController::runFinished, this, [this] { refresh(); });
    connect(m_context.controller, &TrainingController::stateChanged, this, [this] { updateActions(); });
  }
  showConfigDiff();
  updateActions();
}

RunsPage::~RunsPage() {
  // Reads not started yet are dropped; the one running finishes (it holds its own reference to
  // the store) and its result, delivered after this page has gone, is dropped (BackgroundTask).
  m_pool.clear();
  m_pool.waitForDone();
}

void RunsPage::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  refresh();
}

QList<qint64> RunsPage::selectedRunIds() const {
  QList<qint64> ids;
  for (const QModelIndex& index : m_table->selectionModel()->selectedRows()) {
    ids.push_back(index.data(RunTableModel::kIdRole).toLongLong());
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

void RunsPage::selectRuns(const QList<qint64>& ids) {
  m_pendingSelection = QSet<qint64>(ids.begin(), ids.end());
  QItemSelection selection;
  for (qint64 id : ids) {
    const int row = m_model->rowOf(id);
    if (row < 0) continue;
    const QModelIndex index = m_proxy->mapFromSource(m_model->index(row, 0));
    if (index.isValid()) selection.select(index, index);
    m_pendingSelection.remove(id);
  }
  m_table->selectionModel()->select(selection,
                                    QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
  refresh();
}

void RunsPage::refresh() {
  if (m_refreshing) {
    m_refreshAgain = true;
    return;
  }
  m_refreshing = true;
  QList<qint64> wanted = selectedRunIds();
  for (qint64 id : m_pendingSelection)
    wanted.push_back(id);
  BackgroundTask::run(
      &m_pool, this,
      [store = m_store, wanted] {
        Snapshot s;
        try {
          s.rows = store->rows();
          QVector<RunRow> selected;
          for (const RunRow& r : s.rows) {
            if (wanted.contains(r.id)) selected.push_back(r);
          }
          std::sort(selected.begin(), selected.end(),
                    [](const RunRow& a, const RunRow& b) { return a.id < b.id; });
          s.curves = store->curves(selected);
        } catch (const std::exception& e) {
          s.error = QString::fromStdString(e.what());
        }
        return s;
      },
      [this](const Snapshot& snapshot) {
        m_refreshing = false;
        applySnapshot(snapshot);
        if (m_refreshAgain) {
          m_refreshAgain = false;
          refresh();
        }
      });
}

void RunsPage::applySnapshot(const Snapshot& snapshot) {
  if (!snapshot.error.isEmpty()) {
    m_message->setText(tr("Cannot read the run history: %1").arg(snapshot.error));
    m_readFailed = true;
    return;
  }
  if (m_readFailed) {
    m_readFailed = false; // the store reads again: the error no longer applies
    m_message->clear();
  }
  m_model->setRuns(snapshot.rows);
  if (!m_pendingSelection.isEmpty()) {
    QItemSelection add;
    for (const RunRow& r : snapshot.rows) {
      if (!m_pendingSelection.contains(r.id)) continue;
      const QModelIndex index = m_proxy->mapFromSource(m_model->index(m_model->rowOf(r.id), 0));
      if (index.isValid()) add.select(index, index);
      m_pendingSelection.remove(r.id);
    }
    if (!add.isEmpty()) {
      m_table->selectionModel()->select(add, QItemSelectionModel::Select | QItemSelectionModel::Rows);
      return; // selectionChanged asked for a read with the new selection's curves
    }
  }
  // The curves of the runs selected now (the selection may have moved while reading).
  const QList<qint64> selected = selectedRunIds();
  QVector<RunCurve> curves;
  bool complete = true;
  for (qint64 id : selected) {
    const auto it = std::find_if(snapshot.curves.begin(), snapshot.curves.end(),
                                 [id](const RunCurve& c) { return c.id == id; });
    if (it == snapshot.curves.end())
      complete = false;
    else
      curves.push_back(*it);
  }
  if (!complete) {
    refresh();
    return;
  }
  static const char* kSignature = "curvesSignature";
  const QString signature = curvesSignature(curves);
  if (m_curves->property(kSignature).toString() != signature || curves.isEmpty()) {
    m_curves->setProperty(kSignature, signature);
    m_curves->setCurves(curves);
  }
  showConfigDiff();
  updateActions();
}

void RunsPage::selectionChanged() {
  showConfigDiff();
  updateActions();
  refresh(); // the new selection's curves
}

void RunsPage::showConfigDiff() {
  const QList<qint64> ids = selectedRunIds();
  if (ids.size() < 2) {
    m_diff->setPlainText(tr("Select two or more runs to see the settings that differ."));
    return;
  }
  QStringList names;
  QVector<QMap<QString, QString>> configs;
  for (qint64 id : ids) {
    const RunRow* r = m_model->run(id);
    if (r == nullptr) continue;
    names.push_back(r->name.isEmpty() ? tr("run %1").arg(id) : r->name);
    configs.push_back(r->flatConfig);
  }
  if (RunConfigDiff::differingKeys(configs).isEmpty()) {
    m_diff->setPlainText(tr("The selected runs have the same settings."));
    return;
  }
  const QString text = RunConfigDiff::table(names, configs);
  if (m_diff->toPlainText() == text) return;
  // One tab stop after each column's widest cell: the columns line up, each as wide as it needs.
  QVector<qsizetype> widths;
  for (const QString& line : text.split(QLatin1Char('\n'))) {
    const QStringList cells = line.split(QLatin1Char('\t'));
    if (widths.size() < cells.size()) widths.resize(cells.size());
    for (int i = 0; i < cells.size(); ++i)
      widths[i] = std::max(widths[i], cells[i].size());
  }
  const double charWidth = m_diff->fontMetrics().horizontalAdvance(QLatin1Char('x'));
  QList<QTextOption::Tab> tabs;
  double position = 0;
  for (qsizetype width : widths) {
    position += charWidth * double(width + 2);
    tabs.push_back(QTextOption::Tab(position, QTextOption::LeftTab));
  }
  QTextOption option = m_diff->document()->defaultTextOption();
  option.setTabs(tabs);
  m_diff->document()->setDefaultTextOption(option);
  m_diff->setPlainText(text);
}

const RunRow* RunsPage::singleSelection() const {
  const QList<qint64> ids = selectedRunIds();
  return ids.size() == 1 ? m_model->run(ids.front()) : nullptr;
}

void RunsPage::updateActions() {
  const QList<qint64> ids = selectedRunIds();
  const RunRow* one = singleSelection();
  bool anyRunning = false;
  for (qint64 id : ids) {
    const RunRow* r = m_model->run(id);
    if (r != nullptr && r->status == QLatin1String("running")) anyRunning = true;
  }
  const bool controllerBusy = m_context.controller != nullptr && m_context.controller->isActive();
  const bool canRename = one != nullptr;
  const bool canDelete = !ids.isEmpty() && !anyRunning;
  const bool canResume =
      one != nullptr && resumable(*one) && m_context.controller != nullptr && !controllerBusy;
  const bool canOpen = one != nullptr && !one->outputDir.isEmpty() && QFileInfo(one->outputDir).isDir();
  const bool canUse = one != nullptr && !one->configText.isEmpty() && m_context.draft != nullptr;
  m_renameButton->setEnabled(canRename);
  m_renameAction->setEnabled(canRename);
  m_deleteButton->setEnabled(canDelete);
  m_deleteAction->setEnabled(canDelete);
  m_resumeButton->setEnabled(canResume);
  m_resumeAction->setEnabled(canResume);
  m_openButton->setEnabled(canOpen);
  m_openAction->setEnabled(canOpen);
  m_useButton->setEnabled(canUse);
  m_useAction->setEnabled(canUse);
  if (one != nullptr && !resumable(*one) && one->status != QLatin1String("completed") &&
      one->status != QLatin1String("running") && one->checkpoint.isEmpty()) {
    m_resumeButton->setToolTip(tr("This run has no checkpoint in %1 to resume from").arg(one->outputDir));
  } else {
    m_resumeButton->setToolTip(
        tr("Continue the selected stopped, interrupted or failed run from its latest checkpoint"));
  }
}

void RunsPage::runInStore(const QString& done, const QString& failed, std::function<void()> change) {
  BackgroundTask::run(
      &m_pool, this,
      [change = std::move(change)]() -> QString {
        try {
          change();
          return {};
        } catch (const std::exception& e) {
          return QString::fromStdString(e.what());
        }
      },
      [this, done, failed](const QString& error) {
        m_message->setText(error.isEmpty() ? done : tr("%1: %2").arg(failed, error));
        m_readFailed = false; // this message is not a read error for a good read to clear
        refresh();
      });
}

void RunsPage::renameSelected() {
  const RunRow* run = singleSelection();
  if (run == nullptr) return;
  const qint64 id = run->id;
  auto* dialog = new QInputDialog(this);
  dialog->setObjectName("renameDialog");
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->setWindowTitle(tr("Rename run"));
  dialog->setLabelText(tr("New name of run %1:").arg(id));
  dialog->setTextValue(run->name);
  connect(dialog, &QInputDialog::textValueSelected, this, [this, id](const QString& text) {
    const QString name = text.trimmed();
    if (name.isEmpty()) {
      m_message->setText(tr("A run's name cannot be empty; run %1 keeps its name.").arg(id));
      return;
    }
    runInStore(tr("Renamed run %1 to “%2”.").arg(id).arg(name), tr("Could not rename run %1").arg(id),
               [store = m_store, id, name] {
                 store->modify([&](RunStore& s) { s.renameRun(id, name.toStdString()); });
               });
  });
  dialog->open();
}

void RunsPage::deleteSelected() {
  QList<qint64> ids = selectedRunIds();
  if (ids.isEmpty()) return;
  QStringList names;
  for (qint64 id : ids) {
    if (const RunRow* r = m_model->run(id)) {
      if (r->status == QLatin1String("running")) return; // a running run keeps its record
      names.push_back(r->name);
    }
  }
  auto* box = new QMessageBox(
      QMessageBox::Question, tr("Delete runs"),
      tr("Remove %n run(s) from the history: %1?\nTheir output folders and checkpoints stay on disk.",
         nullptr, static_cast<int>(ids.size()))
          .arg(names.join(QStringLiteral(", "))),
      QMessageBox::Yes | QMessageBox::No, this);
  box->setObjectName("deleteConfirm");
  box->setDefaultButton(QMessageBox::No);
  box->setAttribute(Qt::WA_DeleteOnClose);
  connect(box, &QMessageBox::buttonClicked, this, [this, box, ids](QAbstractButton* button) {
    if (box->standardButton(button) != QMessageBox::Yes) return;
    runInStore(tr("Deleted %n run(s) from the history.", nullptr, static_cast<int>(ids.size())),
               tr("Could not delete every selected run (the table shows what is left)"),
               [store = m_store, ids] {
                 store->modify([&](RunStore& s) {
                   for (qint64 id : ids)
                     s.deleteRun(id);
                 });
               });
  });
  box->open();
}

void RunsPage::resumeSelected() {
  const RunRow* run = singleSelection();
  if (run == nullptr || !resumable(*run) || m_context.controller == nullptr ||
      m_context.controller->isActive())
    return;
  m_message->setText(tr("Resuming run %1 from %2…").arg(run->id).arg(run->checkpoint));
  m_context.controller->resumeRun(run->id);
  updateActions();
}

void RunsPage::openSelectedFolder() {
  const RunRow* run = singleSelection();
  if (run == nullptr) return;
  if (!QDesktopServices::openUrl(QUrl::fromLocalFile(run->outputDir))) {
    m_message->setText(tr("Could not open %1 with the desktop's file manager.").arg(run->outputDir));
  }
}

void RunsPage::useSelectedSettings() {
  const RunRow* run = singleSelection();
  if (run == nullptr || m_context.draft == nullptr) return;
  try {
    const RunConfig config =
        parseRunConfig(run->configText.toStdString(), "run " + std::to_string(run->id) + " config.json");
    m_context.draft->setConfig(config);
    m_context.draft->setSourcePath({});
    m_message->setText(
        tr("Loaded the settings of run %1 (“%2”) into the draft.").arg(run->id).arg(run->name));
  } catch (const std::exception& e) {
    m_message->setText(tr("The stored settings of run %1 cannot be read: %2")
                           .arg(run->id)
                           .arg(QString::fromStdString(e.what())));
  }
}

} // namespace lorafa::ui
