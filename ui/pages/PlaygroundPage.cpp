#include "PlaygroundPage.h"

#include "BackgroundTask.h"
#include "RunDraft.h"
#include "StudioContext.h"
#include "StudioSettings.h"
#include "TrainingController.h"
#include "widgets/RunInference.h"
#include "widgets/RunStoreAccess.h"

#include "lorafa/RunConfig.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTimer>
#include <QVBoxLayout>

namespace lorafa::ui {
namespace {

constexpr int kConfigRole = Qt::UserRole + 1;
constexpr int kCheckpointRole = Qt::UserRole + 2;

struct RunChoice {
  qint64 id = 0;
  QString label;
  QString configText;
  QString checkpoint;
};

QPlainTextEdit* makeOutput(QWidget* parent, const char* objectName, const QString& tip) {
  auto* edit = new QPlainTextEdit(parent);
  edit->setObjectName(objectName);
  edit->setReadOnly(true);
  edit->setToolTip(tip);
  return edit;
}

} // namespace

PlaygroundPage::PlaygroundPage(StudioContext& context, QWidget* parent)
    : QWidget(parent), m_context(context),
      m_store(std::make_shared<RunStoreAccess>(context.paths.runStorePath)),
      m_inference(std::make_shared<RunInference>()) {
  setObjectName("playgroundPage");
  m_storePool.setMaxThreadCount(1);
  m_modelPool.setMaxThreadCount(1);
  m_modelPool.setExpiryTimeout(-1); // a TrainingSession stays on the thread that set it up

  m_runCombo = new QComboBox(this);
  m_runCombo->setObjectName("runCombo");
  m_runCombo->setToolTip(tr("The run whose adapter (its newest checkpoint) answers next to the base model; "
                            "\"Base model only\" uses the model of the current settings"));
  m_runCombo->addItem(tr("Base model only (current settings)"), qint64(0));

  m_prompt = new QPlainTextEdit(this);
  m_prompt->setObjectName("promptEdit");
  m_prompt->setPlaceholderText(tr("Type a prompt; both models continue it"));
  m_prompt->setToolTip(tr("The text both models continue (the instruction, with \"Format as instruction\")"));
  m_instruction = new QCheckBox(tr("Format as instruction"), this);
  m_instruction->setObjectName("instructionCheck");
  m_instruction->setToolTip(
      tr("Write the prompt as an instruction with the run's chat template (dataset.template, "
         "else the tokenizer's, else Alpaca), ending where the answer starts - as the run "
         "was trained. Off: the prompt is continued as raw text."));
  m_input = new QLineEdit(this);
  m_input->setObjectName("instructionInputEdit");
  m_input->setPlaceholderText(tr("Input of the instruction (optional)"));
  m_input->setToolTip(tr("The instruction's input field (Alpaca \"input\"), e.g. the text to work on"));
  m_input->setEnabled(false);
  connect(m_instruction, &QCheckBox::toggled, m_input, &QLineEdit::setEnabled);

  m_maxTokens = new QSpinBox(this);
  m_maxTokens->setObjectName("maxTokensSpin");
  m_maxTokens->setRange(1, 2048);
  m_maxTokens->setValue(32);
  m_maxTokens->setToolTip(
      tr("Generation stops after this many new tokens, or earlier at the end-of-text token"));
  m_temperature = new QDoubleSpinBox(this);
  m_temperature->setObjectName("temperatureSpin");
  m_temperature->setRange(0.0, 2.0);
  m_temperature->setSingleStep(0.1);
  m_temperature->setDecimals(2);
  m_temperature->setValue(0.0);
  m_temperature->setToolTip(
      tr("0: greedy (always the likeliest token, repeatable); higher: more varied sampling"));
  m_seed = new QSpinBox(this);
  m_seed->setObjectName("seedSpin");
  m_seed->setRange(0, 1'000'000);
  m_seed->setToolTip(tr("Sampling seed, the same for both models (used when the temperature is above 0)"));

  m_generate = new QPushButton(tr("Generate"), this);
  m_generate->setObjectName("generateButton");
  m_generate->setToolTip(tr("Continue the prompt with the base model and with base + adapter (Ctrl+Return)"));
  m_generate->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
  connect(m_generate, &QPushButton::clicked, this, &PlaygroundPage::generate);
  m_busyBar = new QProgressBar(this);
  m_busyBar->setObjectName("playgroundBusy");
  m_busyBar->setRange(0, 0);
  m_busyBar->setMaximumWidth(120);
  m_busyBar->setVisible(false);
  m_status = new QLabel(this);
  m_status->setObjectName("playgroundStatus");
  m_status->setWordWrap(true);
  m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);

