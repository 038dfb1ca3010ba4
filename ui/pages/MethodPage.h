#pragma once

#include <QWidget>

namespace lorafa::ui {

struct StudioContext;

/// The Method page.
class MethodPage : public QWidget {
  Q_OBJECT
public:
  explicit MethodPage(StudioContext& context, QWidget* parent = nullptr);

private:
  StudioContext& m_context;
};

} // namespace lorafa::ui
