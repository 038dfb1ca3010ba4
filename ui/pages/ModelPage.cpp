#include "ModelPage.h"

#include "StudioContext.h"

#include <QLabel>
#include <QVBoxLayout>

namespace lorafa::ui {

ModelPage::ModelPage(StudioContext& context, QWidget* parent) : QWidget(parent), m_context(context) {
  setObjectName("modelPage");
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(new QLabel(tr("Model"), this));
}

} // namespace lorafa::ui
