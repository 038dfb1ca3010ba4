#pragma once

#include <QWidget>

namespace lorafa::ui {

struct StudioContext;

/// The Runs page.
class RunsPage : public QWidget {
  Q_OBJECT
public:
  explicit RunsPage(StudioContext& context, QWidget* parent = nullptr);

private:
  StudioContext& m_context;
};

} // namespace lorafa::ui
