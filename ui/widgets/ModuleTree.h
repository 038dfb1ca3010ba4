#pragma once

#include "lorafa/ModelSummary.h"

#include <QTreeWidget>

#include <string>
#include <vector>

class QTimer;

namespace lorafa::ui {

/// The linear modules of a model as a tree: layers → attention / MLP / other → modules with their
/// [out, in] shapes, each with a checkbox (parents are tristate). The page keeps the checks in
/// sync with the target pattern; this widget only shows and reports them.
class ModuleTree : public QTreeWidget {
  Q_OBJECT
public:
  explicit ModuleTree(QWidget* parent = nullptr);

  /// Rebuilds the tree for these modules (the adapter candidates, in model order), none checked.
  void setModules(const std::vector<LinearModuleInfo>& modules);
  const std::vector<LinearModuleInfo>& modules() const { return m_modules; }
  /// Checks exactly these module paths (no checksEdited()).
  void setCheckedPaths(const std::vector<std::string>& paths);
  /// The checked module paths, in model order.
  std::vector<std::string> checkedPaths() const;
  /// The item of one module path, or nullptr.
  QTreeWidgetItem* itemForPath(const std::string& path) const;

Q_SIGNALS:
  /// The user changed checks; emitted once after a click has settled (a parent's click changes
  /// every module under it).
  void checksEdited();

private:
  std::vector<LinearModuleInfo> m_modules;
  std::vector<QTreeWidgetItem*> m_leaves; ///< one per module, same order
  QTimer* m_settle = nullptr;
  bool m_settingChecks = false;
};

} // namespace lorafa::ui
