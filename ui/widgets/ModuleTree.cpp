#include "ModuleTree.h"

#include "ModuleTreePattern.h"

#include <QHeaderView>
#include <QLocale>
#include <QMap>
#include <QTimer>

#include <set>

namespace lorafa::ui {
namespace {

constexpr int kPathRole = Qt::UserRole;

} // namespace

ModuleTree::ModuleTree(QWidget* parent) : QTreeWidget(parent) {
  setObjectName("moduleTree");
  setColumnCount(3);
  setHeaderLabels({tr("Module"), tr("Shape [out, in]"), tr("Weights")});
  header()->setSectionResizeMode(0, QHeaderView::Stretch);
  header()->setStretchLastSection(false);
  setToolTip(
      tr("The model's linear modules, by layer and block. Checked modules get an adapter (LoRA-FA / LoRA); "
         "checking a layer or block checks everything in it. The target pattern follows the checks."));
  setUniformRowHeights(true);

  m_settle = new QTimer(this);
  m_settle->setSingleShot(true);
  m_settle->setInterval(0);
  connect(m_settle, &QTimer::timeout, this, &ModuleTree::checksEdited);
  connect(this, &QTreeWidget::itemChanged, this, [this](QTreeWidgetItem*, int column) {
    if (column == 0 && !m_settingChecks) m_settle->start();
  });
}

void ModuleTree::setModules(const std::vector<LinearModuleInfo>& modules) {
  m_settingChecks = true;
  clear();
  m_modules = modules;
  m_leaves.clear();
  QMap<QString, QTreeWidgetItem*> layers; // by layer path
  QMap<QString, QTreeWidgetItem*> groups; // by layer path + "/" + group
  QTreeWidgetItem* outside = nullptr;     // modules outside the numbered layers
  const QLocale locale;
  const auto makeParent = [](QTreeWidgetItem* item, const QString& text) {
    item->setText(0, text);
    item->setFlags(item->flags() | Qt::ItemIsUserCheckable | Qt::ItemIsAutoTristate);
    item->setCheckState(0, Qt::Unchecked);
  };
  for (const LinearModuleInfo& m : modules) {
    const ModulePlace place = placeOf(m.name);
    QTreeWidgetItem* parentItem = nullptr;
    if (place.layer.isEmpty()) {
      if (outside == nullptr) {
        outside = new QTreeWidgetItem();
        makeParent(outside, tr("outside the layers"));
      }
      parentItem = outside;
    } else {
      QTreeWidgetItem*& layer = layers[place.layer];
      if (layer == nullptr) {
        layer = new QTreeWidgetItem(this);
        makeParent(layer, place.layer);
      }
      QTreeWidgetItem*& group = groups[place.layer + QLatin1Char('/') + place.group];
      if (group == nullptr) {
        group = new QTreeWidgetItem(layer);
        makeParent(group, place.group);
      }
      parentItem = group;
    }
    auto* leaf = new QTreeWidgetItem(parentItem);
    leaf->setText(0, place.local.isEmpty() ? QString::fromStdString(m.name) : place.local);
    leaf->setText(1, QStringLiteral("[%1, %2]").arg(m.outFeatures).arg(m.inFeatures));
    leaf->setText(2, locale.toString(static_cast<qlonglong>(m.outFeatures * m.inFeatures +
                                                            (m.hasBias ? m.outFeatures : 0))));
    leaf->setTextAlignment(2, Qt::AlignRight | Qt::AlignVCenter);
    leaf->setData(0, kPathRole, QString::fromStdString(m.name));
    leaf->setToolTip(0, QString::fromStdString(m.name) +
                            (m.isOutputHead ? tr(" (output head: all-linear leaves it out)") : QString()));
    leaf->setFlags(leaf->flags() | Qt::ItemIsUserCheckable);
    leaf->setCheckState(0, Qt::Unchecked);
    m_leaves.push_back(leaf);
  }
  if (outside != nullptr) addTopLevelItem(outside);
  resizeColumnToContents(1);
  resizeColumnToContents(2);
  m_settingChecks = false;
}

void ModuleTree::setCheckedPaths(const std::vector<std::string>& paths) {
  const std::set<std::string> wanted(paths.begin(), paths.end());
  m_settingChecks = true;
  for (std::size_t i = 0; i < m_leaves.size(); ++i) {
    const Qt::CheckState state = wanted.count(m_modules[i].name) != 0 ? Qt::Checked : Qt::Unchecked;
    if (m_leaves[i]->checkState(0) != state) m_leaves[i]->setCheckState(0, state);
  }
  m_settingChecks = false;
}

std::vector<std::string> ModuleTree::checkedPaths() const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < m_leaves.size(); ++i) {
    if (m_leaves[i]->checkState(0) == Qt::Checked) out.push_back(m_modules[i].name);
  }
  return out;
}

QTreeWidgetItem* ModuleTree::itemForPath(const std::string& path) const {
  for (std::size_t i = 0; i < m_leaves.size(); ++i) {
    if (m_modules[i].name == path) return m_leaves[i];
  }
  return nullptr;
}

} // namespace lorafa::ui
