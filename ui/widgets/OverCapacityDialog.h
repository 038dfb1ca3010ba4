#pragma once

#include "MemoryPlanning.h"

#include <QDialog>
#include <QVector>

class QLabel;
class QVBoxLayout;

namespace lorafa::ui {

/// Shown when Start is pressed and the selected method's predicted peak exceeds the device's
/// capacity: by how much, and the changes that fit (the largest batch, sequence length or rank,
/// LoRA-FA, gradient checkpointing), each a button that applies the change and starts, plus
/// "Start anyway" and "Cancel". Window-modal and opened with open(): no nested event loop. The
/// suggestions are searched off the UI thread and appear when found.
class OverCapacityDialog : public QDialog {
  Q_OBJECT
public:
  OverCapacityDialog(const RunConfig& config, const std::string& device, const MemoryEstimate& estimate,
                     const MemoryCapacity& capacity, QWidget* parent);

  /// True until the suggestions have been searched.
  bool isSearching() const { return m_searching; }
  const QVector<FitSuggestion>& suggestions() const { return m_suggestions; }

Q_SIGNALS:
  /// The user chose a change that fits; the dialog has closed.
  void applyAndStart(const lorafa::ui::FitSuggestion& suggestion);
  /// The user chose to start the configuration as it is.
  void startAnyway();
  /// The suggestions are shown (none may fit).
  void suggestionsReady();

private:
  void showSuggestions(const QVector<FitSuggestion>& suggestions);

  QVBoxLayout* m_choices = nullptr;
  QLabel* m_searchLabel = nullptr;
  QVector<FitSuggestion> m_suggestions;
  bool m_searching = true;
};

} // namespace lorafa::ui
