#pragma once

#include <QWidget>

namespace lorafa::ui {

struct StudioContext;

/// The Data page.
class DataPage : public QWidget {
  Q_OBJECT
public:
  explicit DataPage(StudioContext& context, QWidget* parent = nullptr);

private:
  StudioContext& m_context;
};

} // namespace lorafa::ui