  m_baseOutput = makeOutput(this, "baseOutput", tr("The base model's continuation"));
  m_adapterOutput =
      makeOutput(this, "adapterOutput", tr("The continuation of the base model with the run's adapter"));

  auto* settings = new QFormLayout;
  settings->addRow(tr("Run:"), m_runCombo);
  settings->addRow(tr("Max new tokens:"), m_maxTokens);
  settings->addRow(tr("Temperature:"), m_temperature);
  settings->addRow(tr("Seed:"), m_seed);
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(m_instruction);
  buttons->addWidget(m_input, 1);
  buttons->addWidget(m_busyBar);
  buttons->addWidget(m_generate);
  auto* outputs = new QGridLayout;
  outputs->addWidget(new QLabel(tr("Base model"), this), 0, 0);
  outputs->addWidget(new QLabel(tr("Base + adapter"), this), 0, 1);
  outputs->addWidget(m_baseOutput, 1, 0);
  outputs->addWidget(m_adapterOutput, 1, 1);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(settings);
  layout->addWidget(m_prompt, 1);
  layout->addLayout(buttons);
  layout->addWidget(m_status);
  layout->addLayout(outputs, 2);

  // The last choices come back with the page; the run once the store lists it again.
  if (StudioSettings* s = m_context.settings) {
    m_maxTokens->setValue(s->pageValue("playground/maxNewTokens", m_maxTokens->value()).toInt());
    m_temperature->setValue(s->pageValue("playground/temperature", m_temperature->value()).toDouble());
    m_seed->setValue(s->pageValue("playground/seed", m_seed->value()).toInt());
    m_instruction->setChecked(s->pageValue("playground/asInstruction", false).toBool());
    m_input->setText(s->pageValue("playground/input").toString());
    m_prompt->setPlainText(s->pageValue("playground/prompt").toString());
    m_wantedRunId = s->pageValue("playground/runId", qint64(0)).toLongLong();
    connect(m_maxTokens, &QSpinBox::valueChanged, this,
            [s](int v) { s->setPageValue("playground/maxNewTokens", v); });
    connect(m_temperature, &QDoubleSpinBox::valueChanged, this,
            [s](double v) { s->setPageValue("playground/temperature", v); });
    connect(m_seed, &QSpinBox::valueChanged, this, [s](int v) { s->setPageValue("playground/seed", v); });
    connect(m_instruction, &QCheckBox::toggled, this,
            [s](bool on) { s->setPageValue("playground/asInstruction", on); });
    connect(m_runCombo, &QComboBox::currentIndexChanged, this, [this, s] {
      m_wantedRunId = m_runCombo->currentData().toLongLong();
      s->setPageValue("playground/runId", m_wantedRunId);
    });
  }

  m_timer = new QTimer(this);
  m_timer->setInterval(kRefreshIntervalMs);
  connect(m_timer, &QTimer::timeout, this, [this] {
    if (isVisible()) refreshRuns();
  });
  m_timer->start();
  if (m_context.controller != nullptr) {
    connect(m_context.controller, &TrainingController::runFinished, this, [this] { refreshRuns(); });
  }
}

PlaygroundPage::~PlaygroundPage() {
  m_storePool.clear();
  m_modelPool.clear();
  m_storePool.waitForDone();
  m_modelPool.waitForDone();
}

void PlaygroundPage::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  refreshRuns();
}

