#include "ModelPage.h"

#include "BackgroundTask.h"
#include "RunDraft.h"
#include "StudioContext.h"
#include "widgets/ModelLibraryPanel.h"
#include "widgets/ModuleTree.h"
#include "widgets/ModuleTreeCounts.h"
#include "widgets/ModuleTreePattern.h"

#include "lorafa/FormatError.h"

#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPushButton>
#include <QVBoxLayout>

#include <algorithm>
#include <exception>

namespace lorafa::ui {
namespace {

/// Text in an error colour derived from the palette, so it reads on light and dark themes.
void markAsError(QLabel* label) {
  QPalette palette = label->palette();
  const bool dark = palette.color(QPalette::Window).lightness() < 128;
  palette.setColor(QPalette::WindowText, dark ? QColor(255, 128, 118) : QColor(176, 0, 32));
  label->setPalette(palette);
  label->setWordWrap(true);
  label->setTextInteractionFlags(Qt::TextSelectableByMouse);
}

QString count(std::int64_t n) { return QLocale().toString(static_cast<qlonglong>(n)); }

/// "1.2 M" style: the count at a glance next to the exact one.
QString approximately(std::int64_t n) {
  if (n >= 1'000'000'000) return QStringLiteral("%1 B").arg(n / 1e9, 0, 'f', 2);
  if (n >= 1'000'000) return QStringLiteral("%1 M").arg(n / 1e6, 0, 'f', 2);
  if (n >= 1'000) return QStringLiteral("%1 k").arg(n / 1e3, 0, 'f', 1);
  return QString::number(n);
}

QString modules(std::size_t n) {
  return n == 1 ? QObject::tr("1 module") : QObject::tr("%1 modules").arg(static_cast<qulonglong>(n));
}

bool usesAdapters(TrainMethod method) { return method == TrainMethod::LoraFa || method == TrainMethod::Lora; }

QString methodName(TrainMethod method) {
  switch (method) {
  case TrainMethod::LoraFa: return QStringLiteral("LoRA-FA");
  case TrainMethod::Lora: return QStringLiteral("LoRA");
  case TrainMethod::Full: return QObject::tr("full fine-tuning");
  case TrainMethod::Frozen: return QObject::tr("frozen");
  }
  return {};
}

bool isUnder(const std::string& path, const std::vector<std::string>& modules) {
  return std::any_of(modules.begin(), modules.end(), [&](const std::string& m) {
    return path == m ||
           (path.size() > m.size() && path.compare(0, m.size(), m) == 0 && path[m.size()] == '.');
  });
}

} // namespace

struct ModelPage::Result {
  std::optional<ModelInspection> inspection;
  QString error;
};

ModelPage::ModelPage(StudioContext& context, QWidget* parent) : QWidget(parent), m_context(context) {
  setObjectName("modelPage");
  auto* layout = new QVBoxLayout(this);

  // The folder.
  auto* folderRow = new QHBoxLayout();
  auto* folderLabel = new QLabel(tr("Model &folder:"), this);
  m_pathEdit = new QLineEdit(this);
  m_pathEdit->setObjectName("modelPathEdit");
  m_pathEdit->setPlaceholderText(tr("A Hugging Face model folder: config.json and *.safetensors"));
  m_pathEdit->setToolTip(
      tr("The Hugging Face model folder to fine-tune: config.json and model.safetensors (or a sharded "
         "index). Press Enter to open it. The tokenizer is taken from the same folder."));
  folderLabel->setBuddy(m_pathEdit);
  m_browseButton = new QPushButton(tr("&Browse…"), this);
  m_browseButton->setObjectName("browseModelButton");
  m_browseButton->setToolTip(tr("Choose a model folder on disk."));
  m_demoButton = new QPushButton(tr("Use &demo model"), this);
  m_demoButton->setObjectName("demoModelButton");
  m_demoButton->setToolTip(tr("Open the small model bundled with the studio (a 6-layer LLaMA-style model)."));
  folderRow->addWidget(folderLabel);
  folderRow->addWidget(m_pathEdit, 1);
  folderRow->addWidget(m_browseButton);
  folderRow->addWidget(m_demoButton);
  layout->addLayout(folderRow);

  m_status = new QLabel(this);
  m_status->setObjectName("modelStatus");
  layout->addWidget(m_status);
  m_modelError = new QLabel(this);
  m_modelError->setObjectName("modelError");
  markAsError(m_modelError);
  m_modelError->hide();
  layout->addWidget(m_modelError);

  // The model library: the Hugging Face cache, added folders, downloads (its own widget).
  auto* libraryBox = new QGroupBox(tr("Model library"), this);
  m_library = new ModelLibraryPanel(m_context, libraryBox);
  (new QVBoxLayout(libraryBox))->addWidget(m_library);
  layout->addWidget(libraryBox);
  connect(m_library, &ModelLibraryPanel::modelChosen, this, &ModelPage::openModel);

  // What the model is.
  auto* summaryBox = new QGroupBox(tr("Model"), this);
  auto* summary = new QFormLayout(summaryBox);
  const auto addValue = [&](const QString& label, const char* name, const QString& tip) {
    auto* value = new QLabel(summaryBox);
    value->setObjectName(name);
    value->setTextInteractionFlags(Qt::TextSelectableByMouse);
    value->setToolTip(tip);
    summary->addRow(label, value);
    return value;
  };
  m_family = addValue(tr("Family:"), "familyValue", tr("The model family the engine runs it as"));
  m_architecture =
      addValue(tr("Architecture:"), "architectureValue", tr("config.json's architectures entry"));
  m_parameters = addValue(tr("Parameters:"), "parametersValue", tr("Every parameter of the model"));
  m_dtype = addValue(tr("Weights dtype:"), "dtypeValue",
                     tr("The dtype the weights are stored in (the engine computes in the run's precision)"));
  m_size = addValue(tr("Size on disk:"), "sizeValue", tr("Bytes of the *.safetensors files"));
  m_vocab = addValue(tr("Vocabulary:"), "vocabValue", tr("Tokens in the vocabulary"));
  m_hidden = addValue(tr("Hidden size:"), "hiddenValue", tr("Width of the residual stream"));
  m_layers = addValue(tr("Layers:"), "layersValue", tr("Transformer blocks"));
  layout->addWidget(summaryBox);

  // What gets adapters.
  auto* targetsBox = new QGroupBox(tr("Target modules"), this);
  auto* targetsLayout = new QVBoxLayout(targetsBox);
  auto* patternRow = new QHBoxLayout();
  auto* patternLabel = new QLabel(tr("&Pattern:"), targetsBox);
  m_targetsEdit = new QLineEdit(targetsBox);
  m_targetsEdit->setObjectName("targetsEdit");
  m_targetsEdit->setPlaceholderText(tr("all-linear, q_proj,v_proj or a regular expression"));
  m_targetsEdit->setToolTip(tr("Which linear modules get adapters, as in PEFT's target_modules: all-linear "
                               "(every linear except the output "
                               "head); names such as q_proj,v_proj (a module whose path ends with one of "
                               "them); or a regular expression "
                               "matching the whole path (any of ^$*+?()[]{}|\\ or a re: prefix). The tree "
                               "below follows it, and checking "
                               "modules there rewrites it."));
  patternLabel->setBuddy(m_targetsEdit);
  patternRow->addWidget(patternLabel);
  patternRow->addWidget(m_targetsEdit, 1);
  targetsLayout->addLayout(patternRow);
  m_targetsError = new QLabel(targetsBox);
  m_targetsError->setObjectName("targetsError");
  markAsError(m_targetsError);
  m_targetsError->hide();
  targetsLayout->addWidget(m_targetsError);
  m_targetsNote = new QLabel(targetsBox);
  m_targetsNote->setObjectName("targetsNote");
  m_targetsNote->setWordWrap(true);
  m_targetsNote->hide();
  targetsLayout->addWidget(m_targetsNote);
  m_tree = new ModuleTree(targetsBox);
  targetsLayout->addWidget(m_tree, 1);
  m_trainable = new QLabel(targetsBox);
  m_trainable->setObjectName("trainableLabel");
  m_trainable->setWordWrap(true);
  m_trainable->setToolTip(
      tr("Parameters the optimizer updates with the Method page's method and rank: LoRA trains "
         "A [r, in] and B [out, r] per adapted module, LoRA-FA only B (A stays frozen), full "
         "fine-tuning every weight. A classifier's task head trains in full in every method."));
  targetsLayout->addWidget(m_trainable);
  layout->addWidget(targetsBox, 1);

  connect(m_pathEdit, &QLineEdit::returnPressed, this, [this] { openModel(m_pathEdit->text().trimmed()); });
  connect(m_browseButton, &QPushButton::clicked, this, [this] {
    const QString start = m_pathEdit->text().isEmpty() ? QDir::homePath() : m_pathEdit->text();
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a model folder"), start);
    if (!dir.isEmpty()) openModel(dir);
  });
  connect(m_demoButton, &QPushButton::clicked, this,
          [this] { openModel(QDir(m_context.paths.resourcesDir).filePath(QStringLiteral("demo/model"))); });
  connect(m_targetsEdit, &QLineEdit::textEdited, this, [this](const QString& text) {
    applyPattern(text);
    m_syncing = true;
    m_context.draft->edit([&](RunConfig& c) { c.targets = text.trimmed().toStdString(); });
    m_syncing = false;
  });
  connect(m_tree, &ModuleTree::checksEdited, this, &ModelPage::onChecksEdited);
  connect(m_context.draft, &RunDraft::changed, this, &ModelPage::onDraftChanged);

  setSummaryText(tr("—"));
  m_targetsEdit->setText(QString::fromStdString(m_context.draft->config().targets));
  onDraftChanged(); // opens the draft's model, if it names one
  if (m_requestedPath.isEmpty()) m_status->setText(tr("Open a model folder, or use the demo model."));
}

void ModelPage::setSummaryText(const QString& placeholder) {
  for (QLabel* label :
       {m_family, m_architecture, m_parameters, m_dtype, m_size, m_vocab, m_hidden, m_layers}) {
    label->setText(placeholder);
  }
}

void ModelPage::openModel(const QString& directory) {
  m_requestedPath = directory;
  if (m_pathEdit->text() != directory) m_pathEdit->setText(directory);
  const int request = ++m_request;
  if (directory.isEmpty()) {
    m_inspecting = false; // an inspection still running is dropped when it finishes
    Result empty;
    empty.error = tr("No model folder given: choose one with Browse… or use the demo model.");
    applyResult(directory, empty);
    return;
  }
  m_inspecting = true;
  m_status->setText(tr("Reading %1 …").arg(QDir::toNativeSeparators(directory)));
  BackgroundTask::run(
      nullptr, this,
      [path = directory.toStdString()] {
        Result result;
        try {
          result.inspection = inspectModelDirectory(path);
        } catch (const std::exception& e) {
          result.error = QString::fromStdString(e.what());
        }
        return result;
      },
      [this, directory, request](const Result& result) {
        if (request != m_request) return; // the user has opened another folder since
        m_inspecting = false;
        applyResult(directory, result);
      });
}

void ModelPage::applyResult(const QString& directory, const Result& result) {
  if (!result.inspection) {
    m_inspection.reset();
    m_tree->setModules({});
    setSummaryText(tr("—"));
    m_status->setText(tr("Could not open the model."));
    m_modelError->setText(result.error);
    m_modelError->show();
    m_context.draft->setProblem(QStringLiteral("model.path"), result.error);
    m_context.draft->setProblem(QStringLiteral("model.targets"), {}); // nothing to check them against
    m_targetsError->hide();
    updateTrainable();
    Q_EMIT inspectionFinished();
    return;
  }
  m_inspection = result.inspection;
  const ModelSummary& s = m_inspection->summary;
  m_modelError->hide();
  m_modelError->clear();
  m_context.draft->setProblem(QStringLiteral("model.path"), {});
  m_status->setText(tr("Opened %1").arg(QDir::toNativeSeparators(directory)));

  m_family->setText(QString::fromStdString(s.family) +
                    (s.modelType != s.family
                         ? QStringLiteral(" (%1)").arg(QString::fromStdString(s.modelType))
                         : QString()));
  m_architecture->setText(QString::fromStdString(s.architecture));
  m_parameters->setText(tr("%1 (%2)").arg(count(s.totalParameters), approximately(s.totalParameters)));
  std::int64_t elements = 0;
  for (const auto& item : m_inspection->elementsByDtype)
    elements += item.second;
  QStringList dtypes;
  dtypes << QString::fromStdString(m_inspection->mainDtype());
  for (const auto& [dtype, n] : m_inspection->elementsByDtype) {
    if (dtype == m_inspection->mainDtype()) continue;
    dtypes << tr("%1 for %2% of the elements")
                  .arg(QString::fromStdString(dtype))
                  .arg(100.0 * n / elements, 0, 'f', 1);
  }
  m_dtype->setText(dtypes.join(QStringLiteral(", ")));
  const std::size_t files = m_inspection->weightFiles.size();
  const QString size = QLocale().formattedDataSize(m_inspection->weightBytes);
  m_size->setText(files == 1 ? tr("%1 (%2 bytes)").arg(size, count(m_inspection->weightBytes))
                             : tr("%1 (%2 bytes in %3 files)")
                                   .arg(size, count(m_inspection->weightBytes), QString::number(files)));
  m_vocab->setText(count(s.vocabSize));
  m_hidden->setText(count(s.hiddenSize));
  m_layers->setText(count(s.numLayers));
  m_tree->setModules(candidates());
  m_tree->expandToDepth(0);

  // The draft follows a folder opened here; the tokenizer comes from the same folder.
  const std::string path = directory.toStdString();
  if (m_context.draft->config().modelPath != path) {
    m_syncing = true;
    m_draftModelPath = directory;
    m_context.draft->edit([&](RunConfig& c) {
      c.modelPath = path;
      c.tokenizerPath.clear();
    });
    m_syncing = false;
  }
  applyPattern(m_targetsEdit->text());
  Q_EMIT inspectionFinished();
}

std::vector<LinearModuleInfo> ModelPage::candidates() const {
  std::vector<LinearModuleInfo> out;
  if (!m_inspection) return out;
  // A classifier's head trains in full and never gets an adapter (as the engine sets it up).
  for (const LinearModuleInfo& l : m_inspection->summary.linears) {
    if (!isUnder(l.name, m_inspection->trainedHeadModules)) out.push_back(l);
  }
  return out;
}

void ModelPage::onDraftChanged() {
  if (m_syncing) return;
  const RunConfig& c = m_context.draft->config();
  const QString targets = QString::fromStdString(c.targets);
  if (m_targetsEdit->text().trimmed() != targets) {
    m_targetsEdit->setText(targets);
    if (m_inspection) applyPattern(targets);
  }
  const QString modelPath = QString::fromStdString(c.modelPath);
  if (modelPath != m_draftModelPath) {
    m_draftModelPath = modelPath;
    // A loaded configuration or run names another model. (A folder typed here that failed to
    // open stays on screen with its error until the draft itself names a new one.)
    if (!modelPath.isEmpty() && modelPath != m_requestedPath) openModel(modelPath);
  } else if (m_inspection) {
    applyPattern(m_targetsEdit->text()); // the method may have changed whether targets matter
  }
  updateTrainable();
}

void ModelPage::applyPattern(const QString& text) {
  if (!m_inspection) return;
  try {
    const std::vector<std::string> matched =
        matchTargets(TargetSpec::parse(text.toStdString()), candidates());
    m_tree->setCheckedPaths(matched);
    showTargetProblem({});
  } catch (const std::exception& e) {
    m_tree->setCheckedPaths({});
    showTargetProblem(QString::fromStdString(e.what()));
  }
  updateTrainable();
}

void ModelPage::onChecksEdited() {
  const std::vector<std::string> checked = m_tree->checkedPaths();
  const QString pattern = patternForSelection(m_tree->modules(), checked);
  m_targetsEdit->setText(pattern);
  showTargetProblem(checked.empty() ? tr("no module is checked: check at least one, or type a pattern")
                                    : QString());
  m_syncing = true;
  m_context.draft->edit([&](RunConfig& c) { c.targets = pattern.toStdString(); });
  m_syncing = false;
  updateTrainable();
}

void ModelPage::showTargetProblem(const QString& text) {
  const bool adapters = usesAdapters(m_context.draft->config().adapter.method);
  m_targetsError->setText(text);
  m_targetsError->setVisible(!text.isEmpty());
  // Full fine-tuning does not use the targets: a bad pattern then keeps nothing from starting.
  m_context.draft->setProblem(QStringLiteral("model.targets"), adapters ? text : QString());
  m_tree->setEnabled(adapters);
  m_targetsNote->setText(adapters ? QString()
                                  : tr("Full fine-tuning trains every parameter: the targets are not used."));
  m_targetsNote->setVisible(!adapters);
}

void ModelPage::updateTrainable() {
  if (!m_inspection) {
    m_trainable->setText(tr("Trainable parameters: open a model to count them."));
    m_trainable->setProperty("trainableParameters", QVariant());
    return;
  }
  const AdapterConfig& adapter = m_context.draft->config().adapter;
  const std::vector<std::string> adapted = m_tree->checkedPaths();
  const TrainableCount n =
      countTrainable(adapter.method, adapter.rank, m_tree->modules(), adapted,
                     m_inspection->summary.totalParameters, m_inspection->trainedHeadParameters);
  const double percent = n.modelParameters > 0 ? 100.0 * n.trainable / n.modelParameters : 0.0;
  QString text = tr("Trainable parameters: %1 (%2% of the model's %3)")
                     .arg(count(n.trainable))
                     .arg(percent, 0, 'f', percent < 0.1 ? 4 : 2)
                     .arg(count(n.modelParameters));
  QString how;
  switch (adapter.method) {
  case TrainMethod::LoraFa:
    how = tr("LoRA-FA, rank %1, %2: r·out each (B trains, A stays frozen)")
              .arg(adapter.rank)
              .arg(modules(adapted.size()));
    break;
  case TrainMethod::Lora:
    how = tr("LoRA, rank %1, %2: r·(in + out) each (A and B train)")
              .arg(adapter.rank)
              .arg(modules(adapted.size()));
    break;
  case TrainMethod::Full: how = tr("full fine-tuning: every parameter"); break;
  case TrainMethod::Frozen: how = methodName(adapter.method); break;
  }
  if (usesAdapters(adapter.method) && m_inspection->trainedHeadParameters > 0) {
    how += tr("; plus the task head (%1) in full: %2")
               .arg(QString::fromStdString(m_inspection->trainedHeadModules.front()))
               .arg(count(m_inspection->trainedHeadParameters));
  }
  m_trainable->setText(text + QStringLiteral(" — ") + how);
  m_trainable->setProperty("trainableParameters", static_cast<qlonglong>(n.trainable));
}

} // namespace lorafa::ui
