#include "MethodPage.h"

#include "StudioContext.h"

#include <QLabel>
#include <QVBoxLayout>

namespace lorafa::ui {

MethodPage::MethodPage(StudioContext& context, QWidget* parent) : QWidget(parent), m_context(context) {
  setObjectName("methodPage");
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(new QLabel(tr("Method"), this));
}

} // namespace lorafa::ui
