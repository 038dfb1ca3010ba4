#include "MemoryBreakdownChart.h"

#include "QCustomPlotInclude.h"

#include <QEvent>
#include <QHelpEvent>
#include <QLabel>
#include <QToolTip>
#include <QVBoxLayout>

#include <algorithm>
#include <map>

namespace lorafa::ui {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
const char* const kShareProperty = "shareName";

QString methodName(TrainMethod method) {
  switch (method) {
  case TrainMethod::Full: return QObject::tr("Full");
  case TrainMethod::Lora: return QObject::tr("LoRA");
  case TrainMethod::LoraFa: return QObject::tr("LoRA-FA");
  default: return QString::fromLatin1(toString(method));
  }
  return {};
}

/// A colour per share: hues spread around the palette's highlight colour, at a saturation and
/// value that read on the palette's base; the saved activations' kinds are shades of one hue.
QColor shareColor(const QPalette& palette, const QString& category, int kindIndex) {
  const QColor highlight = palette.color(QPalette::Highlight).toHsv();
  const int baseHue = highlight.hsvHue() < 0 ? 210 : highlight.hsvHue();
  const bool dark = palette.color(QPalette::Base).lightness() < 128;
  static const std::map<QString, int> offsets = {{"weights", 0},     {"gradients", 200}, {"optimizer", 40},
                                                 {"saved", 120},     {"loss", 280},      {"attention", 320},
                                                 {"workspace", 250}, {"overhead", 160}};
  const auto it = offsets.find(category);
  const int kindShift = category == QLatin1String("saved") ? 14 * kindIndex - 28 : 0;
  const int hue = (baseHue + (it == offsets.end() ? 0 : it->second) + kindShift + 360) % 360;
  int saturation = std::clamp(highlight.hsvSaturation(), 110, 200);
  int value = dark ? 215 : 185;
  if (category == QLatin1String("saved")) {
    // Alternate lighter and darker shades for neighbouring kinds.
    value = std::clamp(value + ((kindIndex % 2) ? -35 : 20) - 10 * (kindIndex / 2), 90, 255);
    saturation = std::clamp(saturation - 25 * (kindIndex % 3), 60, 255);
  }
  if (category == QLatin1String("overhead")) saturation = 40;
  return QColor::fromHsv(hue, saturation, value);
}

QString shareToolTip(const QString& category) {
  if (category == QLatin1String("weights")) return QObject::tr("every parameter: the frozen model, adapters and trainable weights");
  if (category == QLatin1String("gradients")) return QObject::tr("gradients of the trainable parameters");
  if (category == QLatin1String("optimizer")) return QObject::tr("AdamW's two moments per trainable parameter");
  if (category == QLatin1String("saved")) return QObject::tr("activations the forward pass keeps for backward");
  if (category == QLatin1String("loss")) return QObject::tr("the chunked cross-entropy's logits and dHidden");
  if (category == QLatin1String("attention")) return QObject::tr("attention's backward: recomputed probabilities of one chunk, dQ, dK, dV");
  if (category == QLatin1String("workspace")) return QObject::tr("other transient gradients and temporaries at the peak");
  if (category == QLatin1String("overhead")) return QObject::tr("CUDA's caching allocator: block rounding and fragmentation");
  return {};
}

} // namespace

