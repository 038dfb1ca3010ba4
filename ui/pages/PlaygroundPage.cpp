#include "PlaygroundPage.h"

#include "StudioContext.h"

#include <QLabel>
#include <QVBoxLayout>

namespace lorafa::ui {

PlaygroundPage::PlaygroundPage(StudioContext& context, QWidget* parent) : QWidget(parent), m_context(context) {
  setObjectName("playgroundPage");
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(new QLabel(tr("Playground"), this));
}

} // namespace lorafa::ui
