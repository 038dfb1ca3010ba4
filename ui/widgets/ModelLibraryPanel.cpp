#include "ModelLibraryPanel.h"

#include "BackgroundTask.h"
#include "StudioContext.h"

#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/HubDownload.h"

#include <QDir>
#include <QFileDialog>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QAbstractButton>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>

#include <atomic>
#include <cstdlib>
#include <mutex>

namespace lorafa::ui {
namespace {

enum Column { kModel, kRevision, kFamily, kParameters, kDtype, kSize, kSupported, kColumns };

QString parameterText(std::int64_t n) {
  if (n <= 0) return QStringLiteral("—");
  if (n >= 1'000'000'000) return QStringLiteral("%1 B").arg(static_cast<double>(n) / 1e9, 0, 'f', 2);
  if (n >= 1'000'000) return QStringLiteral("%1 M").arg(static_cast<double>(n) / 1e6, 0, 'f', 2);
  return QStringLiteral("%1 k").arg(static_cast<double>(n) / 1e3, 0, 'f', 1);
}

QString orDash(const std::string& text) { return text.empty() ? QStringLiteral("—") : QString::fromStdString(text); }

} // namespace

/// What the download thread and the UI share: the latest progress (read by the UI's timer) and
/// the cancel flag (read by the download between chunks).
struct ModelLibraryPanel::DownloadState : HubPullObserver {
  std::atomic<bool> cancel{false};
  std::mutex mutex;
  HubPullProgress latest; ///< under mutex
  bool hasProgress = false;
  QString note;           ///< the last note, under mutex

  void onProgress(const HubPullProgress& progress) override {
    std::lock_guard<std::mutex> lock(mutex);
    latest = progress;
    hasProgress = true;
  }
  void onNote(const std::string& message) override {
    std::lock_guard<std::mutex> lock(mutex);
    note = QString::fromStdString(message);
  }
  bool shouldStop() override { return cancel; }
};

struct ModelLibraryPanel::DownloadOutcome {
  bool ok = false;
  bool stopped = false;
  QString message;
  QString snapshotDir;
};

struct ModelLibraryPanel::ScanResult {
  std::vector<LibraryModel> models;
  QString error;
};

ModelLibraryPanel::ModelLibraryPanel(StudioContext& context, QWidget* parent) : QWidget(parent), m_context(context) {
  setObjectName("modelLibraryPanel");
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);

  m_table = new QTableWidget(0, kColumns, this);
  m_table->setObjectName("modelLibraryTable");
  m_table->setHorizontalHeaderLabels(
      {tr("Model"), tr("Revision"), tr("Family"), tr("Parameters"), tr("Dtype"), tr("Size"), tr("Supported")});
  m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
  m_table->setSelectionMode(QAbstractItemView::SingleSelection);
  m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  m_table->verticalHeader()->hide();
  m_table->horizontalHeader()->setSectionResizeMode(kModel, QHeaderView::Stretch);
  m_table->horizontalHeader()->setSectionResizeMode(kSupported, QHeaderView::Stretch);
  m_table->setToolTip(tr("Models in the Hugging Face cache and in the folders you added. Double-click one to open it."));
  // The table's own corner button (select all) is an input too.
  for (QAbstractButton* corner : m_table->findChildren<QAbstractButton*>()) {
    corner->setToolTip(tr("Select every row"));
  }
  layout->addWidget(m_table, 1);

  m_scanStatus = new QLabel(this);
  m_scanStatus->setObjectName("libraryStatus");
  m_scanStatus->setWordWrap(true);
  layout->addWidget(m_scanStatus);

  auto* buttons = new QHBoxLayout();
  m_useButton = new QPushButton(tr("&Use this model"), this);
  m_useButton->setObjectName("useLibraryModelButton");
  m_useButton->setToolTip(tr("Open the selected model on this page: its folder becomes the run's model."));
  m_refreshButton = new QPushButton(tr("Re&fresh"), this);
  m_refreshButton->setObjectName("refreshLibraryButton");
  m_refreshButton->setToolTip(tr("Scan the Hugging Face cache and the added folders again."));
  m_addButton = new QPushButton(tr("&Add folder…"), this);
  m_addButton->setObjectName("addLibraryFolderButton");
  m_addButton->setToolTip(tr("Add a model folder, or a folder of model folders, to the library."));
  m_removeButton = new QPushButton(tr("&Remove folder"), this);
  m_removeButton->setObjectName("removeLibraryFolderButton");
  m_removeButton->setToolTip(tr("Take the selected model's added folder out of the library (its files stay on disk)."));
  buttons->addWidget(m_useButton);
  buttons->addStretch(1);
  buttons->addWidget(m_refreshButton);
  buttons->addWidget(m_addButton);
  buttons->addWidget(m_removeButton);
  layout->addLayout(buttons);

