#pragma once

#include "lorafa/EngineInfo.h"

#include <QWidget>

class QLabel;

namespace lorafa::ui {

/// Shows the studio version, what LibTorch was built with (CUDA, cuDNN, NCCL), the compute
/// devices with their compute capability, or why no GPU can be used.
class EngineInfoPanel : public QWidget {
  Q_OBJECT
public:
  explicit EngineInfoPanel(const EngineInfo& info, QWidget* parent = nullptr);

private:
  QLabel* addRow(const QString& name, const QString& objectName, const QString& value);
};

} // namespace lorafa::ui
