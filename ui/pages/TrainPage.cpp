#include "TrainPage.h"

#include "BackgroundTask.h"
#include "RunDraft.h"
#include "StudioContext.h"
#include "TrainingController.h"
#include "widgets/MemoryPlanning.h"
#include "widgets/OverCapacityDialog.h"
#include "widgets/TrainTwinRun.h"

#include "lorafa/RunStore.h"

#include "widgets/QCustomPlotInclude.h"

#include <QDateTime>
#include <QFile>
#include <QFontDatabase>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollBar>
#include <QSplitter>
#include <QTabWidget>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <exception>

#if defined(__unix__)
#include <unistd.h>
#endif

namespace lorafa::ui {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr int kRssIntervalMs = 250;

/// Series colours: distinct hues that read on light and dark backgrounds alike (the plot's
/// background, axes and text follow the palette).
QColor seriesColor(int index) {
  static const QColor colors[] = {QColor(31, 119, 180), QColor(255, 127, 14), QColor(44, 160, 44),
                                  QColor(214, 39, 40),  QColor(148, 103, 189), QColor(140, 86, 75)};
  return colors[index % 6];
}

QCustomPlot* makePlot(QWidget* parent, const char* objectName, const QString& title, const QString& xLabel,
                      const QString& yLabel, const QString& toolTip) {
  auto* plot = new QCustomPlot(parent);
  plot->setObjectName(objectName);
  plot->setToolTip(toolTip);
  plot->setMinimumSize(260, 180);
  const QPalette pal = parent->palette();
  const QColor text = pal.color(QPalette::WindowText);
  plot->setBackground(pal.brush(QPalette::Base));
  plot->plotLayout()->insertRow(0);
  auto* titleElement = new QCPTextElement(plot, title, QFont(parent->font().family(), parent->font().pointSize(), QFont::Bold));
  titleElement->setTextColor(text);
  plot->plotLayout()->addElement(0, 0, titleElement);
  for (QCPAxis* axis : {plot->xAxis, plot->yAxis}) {
    axis->setBasePen(QPen(text));
    axis->setTickPen(QPen(text));
    axis->setSubTickPen(QPen(text));
    axis->setTickLabelColor(text);
    axis->setLabelColor(text);
    axis->grid()->setPen(QPen(pal.color(QPalette::Mid), 0, Qt::DotLine));
  }
  plot->xAxis->setLabel(xLabel);
  plot->yAxis->setLabel(yLabel);
  plot->legend->setBrush(pal.brush(QPalette::Base));
  plot->legend->setTextColor(text);
  plot->legend->setBorderPen(QPen(pal.color(QPalette::Mid)));
  return plot;
}

QCPGraph* addGraph(QCustomPlot* plot, const QString& name, int colorIndex) {
  QCPGraph* graph = plot->addGraph();
  graph->setName(name);
  graph->setPen(QPen(seriesColor(colorIndex), 2));
  return graph;
}

void useLogScale(QCustomPlot* plot) {
  plot->yAxis->setScaleType(QCPAxis::stLogarithmic);
  plot->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
  plot->yAxis->setNumberFormat("gb");
  plot->yAxis->setNumberPrecision(3);
}

/// The engine's allocated bytes in a sample: CUDA's caching allocator when it tracks the device,
/// else the tracked CPU allocator.
double engineBytes(const MemorySample& s) {
  return static_cast<double>(s.cudaTracked ? s.cudaAllocatedBytes : s.cpuCurrentBytes);
}

/// The resident set size of this process (/proc/self/statm), 0 where not available.
double processRssBytes() {
#if defined(__linux__)
  QFile statm(QStringLiteral("/proc/self/statm"));
  if (!statm.open(QIODevice::ReadOnly)) return 0.0;
  const QList<QByteArray> fields = statm.readAll().split(' ');
  if (fields.size() < 2) return 0.0;
  return fields[1].toDouble() * static_cast<double>(sysconf(_SC_PAGESIZE));
#else
  return 0.0;
#endif
}

double physicalMemoryBytes() {
#if defined(__unix__)
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long pageSize = sysconf(_SC_PAGESIZE);
  if (pages > 0 && pageSize > 0) return static_cast<double>(pages) * static_cast<double>(pageSize);
#endif
  return 0.0;
}

QString formatBytes(double bytes) {
  if (bytes >= 1024.0 * kMiB) return QString::number(bytes / (1024.0 * kMiB), 'f', 2) + " GiB";
  return QString::number(bytes / kMiB, 'f', 1) + " MiB";
}

QString formatDuration(double seconds) {
  const auto total = static_cast<qint64>(std::llround(std::max(0.0, seconds)));
  if (total >= 3600) return QObject::tr("%1 h %2 min").arg(total / 3600).arg((total % 3600) / 60);
  if (total >= 60) return QObject::tr("%1 min %2 s").arg(total / 60).arg(total % 60);
  return QObject::tr("%1 s").arg(total);
}

void rescaleLinear(QCustomPlot* plot) {
  plot->rescaleAxes(true);
  QCPRange y = plot->yAxis->range();
  if (y.size() <= 0.0) y = QCPRange(y.lower - 0.5, y.upper + 0.5);
  const double pad = y.size() * 0.08;
  plot->yAxis->setRange(y.lower - pad, y.upper + pad);
  QCPRange x = plot->xAxis->range();
  if (x.size() <= 0.0) plot->xAxis->setRange(x.lower - 1.0, x.upper + 1.0);
}

} // namespace

