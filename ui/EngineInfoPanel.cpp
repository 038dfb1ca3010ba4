#include "EngineInfoPanel.h"

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
         QString::fromStdString(info.libtorchVersion) +
             (info.cudaBuilt ? tr(" (CUDA build)") : tr(" (CPU build)")));
  QString device = QString::fromStdString(info.defaultDevice);
  if (info.cudaAvailable) {
    device += tr(" (%n CUDA device(s))", nullptr, info.cudaDeviceCount);
  }
  addRow(tr("Device"), "deviceValue", device);
  // The versions LibTorch was built with; "available" or "no GPU" says whether CUDA runs here.
  QString cuda = tr("not built in");
  if (info.cudaBuilt) {
    cuda = QStringLiteral("%1 (%2)").arg(info.cudaVersion.empty() ? tr("version unknown")
                                                                  : QString::fromStdString(info.cudaVersion),
                                         info.cudaAvailable ? tr("available") : tr("no GPU"));
  }
  addRow(tr("CUDA"), "cudaValue", cuda);
  if (info.cudaBuilt) {
    QString cudnn =
        info.cudnnVersion.empty() ? tr("not built in") : QString::fromStdString(info.cudnnVersion);
    if (!info.cudnnRuntimeVersion.empty() && info.cudnnRuntimeVersion != info.cudnnVersion) {
      cudnn += tr(" (loaded %1)").arg(QString::fromStdString(info.cudnnRuntimeVersion));
    }
    addRow(tr("cuDNN"), "cudnnValue", cudnn);
    addRow(tr("NCCL"), "ncclValue",
           info.ncclVersion.empty() ? tr("not built in") : QString::fromStdString(info.ncclVersion));
    QString driver = tr("unknown");
    if (!info.cudaDriverVersion.empty()) {
      driver = tr("supports CUDA %1").arg(QString::fromStdString(info.cudaDriverVersion));
    } else if (info.cudaStatus == CudaStatus::NoDriver) {
      driver = tr("none found");
    }
    addRow(tr("NVIDIA driver"), "driverValue", driver);
  }
  addRow(tr("CPU threads"), "cpuThreadsValue", QString::number(info.cpuThreads));
  if (!info.cudaAvailable) {
    // Why no GPU is used, with CUDA's own words: the user's next step (install or update the
    // driver, check CUDA_VISIBLE_DEVICES) depends on it.
    const QString reason = info.cudaUnavailableReason.empty()
                               ? QString::fromLatin1(toString(info.cudaStatus))
                               : QString::fromStdString(info.cudaUnavailableReason);
    QLabel* why = addRow(tr("No GPU"), "noGpuValue", reason);
    why->setWordWrap(true);
  }
  for (const GpuDeviceInfo& gpu : info.gpus) {
    QString text = QString::fromStdString(formatGpu(gpu));
    if (!info.cudaAvailable) text += tr(" (not usable)");
    addRow(tr("GPU %1").arg(gpu.index), QStringLiteral("gpu%1Value").arg(gpu.index), text);
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
