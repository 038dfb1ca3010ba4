#include "RunCurves.h"

#include "QCustomPlotInclude.h"

#include <QEvent>
#include <QHBoxLayout>

namespace lorafa::ui {
namespace {

QCustomPlot* makePlot(QWidget* parent, const char* objectName, const QString& x, const QString& y,
                      const QString& tip) {
  auto* plot = new QCustomPlot(parent);
  plot->setObjectName(objectName);
  plot->setMinimumSize(240, 180);
  plot->xAxis->setLabel(x);
  plot->yAxis->setLabel(y);
  plot->legend->setVisible(true);
  plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  plot->setToolTip(tip);
  return plot;
}

void stylePlot(QCustomPlot* plot, const QPalette& palette) {
  const QColor text = palette.color(QPalette::WindowText);
  plot->setBackground(palette.brush(QPalette::Base));
  for (QCPAxis* axis : {plot->xAxis, plot->yAxis}) {
    axis->setBasePen(QPen(text));
    axis->setTickPen(QPen(text));
    axis->setSubTickPen(QPen(text));
    axis->setTickLabelColor(text);
    axis->setLabelColor(text);
    QColor grid = text;
    grid.setAlpha(40);
    axis->grid()->setPen(QPen(grid, 0, Qt::DotLine));
  }
  plot->legend->setBrush(palette.brush(QPalette::Base));
  plot->legend->setTextColor(text);
  plot->legend->setBorderPen(QPen(palette.color(QPalette::Mid)));
}

} // namespace

RunCurves::RunCurves(QWidget* parent) : QWidget(parent) {
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  m_loss = makePlot(this, "runsLossPlot", tr("step"), tr("train loss"),
                    tr("Training loss per step of the selected runs (drag to pan, wheel to zoom)"));
  m_memory = makePlot(this, "runsMemoryPlot", tr("time (s)"), tr("memory (MiB)"),
                      tr("Engine memory of the selected runs over time since each run's first sample"));
  layout->addWidget(m_loss);
  layout->addWidget(m_memory);
  applyPalette();
}

QColor RunCurves::colour(int index) {
  static const QRgb kTableau10[] = {0x4e79a7, 0xf28e2b, 0xe15759, 0x76b7b2, 0x59a14f,
                                    0xedc948, 0xb07aa1, 0xff9da7, 0x9c755f, 0xbab0ac};
  constexpr int n = sizeof kTableau10 / sizeof kTableau10[0];
  return QColor(kTableau10[((index % n) + n) % n]);
}

void RunCurves::setCurves(const QVector<RunCurve>& curves) {
  for (QCustomPlot* plot : {m_loss, m_memory})
    plot->clearGraphs();
  for (int i = 0; i < curves.size(); ++i) {
    const RunCurve& c = curves[i];
    const QPen pen(colour(i), 2);
    QCPGraph* loss = m_loss->addGraph();
    loss->setName(c.name);
    loss->setPen(pen);
    loss->setData(c.lossSteps, c.losses, /*alreadySorted=*/true);
    QCPGraph* memory = m_memory->addGraph();
    memory->setName(c.name);
    memory->setPen(pen);
    memory->setData(c.memorySeconds, c.memoryMiB);
  }
  for (QCustomPlot* plot : {m_loss, m_memory}) {
    plot->legend->setVisible(!curves.isEmpty());
    plot->rescaleAxes();
    plot->replot(QCustomPlot::rpQueuedReplot);
  }
}

void RunCurves::changeEvent(QEvent* event) {
  if (event->type() == QEvent::PaletteChange) applyPalette();
  QWidget::changeEvent(event);
}

void RunCurves::applyPalette() {
  for (QCustomPlot* plot : {m_loss, m_memory}) {
    stylePlot(plot, palette());
    plot->replot(QCustomPlot::rpQueuedReplot);
  }
}

} // namespace lorafa::ui
