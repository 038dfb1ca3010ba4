#pragma once

#include "lorafa/EngineInfo.h"

#include <QWidget>

class QLabel;

namespace lorafa::ui {

/// Shows the studio version, the LibTorch build and the compute devices.
class EngineInfoPanel : public QWidget {
  Q_OBJECT
public:
  explicit EngineInfoPanel(const EngineInfo& info, QWidget* parent = nullptr);

private:
  QLabel* addRow(const QString& name, const QString& objectName, const QString& value);
};

} // namespace lorafa::ui
