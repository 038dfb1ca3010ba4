#include "MethodPage.h"

#include "BackgroundTask.h"
#include "RunDraft.h"
#include "StudioContext.h"
#include "widgets/MemoryBreakdownChart.h"
#include "widgets/MemoryPlanning.h"

#include "lorafa/AdapterConfig.h"
#include "lorafa/ModelInspector.h"
#include "lorafa/RunConfig.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>

namespace lorafa::ui {
namespace {

constexpr int kMinRank = 1;
constexpr int kMaxRank = 256;

bool usesAdapters(TrainMethod method) { return method == TrainMethod::LoraFa || method == TrainMethod::Lora; }

QColor errorColor(const QPalette& palette) {
  return palette.color(QPalette::Window).lightness() < 128 ? QColor(255, 128, 118) : QColor(176, 0, 32);
}

/// The engine's own message for an adapter value, when it has one.
QString adapterProblem(const AdapterConfig& adapter) {
  try {
    adapter.validate();
    return {};
  } catch (const std::exception& e) {
    return QString::fromStdString(e.what());
  }
}

/// "2e-4", "0.0002" (the C locale, as config files write it) or the user's locale.
std::optional<double> parseNumber(const QString& text) {
  bool ok = false;
  double value = QLocale::c().toDouble(text.trimmed(), &ok);
  if (!ok) value = QLocale().toDouble(text.trimmed(), &ok);
  if (!ok || !std::isfinite(value)) return std::nullopt;
  return value;
}

QString formatNumber(double value) { return QString::number(value, 'g', 10); }

bool isCuda(const std::string& device) { return device == "cuda" || device.rfind("cuda:", 0) == 0; }

int cudaIndex(const std::string& device) { return device == "cuda" ? 0 : std::atoi(device.c_str() + 5); }

} // namespace

MethodPage::MethodPage(StudioContext& context, QWidget* parent) : QWidget(parent), m_context(context) {
  setObjectName("methodPage");
  // The settings on the left (scrolling), the memory they need on the right, always in view.
  auto* outer = new QHBoxLayout(this);
  auto* scroll = new QScrollArea(this);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  auto* content = new QWidget(scroll);
  auto* layout = new QVBoxLayout(content);
  scroll->setWidget(content);
  outer->addWidget(scroll, 3);

  // Method and adapter.
  auto* methodBox = new QGroupBox(tr("Method"), content);
  auto* methodForm = new QFormLayout(methodBox);
  methodForm->setFieldGrowthPolicy(QFormLayout::FieldsStayAtSizeHint);
  layout->addWidget(methodBox);
  const auto form = [](QWidget* box) { return static_cast<QFormLayout*>(box->layout()); };

  m_method = new QComboBox(methodBox);
  m_method->setObjectName("methodCombo");
  m_method->addItem(tr("LoRA-FA"), QStringLiteral("lora-fa"));
  m_method->addItem(tr("LoRA"), QStringLiteral("lora"));
  m_method->addItem(tr("Full fine-tuning"), QStringLiteral("full"));
  m_method->setToolTip(
      tr("LoRA-FA: low-rank adapters whose down-projection A stays frozen, so only B trains and the "
         "backward pass keeps x·Aᵀ (r numbers per token) instead of the input x — the least memory. "
         "LoRA: A and B both train (keeps x). Full fine-tuning: every weight trains (the most memory)."));
  form(methodBox)->addRow(tr("&Method:"), m_method);

  m_rank = new QSpinBox(methodBox);
  m_rank->setObjectName("rankSpin");
  m_rank->setRange(0, 4096); // wider than valid, so a bad value can be typed and its reason shown
  m_rank->setToolTip(
      tr("r, the adapter's rank (1–256): A is [r, in] and B is [out, r]. Higher ranks can fit more and "
         "train more parameters; 8–64 is typical."));
  addRow(tr("&Rank:"), m_rank, QStringLiteral("rank"));

  m_alpha = new QDoubleSpinBox(methodBox);
  m_alpha->setObjectName("alphaSpin");
  m_alpha->setRange(-1e6, 1e6);
  m_alpha->setDecimals(3);
  m_alpha->setToolTip(
      tr("lora_alpha: the adapter's output is scaled by alpha / r (alpha / √r with rsLoRA). Must be "
         "positive; alpha = 2·r is common."));
  addRow(tr("&Alpha:"), m_alpha, QStringLiteral("alpha"));

  m_rslora = new QCheckBox(tr("rsLoRA scaling (alpha / √r)"), methodBox);
  m_rslora->setObjectName("rsloraCheck");
  m_rslora->setToolTip(
      tr("Rank-stabilised LoRA: scale by alpha / √r instead of alpha / r, so large ranks still learn."));
  m_scalingNote = new QLabel(methodBox);
  m_scalingNote->setObjectName("scalingNote");
  auto* rsRow = new QWidget(methodBox);
  auto* rsLayout = new QHBoxLayout(rsRow);
  rsLayout->setContentsMargins(0, 0, 0, 0);
  rsLayout->addWidget(m_rslora);
  rsLayout->addWidget(m_scalingNote);
  rsLayout->addStretch(1);
  form(methodBox)->addRow(QString(), rsRow);

  m_dropout = new QDoubleSpinBox(methodBox);
  m_dropout->setObjectName("dropoutSpin");
  m_dropout->setRange(-1.0, 1.0);
  m_dropout->setDecimals(3);
  m_dropout->setSingleStep(0.05);
  m_dropout->setToolTip(
      tr("Adapter dropout, in [0, 1): the chance that each input feature is zeroed on the adapter's "
         "path while training (the frozen base path is not affected). 0 turns it off."));
  addRow(tr("&Dropout:"), m_dropout, QStringLiteral("dropout"));

  m_init = new QComboBox(methodBox);
  m_init->setObjectName("initCombo");
  m_init->addItem(tr("Kaiming-uniform (PEFT default)"), QStringLiteral("kaiming-uniform"));
  m_init->addItem(tr("Gaussian"), QStringLiteral("gaussian"));
  m_init->addItem(tr("Orthogonal rows"), QStringLiteral("orthogonal"));
  m_init->setToolTip(
      tr("How A starts (B always starts at zero). With LoRA-FA, A never changes, so this fixes the "
         "subspace B trains in. Orthogonal rows need r ≤ every targeted module's in_features."));
  addRow(tr("A &init:"), m_init, QStringLiteral("init"));

  // Optimizer.
  auto* optimBox = new QGroupBox(tr("Optimizer"), content);
  auto* optimForm = new QFormLayout(optimBox);
  optimForm->setFieldGrowthPolicy(QFormLayout::FieldsStayAtSizeHint);
  layout->addWidget(optimBox);

  m_learningRate = new QLineEdit(optimBox);
  m_learningRate->setObjectName("learningRateEdit");
  m_learningRate->setToolTip(
      tr("AdamW's peak learning rate, in (0, 1], e.g. 2e-4. Adapters usually take larger rates "
         "than full fine-tuning."));
  addRow(tr("&Learning rate:"), m_learningRate, QStringLiteral("learningRate"));

  m_schedule = new QComboBox(optimBox);
  m_schedule->setObjectName("scheduleCombo");
  m_schedule->addItem(tr("Constant"), QStringLiteral("constant"));
  m_schedule->addItem(tr("Linear decay"), QStringLiteral("linear"));
  m_schedule->addItem(tr("Cosine decay"), QStringLiteral("cosine"));
  m_schedule->setToolTip(
      tr("How the learning rate moves after warmup: constant, falling linearly to 0, or half a "
         "cosine to 0 at the last step."));
  addRow(tr("&Schedule:"), m_schedule, QStringLiteral("schedule"));

  m_warmup = new QSpinBox(optimBox);
  m_warmup->setObjectName("warmupSpin");
  m_warmup->setRange(0, 10'000'000);
  m_warmup->setToolTip(tr("Optimizer steps over which the learning rate rises linearly from 0 to its peak."));
  addRow(tr("&Warmup steps:"), m_warmup, QStringLiteral("warmup"));

  // The loop.
  auto* loopBox = new QGroupBox(tr("Training loop"), content);
  auto* loopForm = new QFormLayout(loopBox);
  loopForm->setFieldGrowthPolicy(QFormLayout::FieldsStayAtSizeHint);
  layout->addWidget(loopBox);

  m_epochs = new QSpinBox(loopBox);
  m_epochs->setObjectName("epochsSpin");
  m_epochs->setRange(0, 100'000);
  m_epochs->setToolTip(
      tr("Passes over the training data (at least 1). Max steps, when set, ends the run first."));
  addRow(tr("&Epochs:"), m_epochs, QStringLiteral("epochs"));

  m_maxSteps = new QSpinBox(loopBox);
  m_maxSteps->setObjectName("maxStepsSpin");
  m_maxSteps->setRange(0, 100'000'000);
  m_maxSteps->setSpecialValueText(tr("by epochs"));
  m_maxSteps->setToolTip(
      tr("Optimizer steps after which the run ends; \"by epochs\" (0) lets the epochs decide."));
  addRow(tr("Max &steps:"), m_maxSteps, QStringLiteral("maxSteps"));

  m_batch = new QSpinBox(loopBox);
  m_batch->setObjectName("batchSpin");
  m_batch->setRange(0, 1'000'000);
  m_batch->setToolTip(tr("Examples per micro-batch (at least 1). Memory for activations grows with it."));
  addRow(tr("&Batch size:"), m_batch, QStringLiteral("batchSize"));

  m_accumulation = new QSpinBox(loopBox);
  m_accumulation->setObjectName("accumulationSpin");
  m_accumulation->setRange(0, 100'000);
  m_accumulation->setToolTip(
      tr("Micro-batches whose gradients add up before each optimizer step (at least 1): the "
         "effective batch is batch size × accumulation, at the memory of one micro-batch."));
  addRow(tr("Gradient a&ccumulation:"), m_accumulation, QStringLiteral("gradAccumulation"));

  m_maxLength = new QSpinBox(loopBox);
  m_maxLength->setObjectName("maxLengthSpin");
  m_maxLength->setRange(0, 10'000'000);
  m_maxLength->setToolTip(
      tr("Tokens per example (at least 8); longer examples are truncated. Memory for activations "
         "grows with it."));
  addRow(tr("Max se&quence length:"), m_maxLength, QStringLiteral("maxSeqLen"));

  // Numerics and device.
  auto* deviceBox = new QGroupBox(tr("Precision and device"), content);
  auto* deviceForm = new QFormLayout(deviceBox);
  deviceForm->setFieldGrowthPolicy(QFormLayout::FieldsStayAtSizeHint);
  layout->addWidget(deviceBox);

  m_precision = new QComboBox(deviceBox);
  m_precision->setObjectName("precisionCombo");
  m_precision->addItem(tr("fp32"), QStringLiteral("fp32"));
  m_precision->addItem(tr("bf16 (autocast)"), QStringLiteral("bf16"));
  m_precision->addItem(tr("fp16 (autocast, loss scaling)"), QStringLiteral("fp16"));
  m_precision->setToolTip(
      tr("The dtype the model computes in. fp32 is exact and slowest; bf16 halves the weights' "
         "memory (fp32 gradients for the trained parameters); fp16 needs a CUDA device and "
         "uses loss scaling."));
  addRow(tr("&Precision:"), m_precision, QStringLiteral("precision"));

  m_checkpointing = new QCheckBox(tr("Gradient checkpointing"), deviceBox);
  m_checkpointing->setObjectName("checkpointingCheck");
  m_checkpointing->setToolTip(
      tr("Keep only each transformer block's input and recompute the block in the backward "
         "pass: much less activation memory for about a third more compute."));
  form(deviceBox)->addRow(QString(), m_checkpointing);

  m_device = new QComboBox(deviceBox);
  m_device->setObjectName("deviceCombo");
  m_device->setToolTip(
      tr("Where the run computes: the CPU or one CUDA device (with its memory). Automatic takes the "
         "first CUDA device when one is usable, else the CPU."));
  fillDevices();
  addRow(tr("&Device:"), m_device, QStringLiteral("device"));

  // The memory planner.
  auto* memoryBox = new QGroupBox(tr("Memory (predicted before launch)"), this);
  memoryBox->setObjectName("memoryBox");
  memoryBox->setToolTip(tr("What one training step will need at its peak with each method, from the model's "
                           "config.json and the settings above, against the selected device's memory"));
  auto* memoryLayout = new QVBoxLayout(memoryBox);
  m_memoryChart = new MemoryBreakdownChart(memoryBox);
  memoryLayout->addWidget(m_memoryChart);
  outer->addWidget(memoryBox, 2);
  layout->addStretch(1);
  m_memoryTimer = new QTimer(this);
  m_memoryTimer->setSingleShot(true);
  m_memoryTimer->setInterval(150);
  connect(m_memoryTimer, &QTimer::timeout, this, &MethodPage::predictMemory);
  connect(m_context.draft, &RunDraft::changed, this, &MethodPage::scheduleMemoryPrediction);

  // Widgets → draft.
  const auto edit = [this](auto change) {
    if (m_syncing) return;
    m_syncing = true;
    m_context.draft->edit(change);
    m_syncing = false;
    validate();
  };
  connect(m_method, qOverload<int>(&QComboBox::currentIndexChanged), this, [this, edit] {
    const auto method = parseTrainMethod(m_method->currentData().toString().toStdString());
    if (method) edit([&](RunConfig& c) { c.adapter.method = *method; });
  });
  connect(m_rank, qOverload<int>(&QSpinBox::valueChanged), this,
          [edit](int v) { edit([&](RunConfig& c) { c.adapter.rank = v; }); });
  connect(m_alpha, qOverload<double>(&QDoubleSpinBox::valueChanged), this,
          [edit](double v) { edit([&](RunConfig& c) { c.adapter.alpha = v; }); });
  connect(m_rslora, &QCheckBox::toggled, this,
          [edit](bool on) { edit([&](RunConfig& c) { c.adapter.useRslora = on; }); });
  connect(m_dropout, qOverload<double>(&QDoubleSpinBox::valueChanged), this,
          [edit](double v) { edit([&](RunConfig& c) { c.adapter.dropout = v; }); });
  connect(m_init, qOverload<int>(&QComboBox::currentIndexChanged), this, [this, edit] {
    const auto init = parseLoraInit(m_init->currentData().toString().toStdString());
    if (init) edit([&](RunConfig& c) { c.adapter.init = *init; });
  });
  connect(m_learningRate, &QLineEdit::textEdited, this, [this, edit](const QString& text) {
    const std::optional<double> value = parseNumber(text);
    m_learningRateError = value ? QString() : tr("\"%1\" is not a number (e.g. 2e-4)").arg(text);
    if (value) {
      edit([&](RunConfig& c) { c.optim.learningRate = *value; });
    } else {
      validate();
    }
  });
  connect(m_schedule, qOverload<int>(&QComboBox::currentIndexChanged), this, [this, edit] {
    const auto schedule = parseLrSchedule(m_schedule->currentData().toString().toStdString());
    if (schedule) edit([&](RunConfig& c) { c.optim.schedule = *schedule; });
  });
  connect(m_warmup, qOverload<int>(&QSpinBox::valueChanged), this,
          [edit](int v) { edit([&](RunConfig& c) { c.optim.warmupSteps = v; }); });
  connect(m_epochs, qOverload<int>(&QSpinBox::valueChanged), this,
          [edit](int v) { edit([&](RunConfig& c) { c.train.epochs = v; }); });
  connect(m_maxSteps, qOverload<int>(&QSpinBox::valueChanged), this,
          [edit](int v) { edit([&](RunConfig& c) { c.train.maxSteps = v; }); });
  connect(m_batch, qOverload<int>(&QSpinBox::valueChanged), this,
          [edit](int v) { edit([&](RunConfig& c) { c.train.batchSize = v; }); });
  connect(m_accumulation, qOverload<int>(&QSpinBox::valueChanged), this,
          [edit](int v) { edit([&](RunConfig& c) { c.train.gradAccumulation = v; }); });
  connect(m_maxLength, qOverload<int>(&QSpinBox::valueChanged), this,
          [edit](int v) { edit([&](RunConfig& c) { c.train.maxSeqLen = v; }); });
  connect(m_precision, qOverload<int>(&QComboBox::currentIndexChanged), this, [this, edit] {
    const auto precision = parsePrecision(m_precision->currentData().toString().toStdString());
    if (precision) edit([&](RunConfig& c) { c.train.precision = *precision; });
  });
  connect(m_checkpointing, &QCheckBox::toggled, this,
          [edit](bool on) { edit([&](RunConfig& c) { c.train.gradientCheckpointing = on; }); });
  connect(m_device, qOverload<int>(&QComboBox::currentIndexChanged), this, [this, edit] {
    const std::string device = m_device->currentData().toString().toStdString();
    edit([&](RunConfig& c) { c.train.device = device; });
  });

  // Draft → widgets (a loaded configuration, a run to repeat, another page's change).
  connect(m_context.draft, &RunDraft::changed, this, [this] {
    if (!m_syncing) syncFromDraft();
  });
  syncFromDraft();
  scheduleMemoryPrediction();
}

void MethodPage::scheduleMemoryPrediction() {
  m_predictingMemory = true;
  ++m_memoryRequest; // a prediction still running is for an older draft
  m_memoryTimer->start();
}

void MethodPage::predictMemory() {
  const RunConfig config = m_context.draft->config();
  const std::string device = plannedDevice(config, m_context.engineInfo);
  const int request = ++m_memoryRequest;
  m_predictingMemory = true;
  BackgroundTask::run(
      nullptr, this, [config, device] { return predictAllMethods(config, device); },
      [this, request, device, method = config.adapter.method](const MemoryPrediction& prediction) {
        if (request != m_memoryRequest) return; // the draft changed meanwhile
        m_predictingMemory = false;
        m_memoryChart->setCapacity(deviceCapacity(device, m_context.engineInfo));
        if (prediction.estimates.empty())
          m_memoryChart->setError(prediction.error);
        else
          m_memoryChart->setEstimates(prediction.estimates, method);
        Q_EMIT memoryPredicted();
      });
}

QLabel* MethodPage::addRow(const QString& label, QWidget* input, const QString& field) {
  auto* form = static_cast<QFormLayout*>(input->parentWidget()->layout());
  auto* row = new QWidget(input->parentWidget());
  auto* rowLayout = new QHBoxLayout(row);
  rowLayout->setContentsMargins(0, 0, 0, 0);
  rowLayout->addWidget(input);
  auto* error = new QLabel(row);
  error->setObjectName(field + QStringLiteral("Error"));
  QPalette palette = error->palette();
  palette.setColor(QPalette::WindowText, errorColor(palette));
  error->setPalette(palette);
  error->setWordWrap(true);
  error->setMinimumWidth(240);
  error->hide();
  rowLayout->addWidget(error, 1);
  auto* text = new QLabel(label, input->parentWidget());
  text->setBuddy(input);
  form->addRow(text, row);
  m_errorLabels.insert(field, error);
  m_inputs.insert(field, input);
  return error;
}

void MethodPage::fillDevices() {
  const EngineInfo& info = m_context.engineInfo;
  m_device->addItem(tr("Automatic (%1)")
                        .arg(QString::fromStdString(info.defaultDevice.empty() ? "cpu" : info.defaultDevice)),
                    QStringLiteral("auto"));
  m_device->addItem(info.cpuThreads > 1    ? tr("CPU (%1 threads)").arg(info.cpuThreads)
                    : info.cpuThreads == 1 ? tr("CPU (1 thread)")
                                           : tr("CPU"),
                    QStringLiteral("cpu"));
  const int count = std::max<int>(info.cudaDeviceCount, static_cast<int>(info.gpus.size()));
  for (int i = 0; i < count; ++i) {
    QString text = QStringLiteral("cuda:%1").arg(i);
    const auto gpu = std::find_if(info.gpus.begin(), info.gpus.end(),
                                  [i](const GpuDeviceInfo& g) { return g.index == i; });
    if (gpu != info.gpus.end()) {
      text += QStringLiteral(" — %1, %2")
                  .arg(QString::fromStdString(gpu->name), QLocale().formattedDataSize(gpu->totalBytes, 1));
      if (!gpu->computeCapability.empty())
        text += tr(", compute capability %1").arg(QString::fromStdString(gpu->computeCapability));
    }
    m_device->addItem(text, QStringLiteral("cuda:%1").arg(i));
  }
}

void MethodPage::syncFromDraft() {
  const RunConfig& c = m_context.draft->config();
  m_syncing = true;
  const auto selectData = [](QComboBox* combo, const QString& data) {
    const QSignalBlocker block(combo);
    int index = combo->findData(data);
    if (index < 0 && data == QStringLiteral("cuda"))
      index = combo->findData(QStringLiteral("cuda:0")); // the same device
    if (index < 0) {
      // A value this machine does not offer (a configuration from another machine): shown, and
      // marked by validate() when it cannot run here.
      combo->addItem(QObject::tr("%1 (not available here)").arg(data), data);
      index = combo->count() - 1;
    }
    combo->setCurrentIndex(index);
  };
  selectData(m_method, QString::fromLatin1(toString(c.adapter.method)));
  selectData(m_init, QString::fromLatin1(toString(c.adapter.init)));
  selectData(m_schedule, QString::fromLatin1(toString(c.optim.schedule)));
  selectData(m_precision, QString::fromLatin1(toString(c.train.precision)));
  selectData(m_device, QString::fromStdString(c.train.device));
  const auto setSpin = [](QSpinBox* spin, std::int64_t value) {
    const QSignalBlocker block(spin);
    spin->setValue(static_cast<int>(std::clamp<std::int64_t>(value, spin->minimum(), spin->maximum())));
  };
  setSpin(m_rank, c.adapter.rank);
  setSpin(m_warmup, c.optim.warmupSteps);
  setSpin(m_epochs, c.train.epochs);
  setSpin(m_maxSteps, c.train.maxSteps);
  setSpin(m_batch, c.train.batchSize);
  setSpin(m_accumulation, c.train.gradAccumulation);
  setSpin(m_maxLength, c.train.maxSeqLen);
  {
    const QSignalBlocker a(m_alpha);
    m_alpha->setValue(c.adapter.alpha);
    const QSignalBlocker d(m_dropout);
    m_dropout->setValue(c.adapter.dropout);
    const QSignalBlocker r(m_rslora);
    m_rslora->setChecked(c.adapter.useRslora);
    const QSignalBlocker g(m_checkpointing);
    m_checkpointing->setChecked(c.train.gradientCheckpointing);
  }
  // The learning-rate text is rewritten only when it says another number (not while typing).
  const std::optional<double> shown = parseNumber(m_learningRate->text());
  if (!shown || *shown != c.optim.learningRate) {
    m_learningRate->setText(formatNumber(c.optim.learningRate));
    m_learningRateError.clear();
  }
  m_syncing = false;

  const QString modelPath = QString::fromStdString(c.modelPath);
  if (modelPath != m_modelPath) readModel(modelPath);
  validate();
}

void MethodPage::readModel(const QString& directory) {
  m_modelPath = directory;
  m_modelLinears.reset();
  const int request = ++m_modelRequest;
  if (directory.isEmpty()) {
    m_readingModel = false; // a read still running is dropped when it finishes
    return;
  }
  m_readingModel = true;
  BackgroundTask::run(
      nullptr, this,
      [path = directory.toStdString()]() -> std::optional<std::vector<LinearModuleInfo>> {
        try {
          const ModelInspection inspection = inspectModelDirectory(path);
          std::vector<LinearModuleInfo> out;
          // The engine never puts adapters on a classifier's task head.
          for (const LinearModuleInfo& l : inspection.summary.linears) {
            const bool head = std::any_of(
                inspection.trainedHeadModules.begin(), inspection.trainedHeadModules.end(),
                [&](const std::string& m) { return l.name.rfind(m + ".", 0) == 0 || l.name == m; });
            if (!head) out.push_back(l);
          }
          return out;
        } catch (const std::exception&) {
          return std::nullopt; // the Model page reports a bad folder
        }
      },
      [this, request](std::optional<std::vector<LinearModuleInfo>> linears) {
        if (request != m_modelRequest) return;
        m_readingModel = false;
        m_modelLinears = std::move(linears);
        validate();
        Q_EMIT modelRead();
      });
}

void MethodPage::validate() {
  const RunConfig& c = m_context.draft->config();
  const EngineInfo& info = m_context.engineInfo;
  const bool adapters = usesAdapters(c.adapter.method);
  for (QWidget* w :
       {static_cast<QWidget*>(m_rank), static_cast<QWidget*>(m_alpha), static_cast<QWidget*>(m_rslora),
        static_cast<QWidget*>(m_dropout), static_cast<QWidget*>(m_init)}) {
    w->setEnabled(adapters);
  }
  m_scalingNote->setText(
      adapters && c.adapter.rank > 0 ? tr("scaling s = %1").arg(c.adapter.scaling(), 0, 'g', 4) : QString());

  // Adapter fields matter only for LoRA-FA and LoRA.
  QString rank;
  QString alpha;
  QString dropout;
  if (adapters) {
    AdapterConfig probe;
    probe.method = c.adapter.method;
    probe.rank = c.adapter.rank;
    rank = adapterProblem(probe);
    if (rank.isEmpty() && (c.adapter.rank < kMinRank || c.adapter.rank > kMaxRank)) {
      rank = tr("rank must be between %1 and %2, got %3").arg(kMinRank).arg(kMaxRank).arg(c.adapter.rank);
    }
    if (rank.isEmpty() && c.adapter.init == LoraInit::Orthogonal && m_modelLinears) {
      // Orthogonal rows: A [r, in] can have r orthonormal rows only when r ≤ in.
      try {
        const std::vector<std::string> targeted = matchTargets(TargetSpec::parse(c.targets), *m_modelLinears);
        const LinearModuleInfo* narrowest = nullptr;
        for (const LinearModuleInfo& l : *m_modelLinears) {
          if (std::find(targeted.begin(), targeted.end(), l.name) == targeted.end()) continue;
          if (narrowest == nullptr || l.inFeatures < narrowest->inFeatures) narrowest = &l;
        }
        if (narrowest != nullptr && c.adapter.rank > narrowest->inFeatures) {
          rank =
              tr("orthogonal init needs rank ≤ the smallest in_features of the targeted modules: %1 has %2")
                  .arg(QString::fromStdString(narrowest->name))
                  .arg(narrowest->inFeatures);
        }
      } catch (const std::exception&) {
        // Targets that match nothing are the Model page's problem ("model.targets").
      }
    }
    probe = AdapterConfig();
    probe.method = c.adapter.method;
    probe.alpha = c.adapter.alpha;
    alpha = adapterProblem(probe);
    probe = AdapterConfig();
    probe.method = c.adapter.method;
    probe.dropout = c.adapter.dropout;
    dropout = adapterProblem(probe);
  }
  setFieldProblem(QStringLiteral("rank"), rank);
  setFieldProblem(QStringLiteral("alpha"), alpha);
  setFieldProblem(QStringLiteral("dropout"), dropout);

  QString learningRate = m_learningRateError;
  if (learningRate.isEmpty() && !(c.optim.learningRate > 0.0 && c.optim.learningRate <= 1.0)) {
    learningRate = tr("learning rate must be in (0, 1], got %1").arg(formatNumber(c.optim.learningRate));
  }
  setFieldProblem(QStringLiteral("learningRate"), learningRate);
  setFieldProblem(QStringLiteral("epochs"), c.train.epochs < 1
                                                ? tr("epochs must be at least 1, got %1").arg(c.train.epochs)
                                                : QString());
  setFieldProblem(QStringLiteral("batchSize"),
                  c.train.batchSize < 1 ? tr("batch size must be at least 1, got %1").arg(c.train.batchSize)
                                        : QString());
  setFieldProblem(QStringLiteral("gradAccumulation"),
                  c.train.gradAccumulation < 1
                      ? tr("gradient accumulation must be at least 1, got %1").arg(c.train.gradAccumulation)
                      : QString());
  setFieldProblem(QStringLiteral("maxSeqLen"),
                  c.train.maxSeqLen < 8
                      ? tr("max sequence length must be at least 8 tokens, got %1").arg(c.train.maxSeqLen)
                      : QString());

  // Device: a CUDA device must exist here.
  QString device;
  if (isCuda(c.train.device)) {
    if (!info.cudaAvailable) {
      device = info.cudaBuilt
                   ? tr("%1 was chosen, but no CUDA device is usable here: %2")
                         .arg(QString::fromStdString(c.train.device),
                              info.cudaUnavailableReason.empty()
                                  ? QString::fromLatin1(toString(info.cudaStatus))
                                  : QString::fromStdString(info.cudaUnavailableReason))
                   : tr("%1 was chosen, but this engine's LibTorch has no CUDA support: choose CPU")
                         .arg(QString::fromStdString(c.train.device));
    } else if (cudaIndex(c.train.device) >= info.cudaDeviceCount) {
      device = tr("%1 does not exist: this machine has CUDA devices cuda:0 to cuda:%2")
                   .arg(QString::fromStdString(c.train.device))
                   .arg(info.cudaDeviceCount - 1);
    }
  }
  setFieldProblem(QStringLiteral("device"), device);
  // Precision: LibTorch's CPU autocast does bf16 only.
  const bool onCuda =
      isCuda(c.train.device) ? info.cudaAvailable : (c.train.device == "auto" && info.cudaAvailable);
  QString precision;
  if (c.train.precision == Precision::Fp16 && !onCuda) {
    precision =
        tr("fp16 needs a CUDA device (LibTorch's CPU autocast does bf16 only); use bf16 or fp32 on the CPU");
  }
  setFieldProblem(QStringLiteral("precision"), precision);
}

void MethodPage::setFieldProblem(const QString& field, const QString& text) {
  if (text.isEmpty()) {
    m_problems.remove(field);
  } else {
    m_problems.insert(field, text);
  }
  if (QLabel* label = m_errorLabels.value(field)) {
    label->setText(text);
    label->setVisible(!text.isEmpty());
  }
  if (QWidget* input = m_inputs.value(field)) {
    const bool invalid = !text.isEmpty();
    if (input->property("invalid").toBool() != invalid) {
      input->setProperty("invalid", invalid);
      if (invalid) {
        QPalette palette = input->palette();
        const QColor base = palette.color(QPalette::Base);
        const QColor error = errorColor(palette);
        // The field's background tinted a quarter of the way towards the error colour.
        palette.setColor(QPalette::Base,
                         QColor((base.red() * 3 + error.red()) / 4, (base.green() * 3 + error.green()) / 4,
                                (base.blue() * 3 + error.blue()) / 4));
        input->setPalette(palette);
      } else {
        input->setPalette(QPalette());
      }
    }
    input->setToolTip(input->toolTip().section(QStringLiteral("\n\n⚠ "), 0, 0) +
                      (invalid ? QStringLiteral("\n\n⚠ ") + text : QString()));
  }
  m_context.draft->setProblem(QStringLiteral("method.") + field, text);
}

} // namespace lorafa::ui
