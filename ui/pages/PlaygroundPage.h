#pragma once

#include <QThreadPool>
#include <QWidget>

#include <memory>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTimer;

namespace lorafa::ui {

struct StudioContext;
class RunInference;
class RunStoreAccess;

/// Base model and base + adapter continuations of one prompt, side by side. The run list (runs
/// with a checkpoint) is read from the store off the UI thread like the Runs page's; models load
/// and generate on one worker thread of their own, and stay loaded for the next prompt.
class PlaygroundPage : public QWidget {
  Q_OBJECT
public:
  static constexpr int kRefreshIntervalMs = 2000;

  explicit PlaygroundPage(StudioContext& context, QWidget* parent = nullptr);
  ~PlaygroundPage() override;

  bool isBusy() const { return m_busy; }

public Q_SLOTS:
  void refreshRuns();
  void generate();

protected:
  void showEvent(QShowEvent* event) override;

private:
  void setBusy(bool busy, const QString& status);

  StudioContext& m_context;
  QThreadPool m_storePool; // one thread: store reads
  QThreadPool m_modelPool; // one thread that never expires: the sessions live on it
  std::shared_ptr<RunStoreAccess> m_store;
  std::shared_ptr<RunInference> m_inference;
  QComboBox* m_runCombo = nullptr;
  QPlainTextEdit* m_prompt = nullptr;
  QCheckBox* m_instruction = nullptr;
  QLineEdit* m_input = nullptr;
  QSpinBox* m_maxTokens = nullptr;
  QDoubleSpinBox* m_temperature = nullptr;
  QSpinBox* m_seed = nullptr;
  QPushButton* m_generate = nullptr;
  QProgressBar* m_busyBar = nullptr;
  QLabel* m_status = nullptr;
  QPlainTextEdit* m_baseOutput = nullptr;
  QPlainTextEdit* m_adapterOutput = nullptr;
  QTimer* m_timer = nullptr;
  qint64 m_wantedRunId = 0; ///< the run chosen last time, selected once the list has it
  bool m_busy = false;
  bool m_refreshing = false;
};

} // namespace lorafa::ui
