#pragma once

#include "widgets/DatasetAnalysis.h"

#include <QString>
#include <QWidget>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTableView;

namespace lorafa::ui {

struct StudioContext;
class DatasetPreviewModel;
class TokenHistogram;

/// The Data page: the dataset file (dialog or drag and drop), its detected format with an
/// override, the chat template, CSV/TSV column mapping, a preview of the first examples as the
/// model sees them (masked spans greyed, trained spans bold), a token-length histogram with the
/// max length and the truncation count, and the train/validation split. Bound both ways to the
/// draft's `dataset` section; detection, loading and tokenizing run off the UI thread, a newer
/// request superseding an older one.
class DataPage : public QWidget {
  Q_OBJECT
public:
  explicit DataPage(StudioContext& context, QWidget* parent = nullptr);
  ~DataPage() override;

  /// Makes `path` the draft's dataset (what Browse… and dropping a file do); a new file's format
  /// is detected again (the override goes back to auto).
  void openDataset(const QString& path);
  /// Detection, loading, tokenizing or recounting is in progress.
  bool isBusy() const;
  /// How many results (analyses and recounts) have been shown, for tests to wait on.
  int resultsShown() const { return m_resultsShown; }
  /// The analysis on screen; null before the first one.
  std::shared_ptr<const DatasetAnalysis> analysis() const { return m_analysis; }

protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void changeEvent(QEvent* event) override;

private:
  /// What the preview depends on, apart from the max length (which only needs a recount).
  struct AnalysisKey {
    DatasetConfig dataset;
    QString tokenizerPath;
    QString modelPath;
    bool operator==(const AnalysisKey& other) const;
  };

  void buildUi();
  void syncFromDraft();
  void updateWork();
  void startAnalysis(const AnalysisKey& key, std::int64_t maxSeqLen);
  void startRecount(std::int64_t maxSeqLen);
  void showAnalysis(std::shared_ptr<const DatasetAnalysis> analysis);
  void showRecount(const MaxLengthUpdate& update);
  void showStatistics(const std::optional<DatasetStatistics>& statistics);
  void updateBusy();
  void updateLegend();
  void updateColumnCombos();
  void updateTemplateCombo();
  /// Checks the evaluation file: at once that it exists, then off the UI thread that it loads
  /// with the training set's format (problem "data.evalPath").
  void updateEvalProblem();
  void fillColumnCombo(QComboBox* combo, const std::string& current);
  void browseDataset();
  void browseEvalFile();
  QString startDirectory() const;
  void rememberDirectory(const QString& path);
  AnalysisKey currentKey() const;
  DatasetFormat formatInUse() const;

  StudioContext& m_context;
  bool m_syncing = false;
  QString m_shownPath;     ///< the draft's dataset path last put into the path edit
  QString m_shownEvalPath; ///< the same for the evaluation file

  QLineEdit* m_pathEdit = nullptr;
  QPushButton* m_browseButton = nullptr;
  QLabel* m_detectedLabel = nullptr;
  QComboBox* m_formatCombo = nullptr;
  QComboBox* m_templateCombo = nullptr;
  QLabel* m_templateNote = nullptr;
  QFormLayout* m_columnsForm = nullptr;
  QWidget* m_columnsBox = nullptr;
  QComboBox* m_textColumnCombo = nullptr;
  QComboBox* m_labelColumnCombo = nullptr;
  QComboBox* m_sourceColumnCombo = nullptr;
  QComboBox* m_targetColumnCombo = nullptr;
  QLabel* m_errorLabel = nullptr;
  QLabel* m_tokenizerNote = nullptr;
  QLabel* m_warningLabel = nullptr;
  QProgressBar* m_busyBar = nullptr;
  QLabel* m_legend = nullptr;
  QTableView* m_previewTable = nullptr;
  DatasetPreviewModel* m_previewModel = nullptr;
  TokenHistogram* m_histogram = nullptr;
  QLabel* m_statsLabel = nullptr;
  QLabel* m_truncationLabel = nullptr;
  QDoubleSpinBox* m_validationSpin = nullptr;
  QLineEdit* m_evalPathEdit = nullptr;
  QPushButton* m_evalBrowseButton = nullptr;
  QCheckBox* m_trainOnPromptCheck = nullptr;
  QCheckBox* m_packingCheck = nullptr;
  QLabel* m_evalInfo = nullptr;

  /// The request in flight or last made; a result for any other generation is stale.
  std::optional<AnalysisKey> m_requestedKey;
  std::int64_t m_requestedMaxLength = -1;
  std::uint64_t m_analysisGeneration = 0;
  std::uint64_t m_recountGeneration = 0;
  bool m_analysisInFlight = false;
  bool m_recountInFlight = false;
  /// The evaluation file is read on its own (it does not change the preview).
  QString m_evalKey;
  std::uint64_t m_evalGeneration = 0;
  bool m_evalInFlight = false;
  std::shared_ptr<std::atomic<bool>> m_cancel;
  std::shared_ptr<const DatasetAnalysis> m_analysis;
  int m_resultsShown = 0;
};

} // namespace lorafa::ui
