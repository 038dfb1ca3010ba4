#include "EngineInfoPanel.h"

#include "lorafa/CpuMemoryTracker.h"

#include <QFormLayout>
#include <QLabel>

namespace lorafa::ui {

EngineInfoPanel::EngineInfoPanel(const EngineInfo& info, QWidget* parent) : QWidget(parent) {
  setObjectName("engineInfoPanel");
  auto* layout = new QFormLayout(this);
  layout->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  addRow(tr("Version"), "versionValue", QString::fromStdString(info.version));
  addRow(tr("Qt"), "qtValue", QString::fromLatin1(qVersion()));
  addRow(tr("LibTorch"), "libtorchValue",
         QString::fromStdString(info.libtorchVersion) + (info.cudaBuilt ? tr(" (CUDA build)") : tr(" (CPU build)")));
  QString device = QString::fromStdString(info.defaultDevice);
  if (info.cudaAvailable) {
    device += tr(" (%n CUDA device(s))", nullptr, info.cudaDeviceCount);
  }
  addRow(tr("Device"), "deviceValue", device);
  addRow(tr("CUDA"), "cudaValue",
         !info.cudaBuilt ? tr("not built in") : info.cudaAvailable ? tr("available") : tr("built in, no device"));
  addRow(tr("CPU threads"), "cpuThreadsValue", QString::number(info.cpuThreads));
  for (const GpuDeviceInfo& gpu : info.gpus) {
    addRow(tr("GPU %1").arg(gpu.index), QStringLiteral("gpu%1Value").arg(gpu.index),
           QStringLiteral("%1, %2").arg(QString::fromStdString(gpu.name),
                                        QString::fromStdString(formatBytes(gpu.totalBytes))));
  }
}

QLabel* EngineInfoPanel::addRow(const QString& name, const QString& objectName, const QString& value) {
  auto* label = new QLabel(value, this);
  label->setObjectName(objectName);
  label->setTextInteractionFlags(Qt::TextSelectableByMouse);
  static_cast<QFormLayout*>(layout())->addRow(name + ':', label);
  return label;
}

} // namespace lorafa::ui
