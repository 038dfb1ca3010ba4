#include "ExportPage.h"

#include "BackgroundTask.h"
#include "StudioContext.h"
#include "StudioSettings.h"
#include "TrainingController.h"

#include "lorafa/RunConfig.h"
#include "lorafa/RunStore.h"
#include "lorafa/TrainingSession.h"

#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QShowEvent>
#include <QVBoxLayout>

namespace lorafa::ui {

namespace {

const char* kTargetKey = "export/target";
const char* kKindKey = "export/kind";

} // namespace

ExportPage::ExportPage(StudioContext& context, QWidget* parent) : QWidget(parent), m_context(context) {
  setObjectName("exportPage");
  auto* layout = new QVBoxLayout(this);
  auto* form = new QFormLayout();
  layout->addLayout(form);

  auto* runRow = new QHBoxLayout();
  m_runCombo = new QComboBox(this);
  m_runCombo->setObjectName("exportRunCombo");
  m_runCombo->setToolTip(
      tr("The run to export: runs of the history that have a checkpoint (its newest is exported)"));
  m_runCombo->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  m_refreshButton = new QPushButton(tr("Refresh"), this);
  m_refreshButton->setObjectName("refreshRunsButton");
  m_refreshButton->setToolTip(tr("Read the run history again"));
  runRow->addWidget(m_runCombo, 1);
  runRow->addWidget(m_refreshButton);
  form->addRow(tr("Run"), runRow);

  auto* kindRow = new QHBoxLayout();
  m_adapterRadio = new QRadioButton(tr("Adapter (PEFT)"), this);
  m_adapterRadio->setObjectName("adapterRadio");
  m_adapterRadio->setToolTip(tr("adapter_config.json + adapter_model.safetensors: loads with PEFT's "
                                "PeftModel.from_pretrained on the base model (LoRA-FA and LoRA runs)"));
  m_mergedRadio = new QRadioButton(tr("Merged checkpoint"), this);
  m_mergedRadio->setObjectName("mergedRadio");
  m_mergedRadio->setToolTip(
      tr("The base with W + s·B·A folded in, in the base's Hugging Face layout and dtype, "
         "with its tokenizer and configuration: loads without PEFT"));
  m_adapterRadio->setChecked(true);
  kindRow->addWidget(m_adapterRadio);
  kindRow->addWidget(m_mergedRadio);
  kindRow->addStretch(1);
  form->addRow(tr("Export as"), kindRow);

  auto* targetRow = new QHBoxLayout();
  m_targetEdit = new QLineEdit(this);
  m_targetEdit->setObjectName("exportTargetEdit");
  m_targetEdit->setToolTip(
      tr("The folder to write; a folder that is not empty is replaced only after you confirm"));
  m_browseButton = new QPushButton(tr("Browse…"), this);
  m_browseButton->setObjectName("browseTargetButton");
  m_browseButton->setToolTip(tr("Choose the target folder"));
  targetRow->addWidget(m_targetEdit, 1);
  targetRow->addWidget(m_browseButton);
  form->addRow(tr("Folder"), targetRow);

  m_exportButton = new QPushButton(tr("Export"), this);
  m_exportButton->setObjectName("exportButton");
  m_exportButton->setToolTip(
      tr("Write the export, then re-load it and compare its logits with the trained model's"));
  layout->addWidget(m_exportButton, 0, Qt::AlignLeft);

  m_progressBar = new QProgressBar(this);
  m_progressBar->setObjectName("exportProgress");
  m_progressBar->setRange(0, 100);
  m_progressBar->setValue(0);
  m_progressBar->setToolTip(tr("Progress of the export and its verification"));
  layout->addWidget(m_progressBar);
  m_statusLabel = new QLabel(this);
  m_statusLabel->setObjectName("exportStatus");
  m_statusLabel->setWordWrap(true);
  m_statusLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(m_statusLabel);

  auto* verification = new QGroupBox(tr("Verification"), this);
  auto* verificationLayout = new QVBoxLayout(verification);
  m_verificationLabel = new QLabel(tr("No export yet."), verification);
  m_verificationLabel->setObjectName("verificationLabel");
  m_verificationLabel->setWordWrap(true);
  m_verificationLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_verificationLabel->setToolTip(
      tr("The largest difference between the logits of the re-loaded export and of the "
         "trained model on fixed prompts; flagged when beyond tolerance"));
  verificationLayout->addWidget(m_verificationLabel);
  layout->addWidget(verification);
  layout->addStretch(1);

  if (m_context.settings != nullptr) {
    m_targetEdit->setText(m_context.settings->pageValue(kTargetKey).toString());
    if (m_context.settings->pageValue(kKindKey).toString() == "merged") m_mergedRadio->setChecked(true);
  }

  connect(m_refreshButton, &QPushButton::clicked, this, &ExportPage::refreshRuns);
  connect(m_exportButton, &QPushButton::clicked, this, &ExportPage::startExport);
  connect(m_browseButton, &QPushButton::clicked, this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Export folder"), m_targetEdit->text());
    if (!dir.isEmpty()) m_targetEdit->setText(dir);
  });
  connect(m_runCombo, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] { updateControls(); });
  connect(m_targetEdit, &QLineEdit::textChanged, this, [this] { updateControls(); });
  m_progressTimer.setInterval(150);
  connect(&m_progressTimer, &QTimer::timeout, this, [this] {
    if (!m_progress) return;
    std::lock_guard<std::mutex> lock(m_progress->mutex);
    m_progressBar->setValue(static_cast<int>(m_progress->fraction * 100.0 + 0.5));
    if (!m_progress->message.isEmpty()) m_statusLabel->setText(m_progress->message);
  });
  if (m_context.controller != nullptr) {
    // A run that just ended has a new checkpoint to export.
    connect(m_context.controller, &TrainingController::runFinished, this, [this] { refreshRuns(); });
  }
  updateControls();
}

