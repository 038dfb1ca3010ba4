#include "MainWindow.h"

#include "EngineInfoPanel.h"

#include <QAction>
#include <QApplication>
#include <QLabel>
#include <QMenuBar>
#include <QStatusBar>

namespace lorafa::ui {

MainWindow::MainWindow(const EngineInfo& info, QWidget* parent) : QMainWindow(parent) {
  setObjectName("mainWindow");
  setWindowTitle(tr("LoRA-FA Studio %1").arg(QString::fromStdString(info.version)));
  setCentralWidget(new EngineInfoPanel(info, this));

  QMenu* fileMenu = menuBar()->addMenu(tr("&File"));
  QAction* quit = fileMenu->addAction(tr("&Quit"));
  quit->setObjectName("quitAction");
  quit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q)); // spelled out: not every platform theme maps QKeySequence::Quit
  connect(quit, &QAction::triggered, this, &QWidget::close);

  auto* device = new QLabel(tr("Device: %1").arg(QString::fromStdString(info.defaultDevice)), this);
  device->setObjectName("statusDevice");
  statusBar()->addPermanentWidget(device);
  resize(720, 420);
}

} // namespace lorafa::ui
