#pragma once

#include "StudioPaths.h"

#include "lorafa/EngineInfo.h"

namespace lorafa::ui {

class RunDraft;
class StudioSettings;
class TrainingController;

/// What every page shares, owned by the MainWindow: the paths, the preferences, the configuration
/// being edited and the one training controller. Pages talk to each other through these (the
/// draft's signals, the controller's signals), never by reaching into another page.
struct StudioContext {
  EngineInfo engineInfo;
  StudioPaths paths;
  StudioSettings* settings = nullptr;
  RunDraft* draft = nullptr;
  TrainingController* controller = nullptr;
};

} // namespace lorafa::ui