void ExportPage::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  if (!m_loadedOnce) {
    m_loadedOnce = true;
    refreshRuns();
  }
}

ExportPage::~ExportPage() {
  // The workers hold only shared state (the progress, their own copies): they finish on their own,
  // and their results, delivered after this page has gone, are dropped (BackgroundTask).
}

void ExportPage::refreshRuns() {
  if (m_loadingRuns) return;
  m_loadingRuns = true;
  const std::string storePath = m_context.paths.runStorePath.toStdString();
  m_refreshButton->setEnabled(false);
  BackgroundTask::run(
      nullptr, this,
      [storePath] {
        QVector<RunEntry> entries;
        try {
          RunStore store(storePath);
          for (const RunInfo& info : store.listRuns()) {
            if (info.status == RunStatus::Running || !latestCheckpointIn(info.outputDir)) continue;
            RunEntry e;
            e.id = info.id;
            e.method = QString::fromStdString(info.method);
            e.label =
                QStringLiteral("%1 · %2 · %3").arg(info.id).arg(QString::fromStdString(info.name), e.method);
            e.configText = QString::fromStdString(info.configText);
            entries.push_back(e);
          }
        } catch (const std::exception&) {
          entries.clear(); // no store yet: no runs
        }
        return entries;
      },
      [this](const QVector<RunEntry>& runs) {
        m_loadingRuns = false;
        showRuns(runs);
      });
}

void ExportPage::showRuns(const QVector<RunEntry>& runs) {
  const QVariant selected = m_runCombo->currentData();
  m_runs = runs;
  m_runCombo->clear();
  for (const RunEntry& run : runs)
    m_runCombo->addItem(run.label, run.id);
  const int index = m_runCombo->findData(selected);
  if (index >= 0) m_runCombo->setCurrentIndex(index);
  m_refreshButton->setEnabled(true);
  if (runs.isEmpty())
    m_statusLabel->setText(tr("No run with a checkpoint yet: train one on the Train page."));
  updateControls();
  Q_EMIT runsLoaded(runs.size());
}

void ExportPage::updateControls() {
  const bool ready = !m_busy && m_runCombo->currentIndex() >= 0 && !m_targetEdit->text().trimmed().isEmpty();
  m_exportButton->setEnabled(ready);
  m_runCombo->setEnabled(!m_busy);
  m_adapterRadio->setEnabled(!m_busy);
  m_mergedRadio->setEnabled(!m_busy);
  m_targetEdit->setEnabled(!m_busy);
  m_browseButton->setEnabled(!m_busy);
}

