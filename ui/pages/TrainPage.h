#pragma once

#include <QWidget>

namespace lorafa::ui {

struct StudioContext;

/// The Train page.
class TrainPage : public QWidget {
  Q_OBJECT
public:
  explicit TrainPage(StudioContext& context, QWidget* parent = nullptr);

private:
  StudioContext& m_context;
};

} // namespace lorafa::ui
