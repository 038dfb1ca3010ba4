#pragma once

#include "lorafa/RunConfig.h"

#include <QMap>
#include <QObject>
#include <QString>

namespace lorafa::ui {

/// The run configuration the pages are editing, shared by all of them, and the problems that keep
/// it from starting. Pages change it through edit(); every change emits changed(). A page that
/// finds a value invalid records a problem under its own key (e.g. "method.rank"); Start is
/// allowed only while there is none.
class RunDraft : public QObject {
  Q_OBJECT
public:
  explicit RunDraft(QObject* parent = nullptr);

  const RunConfig& config() const { return m_config; }
  /// Replaces the whole configuration (a loaded file, a run to repeat).
  void setConfig(const RunConfig& config);
  /// Changes part of it: edit([](RunConfig& c) { c.adapter.rank = 16; }).
  template <typename Change> void edit(Change&& change) {
    change(m_config);
    Q_EMIT changed();
  }
  /// The file the configuration came from, if any (shown in the title, used for relative paths).
  const QString& sourcePath() const { return m_sourcePath; }
  void setSourcePath(const QString& path) { m_sourcePath = path; }

  /// Records (non-empty text) or clears (empty text) the problem of one field.
  void setProblem(const QString& key, const QString& text);
  const QMap<QString, QString>& problems() const { return m_problems; }
  bool canStart() const { return m_problems.isEmpty(); }
  /// "rank: must be between 1 and 256" for the first problem, empty when none.
  QString firstProblem() const;

Q_SIGNALS:
  void changed();
  void problemsChanged();

private:
  RunConfig m_config;
  QString m_sourcePath;
  QMap<QString, QString> m_problems;
};

} // namespace lorafa::ui