void PlaygroundPage::refreshRuns() {
  if (m_refreshing) return;
  m_refreshing = true;
  BackgroundTask::run(
      &m_storePool, this,
      [store = m_store] {
        QVector<RunChoice> choices;
        try {
          for (const RunRow& r : store->rows()) {
            if (r.checkpoint.isEmpty()) continue;
            const QString rank = r.rank ? QStringLiteral(" r%1").arg(*r.rank) : QString();
            choices.push_back(
                {r.id,
                 QStringLiteral("%1 (#%2, %3%4, %5)").arg(r.name).arg(r.id).arg(r.method, rank, r.status),
                 r.configText, r.checkpoint});
          }
        } catch (const std::exception&) {
          // An unreadable store lists no runs; the base model still works.
        }
        return choices;
      },
      [this](const QVector<RunChoice>& choices) {
        m_refreshing = false;
        // Rebuild only when the list changed, keeping the chosen run.
        bool same = m_runCombo->count() == choices.size() + 1;
        for (int i = 0; same && i < choices.size(); ++i) {
          same = m_runCombo->itemData(i + 1).toLongLong() == choices[i].id &&
                 m_runCombo->itemText(i + 1) == choices[i].label &&
                 m_runCombo->itemData(i + 1, kCheckpointRole).toString() == choices[i].checkpoint;
        }
        if (same) return;
        const qint64 current =
            m_runCombo->currentIndex() > 0 ? m_runCombo->currentData().toLongLong() : m_wantedRunId;
        m_runCombo->blockSignals(true);
        while (m_runCombo->count() > 1)
          m_runCombo->removeItem(1);
        for (const RunChoice& c : choices) {
          m_runCombo->addItem(c.label, c.id);
          m_runCombo->setItemData(m_runCombo->count() - 1, c.configText, kConfigRole);
          m_runCombo->setItemData(m_runCombo->count() - 1, c.checkpoint, kCheckpointRole);
          m_runCombo->setItemData(m_runCombo->count() - 1, tr("Checkpoint: %1").arg(c.checkpoint),
                                  Qt::ToolTipRole);
        }
        const int index = m_runCombo->findData(current);
        m_runCombo->setCurrentIndex(index < 0 ? 0 : index);
        m_runCombo->blockSignals(false);
      });
}

void PlaygroundPage::setBusy(bool busy, const QString& status) {
  m_busy = busy;
  m_generate->setEnabled(!busy);
  m_runCombo->setEnabled(!busy);
  m_busyBar->setVisible(busy);
  m_status->setText(status);
}

void PlaygroundPage::generate() {
  if (m_busy) return;
  const QString prompt = m_prompt->toPlainText();
  if (prompt.trimmed().isEmpty()) {
    m_status->setText(tr("Type a prompt first."));
    return;
  }
  if (StudioSettings* s = m_context.settings) {
    s->setPageValue("playground/prompt", prompt);
    s->setPageValue("playground/input", m_input->text());
  }
  const qint64 runId = m_runCombo->currentData().toLongLong();
  const QString configText = m_runCombo->currentData(kConfigRole).toString();
  const QString checkpoint = m_runCombo->currentData(kCheckpointRole).toString();
  GenerationRequest request;
  request.runId = runId;
  if (runId == 0 && m_context.draft != nullptr) request.config = m_context.draft->config();
  request.checkpoint = checkpoint.toStdString();
  request.prompt = prompt.toStdString();
  request.asInstruction = m_instruction->isChecked();
  request.input = m_input->text().toStdString();
  request.maxNewTokens = m_maxTokens->value();
  request.temperature = m_temperature->value();
  request.seed = static_cast<std::uint64_t>(m_seed->value());

  setBusy(true, runId == 0 ? tr("Loading the base model and generating…")
                           : tr("Loading run %1 (base and adapter) and generating…").arg(runId));
  BackgroundTask::run(
      &m_modelPool, this,
      [inference = m_inference, request, configText]() mutable {
        if (request.runId > 0) {
          try {
            request.config = parseRunConfig(configText.toStdString(),
                                            "run " + std::to_string(request.runId) + " config.json");
          } catch (const std::exception& e) {
            GenerationResult failed;
            failed.error = QString::fromStdString(e.what());
            return failed;
          }
        }
        return inference->generate(request);
      },
      [this](const GenerationResult& result) {
        if (!result.error.isEmpty()) {
          setBusy(false, tr("Generation failed: %1").arg(result.error));
          return;
        }
        m_baseOutput->setPlainText(result.base);
        if (result.hasAdapter) {
          m_adapterOutput->setPlainText(result.adapter);
        } else {
          m_adapterOutput->clear();
          m_adapterOutput->setPlaceholderText(tr("No run chosen: the base model only."));
        }
        QString status = tr("Done.");
        if (result.base.isEmpty() || (result.hasAdapter && result.adapter.isEmpty())) {
          status += QLatin1Char(' ') + tr("An empty output means the model ended the text at once.");
        }
        setBusy(false, status);
        m_status->setToolTip(tr("Prompt sent:\n%1").arg(result.sentPrompt));
      });
}

} // namespace lorafa::ui
