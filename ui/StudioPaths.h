#pragma once

#include <QString>

namespace lorafa::ui {

/// Where the studio finds its bundled resources and keeps its data. Resources are looked up
/// relative to the executable: `<bin>/../share/lorafa-studio` (an install, and the build tree,
/// where CMake links share/lorafa-studio to the source resources/), or LORAFA_RESOURCES_DIR.
struct StudioPaths {
  QString resourcesDir;  ///< holds demo/ and examples/; empty when not found
  QString runStorePath;  ///< the SQLite run history shared with the CLI
  QString settingsPath;  ///< an INI file; empty: QSettings' default place
  QString runsOutputDir; ///< where runs started from the studio write their checkpoints
  QString modelLibraryPath; ///< the model library's added folders, shared with `lorafa models`

  /// The paths a normal start uses ($XDG_DATA_HOME like the CLI, the executable's resources).
  static StudioPaths standard();
  /// `<resourcesDir>/examples/demo-kjv-lora-fa.yaml` (the configuration preselected on first start).
  QString demoConfigPath() const;
  /// A new, not yet existing output folder for a run started from the studio:
  /// `<runsOutputDir>/<name>-<yyyyMMdd-HHmmss>` (with `-2`, `-3`... if taken). Never the config
  /// file's output_dir, so a second run never resumes or overwrites the first one's checkpoints.
  QString freshRunDir(const QString& name) const;
};

/// The resources folder found from the executable's location or the environment; empty if none.
QString findResourcesDir();

} // namespace lorafa::ui
