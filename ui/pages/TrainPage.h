#pragma once

#include "lorafa/RunConfig.h"
#include "lorafa/TrainerObserver.h"

#include <QElapsedTimer>
#include <QPointer>
#include <QVector>
#include <QWidget>

#include <optional>

class QCPItemStraightLine;
class QCustomPlot;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QTabWidget;
class QTimer;

namespace lorafa::ui {

struct StudioContext;
class OverCapacityDialog;
class TrainTwinRun;
struct FitSuggestion;

/// The Train page: start, pause, resume and stop the run of the edited configuration, follow it
/// live (progress and ETA, loss, learning rate, memory, tokens/s, the log), and run a twin (the
/// configuration with LoRA, then with LoRA-FA) whose loss and memory are overlaid. Everything
/// comes from the TrainingController's batched signals; the page never waits on training.
class TrainPage : public QWidget {
  Q_OBJECT
public:
  explicit TrainPage(StudioContext& context, QWidget* parent = nullptr);

  /// The configuration Start runs: the draft with a fresh output folder under the studio's runs
  /// folder (never the config file's output_dir).
  RunConfig configForStart() const;
  /// Start (and Twin) are allowed: the draft has no problem and no run is active.
  bool canStart() const;
  bool isTwinActive() const;
  /// The warning Start opened because the run is predicted not to fit (null when none is open).
  OverCapacityDialog* overCapacityDialog() const;

public Q_SLOTS:
  /// Starts the draft; when its method's predicted peak exceeds the device's capacity, opens the
  /// over-capacity dialog instead, which starts it (changed or as it is) or cancels.
  void startRun();
  void togglePause();
  /// Stops the run (and a twin's remaining run) after the current step, with a checkpoint;
  /// `interrupted`: recorded `interrupted` (the window is closing) instead of `stopped`.
  void stopRun(bool interrupted = false);
  void startTwin();

Q_SIGNALS:
  /// Whether Start and Stop/Pause are possible changed (the window's Run menu follows).
  void controlsChanged();
  /// A twin run ended; runIds holds the LoRA and LoRA-FA run ids that were recorded.
  void twinFinished(bool completed, const QVector<qint64>& runIds);

private:
  void updateControls();
  void launchRun();
  void applyFitAndStart(const FitSuggestion& suggestion);
  void predictRunMemory(qint64 runId);
  void updateCalibration();
  void onRunStarted(qint64 runId, const QString& name, qint64 totalSteps);
  void onSteps(const QVector<lorafa::StepMetrics>& steps);
  void onEvals(const QVector<lorafa::EvalMetrics>& evals);
  void onMemory(const QVector<lorafa::MemorySample>& samples);
  void onState(lorafa::TrainerState state, const QString& message);
  void onRunFinished(qint64 runId, const lorafa::TrainResult& result);
  void sampleProcessMemory();
  void appendLog(const QString& line);
  void resetLivePlots();
  void updateLiveLabel();
  void setCapacity(double bytes, const QString& what);
  void rescaleMemoryPlot(QCustomPlot* plot, double capacityBytes);

  StudioContext& m_context;
  TrainTwinRun* m_twin = nullptr;

  QLabel* m_liveLabel = nullptr;
  QPushButton* m_startButton = nullptr;
  QPushButton* m_pauseButton = nullptr;
  QPushButton* m_stopButton = nullptr;
  QPushButton* m_twinButton = nullptr;
  QLabel* m_blockedReason = nullptr;
  QProgressBar* m_progress = nullptr;
  QLabel* m_etaLabel = nullptr;
  QTabWidget* m_plotTabs = nullptr;
  QCustomPlot* m_lossPlot = nullptr;
  QCustomPlot* m_lrPlot = nullptr;
  QCustomPlot* m_memoryPlot = nullptr;
  QCustomPlot* m_throughputPlot = nullptr;
  QCustomPlot* m_twinLossPlot = nullptr;
  QCustomPlot* m_twinMemoryPlot = nullptr;
  QLabel* m_twinSummary = nullptr;
  QPlainTextEdit* m_log = nullptr;
  QCPItemStraightLine* m_capacityLine = nullptr;
  QTimer* m_rssTimer = nullptr;
  QLabel* m_calibrationLabel = nullptr;
  QPointer<OverCapacityDialog> m_overCapacity;

  // The live run.
  qint64 m_runId = 0;
  QString m_runName;
  QString m_stateText;
  qint64 m_totalSteps = 0;
  qint64 m_lastStep = 0;
  double m_stepTimeSumMs = 0.0;
  qint64 m_stepTimeCount = 0;
  QElapsedTimer m_runClock;       ///< since runStarted: the memory plot's time axis
  bool m_haveEngineOffset = false;
  double m_engineOffsetMs = 0.0;  ///< run clock minus the engine monitor's clock
  double m_capacityBytes = 0.0;
  // The twin run: per phase, the peak engine memory and the last loss seen.
  double m_twinPeakBytes[2] = {0.0, 0.0};
  double m_twinLastLoss[2] = {0.0, 0.0};
  // Calibration after the run's first step: the planner's peak for the run's configuration
  // (computed off the UI thread from the run's stored config) next to the peak the run measured.
  int m_predictionRequest = 0;
  bool m_predictionReady = false;
  std::optional<qint64> m_predictedPeakBytes;
  QString m_noPredictionReason;
  qint64 m_firstStep = 0; ///< 0 until the run's first step arrived
  qint64 m_firstStepPeakBytes = 0;
};

} // namespace lorafa::ui
