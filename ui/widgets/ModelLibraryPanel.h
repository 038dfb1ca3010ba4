#pragma once

#include "lorafa/ModelLibrary.h"

#include <QString>
#include <QWidget>

#include <memory>
#include <vector>

class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTableWidget;
class QTimer;

namespace lorafa::ui {

struct StudioContext;

/// The model library on the Model page: every model in the Hugging Face cache (HF_HUB_CACHE /
/// HF_HOME, shared with transformers) and in the folders the user added, with family,
/// parameters, dtype, size and whether this build supports it; "Add folder…"; and a download
/// from the Hub by repository id into the same cache, with progress, speed and ETA, that can be
/// cancelled and resumed. Scans and downloads run off the UI thread; the progress is polled on a
/// timer from a state the download thread updates (CONVENTIONS 5).
class ModelLibraryPanel : public QWidget {
  Q_OBJECT
public:
  explicit ModelLibraryPanel(StudioContext& context, QWidget* parent = nullptr);
  ~ModelLibraryPanel() override;

  /// Rescans the cache and the folders in the background.
  void refresh();
  /// Starts downloading `repoId` at `revision` (empty: main).
  void download(const QString& repoId, const QString& revision);
  void cancelDownload();
  bool isScanning() const { return m_scanning; }
  bool isDownloading() const { return m_download != nullptr; }
  const std::vector<LibraryModel>& models() const { return m_models; }

Q_SIGNALS:
  /// The user picked a model (double-click or "Use this model"): its folder.
  void modelChosen(const QString& directory);
  void scanFinished();
  /// A download ended: done, stopped or failed (the status line says which).
  void downloadFinished();

private:
  struct DownloadState;
  struct DownloadOutcome;
  struct ScanResult;
  QString libraryPath() const;
  void showModels(const std::vector<LibraryModel>& models);
  void showDownloadProgress();
  void finishDownload(const DownloadOutcome& outcome);
  void addFolder();
  void removeFolder();
  void useSelected();
  void updateButtons();
  const LibraryModel* selectedModel() const;
  void setStatus(QLabel* label, const QString& text, bool error);

  StudioContext& m_context;
  QTableWidget* m_table = nullptr;
  QLabel* m_scanStatus = nullptr;
  QPushButton* m_refreshButton = nullptr;
  QPushButton* m_addButton = nullptr;
  QPushButton* m_removeButton = nullptr;
  QPushButton* m_useButton = nullptr;
  QLineEdit* m_repoEdit = nullptr;
  QLineEdit* m_revisionEdit = nullptr;
  QPushButton* m_downloadButton = nullptr;
  QPushButton* m_cancelButton = nullptr;
  QProgressBar* m_progress = nullptr;
  QLabel* m_downloadStatus = nullptr;
  QTimer* m_progressTimer = nullptr;

  std::vector<LibraryModel> m_models;
  std::shared_ptr<DownloadState> m_download; ///< shared with the download thread while it runs
  QString m_selectAfterScan;                 ///< a folder to select once the next scan is shown
  int m_scanRequest = 0;                     ///< a finished scan of an older request is dropped
  bool m_scanning = false;
};

} // namespace lorafa::ui
