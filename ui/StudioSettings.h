#pragma once

#include <QByteArray>
#include <QSettings>
#include <QString>

#include <memory>

namespace lorafa::ui {

/// The studio's preferences through typed keys with defaults, in a versioned QSettings store
/// (CONVENTIONS 8): `settings/version` is kSchemaVersion; older stores are migrated on open.
class StudioSettings {
public:
  static constexpr int kSchemaVersion = 1;

  /// `iniPath` empty: the platform's default place for the application's settings.
  explicit StudioSettings(const QString& iniPath = {});

  QByteArray windowGeometry() const;
  void setWindowGeometry(const QByteArray& value);
  QByteArray windowState() const;
  void setWindowState(const QByteArray& value);
  QString lastPage() const; ///< a page's object name; default "modelPage"
  void setLastPage(const QString& value);
  /// The run configuration being edited, as toJson() text; empty on first start.
  QString draftConfigJson() const;
  void setDraftConfigJson(const QString& value);
  /// Extra state a page keeps (splitter sizes, column widths, filters), under `page/<key>`.
  QVariant pageValue(const QString& key, const QVariant& defaultValue = {}) const;
  void setPageValue(const QString& key, const QVariant& value);

  void sync();
  QSettings& raw() { return *m_settings; }

private:
  void migrate(int fromVersion);
  std::unique_ptr<QSettings> m_settings;
};

} // namespace lorafa::ui
