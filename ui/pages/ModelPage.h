#pragma once

#include "lorafa/ModelInspector.h"

#include <QString>
#include <QWidget>

#include <optional>
#include <string>
#include <vector>

class QLabel;
class QLineEdit;
class QPushButton;

namespace lorafa::ui {

struct StudioContext;
class ModelLibraryPanel;
class ModuleTree;

/// The Model page: open a Hugging Face model folder (or the bundled demo), see what it is, and
/// pick the modules that get adapters — in a module tree with checkboxes and in a target pattern
/// box, kept in sync both ways — with the trainable-parameter count for the draft's method and
/// rank. The folder is inspected off the UI thread (config.json and safetensors headers only).
class ModelPage : public QWidget {
  Q_OBJECT
public:
  explicit ModelPage(StudioContext& context, QWidget* parent = nullptr);

  /// Starts inspecting `directory` in the background; the page updates when it is done.
  void openModel(const QString& directory);
  /// True while an inspection is running.
  bool isInspecting() const { return m_inspecting; }
  /// The library of cached and added models; picking one opens it here.
  ModelLibraryPanel* library() const { return m_library; }
  /// The inspected model, when the last opened folder was valid.
  const std::optional<ModelInspection>& inspection() const { return m_inspection; }

Q_SIGNALS:
  /// An inspection finished (successfully or not).
  void inspectionFinished();

private:
  struct Result;
  void applyResult(const QString& directory, const Result& result);
  void onDraftChanged();
  void applyPattern(const QString& text);
  void onChecksEdited();
  void showTargetProblem(const QString& text);
  void updateTrainable();
  void setSummaryText(const QString& placeholder);
  std::vector<LinearModuleInfo> candidates() const;

  StudioContext& m_context;
  QLineEdit* m_pathEdit = nullptr;
  QPushButton* m_browseButton = nullptr;
  QPushButton* m_demoButton = nullptr;
  QLabel* m_status = nullptr;
  QLabel* m_modelError = nullptr;
  QLabel* m_family = nullptr;
  QLabel* m_architecture = nullptr;
  QLabel* m_parameters = nullptr;
  QLabel* m_dtype = nullptr;
  QLabel* m_size = nullptr;
  QLabel* m_vocab = nullptr;
  QLabel* m_hidden = nullptr;
  QLabel* m_layers = nullptr;
  QLineEdit* m_targetsEdit = nullptr;
  QLabel* m_targetsError = nullptr;
  QLabel* m_targetsNote = nullptr;
  ModuleTree* m_tree = nullptr;
  QLabel* m_trainable = nullptr;
  ModelLibraryPanel* m_library = nullptr;

  std::optional<ModelInspection> m_inspection;
  QString m_requestedPath;  ///< the folder last asked for (inspecting or inspected)
  QString m_draftModelPath; ///< the draft's model folder when this page last looked
  int m_request = 0;        ///< counts requests; a finished inspection of an older one is dropped
  bool m_inspecting = false;
  bool m_syncing = false; ///< writing the draft from this page: its changed() is our own
};

} // namespace lorafa::ui