MemoryBreakdownChart::MemoryBreakdownChart(QWidget* parent) : QWidget(parent) {
  setObjectName("memoryBreakdownChart");
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);

  m_capacityLabel = new QLabel(this);
  m_capacityLabel->setObjectName("memoryCapacityLabel");
  m_capacityLabel->setWordWrap(true);
  m_capacityLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_capacityLabel->setToolTip(tr("The memory of the selected device: the physical RAM for the CPU, the GPU's total memory "
                                 "for a CUDA device (%1 overrides it)")
                                  .arg(QLatin1String(kCapacityOverrideVariable)));
  layout->addWidget(m_capacityLabel);

  m_plot = new QCustomPlot(this);
  m_plot->setObjectName("memoryChart");
  m_plot->setMinimumSize(360, 380);
  m_plot->setToolTip(tr("Predicted peak memory of one training step for each method, split into what is alive at the "
                        "peak; the dashed line is the device's capacity. Hover a segment for its size."));
  m_plot->installEventFilter(this);
  m_plot->legend->setVisible(true);
  // The legend below the bars, in two columns, so it never covers them.
  m_plot->axisRect()->insetLayout()->take(m_plot->legend);
  m_plot->plotLayout()->addElement(1, 0, m_plot->legend);
  m_plot->plotLayout()->setRowStretchFactor(1, 0.001);
  m_plot->legend->setFillOrder(QCPLegend::foColumnsFirst);
  m_plot->legend->setWrap(2);
  m_plot->yAxis->setLabel(tr("MiB"));
  m_plot->xAxis->setRange(0.4, 3.6);
  m_capacityLine = new QCPItemStraightLine(m_plot);
  m_capacityLine->setObjectName("memoryCapacityLine");
  m_capacityLine->setVisible(false);
  m_capacityText = new QCPItemText(m_plot);
  m_capacityText->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
  m_capacityText->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
  m_capacityText->position->setTypeY(QCPItemPosition::ptPlotCoords);
  m_capacityText->setVisible(false);
  layout->addWidget(m_plot, 1);

  m_summaryLabel = new QLabel(tr("Reading the model…"), this);
  m_summaryLabel->setObjectName("memorySummaryLabel");
  m_summaryLabel->setWordWrap(true);
  m_summaryLabel->setTextFormat(Qt::RichText);
  m_summaryLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
  m_summaryLabel->setToolTip(tr("The predicted peak of one training step for each method, or why there is no "
                                "prediction. The planner reads only the model's config.json."));
  layout->addWidget(m_summaryLabel);
  rebuild();
}

void MemoryBreakdownChart::setEstimates(const std::vector<MemoryEstimate>& estimates, TrainMethod selected) {
  m_estimates = estimates;
  m_selected = selected;
  m_error.clear();
  m_shares.clear();
  for (const MemoryEstimate& e : m_estimates) m_shares.push_back(peakShares(e));
  rebuild();
}

void MemoryBreakdownChart::setError(const QString& reason) {
  m_error = reason.isEmpty() ? tr("no prediction") : reason;
  m_estimates.clear();
  m_shares.clear();
  rebuild();
}

void MemoryBreakdownChart::setCapacity(const MemoryCapacity& capacity) {
  m_capacity = capacity;
  rebuild();
}

void MemoryBreakdownChart::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange) rebuild();
}

