#pragma once

#include <QWidget>

namespace lorafa::ui {

struct StudioContext;

/// The Playground page.
class PlaygroundPage : public QWidget {
  Q_OBJECT
public:
  explicit PlaygroundPage(StudioContext& context, QWidget* parent = nullptr);

private:
  StudioContext& m_context;
};

} // namespace lorafa::ui