void ExportPage::startExport() {
  if (m_busy || m_confirmBox != nullptr) return;
  const int index = m_runCombo->currentIndex();
  const QString target = QDir::cleanPath(m_targetEdit->text().trimmed());
  if (index < 0 || index >= m_runs.size() || target.isEmpty()) {
    m_statusLabel->setText(tr("Choose a run and a target folder first."));
    return;
  }
  const RunEntry run = m_runs[index];
  ExportOptions options;
  options.kind = m_mergedRadio->isChecked() ? ExportKind::Merged : ExportKind::Adapter;
  options.targetDir = target.toStdString();
  if (m_context.settings != nullptr) {
    m_context.settings->setPageValue(kTargetKey, target);
    m_context.settings->setPageValue(kKindKey, options.kind == ExportKind::Merged ? "merged" : "adapter");
  }
  // A file in the way is refused by the export itself (with its reason); only a non-empty
  // folder asks.
  if (!needsForce(options.targetDir) || !QFileInfo(target).isDir()) {
    launch(run, options);
    return;
  }
  // Window-modal, not a nested event loop: the answer arrives through finished().
  m_confirmBox =
      new QMessageBox(QMessageBox::Warning, tr("Replace folder?"),
                      tr("%1 is not empty. Replace its whole content with the export?").arg(target),
                      QMessageBox::Yes | QMessageBox::Cancel, this);
  m_confirmBox->setObjectName("confirmReplaceBox");
  m_confirmBox->setDefaultButton(QMessageBox::Cancel);
  m_confirmBox->setAttribute(Qt::WA_DeleteOnClose);
  connect(m_confirmBox, &QMessageBox::finished, this, [this, run, options](int result) mutable {
    m_confirmBox = nullptr;
    if (result != QMessageBox::Yes) {
      m_statusLabel->setText(tr("Export cancelled: the folder was left as it was."));
      return;
    }
    options.force = true;
    launch(run, options);
  });
  m_confirmBox->open();
}

void ExportPage::launch(const RunEntry& run, ExportOptions options) {
  m_busy = true;
  updateControls();
  m_progressBar->setValue(0);
  m_statusLabel->setText(tr("Exporting run %1…").arg(run.id));
  m_verificationLabel->setText(tr("Verifying after writing…"));
  m_progress = std::make_shared<Progress>();
  m_progressTimer.start();
  options.runDetails["run_id"] = std::to_string(run.id);
  const std::shared_ptr<Progress> progress = m_progress;
  const std::string configText = run.configText.toStdString();
  const qint64 runId = run.id;
  BackgroundTask::run(
      nullptr, this,
      [progress, configText, runId, options] {
        class Relay : public ExportObserver {
        public:
          explicit Relay(std::shared_ptr<Progress> p) : m_p(std::move(p)) {}
          void onProgress(const std::string& message, double fraction) override {
            std::lock_guard<std::mutex> lock(m_p->mutex);
            m_p->message = QString::fromStdString(message);
            m_p->fraction = fraction;
          }

        private:
          std::shared_ptr<Progress> m_p;
        };
        Outcome outcome;
        try {
          const RunConfig config = parseRunConfig(configText, "run " + std::to_string(runId) + " config");
          Relay relay(progress);
          outcome.result = exportRun(config, options, &relay);
          outcome.ok = true;
        } catch (const std::exception& e) {
          outcome.error = QString::fromStdString(e.what());
        }
        return outcome;
      },
      [this](const Outcome& outcome) { showOutcome(outcome); });
}

void ExportPage::showOutcome(const Outcome& outcome) {
  m_progressTimer.stop();
  m_busy = false;
  updateControls();
  if (!outcome.ok) {
    m_progressBar->setValue(0);
    m_statusLabel->setText(tr("Export failed: %1").arg(outcome.error));
    m_verificationLabel->setText(tr("No export written."));
    Q_EMIT exportFinished(false);
    return;
  }
  m_progressBar->setValue(100);
  m_statusLabel->setText(tr("Written: %1 (%2)")
                             .arg(QString::fromStdString(outcome.result.directory))
                             .arg(QString::fromStdString([&] {
                               std::string files;
                               for (const std::string& f : outcome.result.files)
                                 files += (files.empty() ? "" : ", ") + f;
                               return files;
                             }())));
  const ExportVerification& v = outcome.result.verification;
  QString verdict;
  if (v.withinTolerance) {
    verdict = tr("ok");
  } else if (v.lowPrecisionRounding) {
    verdict = tr("⚠ beyond tolerance (expected: bf16/fp16 rounding)");
  } else {
    verdict = tr("⚠ BEYOND TOLERANCE");
  }
  m_verificationLabel->setText(tr("max |Δlogit| %1 over %2 prompts (tolerance %3): %4\n%5")
                                   .arg(v.maxAbsLogitDiff, 0, 'g', 3)
                                   .arg(v.prompts)
                                   .arg(v.tolerance, 0, 'g', 3)
                                   .arg(verdict, QString::fromStdString(v.note)));
  m_verificationLabel->setProperty("flagged", !v.withinTolerance);
  QFont font = m_verificationLabel->font();
  font.setBold(!v.withinTolerance);
  m_verificationLabel->setFont(font);
  Q_EMIT exportFinished(true);
}

} // namespace lorafa::ui
