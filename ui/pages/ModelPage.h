#pragma once

#include <QWidget>

namespace lorafa::ui {

struct StudioContext;

/// The Model page.
class ModelPage : public QWidget {
  Q_OBJECT
public:
  explicit ModelPage(StudioContext& context, QWidget* parent = nullptr);

private:
  StudioContext& m_context;
};

} // namespace lorafa::ui
