#pragma once

#include "lorafa/Export.h"

#include <QString>
#include <QTimer>
#include <QVector>
#include <QWidget>

#include <memory>
#include <mutex>

class QComboBox;
class QLabel;
class QLineEdit;
class QMessageBox;
class QProgressBar;
class QPushButton;
class QRadioButton;

namespace lorafa::ui {

struct StudioContext;

/// The Export page: a stored run with a checkpoint, exported as a PEFT adapter or a merged
/// checkpoint into a folder (a non-empty one only after a confirmation), with progress and the
/// verification (max |Δlogit| of the re-loaded export), all off the UI thread.
class ExportPage : public QWidget {
  Q_OBJECT
public:
  explicit ExportPage(StudioContext& context, QWidget* parent = nullptr);
  ~ExportPage() override;

  /// Re-reads the runs with checkpoints from the run store (off the UI thread).
  void refreshRuns();
  /// As the Export button: validates, asks before replacing a non-empty folder, then exports.
  void startExport();
  bool isBusy() const { return m_busy; }

Q_SIGNALS:
  void runsLoaded(int count);
  /// An export ended: `ok` false when it failed (the status label says why).
  void exportFinished(bool ok);

protected:
  /// The run list is read when the page is first shown (and on Refresh, and when a run ends),
  /// not when the window is built.
  void showEvent(QShowEvent* event) override;

private:
  struct RunEntry {
    qint64 id = 0;
    QString label;
    QString configText;
    QString method;
  };
  struct Outcome {
    bool ok = false;
    QString error;
    lorafa::ExportResult result;
  };
  /// What the exporting thread reports; read by a timer on the UI thread.
  struct Progress {
    std::mutex mutex;
    QString message;
    double fraction = 0.0;
  };

  void showRuns(const QVector<RunEntry>& runs);
  void launch(const RunEntry& run, lorafa::ExportOptions options);
  void showOutcome(const Outcome& outcome);
  void updateControls();

  StudioContext& m_context;
  QComboBox* m_runCombo;
  QPushButton* m_refreshButton;
  QRadioButton* m_adapterRadio;
  QRadioButton* m_mergedRadio;
  QLineEdit* m_targetEdit;
  QPushButton* m_browseButton;
  QPushButton* m_exportButton;
  QProgressBar* m_progressBar;
  QLabel* m_statusLabel;
  QLabel* m_verificationLabel;
  QMessageBox* m_confirmBox = nullptr;
  QVector<RunEntry> m_runs;
  std::shared_ptr<Progress> m_progress;
  QTimer m_progressTimer;
  bool m_busy = false;
  bool m_loadedOnce = false;
  bool m_loadingRuns = false; ///< a read of the run list is on its way
};

} // namespace lorafa::ui
