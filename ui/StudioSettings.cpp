#include "StudioSettings.h"

namespace lorafa::ui {
namespace {
constexpr const char* kVersionKey = "settings/version";
}

StudioSettings::StudioSettings(const QString& iniPath)
    : m_settings(iniPath.isEmpty() ? std::make_unique<QSettings>()
                                   : std::make_unique<QSettings>(iniPath, QSettings::IniFormat)) {
  const int version = m_settings->value(kVersionKey, 0).toInt();
  if (version < kSchemaVersion) migrate(version);
}

void StudioSettings::migrate(int fromVersion) {
  // Version 0 is a store that was never written (or written before settings were versioned):
  // nothing in it is worth keeping.
  if (fromVersion < 1) m_settings->clear();
  m_settings->setValue(kVersionKey, kSchemaVersion);
}

QByteArray StudioSettings::windowGeometry() const { return m_settings->value("window/geometry").toByteArray(); }
void StudioSettings::setWindowGeometry(const QByteArray& value) { m_settings->setValue("window/geometry", value); }
QByteArray StudioSettings::windowState() const { return m_settings->value("window/state").toByteArray(); }
void StudioSettings::setWindowState(const QByteArray& value) { m_settings->setValue("window/state", value); }
QString StudioSettings::lastPage() const { return m_settings->value("window/page", "modelPage").toString(); }
void StudioSettings::setLastPage(const QString& value) { m_settings->setValue("window/page", value); }
QString StudioSettings::draftConfigJson() const { return m_settings->value("draft/config").toString(); }
void StudioSettings::setDraftConfigJson(const QString& value) { m_settings->setValue("draft/config", value); }
QVariant StudioSettings::pageValue(const QString& key, const QVariant& defaultValue) const {
  return m_settings->value("page/" + key, defaultValue);
}
void StudioSettings::setPageValue(const QString& key, const QVariant& value) { m_settings->setValue("page/" + key, value); }
void StudioSettings::sync() { m_settings->sync(); }

} // namespace lorafa::ui