TrainPage::TrainPage(StudioContext& context, QWidget* parent) : QWidget(parent), m_context(context) {
  setObjectName("trainPage");
  TrainingController* controller = m_context.controller;
  m_twin = new TrainTwinRun(controller, this);

  // The header: which run is live, the controls, why Start is not possible.
  m_liveLabel = new QLabel(tr("No run yet. Start trains the configuration set up on the Model, Data and Method pages."), this);
  m_liveLabel->setObjectName("liveRunLabel");
  m_liveLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_liveLabel->setWordWrap(true);

  m_startButton = new QPushButton(tr("Start"), this);
  m_startButton->setObjectName("startButton");
  m_startButton->setToolTip(tr("Train the current configuration in a new output folder (Ctrl+Return)"));
  m_pauseButton = new QPushButton(tr("Pause"), this);
  m_pauseButton->setObjectName("pauseButton");
  m_pauseButton->setToolTip(tr("Pause the run after the current step, or resume it (Ctrl+P)"));
  m_stopButton = new QPushButton(tr("Stop"), this);
  m_stopButton->setObjectName("stopButton");
  m_stopButton->setToolTip(tr("Stop after the current step and write a checkpoint; the run can be resumed from the Runs page (Ctrl+.)"));
  m_twinButton = new QPushButton(tr("Twin run: LoRA vs LoRA-FA"), this);
  m_twinButton->setObjectName("twinButton");
  m_twinButton->setToolTip(tr("Train the current configuration twice, with LoRA and then with LoRA-FA (same seed, data and "
                              "steps), and overlay their loss and memory"));
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(m_startButton);
  buttons->addWidget(m_pauseButton);
  buttons->addWidget(m_stopButton);
  buttons->addSpacing(24);
  buttons->addWidget(m_twinButton);
  buttons->addStretch(1);

  m_blockedReason = new QLabel(this);
  m_blockedReason->setObjectName("startBlockedReason");
  m_blockedReason->setWordWrap(true);
  m_blockedReason->setToolTip(tr("Why Start is not possible right now"));

  m_progress = new QProgressBar(this);
  m_progress->setObjectName("progressBar");
  m_progress->setRange(0, 1);
  m_progress->setValue(0);
  m_progress->setFormat(tr("%v / %m steps"));
  m_progress->setToolTip(tr("Optimizer steps done of the run's total"));
  m_etaLabel = new QLabel(this);
  m_etaLabel->setObjectName("etaLabel");
  m_etaLabel->setToolTip(tr("Time left: the mean step time so far times the steps left"));
  m_etaLabel->setMinimumWidth(220);
  auto* progressRow = new QHBoxLayout;
  progressRow->addWidget(m_progress, 1);
  progressRow->addWidget(m_etaLabel);

  // The live plots.
  auto* live = new QWidget(this);
  m_lossPlot = makePlot(live, "lossPlot", tr("Loss"), tr("step"), tr("loss"),
                        tr("Training loss of every step and validation loss of every evaluation"));
  addGraph(m_lossPlot, tr("train"), 0);
  QCPGraph* eval = addGraph(m_lossPlot, tr("eval"), 1);
  eval->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 6));
  m_lossPlot->legend->setVisible(true);
  m_lrPlot = makePlot(live, "lrPlot", tr("Learning rate"), tr("step"), tr("learning rate"),
                      tr("The learning rate of every step (warmup, then the schedule)"));
  addGraph(m_lrPlot, tr("learning rate"), 2);
  m_lrPlot->yAxis->setNumberFormat("g");
  m_memoryPlot = makePlot(live, "memoryPlot", tr("Memory"), tr("time (s)"), tr("MiB (log scale)"),
                          tr("Memory over time: what the engine has allocated on its device, what the allocator reserved "
                             "and the device-wide use where known, and this process's resident memory; the dashed line "
                             "is the device's capacity"));
  useLogScale(m_memoryPlot);
  addGraph(m_memoryPlot, tr("engine allocated"), 0);
  addGraph(m_memoryPlot, tr("process RSS"), 4);
  addGraph(m_memoryPlot, tr("CUDA reserved"), 1);
  addGraph(m_memoryPlot, tr("device used (NVML)"), 3);
  m_memoryPlot->graph(2)->removeFromLegend();
  m_memoryPlot->graph(3)->removeFromLegend();
  m_memoryPlot->legend->setVisible(true);
  m_capacityLine = new QCPItemStraightLine(m_memoryPlot);
  m_capacityLine->setPen(QPen(palette().color(QPalette::WindowText), 1, Qt::DashLine));
  m_capacityLine->point1->setCoords(0, 1);
  m_capacityLine->point2->setCoords(1, 1);
  m_capacityLine->setVisible(false);
  m_throughputPlot = makePlot(live, "throughputPlot", tr("Throughput"), tr("step"), tr("tokens/s"),
                              tr("Input tokens processed per second in every step"));
  addGraph(m_throughputPlot, tr("tokens/s"), 2);
  auto* grid = new QGridLayout(live);
  grid->setContentsMargins(0, 0, 0, 0);
  grid->addWidget(m_lossPlot, 0, 0);
  grid->addWidget(m_lrPlot, 0, 1);
  grid->addWidget(m_memoryPlot, 1, 0);
  grid->addWidget(m_throughputPlot, 1, 1);

  // The twin run's overlay.
  auto* twin = new QWidget(this);
  m_twinLossPlot = makePlot(twin, "twinLossPlot", tr("Twin run: training loss"), tr("step"), tr("loss"),
                            tr("Training loss of the LoRA and the LoRA-FA run of the last twin run"));
  m_twinMemoryPlot = makePlot(twin, "twinMemoryPlot", tr("Twin run: engine memory"), tr("time (s)"), tr("MiB"),
                              tr("Memory the engine allocated during the LoRA and the LoRA-FA run of the last twin run"));
  for (QCustomPlot* plot : {m_twinLossPlot, m_twinMemoryPlot}) {
    addGraph(plot, QStringLiteral("LoRA"), 3);
    addGraph(plot, QStringLiteral("LoRA-FA"), 0);
    plot->legend->setVisible(true);
  }
  m_twinSummary = new QLabel(tr("A twin run trains the current configuration with LoRA and then with LoRA-FA, "
                                "and compares them here."),
                             twin);
  m_twinSummary->setObjectName("twinSummary");
  m_twinSummary->setWordWrap(true);
  m_twinSummary->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* twinLayout = new QGridLayout(twin);
  twinLayout->setContentsMargins(0, 0, 0, 0);
  twinLayout->addWidget(m_twinLossPlot, 0, 0);
  twinLayout->addWidget(m_twinMemoryPlot, 0, 1);
  twinLayout->addWidget(m_twinSummary, 1, 0, 1, 2);

  m_plotTabs = new QTabWidget(this);
  m_plotTabs->setObjectName("plotTabs");
  m_plotTabs->addTab(live, tr("Live"));
  m_plotTabs->addTab(twin, tr("Twin run"));

  m_log = new QPlainTextEdit(this);
  m_log->setObjectName("logView");
  m_log->setReadOnly(true);
  m_log->setMaximumBlockCount(5000);
  m_log->setToolTip(tr("The run's log: what the trainer reports and every change of state"));
  m_log->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));

  auto* splitter = new QSplitter(Qt::Vertical, this);
  splitter->setObjectName("trainSplitter");
  splitter->addWidget(m_plotTabs);
  splitter->addWidget(m_log);
  splitter->setStretchFactor(0, 4);
  splitter->setStretchFactor(1, 1);

  auto* layout = new QVBoxLayout(this);
  layout->addWidget(m_liveLabel);
  layout->addLayout(buttons);
  layout->addWidget(m_blockedReason);
  layout->addLayout(progressRow);
  m_calibrationLabel = new QLabel(tr("Memory after step 1: the planner's prediction next to what the run measures "
                                     "appears here once a run's first step is done."),
                                  this);
  m_calibrationLabel->setObjectName("memoryCalibrationLabel");
  m_calibrationLabel->setWordWrap(true);
  m_calibrationLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_calibrationLabel->setToolTip(
      tr("The memory planner's predicted peak for this run's configuration and device, and the peak the run measured "
         "by its first optimizer step (the tracked tensors on the CPU, CUDA's peak allocated on a GPU); the percentage "
         "is (predicted − measured) / measured"));
  layout->addWidget(m_calibrationLabel);
  layout->addWidget(splitter, 1);

  m_rssTimer = new QTimer(this);
  m_rssTimer->setInterval(kRssIntervalMs);
  connect(m_rssTimer, &QTimer::timeout, this, &TrainPage::sampleProcessMemory);

  connect(m_startButton, &QPushButton::clicked, this, &TrainPage::startRun);
  connect(m_pauseButton, &QPushButton::clicked, this, &TrainPage::togglePause);
  connect(m_stopButton, &QPushButton::clicked, this, [this] { stopRun(false); });
  connect(m_twinButton, &QPushButton::clicked, this, &TrainPage::startTwin);

  connect(m_context.draft, &RunDraft::problemsChanged, this, &TrainPage::updateControls);
  connect(controller, &TrainingController::runStarted, this, &TrainPage::onRunStarted);
  connect(controller, &TrainingController::stepsArrived, this, &TrainPage::onSteps);
  connect(controller, &TrainingController::evalsArrived, this, &TrainPage::onEvals);
  connect(controller, &TrainingController::memoryArrived, this, &TrainPage::onMemory);
  connect(controller, &TrainingController::stateChanged, this, &TrainPage::onState);
  connect(controller, &TrainingController::runFinished, this, &TrainPage::onRunFinished);
  connect(controller, &TrainingController::pausedChanged, this, [this](bool paused) {
    appendLog(paused ? tr("pause requested: the run pauses after the current step") : tr("resumed"));
    updateControls();
  });
  connect(controller, &TrainingController::logArrived, this, [this](LogLevel level, const QString& message) {
    const char* prefix = level == LogLevel::Error ? "error" : level == LogLevel::Warning ? "warning" : "info";
    appendLog(QStringLiteral("%1: %2").arg(QLatin1String(prefix), message));
  });

  connect(m_twin, &TrainTwinRun::phaseStarted, this, [this](int index, const QString& label) {
    appendLog(tr("twin run %1 of 2: %2").arg(index + 1).arg(label));
    m_twinLossPlot->graph(index)->data()->clear();
    m_twinMemoryPlot->graph(index)->data()->clear();
    m_twinPeakBytes[index] = 0.0;
    m_twinLastLoss[index] = 0.0;
  });
  connect(m_twin, &TrainTwinRun::phaseFinished, this, [this](int index, qint64, const TrainResult& result) {
    if (index >= 0 && index < 2) m_twinPeakBytes[index] = std::max(m_twinPeakBytes[index], static_cast<double>(result.peakMemoryBytes));
  });
  connect(m_twin, &TrainTwinRun::finished, this, [this](bool completed, const QVector<qint64>& runIds) {
    if (completed) {
      const double ratio = m_twinPeakBytes[1] > 0 ? m_twinPeakBytes[0] / m_twinPeakBytes[1] : 0.0;
      m_twinSummary->setText(tr("LoRA (run %1): final loss %2, peak engine memory %3.   LoRA-FA (run %4): final loss %5, "
                                "peak engine memory %6 (LoRA needs %7× as much).")
                                 .arg(runIds.value(0))
                                 .arg(m_twinLastLoss[0], 0, 'f', 4)
                                 .arg(formatBytes(m_twinPeakBytes[0]))
                                 .arg(runIds.value(1))
                                 .arg(m_twinLastLoss[1], 0, 'f', 4)
                                 .arg(formatBytes(m_twinPeakBytes[1]))
                                 .arg(ratio, 0, 'f', 2));
      m_plotTabs->setCurrentIndex(1);
    } else {
      m_twinSummary->setText(tr("The twin run did not complete; the curves show what ran."));
    }
    appendLog(completed ? tr("twin run complete") : tr("twin run ended early"));
    updateControls();
    Q_EMIT twinFinished(completed, runIds);
  });

  updateControls();
}

