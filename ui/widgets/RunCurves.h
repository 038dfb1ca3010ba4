#pragma once

#include <QColor>
#include <QString>
#include <QVector>
#include <QWidget>

class QCustomPlot;

namespace lorafa::ui {

/// What one run contributes to the overlay: train loss per step, engine memory over time.
struct RunCurve {
  qint64 id = 0;
  QString name;
  QVector<double> lossSteps;
  QVector<double> losses;
  QVector<double> memorySeconds; ///< since the run's first sample
  QVector<double> memoryMiB;     ///< engine bytes (CUDA allocated when on a GPU, else the CPU allocator)
};

/// The Runs page's overlay: "runsLossPlot" (train loss vs step) and "runsMemoryPlot" (memory vs
/// time), one graph per selected run in the same colour on both, with a legend of run names.
class RunCurves : public QWidget {
  Q_OBJECT
public:
  explicit RunCurves(QWidget* parent = nullptr);

  /// A fixed qualitative palette (Tableau 10): distinct hues readable on light and dark grounds.
  static QColor colour(int index);

  /// Replaces the graphs with these runs, coloured by their position in `curves`.
  void setCurves(const QVector<RunCurve>& curves);

protected:
  void changeEvent(QEvent* event) override;

private:
  void applyPalette();

  QCustomPlot* m_loss = nullptr;
  QCustomPlot* m_memory = nullptr;
};

} // namespace lorafa::ui