  auto* downloadRow = new QHBoxLayout();
  auto* repoLabel = new QLabel(tr("Down&load from the Hub:"), this);
  m_repoEdit = new QLineEdit(this);
  m_repoEdit->setObjectName("downloadRepoEdit");
  m_repoEdit->setPlaceholderText(tr("ORG/NAME, e.g. Qwen/Qwen3-0.6B"));
  m_repoEdit->setToolTip(tr("A model repository on the Hugging Face Hub. Gated and private models need an access "
                            "token in HF_TOKEN (or from `hf auth login`). Files go to the shared Hugging Face cache."));
  repoLabel->setBuddy(m_repoEdit);
  m_revisionEdit = new QLineEdit(this);
  m_revisionEdit->setObjectName("downloadRevisionEdit");
  m_revisionEdit->setPlaceholderText(tr("main"));
  m_revisionEdit->setToolTip(tr("Branch, tag or commit (default main)."));
  m_revisionEdit->setMaximumWidth(140);
  m_downloadButton = new QPushButton(tr("&Download"), this);
  m_downloadButton->setObjectName("downloadButton");
  m_downloadButton->setToolTip(tr("Download the repository into the Hugging Face cache (resumes an interrupted "
                                  "download); it then appears in the table."));
  m_cancelButton = new QPushButton(tr("&Cancel"), this);
  m_cancelButton->setObjectName("cancelDownloadButton");
  m_cancelButton->setToolTip(tr("Stop the download; what arrived is kept and the next download of it resumes."));
  downloadRow->addWidget(repoLabel);
  downloadRow->addWidget(m_repoEdit, 1);
  downloadRow->addWidget(m_revisionEdit);
  downloadRow->addWidget(m_downloadButton);
  downloadRow->addWidget(m_cancelButton);
  layout->addLayout(downloadRow);
  m_progress = new QProgressBar(this);
  m_progress->setObjectName("downloadProgress");
  m_progress->setRange(0, 1000);
  m_progress->hide();
  layout->addWidget(m_progress);
  m_downloadStatus = new QLabel(this);
  m_downloadStatus->setObjectName("downloadStatus");
  m_downloadStatus->setWordWrap(true);
  m_downloadStatus->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(m_downloadStatus);

