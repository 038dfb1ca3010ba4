#include "TrainPage.h"

#include "StudioContext.h"

#include <QLabel>
#include <QVBoxLayout>

namespace lorafa::ui {

TrainPage::TrainPage(StudioContext& context, QWidget* parent) : QWidget(parent), m_context(context) {
  setObjectName("trainPage");
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(new QLabel(tr("Train"), this));
}

} // namespace lorafa::ui
