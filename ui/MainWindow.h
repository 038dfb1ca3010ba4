#pragma once

#include "lorafa/EngineInfo.h"

#include <QMainWindow>

namespace lorafa::ui {

/// The studio's frame: menus, status bar and the current page. Pages are their own widgets.
class MainWindow : public QMainWindow {
  Q_OBJECT
public:
  explicit MainWindow(const EngineInfo& info, QWidget* parent = nullptr);
};

} // namespace lorafa::ui