RunConfig TrainPage::configForStart() const {
  RunConfig config = m_context.draft->config();
  if (config.name.empty()) config.name = "run";
  config.outputDir = m_context.paths.freshRunDir(QString::fromStdString(config.name)).toStdString();
  return config;
}

bool TrainPage::canStart() const {
  return m_context.draft->canStart() && !m_context.controller->isActive() && !m_twin->isActive() && !m_overCapacity;
}

OverCapacityDialog* TrainPage::overCapacityDialog() const { return m_overCapacity.data(); }

bool TrainPage::isTwinActive() const { return m_twin->isActive(); }

void TrainPage::startRun() {
  if (!canStart() || m_overCapacity) return;
  // Before launching: the selected method's predicted peak against the device's capacity. One
  // call of the planner (config.json and a module tree on the meta device: milliseconds); a
  // model it cannot read starts without the check (the run's own setup reports the model).
  const RunConfig draft = m_context.draft->config();
  const std::string device = plannedDevice(draft, m_context.engineInfo);
  const MemoryCapacity capacity = deviceCapacity(device, m_context.engineInfo);
  if (capacity.bytes > 0) {
    const std::optional<MemoryEstimate> estimate = predictMethod(draft, device);
    if (estimate && estimate->peak > capacity.bytes) {
      appendLog(tr("predicted peak %1 exceeds %2 (%3): asking what to do")
                    .arg(formatMiB(estimate->peak), capacity.what, formatMiB(capacity.bytes)));
      auto* dialog = new OverCapacityDialog(draft, device, *estimate, capacity, this);
      m_overCapacity = dialog;
      connect(dialog, &OverCapacityDialog::applyAndStart, this, &TrainPage::applyFitAndStart);
      connect(dialog, &OverCapacityDialog::startAnyway, this, &TrainPage::launchRun);
      connect(dialog, &QDialog::finished, this, [this] {
        m_overCapacity = nullptr; // deleted later (WA_DeleteOnClose)
        updateControls();
      });
      dialog->open();
      updateControls();
      return;
    }
  }
  launchRun();
}

