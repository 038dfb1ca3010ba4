#pragma once

#include "MemoryPlanning.h"

#include "lorafa/MemoryEstimate.h"

#include <QWidget>

#include <vector>

class QCPItemStraightLine;
class QCPItemText;
class QCustomPlot;
class QLabel;

namespace lorafa::ui {

/// The memory planner's chart: one stacked bar per method (full, LoRA, LoRA-FA) split into what
/// is alive at its predicted peak — weights, gradients, optimizer state, saved activations by
/// kind, logits and loss, attention workspace, other workspace, allocator overhead — against a
/// dashed line at the device's capacity. The selected method is outlined. When there is no
/// prediction (a model folder without config.json, ...) the chart gives way to the reason.
/// Colours come from the widget's palette, so it reads on light and dark themes.
class MemoryBreakdownChart : public QWidget {
  Q_OBJECT
public:
  explicit MemoryBreakdownChart(QWidget* parent = nullptr);

  /// Shows `estimates` (full, LoRA, LoRA-FA) with `selected` outlined.
  void setEstimates(const std::vector<MemoryEstimate>& estimates, TrainMethod selected);
  /// Shows why there is no prediction instead of the chart.
  void setError(const QString& reason);
  void setCapacity(const MemoryCapacity& capacity);

  const std::vector<MemoryEstimate>& estimates() const { return m_estimates; }
  const MemoryCapacity& capacity() const { return m_capacity; }
  TrainMethod selectedMethod() const { return m_selected; }
  QCustomPlot* plot() const { return m_plot; }

protected:
  bool eventFilter(QObject* watched, QEvent* event) override;
  void changeEvent(QEvent* event) override;

private:
  void rebuild();
  void updateLabels();
  QString segmentToolTip(const QString& shareName, int barIndex) const;

  QCustomPlot* m_plot = nullptr;
  QLabel* m_capacityLabel = nullptr;
  QLabel* m_summaryLabel = nullptr;
  QCPItemStraightLine* m_capacityLine = nullptr;
  QCPItemText* m_capacityText = nullptr;
  std::vector<MemoryEstimate> m_estimates;
  std::vector<QVector<PeakShare>> m_shares; ///< per bar
  TrainMethod m_selected = TrainMethod::LoraFa;
  MemoryCapacity m_capacity;
  QString m_error;
};

} // namespace lorafa::ui
