#pragma once

#include <QMap>
#include <QString>
#include <QStringList>
#include <QVector>

#include <string>

namespace lorafa::ui {

/// The settings a run was stored with, as flat "section.key" → value text, and what differs
/// between runs.
class RunConfigDiff {
public:
  /// Flattens the stored config (the JSON toJson wrote; YAML or JSON from elsewhere is parsed and
  /// rewritten in the same schema first). Empty when it cannot be read.
  static QMap<QString, QString> flatten(const std::string& configText);
  /// The keys whose values are not the same in every map (a key missing in one counts), sorted.
  static QStringList differingKeys(const QVector<QMap<QString, QString>>& configs);
  /// A text table: a header line "key<TAB>name1<TAB>name2…", then one line per differing key.
  static QString table(const QStringList& names, const QVector<QMap<QString, QString>>& configs);
};

} // namespace lorafa::ui
