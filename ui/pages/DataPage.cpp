#include "DataPage.h"

#include "StudioContext.h"

#include <QLabel>
#include <QVBoxLayout>

namespace lorafa::ui {

DataPage::DataPage(StudioContext& context, QWidget* parent) : QWidget(parent), m_context(context) {
  setObjectName("dataPage");
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(new QLabel(tr("Data"), this));
}

} // namespace lorafa::ui
