#pragma once

#include "lorafa/ModelSummary.h"

#include <QMap>
#include <QString>
#include <QWidget>

#include <optional>
#include <vector>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QSpinBox;
class QTimer;

namespace lorafa::ui {

struct StudioContext;
class MemoryBreakdownChart;

/// The Method page: the training method (LoRA-FA, LoRA, full), the adapter's rank, alpha,
/// rsLoRA, dropout and A init, the optimizer and schedule, the loop's length and batches,
/// precision, gradient checkpointing and the device. Every field is bound to the shared draft in
/// both directions; an invalid value is marked next to its field with the reason and recorded as
/// a draft problem ("method.<field>"), which keeps Start disabled until it is fixed.
class MethodPage : public QWidget {
  Q_OBJECT
public:
  explicit MethodPage(StudioContext& context, QWidget* parent = nullptr);

  /// The reason recorded for one field (e.g. "rank"), empty when it is valid.
  QString problem(const QString& field) const { return m_problems.value(field); }
  /// True while the draft's model folder is being read (for the orthogonal-init rank check).
  bool isReadingModel() const { return m_readingModel; }
  /// The memory planner's chart (full, LoRA, LoRA-FA against the device's capacity).
  MemoryBreakdownChart* memoryChart() const { return m_memoryChart; }
  /// True while a memory prediction for the draft is pending (debounce or computing).
  bool isPredictingMemory() const { return m_predictingMemory; }

Q_SIGNALS:
  /// The draft's model folder has been read (or failed to read).
  void modelRead();
  /// The memory chart shows the prediction (or the error) for the draft as it is now.
  void memoryPredicted();

private:
  QLabel* addRow(const QString& label, QWidget* input, const QString& errorName);
  void fillDevices();
  void syncFromDraft();
  void validate();
  void setFieldProblem(const QString& field, const QString& text);
  void readModel(const QString& directory);
  void scheduleMemoryPrediction();
  void predictMemory();

  StudioContext& m_context;
  QComboBox* m_method = nullptr;
  QSpinBox* m_rank = nullptr;
  QDoubleSpinBox* m_alpha = nullptr;
  QCheckBox* m_rslora = nullptr;
  QDoubleSpinBox* m_dropout = nullptr;
  QComboBox* m_init = nullptr;
  QLineEdit* m_learningRate = nullptr;
  QComboBox* m_schedule = nullptr;
  QSpinBox* m_warmup = nullptr;
  QSpinBox* m_epochs = nullptr;
  QSpinBox* m_maxSteps = nullptr;
  QSpinBox* m_batch = nullptr;
  QSpinBox* m_accumulation = nullptr;
  QSpinBox* m_maxLength = nullptr;
  QComboBox* m_precision = nullptr;
  QCheckBox* m_checkpointing = nullptr;
  QComboBox* m_device = nullptr;
  QLabel* m_scalingNote = nullptr;
  QMap<QString, QLabel*> m_errorLabels; ///< by field: rank, alpha, dropout, learningRate, ...
  QMap<QString, QWidget*> m_inputs;     ///< the input each field's problem marks
  QMap<QString, QString> m_problems;

  QString m_learningRateError; ///< the learning-rate text does not parse ("" when it does)
  bool m_syncing = false;
  // The draft's model, read off the UI thread: the orthogonal init's rank limit needs the
  // in_features of the targeted modules.
  QString m_modelPath;
  std::optional<std::vector<LinearModuleInfo>> m_modelLinears;
  int m_modelRequest = 0;
  bool m_readingModel = false;
  // The memory planner: recomputed off the UI thread ~150 ms after the last change; a result
  // for an older draft is dropped.
  MemoryBreakdownChart* m_memoryChart = nullptr;
  QTimer* m_memoryTimer = nullptr;
  int m_memoryRequest = 0;
  bool m_predictingMemory = false;
};

} // namespace lorafa::ui