void TrainPage::applyFitAndStart(const FitSuggestion& suggestion) {
  appendLog(tr("applied to the configuration: %1").arg(suggestion.text));
  m_context.draft->edit([&](RunConfig& c) { suggestion.apply(c); });
  launchRun();
}

void TrainPage::launchRun() {
  if (!m_context.draft->canStart() || m_context.controller->isActive() || m_twin->isActive()) {
    updateControls();
    return;
  }
  const RunConfig config = configForStart();
  m_runName = QString::fromStdString(config.name);
  m_runId = 0;
  m_stateText = tr("preparing");
  appendLog(tr("starting %1 (%2) in %3")
                .arg(m_runName, methodLabel(config.adapter.method), QString::fromStdString(config.outputDir)));
  m_context.controller->start(config);
  updateLiveLabel();
  updateControls();
}

void TrainPage::startTwin() {
  if (!canStart()) return;
  const QVector<RunConfig> configs = TrainTwinRun::twinConfigs(m_context.draft->config(), m_context.paths.runsOutputDir);
  m_runName = QString::fromStdString(configs.front().name);
  m_runId = 0;
  m_stateText = tr("preparing");
  appendLog(tr("twin run: %1 with LoRA, then with LoRA-FA (seed %2)")
                .arg(QString::fromStdString(m_context.draft->config().name))
                .arg(m_context.draft->config().train.seed));
  m_twin->start(configs);
  updateLiveLabel();
  updateControls();
}

