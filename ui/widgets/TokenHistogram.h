#pragma once

#include "lorafa/DatasetStatistics.h"

#include "QCustomPlotInclude.h"

#include <cstdint>

namespace lorafa::ui {

/// Token lengths of a dataset's examples as bars (DatasetStatistics::histogram), with a vertical
/// line at the max length: the examples right of it get cut. Colours come from the palette.
class TokenHistogram : public QCustomPlot {
  Q_OBJECT
public:
  explicit TokenHistogram(QWidget* parent = nullptr);

  /// Shows `statistics`' bins; an empty histogram clears the bars.
  void setStatistics(const DatasetStatistics& statistics);
  void clearStatistics();
  /// Moves the max-length line (cheap: no recount).
  void setMaxLength(std::int64_t maxLength);

  QCPBars* bars() const { return m_bars; }
  QCPItemStraightLine* maxLengthLine() const { return m_maxLine; }
  /// The x position of the max-length line.
  double maxLengthPosition() const;
  /// Sum of the bars' counts.
  std::size_t barTotal() const;

protected:
  void changeEvent(QEvent* event) override;

private:
  void applyPalette();
  void rescale();

  QCPBars* m_bars = nullptr;
  QCPItemStraightLine* m_maxLine = nullptr;
  QCPItemText* m_maxLabel = nullptr;
  std::int64_t m_maxLength = 0;
  std::int64_t m_dataEnd = 0;
  double m_highestBar = 0.0;
};

} // namespace lorafa::ui