  m_progressTimer = new QTimer(this);
  m_progressTimer->setInterval(150);
  connect(m_progressTimer, &QTimer::timeout, this, &ModelLibraryPanel::showDownloadProgress);
  connect(m_refreshButton, &QPushButton::clicked, this, &ModelLibraryPanel::refresh);
  connect(m_addButton, &QPushButton::clicked, this, &ModelLibraryPanel::addFolder);
  connect(m_removeButton, &QPushButton::clicked, this, &ModelLibraryPanel::removeFolder);
  connect(m_useButton, &QPushButton::clicked, this, &ModelLibraryPanel::useSelected);
  connect(m_table, &QTableWidget::cellDoubleClicked, this, [this] { useSelected(); });
  connect(m_table, &QTableWidget::itemSelectionChanged, this, &ModelLibraryPanel::updateButtons);
  connect(m_downloadButton, &QPushButton::clicked, this,
          [this] { download(m_repoEdit->text().trimmed(), m_revisionEdit->text().trimmed()); });
  connect(m_repoEdit, &QLineEdit::returnPressed, m_downloadButton, &QPushButton::click);
  connect(m_cancelButton, &QPushButton::clicked, this, &ModelLibraryPanel::cancelDownload);
  updateButtons();
  refresh();
}

ModelLibraryPanel::~ModelLibraryPanel() {
  // The download thread notices between chunks and ends; its result is dropped (no receiver).
  if (m_download) m_download->cancel = true;
}

QString ModelLibraryPanel::libraryPath() const {
  return m_context.paths.modelLibraryPath.isEmpty()
             ? QString::fromStdString(defaultModelLibraryPath(std::getenv("XDG_DATA_HOME"), std::getenv("HOME")))
             : m_context.paths.modelLibraryPath;
}

void ModelLibraryPanel::refresh() {
  const int request = ++m_scanRequest;
  m_scanning = true;
  m_scanStatus->setText(tr("Looking for models …"));
  BackgroundTask::run(
      nullptr, this,
      // The environment is read here, on the UI thread: getenv on a worker while the UI thread
      // may setenv is undefined behaviour.
      [path = libraryPath().toStdString(), cacheDir = hubSettingsFromProcessEnvironment().cacheDir] {
        ScanResult result;
        try {
          result.models = scanModelLibrary(cacheDir, ModelLibraryFolders::load(path).folders());
        } catch (const std::exception& e) {
          result.error = QString::fromStdString(e.what());
        }
        return result;
      },
      [this, request](const ScanResult& result) {
        if (request != m_scanRequest) return;
        m_scanning = false;
        showModels(result.models);
        if (!result.error.isEmpty()) setStatus(m_scanStatus, result.error, true);
        Q_EMIT scanFinished();
      });
}

void ModelLibraryPanel::showModels(const std::vector<LibraryModel>& models) {
  m_models = models;
  m_table->setRowCount(0);
  m_table->setRowCount(static_cast<int>(models.size()));
  int selectRow = -1;
  for (int row = 0; row < static_cast<int>(models.size()); ++row) {
    const LibraryModel& m = models[static_cast<std::size_t>(row)];
    const QString path = QString::fromStdString(m.path);
    const QString tip = QDir::toNativeSeparators(path) +
                        (m.supported ? QString() : QStringLiteral("\n") + QString::fromStdString(m.unsupportedReason));
    const QStringList cells{QString::fromStdString(m.repoId),
                            m.source == LibraryModel::Source::Folder ? tr("folder") : orDash(m.revision.substr(0, 12)),
                            orDash(m.family),
                            parameterText(m.parameters),
                            orDash(m.dtype),
                            QString::fromStdString(formatBytes(m.sizeBytes)),
                            m.supported ? tr("yes") : tr("no: %1").arg(QString::fromStdString(m.unsupportedReason))};
    for (int column = 0; column < kColumns; ++column) {
      auto* item = new QTableWidgetItem(cells[column]);
      item->setToolTip(tip);
      m_table->setItem(row, column, item);
    }
    if (!m_selectAfterScan.isEmpty() && path == m_selectAfterScan) selectRow = row;
  }
  m_table->resizeColumnsToContents();
  if (selectRow >= 0) m_table->selectRow(selectRow);
  m_selectAfterScan.clear();
  m_scanStatus->setPalette(QPalette());
  m_scanStatus->setText(models.empty() ? tr("No models yet: download one from the Hub below, or add a folder.")
                                       : tr("%n model(s); the Hugging Face cache is %1", nullptr, static_cast<int>(models.size()))
                                             .arg(QDir::toNativeSeparators(
                                                 QString::fromStdString(hubSettingsFromProcessEnvironment().cacheDir))));
  updateButtons();
}

const LibraryModel* ModelLibraryPanel::selectedModel() const {
  const QList<QTableWidgetItem*> items = m_table->selectedItems();
  if (items.isEmpty()) return nullptr;
  const int row = items.front()->row();
  return row >= 0 && row < static_cast<int>(m_models.size()) ? &m_models[static_cast<std::size_t>(row)] : nullptr;
}

void ModelLibraryPanel::updateButtons() {
  const LibraryModel* model = selectedModel();
  m_useButton->setEnabled(model != nullptr && model->supported);
  m_removeButton->setEnabled(model != nullptr && model->source == LibraryModel::Source::Folder);
  const bool downloading = isDownloading();
  m_downloadButton->setEnabled(!downloading);
  m_repoEdit->setEnabled(!downloading);
  m_revisionEdit->setEnabled(!downloading);
  m_cancelButton->setEnabled(downloading);
}

void ModelLibraryPanel::useSelected() {
  const LibraryModel* model = selectedModel();
  if (model != nullptr) Q_EMIT modelChosen(QString::fromStdString(model->path));
}

void ModelLibraryPanel::addFolder() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Add a model folder"), QDir::homePath());
  if (dir.isEmpty()) return;
  try {
    ModelLibraryFolders folders = ModelLibraryFolders::load(libraryPath().toStdString());
    if (folders.add(dir.toStdString())) folders.save();
  } catch (const std::exception& e) {
    setStatus(m_scanStatus, QString::fromStdString(e.what()), true);
    return;
  }
  refresh();
}