void TrainPage::togglePause() {
  TrainingController* controller = m_context.controller;
  if (!controller->isActive()) return;
  if (controller->isPaused())
    controller->resume();
  else
    controller->pause();
}

void TrainPage::stopRun(bool interrupted) {
  m_twin->cancel();
  if (!m_context.controller->isActive()) return;
  appendLog(tr("stop requested: the run stops after the current step and writes a checkpoint"));
  m_context.controller->stop(interrupted);
}

void TrainPage::updateControls() {
  const TrainingController* controller = m_context.controller;
  const bool active = controller->isActive() || m_twin->isActive();
  const bool startable = canStart();
  m_startButton->setEnabled(startable);
  m_twinButton->setEnabled(startable);
  m_pauseButton->setEnabled(controller->isActive());
  m_pauseButton->setText(controller->isPaused() ? tr("Resume") : tr("Pause"));
  m_stopButton->setEnabled(controller->isActive());
  QString reason;
  if (!m_context.draft->canStart())
    reason = tr("Cannot start: %1").arg(m_context.draft->firstProblem());
  else if (active)
    reason = tr("A run is in progress: stop it before starting another.");
  else if (m_overCapacity)
    reason = tr("The run is predicted not to fit in memory: choose in the dialog.");
  m_blockedReason->setText(reason);
  m_blockedReason->setVisible(!reason.isEmpty());
  Q_EMIT controlsChanged();
}

