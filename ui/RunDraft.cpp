#include "RunDraft.h"

namespace lorafa::ui {

RunDraft::RunDraft(QObject* parent) : QObject(parent) {}

void RunDraft::setConfig(const RunConfig& config) {
  m_config = config;
  Q_EMIT changed();
}

void RunDraft::setProblem(const QString& key, const QString& text) {
  const auto it = m_problems.find(key);
  if (text.isEmpty()) {
    if (it == m_problems.end()) return;
    m_problems.erase(it);
  } else {
    if (it != m_problems.end() && it.value() == text) return;
    m_problems.insert(key, text);
  }
  Q_EMIT problemsChanged();
}

QString RunDraft::firstProblem() const {
  if (m_problems.isEmpty()) return {};
  return m_problems.firstKey().section('.', -1) + ": " + m_problems.first();
}

} // namespace lorafa::ui
