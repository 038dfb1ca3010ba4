#include "TokenHistogram.h"

#include <algorithm>

namespace lorafa::ui {

TokenHistogram::TokenHistogram(QWidget* parent) : QCustomPlot(parent) {
  m_bars = new QCPBars(xAxis, yAxis);
  m_bars->setName(tr("examples"));
  m_bars->setWidthType(QCPBars::wtPlotCoords);
  m_maxLine = new QCPItemStraightLine(this);
  m_maxLabel = new QCPItemText(this);
  m_maxLabel->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
  m_maxLabel->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
  xAxis->setLabel(tr("tokens per example"));
  yAxis->setLabel(tr("examples"));
  // Counts are whole: ticks at multiples of 1 (1, 2, 5, 10, … as the range grows).
  QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
  ticker->setTickStep(1.0);
  ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  yAxis->setTicker(ticker);
  yAxis->setNumberFormat("f");
  yAxis->setNumberPrecision(0);
  setMinimumHeight(160);
  setToolTip(
      tr("How many examples have how many tokens; the line is the max length (longer examples are cut)"));
  applyPalette();
  setMaxLength(0);
}

void TokenHistogram::applyPalette() {
  const QPalette p = palette();
  const QColor text = p.color(QPalette::WindowText);
  setBackground(p.brush(QPalette::Base));
  for (QCPAxis* axis : {xAxis, yAxis}) {
    axis->setBasePen(QPen(text));
    axis->setTickPen(QPen(text));
    axis->setSubTickPen(QPen(text));
    axis->setTickLabelColor(text);
    axis->setLabelColor(text);
    axis->grid()->setPen(QPen(p.color(QPalette::Mid), 0, Qt::DotLine));
  }
  QColor fill = p.color(QPalette::Highlight);
  m_bars->setPen(QPen(fill.darker(120)));
  fill.setAlpha(170);
  m_bars->setBrush(fill);
  QPen linePen(p.color(QPalette::Link), 2, Qt::DashLine);
  m_maxLine->setPen(linePen);
  m_maxLabel->setColor(p.color(QPalette::Link));
}

void TokenHistogram::changeEvent(QEvent* event) {
  QCustomPlot::changeEvent(event);
  if (event->type() == QEvent::PaletteChange || event->type() == QEvent::ApplicationPaletteChange) {
    applyPalette();
    replot();
  }
}

void TokenHistogram::setStatistics(const DatasetStatistics& statistics) {
  QVector<double> keys;
  QVector<double> values;
  double width = 1.0;
  m_highestBar = 0.0;
  m_dataEnd = 0;
  for (const HistogramBin& bin : statistics.histogram) {
    keys << (static_cast<double>(bin.from) + static_cast<double>(bin.to)) / 2.0;
    values << static_cast<double>(bin.count);
    width = std::max(1.0, static_cast<double>(bin.to - bin.from));
    m_highestBar = std::max(m_highestBar, static_cast<double>(bin.count));
    m_dataEnd = std::max(m_dataEnd, bin.to);
  }
  m_bars->setWidth(width);
  m_bars->setData(keys, values, true);
  rescale();
  replot();
}

void TokenHistogram::clearStatistics() {
  m_bars->data()->clear();
  m_highestBar = 0.0;
  m_dataEnd = 0;
  rescale();
  replot();
}

void TokenHistogram::setMaxLength(std::int64_t maxLength) {
  m_maxLength = maxLength;
  const double x = static_cast<double>(maxLength);
  m_maxLine->point1->setCoords(x, 0.0);
  m_maxLine->point2->setCoords(x, 1.0);
  m_maxLabel->position->setCoords(x, 0.02);
  m_maxLine->setVisible(maxLength > 0);
  m_maxLabel->setVisible(maxLength > 0);
  rescale();
  replot();
}

void TokenHistogram::rescale() {
  // Both the bars and the line stay in view.
  const double right =
      std::max<double>({static_cast<double>(m_dataEnd), static_cast<double>(m_maxLength), 8.0});
  xAxis->setRange(0.0, right * 1.05);
  // The line's label goes on the side with room for it.
  const bool nearRightEdge = static_cast<double>(m_maxLength) > 0.7 * right * 1.05;
  m_maxLabel->setPositionAlignment((nearRightEdge ? Qt::AlignRight : Qt::AlignLeft) | Qt::AlignTop);
  m_maxLabel->setText(nearRightEdge ? tr("max length %1 ").arg(m_maxLength)
                                    : tr(" max length %1").arg(m_maxLength));
  yAxis->setRange(0.0, std::max(1.0, m_highestBar * 1.1));
}

double TokenHistogram::maxLengthPosition() const { return m_maxLine->point1->coords().x(); }

std::size_t TokenHistogram::barTotal() const {
  double total = 0.0;
  for (auto it = m_bars->data()->constBegin(); it != m_bars->data()->constEnd(); ++it)
    total += it->value;
  return static_cast<std::size_t>(total + 0.5);
}

} // namespace lorafa::ui