void ModelLibraryPanel::removeFolder() {
  const LibraryModel* model = selectedModel();
  if (model == nullptr || model->source != LibraryModel::Source::Folder) return;
  try {
    ModelLibraryFolders folders = ModelLibraryFolders::load(libraryPath().toStdString());
    if (folders.remove(model->addedFolder)) folders.save();
  } catch (const std::exception& e) {
    setStatus(m_scanStatus, QString::fromStdString(e.what()), true);
    return;
  }
  refresh();
}

void ModelLibraryPanel::download(const QString& repoId, const QString& revision) {
  if (isDownloading()) return;
  if (repoId.isEmpty()) {
    setStatus(m_downloadStatus, tr("Type a repository id such as Qwen/Qwen3-0.6B."), true);
    return;
  }
  HubPullOptions options;
  options.repoId = repoId.toStdString();
  options.revision = revision.isEmpty() ? std::string("main") : revision.toStdString();
  options.hub = hubSettingsFromProcessEnvironment();
  m_download = std::make_shared<DownloadState>();
  m_progress->setValue(0);
  m_progress->show();
  setStatus(m_downloadStatus, tr("Asking %1 for %2 …").arg(QString::fromStdString(options.hub.endpoint), repoId), false);
  m_progressTimer->start();
  updateButtons();
  BackgroundTask::run(
      nullptr, this,
      [options, state = m_download] {
        DownloadOutcome outcome;
        try {
          const HubPullResult result = pullFromHub(options, state.get());
          outcome.ok = !result.stopped;
          outcome.stopped = result.stopped;
          outcome.snapshotDir = QString::fromStdString(result.snapshotDir);
          outcome.message = QString::fromStdString(result.repoId + " @ " + result.revision + ": " +
                                                   std::to_string(result.files.size()) + " files, " +
                                                   formatBytes(result.bytesDownloaded) + " downloaded");
        } catch (const std::exception& e) {
          outcome.message = QString::fromStdString(e.what());
        }
        return outcome;
      },
      [this](const DownloadOutcome& outcome) { finishDownload(outcome); });
}

void ModelLibraryPanel::cancelDownload() {
  if (m_download) {
    m_download->cancel = true;
    m_downloadStatus->setText(tr("Stopping …"));
  }
}

void ModelLibraryPanel::showDownloadProgress() {
  if (!m_download) return;
  HubPullProgress progress;
  QString note;
  {
    std::lock_guard<std::mutex> lock(m_download->mutex);
    if (!m_download->hasProgress) return;
    progress = m_download->latest;
    note = m_download->note;
  }
  if (progress.bytesTotal > 0) {
    m_progress->setValue(static_cast<int>(1000 * progress.bytesDone / progress.bytesTotal));
  }
  QString text = tr("%1 — file %2 of %3: %4")
                     .arg(QString::fromStdString(describeProgress(progress)))
                     .arg(progress.fileIndex)
                     .arg(progress.fileCount)
                     .arg(QString::fromStdString(progress.file));
  if (!note.isEmpty()) text += QStringLiteral("\n") + note;
  if (!m_download->cancel) setStatus(m_downloadStatus, text, false);
}

void ModelLibraryPanel::finishDownload(const DownloadOutcome& outcome) {
  showDownloadProgress();
  m_progressTimer->stop();
  m_download.reset();
  if (outcome.ok) {
    m_progress->setValue(m_progress->maximum());
    setStatus(m_downloadStatus, tr("Downloaded %1").arg(outcome.message), false);
    m_selectAfterScan = outcome.snapshotDir;
  } else if (outcome.stopped) {
    m_progress->hide();
    setStatus(m_downloadStatus, tr("Stopped. What arrived is kept; download it again to resume."), false);
  } else {
    m_progress->hide();
    setStatus(m_downloadStatus, outcome.message, true);
  }
  updateButtons();
  refresh();
  Q_EMIT downloadFinished();
}

void ModelLibraryPanel::setStatus(QLabel* label, const QString& text, bool error) {
  QPalette palette;
  if (error) {
    const bool dark = palette.color(QPalette::Window).lightness() < 128;
    palette.setColor(QPalette::WindowText, dark ? QColor(255, 128, 118) : QColor(176, 0, 32));
  }
  label->setPalette(palette);
  label->setText(text);
}

} // namespace lorafa::ui