void TrainPage::resetLivePlots() {
  for (QCustomPlot* plot : {m_lossPlot, m_lrPlot, m_memoryPlot, m_throughputPlot}) {
    for (int i = 0; i < plot->graphCount(); ++i) plot->graph(i)->data()->clear();
    plot->replot(QCustomPlot::rpQueuedReplot);
  }
  m_memoryPlot->graph(2)->removeFromLegend();
  m_memoryPlot->graph(3)->removeFromLegend();
  m_stepTimeSumMs = 0.0;
  m_stepTimeCount = 0;
  m_lastStep = 0;
  m_haveEngineOffset = false;
  m_capacityBytes = 0.0;
  m_capacityLine->setVisible(false);
  m_runClock.invalidate();
}

void TrainPage::onRunStarted(qint64 runId, const QString& name, qint64 totalSteps) {
  resetLivePlots();
  m_runClock.start();
  m_runId = runId;
  m_runName = name;
  m_totalSteps = totalSteps;
  m_progress->setRange(0, static_cast<int>(std::max<qint64>(1, totalSteps)));
  m_progress->setValue(0);
  m_etaLabel->setText(tr("waiting for the first step"));
  appendLog(tr("run %1 (%2) started: %3 steps").arg(runId).arg(name).arg(totalSteps));
  predictRunMemory(runId);
  // The device's capacity: the GPU the run uses when the engine reports one, else this machine's RAM.
  setCapacity(physicalMemoryBytes(), tr("RAM"));
  sampleProcessMemory();
  m_rssTimer->start();
  updateLiveLabel();
  updateControls();
}

void TrainPage::predictRunMemory(qint64 runId) {
  const int request = ++m_predictionRequest;
  m_predictionReady = false;
  m_predictedPeakBytes.reset();
  m_noPredictionReason.clear();
  m_firstStep = 0;
  m_firstStepPeakBytes = 0;
  m_calibrationLabel->setText(tr("memory after step 1: waiting for the run's first step"));
  struct Prediction {
    std::optional<qint64> peak;
    QString reason;
  };
  // The run's configuration as stored (a started, twin or resumed run alike).
  BackgroundTask::run(
      nullptr, this,
      [store = m_context.controller->runStorePath().toStdString(), runId,
       info = m_context.engineInfo]() -> Prediction {
        Prediction p;
        try {
          RunStore runs(store);
          const std::optional<RunInfo> run = runs.run(runId);
          if (!run) return {std::nullopt, QObject::tr("run %1 is not in the store").arg(runId)};
          const RunConfig config =
              parseRunConfig(run->configText, "run " + std::to_string(runId) + " config");
          const MemoryPrediction all = predictAllMethods(config, plannedDevice(config, info));
          for (const MemoryEstimate& e : all.estimates)
            if (e.method == config.adapter.method) p.peak = e.peak;
          if (!p.peak) p.reason = all.error;
        } catch (const std::exception& e) {
          p.reason = QString::fromStdString(e.what());
        }
        return p;
      },
      [this, request](const Prediction& prediction) {
        if (request != m_predictionRequest) return;
        m_predictionReady = true;
        m_predictedPeakBytes = prediction.peak;
        m_noPredictionReason = prediction.reason;
        updateCalibration();
      });
}

void TrainPage::updateCalibration() {
  if (m_firstStep == 0 || !m_predictionReady) return;
  const QString text = calibrationText(m_firstStep, m_predictedPeakBytes, m_firstStepPeakBytes, m_noPredictionReason);
  if (m_calibrationLabel->text() != text) appendLog(text);
  m_calibrationLabel->setText(text);
}

void TrainPage::setCapacity(double bytes, const QString& what) {
  if (bytes <= 0.0) return;
  m_capacityBytes = bytes;
  m_capacityLine->point1->setCoords(0, bytes / kMiB);
  m_capacityLine->point2->setCoords(1, bytes / kMiB);
  m_capacityLine->setVisible(true);
  m_capacityLine->setObjectName(QStringLiteral("capacity %1").arg(what));
  m_memoryPlot->xAxis->setLabel(tr("time (s) — dashed: %1 capacity %2").arg(what, formatBytes(bytes)));
}