void MemoryBreakdownChart::rebuild() {
  const QPalette pal = palette();
  const QColor text = pal.color(QPalette::WindowText);
  m_plot->setBackground(pal.brush(QPalette::Base));
  for (QCPAxis* axis : {m_plot->xAxis, m_plot->yAxis}) {
    axis->setBasePen(QPen(text));
    axis->setTickPen(QPen(text));
    axis->setSubTickPen(QPen(text));
    axis->setTickLabelColor(text);
    axis->setLabelColor(text);
    axis->grid()->setPen(QPen(pal.color(QPalette::Mid), 0, Qt::DotLine));
  }
  m_plot->legend->setBrush(pal.brush(QPalette::Base));
  m_plot->legend->setTextColor(text);
  m_plot->legend->setBorderPen(QPen(pal.color(QPalette::Mid)));

  m_plot->clearPlottables();
  // Items other than the capacity line and its text are per prediction.
  for (int i = m_plot->itemCount() - 1; i >= 0; --i) {
    QCPAbstractItem* item = m_plot->item(i);
    if (item != m_capacityLine && item != m_capacityText) m_plot->removeItem(item);
  }
  m_plot->setVisible(m_error.isEmpty() && !m_estimates.empty());

  // The x axis: one tick per method, the selected one marked.
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  for (std::size_t i = 0; i < m_estimates.size(); ++i) {
    const TrainMethod method = m_estimates[i].method;
    ticker->addTick(static_cast<double>(i + 1),
                    method == m_selected ? tr("▸ %1 (selected)").arg(methodName(method)) : methodName(method));
  }
  m_plot->xAxis->setTicker(ticker);

  // One QCPBars per share name (stacked), shares with nothing in any bar left out.
  std::vector<QString> order;
  std::map<QString, QString> categoryOf;
  for (const auto& shares : m_shares) {
    for (const PeakShare& s : shares) {
      if (std::find(order.begin(), order.end(), s.name) == order.end()) {
        order.push_back(s.name);
        categoryOf[s.name] = s.category;
      }
    }
  }
  QCPBars* below = nullptr;
  int kindIndex = 0;
  double maxPeak = 0.0;
  for (const MemoryEstimate& e : m_estimates) maxPeak = std::max(maxPeak, static_cast<double>(e.peak));
  for (const QString& name : order) {
    QVector<double> keys, values;
    bool any = false;
    for (std::size_t i = 0; i < m_shares.size(); ++i) {
      std::int64_t bytes = 0;
      for (const PeakShare& s : m_shares[i])
        if (s.name == name) bytes += s.bytes;
      keys.push_back(static_cast<double>(i + 1));
      values.push_back(static_cast<double>(bytes) / kMiB);
      any = any || bytes > 0;
    }
    const QString category = categoryOf[name];
    const int kind = category == QLatin1String("saved") ? kindIndex++ : 0;
    if (!any) continue;
    auto* bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    bars->setName(name);
    bars->setProperty(kShareProperty, name);
    bars->setWidth(0.6);
    const QColor color = shareColor(pal, category, kind);
    bars->setBrush(color);
    bars->setPen(QPen(color.darker(130), 0.5));
    bars->setData(keys, values, true);
    if (below != nullptr) bars->moveAbove(below);
    below = bars;
  }

  // Each bar's peak above it, and an outline around the selected method's bar.
  for (std::size_t i = 0; i < m_estimates.size(); ++i) {
    const MemoryEstimate& e = m_estimates[i];
    const double x = static_cast<double>(i + 1);
    const double top = static_cast<double>(e.peak) / kMiB;
    auto* label = new QCPItemText(m_plot);
    label->position->setCoords(x, top);
    label->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
    label->setText(formatMiB(e.peak));
    label->setColor(text);
    label->setPadding(QMargins(0, 0, 0, 3));
    if (e.method == m_selected) {
      auto* outline = new QCPItemRect(m_plot);
      outline->setObjectName("selectedMethodOutline");
      outline->topLeft->setCoords(x - 0.36, top);
      outline->bottomRight->setCoords(x + 0.36, 0.0);
      outline->setPen(QPen(pal.color(QPalette::Highlight), 2.5));
      outline->setBrush(Qt::NoBrush);
      QFont bold = label->font();
      bold.setBold(true);
      label->setFont(bold);
    }
  }

  // The capacity line: at the capacity even when it is far above the bars, where the axis stops
  // short of it (a 24 GiB line would flatten 200 MiB bars) and the label says so.
  const double capacity = static_cast<double>(m_capacity.bytes) / kMiB;
  const bool showCapacity = m_capacity.bytes > 0;
  m_capacityLine->point1->setCoords(0.0, capacity);
  m_capacityLine->point2->setCoords(1.0, capacity);
  m_capacityLine->setPen(QPen(text, 1.5, Qt::DashLine));
  m_capacityLine->setVisible(showCapacity);
  double upper = std::max(1.0, maxPeak / kMiB * 1.18);
  const bool capacityOnChart = showCapacity && capacity <= 3.0 * std::max(1.0, maxPeak / kMiB);
  if (capacityOnChart) upper = std::max(upper, capacity * 1.08);
  m_capacityText->setVisible(capacityOnChart);
  m_capacityText->position->setCoords(0.99, capacity);
  m_capacityText->setColor(text);
  m_capacityText->setText(tr("capacity %1").arg(formatMiB(m_capacity.bytes)));
  m_plot->yAxis->setRange(0.0, upper);
  m_plot->replot(QCustomPlot::rpQueuedReplot);
  updateLabels();
}

