#include "RunsPage.h"

#include "StudioContext.h"

#include <QLabel>
#include <QVBoxLayout>

namespace lorafa::ui {

RunsPage::RunsPage(StudioContext& context, QWidget* parent) : QWidget(parent), m_context(context) {
  setObjectName("runsPage");
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(new QLabel(tr("Runs"), this));
}

} // namespace lorafa::ui
