#include "DataPage.h"

#include "BackgroundTask.h"
#include "RunDraft.h"
#include "StudioContext.h"
#include "StudioSettings.h"
#include "widgets/DatasetPreviewModel.h"
#include "widgets/DatasetSegmentDelegate.h"
#include "widgets/TokenHistogram.h"

#include "lorafa/ChatTemplate.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

namespace lorafa::ui {

namespace {

const DatasetFormat kFormats[] = {DatasetFormat::Alpaca, DatasetFormat::Chat, DatasetFormat::PlainText,
                                  DatasetFormat::Classification, DatasetFormat::SourceTarget};
const ChatTemplateKind kTemplates[] = {
    ChatTemplateKind::ChatML,        ChatTemplateKind::Qwen3,     ChatTemplateKind::Llama3,
    ChatTemplateKind::Llama31,       ChatTemplateKind::MistralV1, ChatTemplateKind::MistralV3,
    ChatTemplateKind::MistralTekken, ChatTemplateKind::Gemma,     ChatTemplateKind::Phi3,
    ChatTemplateKind::Phi4Mini,      ChatTemplateKind::Alpaca,    ChatTemplateKind::Plain};

QString formatTitle(DatasetFormat format) {
  switch (format) {
  case DatasetFormat::Auto: return DataPage::tr("auto (detect)");
  case DatasetFormat::Alpaca: return DataPage::tr("alpaca (instruction, input, output)");
  case DatasetFormat::Chat: return DataPage::tr("chat (messages / conversations)");
  case DatasetFormat::PlainText: return DataPage::tr("text (plain documents)");
  case DatasetFormat::Classification: return DataPage::tr("classification (text, label)");
  case DatasetFormat::SourceTarget: return DataPage::tr("source-target (pairs)");
  }
  return {};
}

QString fileFilter() {
  return DataPage::tr(
      "Datasets (*.jsonl *.ndjson *.json *.csv *.tsv *.tab *.txt *.text *.md);;All files (*)");
}

QString count(std::int64_t value) { return QLocale().toString(static_cast<qlonglong>(value)); }

/// "1 example", "1,942 examples".
QString examples(std::int64_t value, const QString& noun = QStringLiteral("example")) {
  return QStringLiteral("%1 %2%3").arg(count(value), noun, value == 1 ? QString() : QStringLiteral("s"));
}

bool isLocalFileDrop(const QMimeData* mime) {
  if (mime == nullptr || !mime->hasUrls()) return false;
  const QList<QUrl> urls = mime->urls();
  return !urls.isEmpty() && urls.first().isLocalFile();
}

} // namespace

bool DataPage::AnalysisKey::operator==(const AnalysisKey& other) const {
  const DatasetConfig& a = dataset;
  const DatasetConfig& b = other.dataset;
  return a.path == b.path && a.format == b.format && a.chatTemplate == b.chatTemplate &&
         a.textColumn == b.textColumn && a.labelColumn == b.labelColumn && a.sourceColumn == b.sourceColumn &&
         a.targetColumn == b.targetColumn && a.trainOnPrompt == b.trainOnPrompt &&
         tokenizerPath == other.tokenizerPath && modelPath == other.modelPath;
}

DataPage::DataPage(StudioContext& context, QWidget* parent) : QWidget(parent), m_context(context) {
  setObjectName("dataPage");
  setAcceptDrops(true);
  buildUi();
  connect(m_context.draft, &RunDraft::changed, this, &DataPage::syncFromDraft);
  syncFromDraft();
}

DataPage::~DataPage() {
  // Work still running finishes on its own thread; tell it to stop early. Its result has nowhere
  // to go: the watchers are children of this page.
  if (m_cancel) m_cancel->store(true);
  // Deleting the children (after this body) takes the focus off a path field, and QLineEdit then
  // emits editingFinished into this page's slots while the page is only a QWidget any more
  // (UBSan: member access on a destroyed DataPage). Nothing typed is applied by closing the page.
  m_pathEdit->disconnect(this);
  m_evalPathEdit->disconnect(this);
}

void DataPage::buildUi() {
  auto* layout = new QVBoxLayout(this);

  // The file.
  auto* fileRow = new QHBoxLayout;
  auto* fileLabel = new QLabel(tr("&Dataset:"), this);
  m_pathEdit = new QLineEdit(this);
  m_pathEdit->setObjectName("datasetPathEdit");
  m_pathEdit->setPlaceholderText(tr("A .jsonl, .json, .csv, .tsv or .txt file (or drop one on this page)"));
  m_pathEdit->setToolTip(
      tr("The training data file. Type a path and press Enter, use Browse…, or drop a file on "
         "this page."));
  m_pathEdit->setClearButtonEnabled(true);
  fileLabel->setBuddy(m_pathEdit);
  m_browseButton = new QPushButton(tr("&Browse…"), this);
  m_browseButton->setObjectName("datasetBrowseButton");
  m_browseButton->setToolTip(tr("Choose the training data file (JSON Lines, JSON, CSV, TSV or text)"));
  m_busyBar = new QProgressBar(this);
  m_busyBar->setObjectName("dataBusy");
  m_busyBar->setRange(0, 0);
  m_busyBar->setMaximumWidth(120);
  m_busyBar->setTextVisible(false);
  m_busyBar->setToolTip(tr("Reading and tokenizing the dataset"));
  m_busyBar->hide();
  fileRow->addWidget(fileLabel);
  fileRow->addWidget(m_pathEdit, 1);
  fileRow->addWidget(m_browseButton);
  fileRow->addWidget(m_busyBar);
  layout->addLayout(fileRow);

  m_errorLabel = new QLabel(this);
  m_errorLabel->setObjectName("dataErrorLabel");
  m_errorLabel->setWordWrap(true);
  m_errorLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_errorLabel->setForegroundRole(QPalette::Link);
  m_errorLabel->hide();
  layout->addWidget(m_errorLabel);

  // Format, template, columns.
  auto* formatForm = new QFormLayout;
  m_detectedLabel = new QLabel(tr("—"), this);
  m_detectedLabel->setObjectName("detectedFormatLabel");
  m_detectedLabel->setToolTip(
      tr("What the file looks like: its layout (from the extension) and the format of its "
         "first record"));
  formatForm->addRow(tr("Detected:"), m_detectedLabel);
  m_formatCombo = new QComboBox(this);
  m_formatCombo->setObjectName("formatCombo");
  m_formatCombo->addItem(formatTitle(DatasetFormat::Auto),
                         QString::fromLatin1(toString(DatasetFormat::Auto)));
  for (DatasetFormat format : kFormats) {
    m_formatCombo->addItem(formatTitle(format), QString::fromLatin1(toString(format)));
  }
  m_formatCombo->setToolTip(
      tr("How the records are read: auto uses the detected format; choose another to "
         "override it (e.g. text for a file with a text column you want as plain documents)"));
  formatForm->addRow(tr("&Format:"), m_formatCombo);
  auto* templateRow = new QHBoxLayout;
  m_templateCombo = new QComboBox(this);
  m_templateCombo->setObjectName("templateCombo");
  m_templateCombo->addItem(tr("auto (the tokenizer's, else the format's default)"), QString());
  for (ChatTemplateKind kind : kTemplates) {
    m_templateCombo->addItem(QString::fromLatin1(toString(kind)), QString::fromLatin1(toString(kind)));
  }
  m_templateCombo->setToolTip(tr("The chat template that writes instruction, chat and pair records as text: "
                                 "auto takes the one in the model's tokenizer_config.json, else Alpaca for "
                                 "instruction data and plain otherwise"));
  m_templateNote = new QLabel(this);
  m_templateNote->setObjectName("templateNote");
  m_templateNote->setWordWrap(true);
  templateRow->addWidget(m_templateCombo);
  templateRow->addWidget(m_templateNote, 1);
  auto* templateLabel = new QLabel(tr("Chat &template:"), this);
  templateLabel->setBuddy(m_templateCombo);
  formatForm->addRow(templateLabel, templateRow);
  layout->addLayout(formatForm);

  m_columnsBox = new QGroupBox(tr("Columns"), this);
  m_columnsBox->setObjectName("columnsGroup");
  m_columnsBox->setToolTip(tr("Which columns (CSV/TSV header) or keys (JSON) hold what"));
  m_columnsForm = new QFormLayout(m_columnsBox);
  const auto makeColumnCombo = [this](const char* name, const QString& tip) {
    auto* combo = new QComboBox(m_columnsBox);
    combo->setObjectName(name);
    combo->setToolTip(tip);
    combo->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    return combo;
  };
  m_textColumnCombo =
      makeColumnCombo("textColumnCombo", tr("The column with the text (classification, plain text)"));
  m_labelColumnCombo =
      makeColumnCombo("labelColumnCombo", tr("The column with the class label (classification)"));
  m_sourceColumnCombo = makeColumnCombo("sourceColumnCombo", tr("The column with the source text (pairs)"));
  m_targetColumnCombo = makeColumnCombo("targetColumnCombo", tr("The column with the target text (pairs)"));
  m_columnsForm->addRow(tr("Te&xt:"), m_textColumnCombo);
  m_columnsForm->addRow(tr("&Label:"), m_labelColumnCombo);
  m_columnsForm->addRow(tr("&Source:"), m_sourceColumnCombo);
  m_columnsForm->addRow(tr("Tar&get:"), m_targetColumnCombo);
  m_columnsBox->hide();
  layout->addWidget(m_columnsBox);

  m_tokenizerNote = new QLabel(this);
  m_tokenizerNote->setObjectName("tokenizerNote");
  m_tokenizerNote->setWordWrap(true);
  m_tokenizerNote->hide();
  layout->addWidget(m_tokenizerNote);
  m_warningLabel = new QLabel(this);
  m_warningLabel->setObjectName("dataWarningLabel");
  m_warningLabel->setWordWrap(true);
  m_warningLabel->hide();
  layout->addWidget(m_warningLabel);

  // Preview and histogram.
  auto* splitter = new QSplitter(Qt::Vertical, this);
  auto* previewBox = new QWidget(splitter);
  auto* previewLayout = new QVBoxLayout(previewBox);
  previewLayout->setContentsMargins(0, 0, 0, 0);
  m_legend = new QLabel(previewBox);
  m_legend->setObjectName("maskLegend");
  m_legend->setTextFormat(Qt::RichText);
  updateLegend();
  previewLayout->addWidget(m_legend);
  m_previewModel = new DatasetPreviewModel(this);
  m_previewTable = new QTableView(previewBox);
  m_previewTable->setObjectName("previewTable");
  m_previewTable->setModel(m_previewModel);
  m_previewTable->setItemDelegateForColumn(DatasetPreviewModel::TextColumn, new DatasetSegmentDelegate(this));
  m_previewTable->setWordWrap(true);
  m_previewTable->setAlternatingRowColors(true);
  m_previewTable->setSelectionBehavior(QAbstractItemView::SelectRows);
  m_previewTable->verticalHeader()->hide();
  m_previewTable->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  m_previewTable->horizontalHeader()->setSectionResizeMode(DatasetPreviewModel::TextColumn,
                                                           QHeaderView::Stretch);
  m_previewTable->verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  m_previewTable->setToolTip(tr("The first examples as the model sees them, with their token counts"));
  previewLayout->addWidget(m_previewTable);

  auto* lowerBox = new QWidget(splitter);
  auto* lowerLayout = new QHBoxLayout(lowerBox);
  lowerLayout->setContentsMargins(0, 0, 0, 0);
  auto* histogramBox = new QVBoxLayout;
  m_histogram = new TokenHistogram(lowerBox);
  m_histogram->setObjectName("lengthHistogram");
  histogramBox->addWidget(m_histogram, 1);
  m_statsLabel = new QLabel(lowerBox);
  m_statsLabel->setObjectName("statsLabel");
  m_statsLabel->setWordWrap(true);
  m_truncationLabel = new QLabel(lowerBox);
  m_truncationLabel->setObjectName("truncationLabel");
  m_truncationLabel->setWordWrap(true);
  histogramBox->addWidget(m_statsLabel);
  histogramBox->addWidget(m_truncationLabel);
  lowerLayout->addLayout(histogramBox, 3);

  // Split settings.
  auto* splitBox = new QGroupBox(tr("Split and rows"), lowerBox);
  splitBox->setObjectName("splitGroup");
  auto* splitForm = new QFormLayout(splitBox);
  m_validationSpin = new QDoubleSpinBox(splitBox);
  m_validationSpin->setObjectName("validationSpin");
  m_validationSpin->setRange(0.0, 0.5);
  m_validationSpin->setSingleStep(0.05);
  m_validationSpin->setDecimals(2);
  m_validationSpin->setToolTip(
      tr("The share of the dataset held out to evaluate on (0: none). Not used when an "
         "evaluation file is given."));
  splitForm->addRow(tr("&Validation fraction:"), m_validationSpin);
  auto* evalRow = new QHBoxLayout;
  m_evalPathEdit = new QLineEdit(splitBox);
  m_evalPathEdit->setObjectName("evalPathEdit");
  m_evalPathEdit->setPlaceholderText(tr("none: split the dataset"));
  m_evalPathEdit->setClearButtonEnabled(true);
  m_evalPathEdit->setToolTip(
      tr("A separate evaluation file (same format and columns), evaluated whole instead of "
         "a validation split; empty: use the validation fraction"));
  m_evalBrowseButton = new QPushButton(tr("Br&owse…"), splitBox);
  m_evalBrowseButton->setObjectName("evalBrowseButton");
  m_evalBrowseButton->setToolTip(tr("Choose a separate evaluation file"));
  evalRow->addWidget(m_evalPathEdit, 1);
  evalRow->addWidget(m_evalBrowseButton);
  auto* evalLabel = new QLabel(tr("&Evaluation file:"), splitBox);
  evalLabel->setBuddy(m_evalPathEdit);
  splitForm->addRow(evalLabel, evalRow);
  m_evalInfo = new QLabel(splitBox);
  m_evalInfo->setObjectName("evalInfoLabel");
  m_evalInfo->setWordWrap(true);
  m_evalInfo->hide();
  splitForm->addRow(m_evalInfo);
  m_trainOnPromptCheck = new QCheckBox(tr("Train on the &prompt too"), splitBox);
  m_trainOnPromptCheck->setObjectName("trainOnPromptCheck");
  m_trainOnPromptCheck->setToolTip(
      tr("Count the prompt's tokens in the loss as well (off: only the responses are "
         "trained on, the prompt is masked)"));
  m_packingCheck = new QCheckBox(tr("P&ack examples into full rows"), splitBox);
  m_packingCheck->setObjectName("packingCheck");
  m_packingCheck->setToolTip(
      tr("Concatenate examples into rows of exactly the max length (attention stays inside "
         "each example): fewer padding tokens, faster epochs. Causal language models only."));
  splitForm->addRow(m_trainOnPromptCheck);
  splitForm->addRow(m_packingCheck);
  lowerLayout->addWidget(splitBox, 2);

  splitter->addWidget(previewBox);
  splitter->addWidget(lowerBox);
  splitter->setStretchFactor(0, 3);
  splitter->setStretchFactor(1, 2);
  splitter->setObjectName("dataSplitter");
  if (m_context.settings != nullptr) {
    // Where the user left the divider between preview and histogram.
    splitter->restoreState(m_context.settings->pageValue("data/splitter").toByteArray());
    connect(splitter, &QSplitter::splitterMoved, this,
            [this, splitter] { m_context.settings->setPageValue("data/splitter", splitter->saveState()); });
  }
  layout->addWidget(splitter, 1);

  // Widgets → draft. m_syncing keeps the draft → widgets direction from echoing back.
  connect(m_pathEdit, &QLineEdit::editingFinished, this, [this] {
    if (m_syncing) return;
    const QString path = m_pathEdit->text().trimmed();
    if (path.toStdString() != m_context.draft->config().dataset.path) openDataset(path);
  });
  connect(m_browseButton, &QPushButton::clicked, this, &DataPage::browseDataset);
  connect(m_formatCombo, &QComboBox::currentIndexChanged, this, [this] {
    if (m_syncing) return;
    const auto format = parseDatasetFormat(m_formatCombo->currentData().toString().toStdString());
    m_context.draft->edit([&](RunConfig& c) { c.dataset.format = format.value_or(DatasetFormat::Auto); });
  });
  connect(m_templateCombo, &QComboBox::currentIndexChanged, this, [this] {
    if (m_syncing) return;
    const std::string name = m_templateCombo->currentData().toString().toStdString();
    m_context.draft->edit([&](RunConfig& c) { c.dataset.chatTemplate = name; });
  });
  const auto bindColumn = [this](QComboBox* combo, std::string DatasetConfig::*field) {
    connect(combo, &QComboBox::currentIndexChanged, this, [this, combo, field] {
      if (m_syncing || combo->currentIndex() < 0) return;
      const std::string name = combo->currentData().toString().toStdString();
      if (m_context.draft->config().dataset.*field == name) return;
      m_context.draft->edit([&](RunConfig& c) { c.dataset.*field = name; });
    });
  };
  bindColumn(m_textColumnCombo, &DatasetConfig::textColumn);
  bindColumn(m_labelColumnCombo, &DatasetConfig::labelColumn);
  bindColumn(m_sourceColumnCombo, &DatasetConfig::sourceColumn);
  bindColumn(m_targetColumnCombo, &DatasetConfig::targetColumn);
  connect(m_validationSpin, &QDoubleSpinBox::valueChanged, this, [this](double value) {
    if (m_syncing) return;
    m_context.draft->edit([&](RunConfig& c) { c.dataset.validationFraction = value; });
  });
  connect(m_evalPathEdit, &QLineEdit::editingFinished, this, [this] {
    if (m_syncing) return;
    const std::string path = m_evalPathEdit->text().trimmed().toStdString();
    if (path == m_context.draft->config().dataset.evalPath) return;
    m_context.draft->edit([&](RunConfig& c) { c.dataset.evalPath = path; });
  });
  connect(m_evalBrowseButton, &QPushButton::clicked, this, &DataPage::browseEvalFile);
  connect(m_trainOnPromptCheck, &QCheckBox::toggled, this, [this](bool on) {
    if (m_syncing) return;
    m_context.draft->edit([&](RunConfig& c) { c.dataset.trainOnPrompt = on; });
  });
  connect(m_packingCheck, &QCheckBox::toggled, this, [this](bool on) {
    if (m_syncing) return;
    m_context.draft->edit([&](RunConfig& c) { c.dataset.packing = on; });
  });
}

void DataPage::openDataset(const QString& path) {
  const std::string value = QDir::fromNativeSeparators(path.trimmed()).toStdString();
  m_context.draft->edit([&](RunConfig& c) {
    // A format chosen for the previous file says nothing about this one: detect again.
    if (c.dataset.path != value) c.dataset.format = DatasetFormat::Auto;
    c.dataset.path = value;
  });
}

bool DataPage::isBusy() const { return m_analysisInFlight || m_recountInFlight || m_evalInFlight; }

DataPage::AnalysisKey DataPage::currentKey() const {
  const RunConfig& c = m_context.draft->config();
  AnalysisKey key;
  key.dataset = c.dataset;
  key.tokenizerPath = QString::fromStdString(c.tokenizerPath.empty() ? c.modelPath : c.tokenizerPath);
  key.modelPath = QString::fromStdString(c.modelPath);
  return key;
}

DatasetFormat DataPage::formatInUse() const {
  const DatasetConfig& d = m_context.draft->config().dataset;
  if (d.format != DatasetFormat::Auto) return d.format;
  if (m_analysis && m_analysis->request.dataset.path == d.path) {
    if (m_analysis->dataset) return m_analysis->dataset->format;
    if (m_analysis->detection) return m_analysis->detection->format;
  }
  return DatasetFormat::Auto;
}

void DataPage::syncFromDraft() {
  const RunConfig& c = m_context.draft->config();
  const DatasetConfig& d = c.dataset;
  m_syncing = true;
  const QString path = QString::fromStdString(d.path);
  // Only a new value from the draft replaces the text: an unrelated change must not overwrite a
  // path being typed.
  if (path != m_shownPath) {
    m_pathEdit->setText(path);
    m_shownPath = path;
  }
  const int formatIndex = m_formatCombo->findData(QString::fromLatin1(toString(d.format)));
  if (formatIndex >= 0) m_formatCombo->setCurrentIndex(formatIndex);
  updateTemplateCombo();
  if (std::abs(m_validationSpin->value() - d.validationFraction) > 1e-9)
    m_validationSpin->setValue(d.validationFraction);
  const QString evalPath = QString::fromStdString(d.evalPath);
  if (evalPath != m_shownEvalPath) {
    m_evalPathEdit->setText(evalPath);
    m_shownEvalPath = evalPath;
  }
  m_validationSpin->setEnabled(d.evalPath.empty());
  m_trainOnPromptCheck->setChecked(d.trainOnPrompt);
  m_packingCheck->setChecked(d.packing);
  updateColumnCombos();
  m_syncing = false;

  updateEvalProblem();
  if (d.path.empty()) {
    m_context.draft->setProblem("data.path", tr("choose a dataset file on the Data page"));
  } else if (!m_analysis || m_analysis->request.dataset.path != d.path) {
    // A new file: nothing is known against it until its analysis lands.
    m_context.draft->setProblem("data.path", {});
  }
  updateWork();
}

void DataPage::updateEvalProblem() {
  const DatasetConfig& d = m_context.draft->config().dataset;
  QString problem;
  if (!d.evalPath.empty()) {
    const QFileInfo info(QString::fromStdString(d.evalPath));
    if (!info.exists())
      problem = tr("%1: no such evaluation file").arg(info.filePath());
    else if (!info.isFile() || !info.isReadable())
      problem = tr("%1: not a readable file").arg(info.filePath());
  }
  if (d.evalPath.empty() || !problem.isEmpty()) {
    ++m_evalGeneration; // whatever is in flight is stale
    m_evalInFlight = false;
    m_evalKey.clear();
    m_evalInfo->setText(d.evalPath.empty() ? QString() : problem);
    m_evalInfo->setVisible(!d.evalPath.empty());
    m_context.draft->setProblem("data.evalPath", problem);
    updateBusy();
    return;
  }

  // The file exists: read it as the trainer will, with the training set's format and labels.
  DatasetOptions options;
  options.format = d.format;
  options.textColumn = d.textColumn;
  options.labelColumn = d.labelColumn;
  options.sourceColumn = d.sourceColumn;
  options.targetColumn = d.targetColumn;
  if (m_analysis && m_analysis->dataset && m_analysis->request.dataset.path == d.path) {
    options.format = m_analysis->dataset->format;
    options.labelNames = m_analysis->dataset->labelNames;
  }
  const QString key =
      QStringList{QString::fromStdString(d.evalPath),        QString::fromLatin1(toString(options.format)),
                  QString::fromStdString(d.textColumn),      QString::fromStdString(d.labelColumn),
                  QString::fromStdString(d.sourceColumn),    QString::fromStdString(d.targetColumn),
                  QString::number(options.labelNames.size())}
          .join(QChar(0x1f));
  if (key == m_evalKey) return;
  m_evalKey = key;
  const std::uint64_t generation = ++m_evalGeneration;
  m_evalInFlight = true;
  updateBusy();
  const std::string path = d.evalPath;
  BackgroundTask::run(
      nullptr, this,
      [path, options]() -> QString {
        try {
          const Dataset eval = loadDataset(path, options);
          return tr("%1 (%2)").arg(
              examples(static_cast<std::int64_t>(eval.examples.size()), tr("evaluation example")),
              QString::fromLatin1(toString(eval.format)));
        } catch (const std::exception& error) {
          return QStringLiteral("!") + QString::fromStdString(error.what());
        }
      },
      [this, generation](const QString& result) {
        if (generation != m_evalGeneration) return;
        m_evalInFlight = false;
        const bool failed = result.startsWith(QChar('!'));
        m_evalInfo->setText(failed ? tr("Evaluation file: %1").arg(result.mid(1)) : result);
        m_evalInfo->setToolTip(m_evalInfo->text());
        m_evalInfo->show();
        m_context.draft->setProblem("data.evalPath", failed ? result.mid(1) : QString());
        updateBusy();
      });
}

void DataPage::updateTemplateCombo() {
  const QString name = QString::fromStdString(m_context.draft->config().dataset.chatTemplate);
  int index = m_templateCombo->findData(name);
  if (index < 0) {
    // A name the combo does not list (an alias such as "mistral_v3"): keep it as written.
    const auto kind = parseChatTemplateKind(name.toStdString());
    index = kind ? m_templateCombo->findData(QString::fromLatin1(toString(*kind))) : -1;
  }
  if (index >= 0) m_templateCombo->setCurrentIndex(index);
  const DatasetFormat format = formatInUse();
  bool applies = format == DatasetFormat::Auto || format == DatasetFormat::Alpaca ||
                 format == DatasetFormat::Chat || format == DatasetFormat::SourceTarget;
  const bool current = m_analysis && m_analysis->dataset &&
                       m_analysis->request.dataset.path == m_context.draft->config().dataset.path;
  // An encoder-decoder model (T5) reads pairs as source and target, with no template.
  const bool seq2seq = current && format == DatasetFormat::SourceTarget && !m_analysis->usesTemplate;
  if (seq2seq) applies = false;
  m_templateCombo->setEnabled(applies);
  if (seq2seq) {
    m_templateNote->setText(
        tr("not used: the model is an encoder-decoder, it reads the source and writes the target"));
  } else if (!applies) {
    m_templateNote->setText(tr("not used by %1 data").arg(QString::fromLatin1(toString(format))));
  }
}

void DataPage::fillColumnCombo(QComboBox* combo, const std::string& current) {
  const QStringList columns = m_analysis ? m_analysis->columns : QStringList{};
  const QString name = QString::fromStdString(current);
  QStringList wanted = columns;
  if (!name.isEmpty() && !columns.contains(name)) wanted.prepend(name);
  QStringList have;
  for (int i = 0; i < combo->count(); ++i)
    have << combo->itemData(i).toString();
  if (have != wanted) {
    const QSignalBlocker blocker(combo);
    combo->clear();
    for (const QString& column : wanted) {
      combo->addItem(columns.contains(column) ? column : tr("%1 (not in the file)").arg(column), column);
    }
  }
  const QSignalBlocker blocker(combo);
  combo->setCurrentIndex(combo->findData(name));
}

void DataPage::updateColumnCombos() {
  const DatasetConfig& d = m_context.draft->config().dataset;
  fillColumnCombo(m_textColumnCombo, d.textColumn);
  fillColumnCombo(m_labelColumnCombo, d.labelColumn);
  fillColumnCombo(m_sourceColumnCombo, d.sourceColumn);
  fillColumnCombo(m_targetColumnCombo, d.targetColumn);

  DatasetFileType fileType = DatasetFileType::Auto;
  if (m_analysis && m_analysis->detection) fileType = m_analysis->detection->fileType;
  const QString suffix = QFileInfo(QString::fromStdString(d.path)).suffix().toLower();
  const bool table = fileType == DatasetFileType::Csv || fileType == DatasetFileType::Tsv ||
                     suffix == "csv" || suffix == "tsv" || suffix == "tab";
  const DatasetFormat format = formatInUse();
  const bool mapped = format == DatasetFormat::Classification || format == DatasetFormat::SourceTarget ||
                      format == DatasetFormat::PlainText;
  const bool hasColumns = m_analysis && !m_analysis->columns.isEmpty();
  m_columnsBox->setVisible(hasColumns && (table || mapped));
  const bool unknown =
      format == DatasetFormat::Auto || format == DatasetFormat::Alpaca || format == DatasetFormat::Chat;
  m_columnsForm->setRowVisible(m_textColumnCombo, unknown || format == DatasetFormat::Classification ||
                                                      format == DatasetFormat::PlainText);
  m_columnsForm->setRowVisible(m_labelColumnCombo, unknown || format == DatasetFormat::Classification);
  m_columnsForm->setRowVisible(m_sourceColumnCombo, unknown || format == DatasetFormat::SourceTarget);
  m_columnsForm->setRowVisible(m_targetColumnCombo, unknown || format == DatasetFormat::SourceTarget);
  const bool packable = format != DatasetFormat::Classification;
  m_packingCheck->setEnabled(packable);
  m_trainOnPromptCheck->setEnabled(format != DatasetFormat::Classification &&
                                   format != DatasetFormat::PlainText);
}

void DataPage::updateWork() {
  const RunConfig& c = m_context.draft->config();
  const AnalysisKey key = currentKey();
  if (c.dataset.path.empty()) {
    // Nothing to read: drop what is shown and anything in flight.
    if (m_requestedKey || m_analysis) {
      if (m_cancel) m_cancel->store(true);
      ++m_analysisGeneration;
      ++m_recountGeneration;
      m_analysisInFlight = m_recountInFlight = false;
      m_requestedKey.reset();
      m_analysis.reset();
      m_previewModel->setRows({}, false);
      m_histogram->clearStatistics();
      m_detectedLabel->setText(tr("—"));
      m_errorLabel->hide();
      m_tokenizerNote->hide();
      m_warningLabel->hide();
      m_statsLabel->clear();
      m_truncationLabel->clear();
      updateBusy();
    }
    return;
  }
  if (!m_requestedKey || !(*m_requestedKey == key)) {
    startAnalysis(key, c.train.maxSeqLen);
    return;
  }
  if (c.train.maxSeqLen != m_requestedMaxLength) {
    m_histogram->setMaxLength(c.train.maxSeqLen); // the line moves at once; the counts follow
    m_requestedMaxLength = c.train.maxSeqLen;
    // An analysis in flight recounts when it lands (showAnalysis compares the lengths).
    if (!m_analysisInFlight) startRecount(c.train.maxSeqLen);
  }
}

void DataPage::startAnalysis(const AnalysisKey& key, std::int64_t maxSeqLen) {
  if (m_cancel) m_cancel->store(true);
  m_cancel = std::make_shared<std::atomic<bool>>(false);
  m_requestedKey = key;
  m_requestedMaxLength = maxSeqLen;
  const std::uint64_t generation = ++m_analysisGeneration;
  ++m_recountGeneration; // a recount of the old analysis is stale now
  m_recountInFlight = false;
  m_analysisInFlight = true;
  m_histogram->setMaxLength(maxSeqLen);
  updateBusy();

  DatasetRequest request;
  request.dataset = key.dataset;
  request.tokenizerPath = key.tokenizerPath;
  request.modelPath = key.modelPath;
  request.maxSeqLen = maxSeqLen;
  std::shared_ptr<const Tokenizer> cached = m_analysis ? m_analysis->tokenizer : nullptr;
  const QString cachedSource = m_analysis ? m_analysis->tokenizerSource : QString();
  std::shared_ptr<const std::atomic<bool>> cancel = m_cancel;

  BackgroundTask::run(
      nullptr, this,
      [request, cached, cachedSource, cancel]() {
        return std::shared_ptr<const DatasetAnalysis>(
            std::make_shared<DatasetAnalysis>(analyzeDataset(request, cached, cachedSource, cancel)));
      },
      [this, generation](std::shared_ptr<const DatasetAnalysis> analysis) {
        if (generation != m_analysisGeneration) return; // superseded
        m_analysisInFlight = false;
        showAnalysis(std::move(analysis));
        updateBusy();
      });
}

void DataPage::startRecount(std::int64_t maxSeqLen) {
  if (!m_analysis) return;
  const std::uint64_t generation = ++m_recountGeneration;
  m_recountInFlight = true;
  updateBusy();
  std::shared_ptr<const DatasetAnalysis> base = m_analysis;
  BackgroundTask::run(
      nullptr, this, [base, maxSeqLen] { return recountAtMaxLength(*base, maxSeqLen); },
      [this, generation](const MaxLengthUpdate& update) {
        if (generation != m_recountGeneration) return;
        m_recountInFlight = false;
        showRecount(update);
        updateBusy();
      });
}

void DataPage::updateBusy() { m_busyBar->setVisible(isBusy()); }

void DataPage::showAnalysis(std::shared_ptr<const DatasetAnalysis> analysis) {
  m_analysis = std::move(analysis);
  const DatasetAnalysis& a = *m_analysis;
  ++m_resultsShown;
  const QString fileName = QFileInfo(QString::fromStdString(a.request.dataset.path)).fileName();

  // Detection.
  if (a.detection) {
    m_detectedLabel->setText(tr("%1, %2").arg(QString::fromLatin1(toString(a.detection->format)),
                                              displayName(a.detection->fileType)));
  } else {
    m_detectedLabel->setText(tr("not recognised"));
  }
  m_detectedLabel->setToolTip(a.detectionError.isEmpty()
                                  ? tr("The format of the first record and the file's layout")
                                  : a.detectionError);

  // Errors: loading stops the run, so it is a draft problem.
  QString error;
  if (!a.loadError.isEmpty()) {
    error = a.errorLine > 0 ? tr("%1, line %2: %3").arg(fileName).arg(a.errorLine).arg(a.loadError)
                            : tr("%1: %2").arg(fileName, a.loadError);
  }
  m_context.draft->setProblem("data.path", a.loadError);
  m_context.draft->setProblem("data.template", a.templateError);
  if (!a.templateError.isEmpty())
    error += (error.isEmpty() ? "" : "\n") + tr("Chat template: %1").arg(a.templateError);
  if (!a.tokenizeError.isEmpty())
    error += (error.isEmpty() ? "" : "\n") + tr("Tokenizing: %1").arg(a.tokenizeError);
  m_errorLabel->setText(error);
  m_errorLabel->setVisible(!error.isEmpty());

  // The tokenizer.
  if (a.dataset && !a.tokenizer) {
    m_tokenizerNote->setText(
        tr("Showing the rows as written by the template, untokenized: the tokenized preview, "
           "token counts and the length histogram need a model (%1). Choose one on the Model "
           "page.")
            .arg(a.tokenizerError));
    m_tokenizerNote->show();
  } else {
    m_tokenizerNote->hide();
  }
  if (a.usesTemplate) {
    m_templateNote->setText(
        a.chatTemplate
            ? tr("using %1 (%2)").arg(QString::fromLatin1(toString(*a.chatTemplate)), a.templateNote)
            : QString());
  }

  // Warnings: records or rows left out.
  QStringList warnings;
  if (a.tokenized) {
    if (a.tokenized->skipped.count > 0) {
      QString first = a.tokenized->skipped.firstErrors.empty()
                          ? QString()
                          : QString::fromStdString(a.tokenized->skipped.firstErrors.front());
      warnings << tr("%1 cannot be written or tokenized and would stop the run; first: %2")
                      .arg(examples(static_cast<std::int64_t>(a.tokenized->skipped.count)), first);
    }
    for (const std::string& w : a.tokenized->warnings)
      warnings << QString::fromStdString(w);
  }
  m_warningLabel->setText(warnings.join('\n'));
  m_warningLabel->setVisible(!warnings.isEmpty());

  m_previewModel->setRows(a.previews, a.previewTokenized);
  updateLegend();
  showStatistics(a.statistics);

  m_syncing = true;
  updateColumnCombos();
  updateTemplateCombo();
  m_syncing = false;
  updateEvalProblem(); // with the training set's format and labels now known

  // The max length moved while this was computed.
  const std::int64_t wanted = m_context.draft->config().train.maxSeqLen;
  if (wanted != a.request.maxSeqLen) {
    m_requestedMaxLength = wanted;
    m_histogram->setMaxLength(wanted);
    startRecount(wanted);
  }
}

void DataPage::showRecount(const MaxLengthUpdate& update) {
  ++m_resultsShown;
  m_previewModel->setRows(update.previews, m_analysis && m_analysis->previewTokenized);
  showStatistics(update.statistics);
}

void DataPage::showStatistics(const std::optional<DatasetStatistics>& statistics) {
  m_histogram->setMaxLength(m_requestedMaxLength);
  if (!statistics) {
    m_histogram->clearStatistics();
    m_statsLabel->setText(
        m_analysis && m_analysis->dataset
            ? tr("%1; token counts need a model")
                  .arg(examples(static_cast<std::int64_t>(m_analysis->dataset->examples.size())))
            : QString());
    m_truncationLabel->clear();
    return;
  }
  const DatasetStatistics& s = *statistics;
  m_histogram->setStatistics(s);
  m_statsLabel->setText(tr("%1 examples · tokens per example: min %2, mean %3, median %4, p95 %5, max %6 · "
                           "%7 tokens, %8 trained on")
                            .arg(count(static_cast<std::int64_t>(s.examples)), count(s.minTokens))
                            .arg(s.meanTokens, 0, 'f', 1)
                            .arg(count(s.p50Tokens), count(s.p95Tokens), count(s.maxTokens),
                                 count(s.totalTokens), count(s.trainableTokens)));
  if (m_analysis && m_analysis->dataset &&
      m_analysis->dataset->examples.size() > m_analysis->request.maxStatisticsExamples) {
    m_statsLabel->setText(
        m_statsLabel->text() +
        tr(" (counted on the first %1 of %2)")
            .arg(count(static_cast<std::int64_t>(m_analysis->request.maxStatisticsExamples)),
                 examples(static_cast<std::int64_t>(m_analysis->dataset->examples.size()))));
  }
  const bool plain =
      m_analysis && m_analysis->dataset && m_analysis->dataset->format == DatasetFormat::PlainText;
  if (plain) {
    m_truncationLabel->setText(
        tr("Plain text is cut into blocks of %1 tokens: nothing is truncated.").arg(count(s.maxLength)));
  } else {
    const double share =
        s.examples > 0 ? 100.0 * static_cast<double>(s.truncatedExamples) / static_cast<double>(s.examples)
                       : 0.0;
    m_truncationLabel->setText(
        tr("%1 of %2 examples (%3%) are longer than the max length %4 and will be cut; "
           "%5 tokens lost")
            .arg(count(static_cast<std::int64_t>(s.truncatedExamples)),
                 count(static_cast<std::int64_t>(s.examples)))
            .arg(share, 0, 'f', 1)
            .arg(count(s.maxLength), count(s.truncatedTokens)));
  }
  m_truncationLabel->setProperty("truncatedExamples", static_cast<qulonglong>(s.truncatedExamples));
  m_truncationLabel->setProperty("truncatedTokens", static_cast<qlonglong>(s.truncatedTokens));
}

QString DataPage::startDirectory() const {
  const QString path = QString::fromStdString(m_context.draft->config().dataset.path);
  if (!path.isEmpty() && QFileInfo(path).dir().exists()) return QFileInfo(path).absolutePath();
  if (m_context.settings != nullptr) return m_context.settings->pageValue("data/lastDirectory").toString();
  return {};
}

void DataPage::rememberDirectory(const QString& path) {
  if (m_context.settings != nullptr) {
    m_context.settings->setPageValue("data/lastDirectory", QFileInfo(path).absolutePath());
  }
}

void DataPage::browseDataset() {
  const QString path =
      QFileDialog::getOpenFileName(this, tr("Open a dataset"), startDirectory(), fileFilter());
  if (path.isEmpty()) return;
  rememberDirectory(path);
  openDataset(path);
}

void DataPage::browseEvalFile() {
  const QString path =
      QFileDialog::getOpenFileName(this, tr("Open an evaluation file"), startDirectory(), fileFilter());
  if (path.isEmpty()) return;
  rememberDirectory(path);
  m_context.draft->edit(
      [&](RunConfig& c) { c.dataset.evalPath = QDir::fromNativeSeparators(path).toStdString(); });
}

void DataPage::dragEnterEvent(QDragEnterEvent* event) {
  if (isLocalFileDrop(event->mimeData())) {
    event->acceptProposedAction();
  } else {
    QWidget::dragEnterEvent(event);
  }
}

void DataPage::dropEvent(QDropEvent* event) {
  if (!isLocalFileDrop(event->mimeData())) {
    QWidget::dropEvent(event);
    return;
  }
  const QString path = event->mimeData()->urls().first().toLocalFile();
  event->acceptProposedAction();
  rememberDirectory(path);
  openDataset(path);
}

void DataPage::updateLegend() {
  QString text = DatasetSegmentDelegate::legendHtml(palette());
  if (m_analysis && m_analysis->dataset) {
    switch (m_analysis->dataset->format) {
    case DatasetFormat::Classification:
      text += tr(" &nbsp;·&nbsp; Classification: the text is the input, the label is what the model learns");
      break;
    case DatasetFormat::PlainText: text += tr(" &nbsp;·&nbsp; Plain text: every token is trained on"); break;
    default: break;
    }
  }
  m_legend->setText(text);
}

void DataPage::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange && m_legend != nullptr) {
    updateLegend();
  }
}

} // namespace lorafa::ui
