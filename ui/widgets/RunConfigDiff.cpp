#include "RunConfigDiff.h"

#include "lorafa/RunConfig.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>

namespace lorafa::ui {
namespace {

QString valueText(const QJsonValue& value) {
  switch (value.type()) {
  case QJsonValue::Bool: return value.toBool() ? QStringLiteral("true") : QStringLiteral("false");
  case QJsonValue::Double: return value.toVariant().toString();
  case QJsonValue::String: return value.toString();
  case QJsonValue::Array:
    return QString::fromUtf8(QJsonDocument(value.toArray()).toJson(QJsonDocument::Compact));
  case QJsonValue::Null: return QStringLiteral("null");
  default: return {};
  }
}

void flattenInto(const QJsonObject& object, const QString& prefix, QMap<QString, QString>& out) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    const QString key = prefix.isEmpty() ? it.key() : prefix + QLatin1Char('.') + it.key();
    if (it.value().isObject())
      flattenInto(it.value().toObject(), key, out);
    else
      out.insert(key, valueText(it.value()));
  }
}

} // namespace

QMap<QString, QString> RunConfigDiff::flatten(const std::string& configText) {
  QJsonDocument doc = QJsonDocument::fromJson(QByteArray::fromStdString(configText));
  if (!doc.isObject()) {
    try {
      doc = QJsonDocument::fromJson(
          QByteArray::fromStdString(toJson(parseRunConfig(configText, "stored config"))));
    } catch (const std::exception&) {
      return {};
    }
  }
  QMap<QString, QString> out;
  flattenInto(doc.object(), {}, out);
  return out;
}

QStringList RunConfigDiff::differingKeys(const QVector<QMap<QString, QString>>& configs) {
  QSet<QString> keys;
  for (const auto& c : configs) {
    for (auto it = c.begin(); it != c.end(); ++it)
      keys.insert(it.key());
  }
  QStringList differing;
  for (const QString& key : keys) {
    bool same = true;
    for (int i = 1; i < configs.size() && same; ++i) {
      same = configs[i].contains(key) == configs[0].contains(key) &&
             configs[i].value(key) == configs[0].value(key);
    }
    if (!same) differing.push_back(key);
  }
  differing.sort();
  return differing;
}

QString RunConfigDiff::table(const QStringList& names, const QVector<QMap<QString, QString>>& configs) {
  QStringList lines;
  lines.push_back(QStringLiteral("key\t") + names.join(QLatin1Char('\t')));
  for (const QString& key : differingKeys(configs)) {
    QStringList cells{key};
    for (const auto& c : configs)
      cells.push_back(c.contains(key) ? c.value(key) : QStringLiteral("(not set)"));
    lines.push_back(cells.join(QLatin1Char('\t')));
  }
  return lines.join(QLatin1Char('\n'));
}

} // namespace lorafa::ui