void MemoryBreakdownChart::updateLabels() {
  QString capacityText;
  if (m_capacity.bytes > 0) {
    capacityText = tr("Capacity: %1, %2").arg(m_capacity.what, formatMiB(m_capacity.bytes));
    if (m_capacity.overridden) capacityText += tr(" (set by %1)").arg(QLatin1String(kCapacityOverrideVariable));
    double maxPeak = 0.0;
    for (const MemoryEstimate& e : m_estimates) maxPeak = std::max(maxPeak, static_cast<double>(e.peak));
    if (!m_estimates.empty() && static_cast<double>(m_capacity.bytes) > 3.0 * maxPeak)
      capacityText += tr(" — far above every bar (the dashed line is off the chart)");
  } else {
    capacityText = tr("Capacity: %1, not known (NVML did not describe it)").arg(m_capacity.what);
  }
  m_capacityLabel->setText(capacityText);

  if (!m_error.isEmpty()) {
    m_summaryLabel->setText(tr("No memory prediction: %1").arg(m_error.toHtmlEscaped()));
    return;
  }
  if (m_estimates.empty()) return;
  QStringList parts;
  for (const MemoryEstimate& e : m_estimates) {
    QString part = tr("%1 %2").arg(methodName(e.method), formatMiB(e.peak));
    if (m_capacity.bytes > 0 && e.peak > m_capacity.bytes) part += tr(" (does not fit)");
    if (e.method == m_selected) part = QStringLiteral("<b>%1</b>").arg(part.toHtmlEscaped());
    else part = part.toHtmlEscaped();
    parts << part;
  }
  QString summary = tr("Predicted peak of one step: %1.").arg(parts.join(QStringLiteral(" · ")));
  const auto selected = std::find_if(m_estimates.begin(), m_estimates.end(),
                                     [&](const MemoryEstimate& e) { return e.method == m_selected; });
  if (selected != m_estimates.end() && m_capacity.bytes > 0) {
    const double share = 100.0 * static_cast<double>(selected->peak) / static_cast<double>(m_capacity.bytes);
    summary += selected->peak <= m_capacity.bytes
                   ? tr(" The selected method fits: %1% of the capacity.").arg(share, 0, 'f', 1)
                   : tr(" The selected method needs %1 more than the capacity.")
                         .arg(formatMiB(selected->peak - m_capacity.bytes));
  }
  m_summaryLabel->setText(summary);
}

QString MemoryBreakdownChart::segmentToolTip(const QString& shareName, int barIndex) const {
  if (barIndex < 0 || barIndex >= static_cast<int>(m_shares.size())) return {};
  const MemoryEstimate& e = m_estimates[static_cast<std::size_t>(barIndex)];
  for (const PeakShare& s : m_shares[static_cast<std::size_t>(barIndex)]) {
    if (s.name != shareName) continue;
    QString tip = tr("%1 — %2: %3 at the peak (%4% of %5)")
                      .arg(methodName(e.method), s.name, formatMiB(s.bytes))
                      .arg(e.peak > 0 ? 100.0 * static_cast<double>(s.bytes) / static_cast<double>(e.peak) : 0.0, 0, 'f', 1)
                      .arg(formatMiB(e.peak));
    if (s.estimated != s.bytes) tip += tr("; its largest during the step: %1").arg(formatMiB(s.estimated));
    const QString about = shareToolTip(s.category);
    if (!about.isEmpty()) tip += QStringLiteral("\n") + about;
    return tip;
  }
  return {};
}

bool MemoryBreakdownChart::eventFilter(QObject* watched, QEvent* event) {
  if (watched == m_plot && event->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(event);
    int dataIndex = -1;
    if (auto* bars = qobject_cast<QCPBars*>(m_plot->plottableAt(QPointF(help->pos()), false, &dataIndex))) {
      const QString tip = segmentToolTip(bars->property(kShareProperty).toString(), dataIndex);
      if (!tip.isEmpty()) {
        QToolTip::showText(help->globalPos(), tip, m_plot);
        return true;
      }
    }
  }
  return QWidget::eventFilter(watched, event);
}

} // namespace lorafa::ui