void TrainPage::onSteps(const QVector<StepMetrics>& steps) {
  const int twinPhase = m_twin->phase();
  QCPGraph* loss = m_lossPlot->graph(0);
  QCPGraph* lr = m_lrPlot->graph(0);
  QCPGraph* throughput = m_throughputPlot->graph(0);
  if (!steps.isEmpty() && m_firstStep == 0 && m_runId > 0) {
    m_firstStep = steps.front().step;
    m_firstStepPeakBytes = steps.front().memoryPeakBytes;
    updateCalibration();
  }
  for (const StepMetrics& s : steps) {
    const auto step = static_cast<double>(s.step);
    loss->addData(step, s.loss);
    lr->addData(step, s.learningRate);
    throughput->addData(step, s.tokensPerSecond);
    if (twinPhase >= 0 && twinPhase < 2) {
      m_twinLossPlot->graph(twinPhase)->addData(step, s.loss);
      m_twinLastLoss[twinPhase] = s.loss;
    }
    m_stepTimeSumMs += s.stepTimeMs;
    ++m_stepTimeCount;
    m_lastStep = s.step;
    if (s.totalSteps > 0) m_totalSteps = s.totalSteps;
  }
  for (QCustomPlot* plot : {m_lossPlot, m_lrPlot, m_throughputPlot}) {
    rescaleLinear(plot);
    plot->replot(QCustomPlot::rpQueuedReplot);
  }
  if (twinPhase >= 0) {
    rescaleLinear(m_twinLossPlot);
    m_twinLossPlot->replot(QCustomPlot::rpQueuedReplot);
  }
  m_progress->setRange(0, static_cast<int>(std::max<qint64>(1, m_totalSteps)));
  m_progress->setValue(static_cast<int>(m_lastStep));
  const double meanMs = m_stepTimeCount > 0 ? m_stepTimeSumMs / static_cast<double>(m_stepTimeCount) : 0.0;
  const qint64 remaining = std::max<qint64>(0, m_totalSteps - m_lastStep);
  m_etaLabel->setText(tr("ETA %1 (%2 s/step)").arg(formatDuration(meanMs * static_cast<double>(remaining) / 1000.0))
                          .arg(meanMs / 1000.0, 0, 'f', 2));
}

void TrainPage::onEvals(const QVector<EvalMetrics>& evals) {
  QCPGraph* eval = m_lossPlot->graph(1);
  for (const EvalMetrics& e : evals) {
    eval->addData(static_cast<double>(e.step), e.loss);
    QString line = tr("eval at step %1: loss %2, perplexity %3").arg(e.step).arg(e.loss, 0, 'f', 4).arg(e.perplexity, 0, 'f', 2);
    if (e.accuracy) line += tr(", accuracy %1").arg(*e.accuracy, 0, 'f', 4);
    if (e.exactMatch) line += tr(", exact match %1").arg(*e.exactMatch, 0, 'f', 4);
    if (e.bleu) line += tr(", BLEU %1").arg(*e.bleu, 0, 'f', 2);
    appendLog(line);
  }
  rescaleLinear(m_lossPlot);
  m_lossPlot->replot(QCustomPlot::rpQueuedReplot);
}

void TrainPage::onMemory(const QVector<MemorySample>& samples) {
  if (samples.isEmpty()) return;
  if (!m_runClock.isValid()) m_runClock.start();
  if (!m_haveEngineOffset) {
    // The engine's clock starts when its monitor does; map it onto this page's run clock.
    m_engineOffsetMs = static_cast<double>(m_runClock.elapsed()) - static_cast<double>(samples.back().timestampMs);
    m_haveEngineOffset = true;
  }
  const int twinPhase = m_twin->phase();
  for (const MemorySample& s : samples) {
    const double t = (static_cast<double>(s.timestampMs) + m_engineOffsetMs) / 1000.0;
    const double engine = engineBytes(s);
    if (engine > 0) m_memoryPlot->graph(0)->addData(t, engine / kMiB);
    if (s.cudaTracked && s.cudaReservedBytes > 0) {
      m_memoryPlot->graph(2)->addData(t, static_cast<double>(s.cudaReservedBytes) / kMiB);
      m_memoryPlot->graph(2)->addToLegend();
    }
    if (s.deviceTracked && s.deviceUsedBytes > 0) {
      m_memoryPlot->graph(3)->addData(t, static_cast<double>(s.deviceUsedBytes) / kMiB);
      m_memoryPlot->graph(3)->addToLegend();
    }
    if (twinPhase >= 0 && twinPhase < 2 && engine > 0) {
      m_twinMemoryPlot->graph(twinPhase)->addData(static_cast<double>(s.timestampMs) / 1000.0, engine / kMiB);
      m_twinPeakBytes[twinPhase] = std::max(m_twinPeakBytes[twinPhase], engine);
    }
  }
  const MemorySample& last = samples.back();
  if (last.cudaTracked) {
    double total = last.deviceTracked ? static_cast<double>(last.deviceTotalBytes) : 0.0;
    if (total <= 0.0 && !m_context.engineInfo.gpus.empty()) {
      total = static_cast<double>(m_context.engineInfo.gpus.front().totalBytes);
      const QString device = QString::fromStdString(m_context.draft->config().train.device);
      const int colon = device.indexOf(':');
      const int index = colon >= 0 ? device.mid(colon + 1).toInt() : 0;
      for (const GpuDeviceInfo& gpu : m_context.engineInfo.gpus)
        if (gpu.index == index) total = static_cast<double>(gpu.totalBytes);
    }
    if (total > 0.0 && total != m_capacityBytes) setCapacity(total, tr("GPU"));
  }
  rescaleMemoryPlot(m_memoryPlot, m_capacityBytes);
  m_memoryPlot->replot(QCustomPlot::rpQueuedReplot);
  if (twinPhase >= 0) {
    m_twinMemoryPlot->rescaleAxes(true);
    QCPRange y = m_twinMemoryPlot->yAxis->range();
    m_twinMemoryPlot->yAxis->setRange(0, std::max(1.0, y.upper * 1.1));
    m_twinMemoryPlot->replot(QCustomPlot::rpQueuedReplot);
  }
}

