#include "ExportPage.h"

#include "StudioContext.h"

#include <QLabel>
#include <QVBoxLayout>

namespace lorafa::ui {

ExportPage::ExportPage(StudioContext& context, QWidget* parent) : QWidget(parent), m_context(context) {
  setObjectName("exportPage");
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(new QLabel(tr("Export"), this));
}

} // namespace lorafa::ui
