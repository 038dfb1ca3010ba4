#pragma once

#include <QWidget>

namespace lorafa::ui {

struct StudioContext;

/// The Export page.
class ExportPage : public QWidget {
  Q_OBJECT
public:
  explicit ExportPage(StudioContext& context, QWidget* parent = nullptr);

private:
  StudioContext& m_context;
};

} // namespace lorafa::ui