void TrainPage::rescaleMemoryPlot(QCustomPlot* plot, double capacityBytes) {
  plot->rescaleAxes(true);
  QCPRange y = plot->yAxis->range();
  double upper = std::max(y.upper, capacityBytes / kMiB) * 1.5;
  double lower = y.lower > 0 ? y.lower / 2.0 : 1.0;
  plot->yAxis->setRange(lower, std::max(upper, lower * 10.0));
  QCPRange x = plot->xAxis->range();
  plot->xAxis->setRange(0, std::max(1.0, x.upper));
}

void TrainPage::sampleProcessMemory() {
  if (!m_runClock.isValid()) return;
  const double rss = processRssBytes();
  if (rss <= 0) return;
  m_memoryPlot->graph(1)->addData(static_cast<double>(m_runClock.elapsed()) / 1000.0, rss / kMiB);
  rescaleMemoryPlot(m_memoryPlot, m_capacityBytes);
  m_memoryPlot->replot(QCustomPlot::rpQueuedReplot);
}

void TrainPage::onState(TrainerState state, const QString& message) {
  const QString text = QString::fromLatin1(toString(state));
  // The trainer reports "running" again after every step; the log keeps only changes.
  if (text != m_stateText || !message.isEmpty())
    appendLog(message.isEmpty() ? tr("state: %1").arg(text) : tr("state: %1 (%2)").arg(text, message));
  m_stateText = text;
  if (state == TrainerState::Paused) m_etaLabel->setText(tr("paused"));
  updateLiveLabel();
  updateControls();
}

void TrainPage::onRunFinished(qint64 runId, const TrainResult& result) {
  m_rssTimer->stop();
  m_stateText = QString::fromLatin1(toString(result.state));
  if (runId == 0) {
    appendLog(tr("the run could not start: %1").arg(QString::fromStdString(result.message)));
    m_liveLabel->setText(tr("The run could not start: %1").arg(QString::fromStdString(result.message)));
  } else {
    appendLog(tr("run %1 %2: %3").arg(runId).arg(m_stateText, QString::fromStdString(result.message)));
    if (result.state == TrainerState::Completed) {
      m_progress->setValue(m_progress->maximum());
      m_etaLabel->setText(tr("done: %1 steps in %2").arg(result.steps).arg(formatDuration(m_runClock.isValid() ? m_runClock.elapsed() / 1000.0 : 0.0)));
    } else {
      m_etaLabel->setText(m_stateText);
    }
    updateLiveLabel();
  }
  m_runClock.invalidate();
  updateControls();
}

void TrainPage::updateLiveLabel() {
  const bool live = m_context.controller->isActive();
  QString text;
  if (m_runId > 0)
    text = tr("%1 run %2: <b>%3</b> — %4").arg(live ? tr("Live") : tr("Last")).arg(m_runId).arg(m_runName.toHtmlEscaped(), m_stateText);
  else
    text = tr("%1 <b>%2</b> — %3").arg(live ? tr("Live:") : tr("Last:"), m_runName.toHtmlEscaped(), m_stateText);
  m_liveLabel->setText(text);
}

void TrainPage::appendLog(const QString& line) {
  m_log->appendPlainText(QDateTime::currentDateTime().toString("HH:mm:ss ") + line);
}

} // namespace lorafa::ui
