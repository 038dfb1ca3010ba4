// The Model page with real widgets: open real model folders, type target patterns, click the
// module tree's checkboxes, and count trainable parameters against shapes read from config.json.
#include "RunDraft.h"
#include "StudioContext.h"
#include "StudioTestSupport.h"
#include "pages/MethodPage.h"
#include "pages/ModelPage.h"
#include "widgets/ModuleTree.h"
#include "widgets/ModuleTreePattern.h"

#include "lorafa/ModelSummary.h"
#include "lorafa/TrainingSession.h"

#include <QComboBox>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QStyle>
#include <QStyleOptionViewItem>
#include <QThreadPool>
#include <QTreeWidget>
#include <QtTest/QtTest>

#include <gtest/gtest.h>

#include <regex>
#include <set>

using namespace lorafa;
using namespace lorafa::ui;

namespace {

using lorafa::ui::testing::app;
using lorafa::ui::testing::temporaryPaths;

const QString kLlama = QStringLiteral(LORAFA_FIXTURES_DIR "/models/llama");

/// A page's shared state without a main window: paths in a temporary folder and a fresh draft.
struct Studio {
  QTemporaryDir dir;
  QObject owner;
  StudioContext context;
  Studio() {
    app();
    context.paths = temporaryPaths(dir);
    context.engineInfo.cpuThreads = 2;
    context.engineInfo.defaultDevice = "cpu";
    context.draft = new RunDraft(&owner);
    context.draft->edit([](RunConfig& c) { c.train.device = "cpu"; });
  }
};

QJsonObject readConfig(const QString& dir) {
  QFile file(dir + "/config.json");
  EXPECT_TRUE(file.open(QIODevice::ReadOnly)) << dir.toStdString();
  return QJsonDocument::fromJson(file.readAll()).object();
}

/// A LLaMA layer's linear shapes [out, in] from config.json alone (independent of the engine).
struct LlamaShapes {
  std::int64_t hidden, inter, layers, vocab, qOut, kvOut, total;
  bool tied;
  explicit LlamaShapes(const QJsonObject& c) {
    hidden = c["hidden_size"].toInteger();
    inter = c["intermediate_size"].toInteger();
    layers = c["num_hidden_layers"].toInteger();
    vocab = c["vocab_size"].toInteger();
    const std::int64_t heads = c["num_attention_heads"].toInteger();
    const std::int64_t kvHeads = c["num_key_value_heads"].toInteger();
    const std::int64_t headDim = c.contains("head_dim") ? c["head_dim"].toInteger() : hidden / heads;
    qOut = heads * headDim;
    kvOut = kvHeads * headDim;
    tied = c["tie_word_embeddings"].toBool();
    const std::int64_t perLayer =
        qOut * hidden + 2 * kvOut * hidden + hidden * qOut + 3 * hidden * inter + 2 * hidden;
    total = vocab * hidden + layers * perLayer + hidden + (tied ? 0 : vocab * hidden);
  }
};

ModelPage* openPage(Studio& studio, const QString& folder) {
  auto* page = new ModelPage(studio.context);
  page->resize(900, 800);
  page->show();
  EXPECT_TRUE(QTest::qWaitForWindowExposed(page));
  page->openModel(folder);
  EXPECT_TRUE(QTest::qWaitFor([&] { return !page->isInspecting(); }, 20000)) << "inspection never finished";
  return page;
}

QString text(const QWidget& root, const char* name) {
  const auto* label = root.findChild<QLabel*>(name);
  return label != nullptr ? label->text() : QStringLiteral("<no label %1>").arg(name);
}

void typePattern(QLineEdit* edit, const QString& pattern) {
  edit->setFocus();
  edit->selectAll();
  QTest::keyClick(edit, Qt::Key_Backspace);
  QTest::keyClicks(edit, pattern);
}

std::set<std::string> checkedSet(const ModuleTree& tree) {
  const auto paths = tree.checkedPaths();
  return {paths.begin(), paths.end()};
}

/// Clicks an item's checkbox with the mouse, where the style draws it.
void clickCheckBox(QTreeWidget* tree, QTreeWidgetItem* item) {
  tree->scrollToItem(item);
  QStyleOptionViewItem option;
  option.initFrom(tree->viewport());
  option.rect = tree->visualItemRect(item);
  option.features = QStyleOptionViewItem::HasCheckIndicator | QStyleOptionViewItem::HasDisplay;
  option.text = item->text(0);
  option.showDecorationSelected = true;
  const QRect box = tree->style()->subElementRect(QStyle::SE_ItemViewItemCheckIndicator, &option, tree);
  QTest::mouseClick(tree->viewport(), Qt::LeftButton, {}, box.center());
}

std::int64_t trainableShown(const QWidget& page) {
  return page.findChild<QLabel*>("trainableLabel")->property("trainableParameters").toLongLong();
}

} // namespace

TEST(ModelPage, OpensAModelAndShowsWhatItIs) {
  Studio studio;
  std::unique_ptr<ModelPage> page(openPage(studio, kLlama));
  const LlamaShapes shapes(readConfig(kLlama));
  EXPECT_EQ(text(*page, "familyValue"), "llama");
  EXPECT_EQ(text(*page, "architectureValue"), "LlamaForCausalLM");
  EXPECT_TRUE(
      text(*page, "parametersValue").startsWith(QLocale().toString(static_cast<qlonglong>(shapes.total))))
      << text(*page, "parametersValue").toStdString() << " vs " << shapes.total;
  EXPECT_EQ(text(*page, "dtypeValue"), "F32");
  const qint64 bytes = QFileInfo(kLlama + "/model.safetensors").size();
  EXPECT_TRUE(text(*page, "sizeValue").contains(QLocale().toString(bytes) + " bytes"))
      << text(*page, "sizeValue").toStdString();
  EXPECT_EQ(text(*page, "vocabValue"), QLocale().toString(shapes.vocab));
  EXPECT_EQ(text(*page, "hiddenValue"), QLocale().toString(shapes.hidden));
  EXPECT_EQ(text(*page, "layersValue"), QLocale().toString(shapes.layers));
  EXPECT_FALSE(page->findChild<QLabel*>("modelError")->isVisible());
  EXPECT_EQ(studio.context.draft->config().modelPath, kLlama.toStdString());
  EXPECT_TRUE(studio.context.draft->config().tokenizerPath.empty());
  EXPECT_TRUE(studio.context.draft->canStart()) << studio.context.draft->firstProblem().toStdString();

  // The tree: two layers (attention 4, MLP 3) and lm_head outside them, with [out, in] shapes.
  auto* tree = page->findChild<ModuleTree*>("moduleTree");
  ASSERT_NE(tree, nullptr);
  ASSERT_EQ(tree->topLevelItemCount(), 3);
  EXPECT_EQ(tree->topLevelItem(0)->text(0), "model.layers.0");
  ASSERT_EQ(tree->topLevelItem(0)->childCount(), 2);
  EXPECT_EQ(tree->topLevelItem(0)->child(0)->text(0), "attention");
  EXPECT_EQ(tree->topLevelItem(0)->child(0)->childCount(), 4);
  EXPECT_EQ(tree->topLevelItem(0)->child(1)->text(0), "MLP");
  EXPECT_EQ(tree->topLevelItem(0)->child(1)->childCount(), 3);
  QTreeWidgetItem* k = tree->itemForPath("model.layers.1.self_attn.k_proj");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->text(1), QStringLiteral("[%1, %2]").arg(shapes.kvOut).arg(shapes.hidden));
  QTreeWidgetItem* down = tree->itemForPath("model.layers.0.mlp.down_proj");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->text(1), QStringLiteral("[%1, %2]").arg(shapes.hidden).arg(shapes.inter));
  EXPECT_EQ(tree->topLevelItem(2)->child(0)->data(0, Qt::UserRole).toString(), "lm_head");
}

TEST(ModelPage, ABadFolderIsAnErrorNamingTheFileAndBlocksStart) {
  Studio studio;
  QTemporaryDir broken;
  QFile config(broken.filePath("config.json"));
  ASSERT_TRUE(config.open(QIODevice::WriteOnly));
  config.write("{\"model_type\": \"llama\", \"hidden_size\": ");
  config.close();
  std::unique_ptr<ModelPage> page(openPage(studio, broken.path()));
  auto* error = page->findChild<QLabel*>("modelError");
  EXPECT_TRUE(error->isVisible());
  EXPECT_TRUE(error->text().contains("config.json")) << error->text().toStdString();
  EXPECT_TRUE(studio.context.draft->problems().contains("model.path"));
  EXPECT_FALSE(studio.context.draft->canStart());
  EXPECT_EQ(text(*page, "familyValue"), "—");

  // A folder with no weights names the files it looked for.
  QTemporaryDir noWeights;
  QFile::copy(kLlama + "/config.json", noWeights.filePath("config.json"));
  page->openModel(noWeights.path());
  ASSERT_TRUE(QTest::qWaitFor([&] { return !page->isInspecting(); }, 20000));
  EXPECT_TRUE(error->text().contains("model.safetensors")) << error->text().toStdString();

  // Opening a good model clears the problem.
  page->openModel(kLlama);
  ASSERT_TRUE(QTest::qWaitFor([&] { return !page->isInspecting(); }, 20000));
  EXPECT_FALSE(error->isVisible());
  EXPECT_TRUE(studio.context.draft->canStart()) << studio.context.draft->firstProblem().toStdString();
}

TEST(ModelPage, TypedPatternsCheckTheTree) {
  Studio studio;
  std::unique_ptr<ModelPage> page(openPage(studio, kLlama));
  auto* tree = page->findChild<ModuleTree*>("moduleTree");
  auto* edit = page->findChild<QLineEdit*>("targetsEdit");
  auto* error = page->findChild<QLabel*>("targetsError");
  ASSERT_NE(edit, nullptr);

  typePattern(edit, "q_proj,v_proj");
  EXPECT_EQ(checkedSet(*tree),
            (std::set<std::string>{"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                                   "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"}));
  EXPECT_EQ(studio.context.draft->config().targets, "q_proj,v_proj");
  EXPECT_FALSE(error->isVisible());
  // The layer is partly checked, its attention block too; the MLP block not at all.
  EXPECT_EQ(tree->topLevelItem(0)->checkState(0), Qt::PartiallyChecked);
  EXPECT_EQ(tree->topLevelItem(0)->child(0)->checkState(0), Qt::PartiallyChecked);
  EXPECT_EQ(tree->topLevelItem(0)->child(1)->checkState(0), Qt::Unchecked);

  typePattern(edit, "all-linear");
  EXPECT_EQ(tree->checkedPaths().size(), 14u); // every linear but the output head
  EXPECT_EQ(tree->itemForPath("lm_head")->checkState(0), Qt::Unchecked);
  EXPECT_EQ(tree->topLevelItem(1)->checkState(0), Qt::Checked);

  typePattern(edit, R"(model\.layers\.1\.mlp\..*)");
  EXPECT_EQ(checkedSet(*tree),
            (std::set<std::string>{"model.layers.1.mlp.gate_proj", "model.layers.1.mlp.up_proj",
                                   "model.layers.1.mlp.down_proj"}));
  EXPECT_TRUE(studio.context.draft->canStart());

  // An invalid regular expression: marked inline, recorded, Start blocked.
  typePattern(edit, "q_proj(");
  EXPECT_TRUE(error->isVisible());
  EXPECT_TRUE(error->text().contains("not a valid regular expression")) << error->text().toStdString();
  EXPECT_TRUE(tree->checkedPaths().empty());
  EXPECT_TRUE(studio.context.draft->problems().contains("model.targets"));
  EXPECT_FALSE(studio.context.draft->canStart());

  // Names that select nothing say which names exist.
  typePattern(edit, "query,value");
  EXPECT_TRUE(error->text().contains("match no linear module")) << error->text().toStdString();
  EXPECT_TRUE(error->text().contains("q_proj")) << error->text().toStdString();
  EXPECT_FALSE(studio.context.draft->canStart());

  typePattern(edit, "down_proj");
  EXPECT_FALSE(error->isVisible());
  EXPECT_EQ(tree->checkedPaths().size(), 2u);
  EXPECT_TRUE(studio.context.draft->canStart()) << studio.context.draft->firstProblem().toStdString();
}

TEST(ModelPage, ClickedChecksWriteTheShortestPattern) {
  Studio studio;
  std::unique_ptr<ModelPage> page(openPage(studio, kLlama));
  auto* tree = page->findChild<ModuleTree*>("moduleTree");
  auto* edit = page->findChild<QLineEdit*>("targetsEdit");
  tree->expandAll();
  const auto settle = [&](const QString& expected) {
    return QTest::qWaitFor([&] { return edit->text() == expected; }, 2000);
  };
  // The pattern always selects exactly what is checked (the engine's own matcher says so).
  const auto patternSelectsTheChecks = [&] {
    const auto matched = matchTargets(TargetSpec::parse(edit->text().toStdString()), tree->modules());
    return std::set<std::string>(matched.begin(), matched.end()) == checkedSet(*tree);
  };

  typePattern(edit, "q_proj");
  clickCheckBox(tree, tree->itemForPath("model.layers.0.self_attn.v_proj"));
  clickCheckBox(tree, tree->itemForPath("model.layers.1.self_attn.v_proj"));
  EXPECT_TRUE(settle("q_proj,v_proj")) << edit->text().toStdString();
  EXPECT_EQ(studio.context.draft->config().targets, "q_proj,v_proj");

  // One module less: no leaf names select that, so the explicit paths do.
  clickCheckBox(tree, tree->itemForPath("model.layers.1.self_attn.v_proj"));
  EXPECT_TRUE(settle(
      "model.layers.0.self_attn.q_proj,model.layers.0.self_attn.v_proj,model.layers.1.self_attn.q_proj"))
      << edit->text().toStdString();
  EXPECT_TRUE(patternSelectsTheChecks());

  // From all-linear, a click on layer 1 unchecks its 7 modules: layer 0 is left, and an anchored
  // regular expression is the shortest pattern for it.
  typePattern(edit, "all-linear");
  clickCheckBox(tree, tree->topLevelItem(1));
  ASSERT_TRUE(QTest::qWaitFor([&] { return tree->checkedPaths().size() == 7u; }, 2000));
  EXPECT_TRUE(
      settle(R"(^model\.layers\.0\.(self_attn\.q_proj|self_attn\.k_proj|self_attn\.v_proj|self_attn\.o_proj|)"
             R"(mlp\.gate_proj|mlp\.up_proj|mlp\.down_proj)$)"))
      << edit->text().toStdString();
  EXPECT_TRUE(patternSelectsTheChecks());
  EXPECT_EQ(studio.context.draft->config().targets, edit->text().toStdString());

  // Plus the output head: no regex over layers covers it, so the explicit paths do.
  clickCheckBox(tree, tree->itemForPath("lm_head"));
  ASSERT_TRUE(QTest::qWaitFor([&] { return tree->checkedPaths().size() == 8u; }, 2000));
  ASSERT_TRUE(QTest::qWaitFor([&] { return edit->text().startsWith("model.layers.0."); }, 2000))
      << edit->text().toStdString();
  EXPECT_TRUE(patternSelectsTheChecks()) << edit->text().toStdString();

  // Every module: the leaf names, lm_head included.
  clickCheckBox(tree, tree->topLevelItem(1));
  EXPECT_TRUE(settle("q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,lm_head"))
      << edit->text().toStdString();
  // Every linear but the output head is all-linear.
  clickCheckBox(tree, tree->itemForPath("lm_head"));
  EXPECT_TRUE(settle("all-linear")) << edit->text().toStdString();
  EXPECT_EQ(studio.context.draft->config().targets, "all-linear");

  // Nothing checked: an inline error and a draft problem.
  clickCheckBox(tree, tree->topLevelItem(0));
  clickCheckBox(tree, tree->topLevelItem(1));
  ASSERT_TRUE(QTest::qWaitFor([&] { return tree->checkedPaths().empty() && edit->text().isEmpty(); }, 2000));
  EXPECT_TRUE(page->findChild<QLabel*>("targetsError")->isVisible());
  EXPECT_FALSE(studio.context.draft->canStart());
}

TEST(ModelPage, PatternForSelectionPrefersDottedNamesOverPaths) {
  // BERT-style names: "dense" alone is ambiguous (attention output, intermediate, output).
  std::vector<LinearModuleInfo> modules;
  for (int layer = 0; layer < 2; ++layer) {
    const std::string p = "bert.encoder.layer." + std::to_string(layer) + ".";
    for (const char* local : {"attention.self.query", "attention.self.key", "attention.self.value",
                              "attention.output.dense", "intermediate.dense", "output.dense"}) {
      LinearModuleInfo info;
      info.name = p + local;
      modules.push_back(info);
    }
  }
  EXPECT_EQ(patternForSelection(modules, {"bert.encoder.layer.0.attention.output.dense",
                                          "bert.encoder.layer.1.attention.output.dense"}),
            "attention.output.dense");
  EXPECT_EQ(patternForSelection(modules, {"bert.encoder.layer.0.attention.self.query",
                                          "bert.encoder.layer.1.attention.self.query"}),
            "query");
  EXPECT_EQ(patternForSelection(modules, {}), "");
  EXPECT_EQ(placeOf("bert.encoder.layer.3.attention.output.dense").group, "attention");
  EXPECT_EQ(placeOf("bert.encoder.layer.3.output.dense").group, "MLP");
  EXPECT_EQ(placeOf("encoder.block.1.layer.1.DenseReluDense.wi").group, "MLP");
  EXPECT_EQ(placeOf("encoder.block.1.layer.0.SelfAttention.q").layer, "encoder.block.1");
  EXPECT_EQ(placeOf("transformer.h.0.attn.c_attn").group, "attention");
  EXPECT_EQ(placeOf("lm_head").layer, "");
}

TEST(ModelPage, TrainableCountFollowsMethodAndRank) {
  Studio studio;
  std::unique_ptr<ModelPage> page(openPage(studio, kLlama));
  MethodPage method(studio.context);
  const LlamaShapes s(readConfig(kLlama));
  auto* edit = page->findChild<QLineEdit*>("targetsEdit");
  auto* combo = method.findChild<QComboBox*>("methodCombo");
  auto* rank = method.findChild<QSpinBox*>("rankSpin");
  typePattern(edit, "q_proj,v_proj");

  combo->setCurrentIndex(combo->findData("lora-fa"));
  rank->setValue(8);
  // LoRA-FA trains B [out, r] only: r·out per module, q (out qOut) and v (out kvOut) per layer.
  EXPECT_EQ(trainableShown(*page), s.layers * 8 * (s.qOut + s.kvOut));
  EXPECT_TRUE(page->findChild<QLabel*>("trainableLabel")
                  ->text()
                  .contains(QLocale().toString(static_cast<qlonglong>(s.layers * 8 * (s.qOut + s.kvOut)))));

  rank->setValue(4);
  EXPECT_EQ(trainableShown(*page), s.layers * 4 * (s.qOut + s.kvOut));

  // LoRA trains A [r, in] too.
  combo->setCurrentIndex(combo->findData("lora"));
  EXPECT_EQ(trainableShown(*page), s.layers * 4 * ((s.hidden + s.qOut) + (s.hidden + s.kvOut)));

  // Full: every parameter, targets or not.
  combo->setCurrentIndex(combo->findData("full"));
  EXPECT_EQ(trainableShown(*page), s.total);
  EXPECT_TRUE(page->findChild<QLabel*>("trainableLabel")->text().contains("(100.00% of"))
      << page->findChild<QLabel*>("trainableLabel")->text().toStdString();
  EXPECT_FALSE(page->findChild<ModuleTree*>("moduleTree")->isEnabled());
}

TEST(ModelPage, DemoModelCountsMatchItsShapes) {
  Studio studio;
  const QString demo = studio.context.paths.resourcesDir + "/demo/model";
  ASSERT_TRUE(QFileInfo::exists(demo + "/config.json")) << demo.toStdString();
  auto* page = new ModelPage(studio.context);
  std::unique_ptr<ModelPage> owner(page);
  page->show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(page));
  QTest::mouseClick(page->findChild<QPushButton*>("demoModelButton"), Qt::LeftButton);
  ASSERT_TRUE(
      QTest::qWaitFor([&] { return !page->isInspecting() && page->inspection().has_value(); }, 20000));
  EXPECT_EQ(QFileInfo(page->findChild<QLineEdit*>("modelPathEdit")->text()).canonicalFilePath(),
            QFileInfo(demo).canonicalFilePath());

  const LlamaShapes s(readConfig(demo));
  EXPECT_TRUE(s.tied);
  EXPECT_EQ(page->inspection()->summary.totalParameters, s.total);
  studio.context.draft->edit([](RunConfig& c) {
    c.adapter.method = TrainMethod::LoraFa;
    c.adapter.rank = 16;
    c.targets = "all-linear";
  });
  // all-linear on a tied model: the 7 projections of every layer (no separate lm_head).
  const std::int64_t outs = s.qOut + 2 * s.kvOut + s.hidden + 2 * s.inter + s.hidden;
  const std::int64_t ins = s.hidden * 6 + s.inter;
  EXPECT_EQ(page->findChild<ModuleTree*>("moduleTree")->checkedPaths().size(),
            static_cast<std::size_t>(7 * s.layers));
  EXPECT_EQ(trainableShown(*page), s.layers * 16 * outs);
  studio.context.draft->edit([](RunConfig& c) { c.adapter.method = TrainMethod::Lora; });
  EXPECT_EQ(trainableShown(*page), s.layers * 16 * (outs + ins));
}

namespace {
struct LogLines : TrainerObserver {
  std::vector<std::string> lines;
  void onLog(LogLevel, const std::string& line) override { lines.push_back(line); }
};
} // namespace

TEST(ModelPage, LoraFaCountOnTheDemoIsWhatTheEngineTrains) {
  // The bundled demo run (LoRA-FA, rank 16, all-linear): the engine's setup says how many
  // parameters require a gradient once the adapters are in; the page must say the same.
  Studio studio;
  RunConfig config = loadRunConfig(studio.context.paths.demoConfigPath().toStdString());
  config.outputDir = studio.dir.filePath("engine-run").toStdString();
  config.eval.generateMaxExamples = 0;
  ASSERT_EQ(config.adapter.method, TrainMethod::LoraFa);
  LogLines logs;
  const auto session = TrainingSession::create(config, &logs);
  session->setup();
  std::int64_t engineTrainable = -1;
  const std::regex trainable(R"((\d+) trainable parameters)");
  for (const std::string& line : logs.lines) {
    std::smatch m;
    if (std::regex_search(line, m, trainable)) engineTrainable = std::stoll(m[1]);
  }
  ASSERT_GT(engineTrainable, 0) << "the engine's setup log gave no trainable count";

  studio.context.draft->setConfig(config);
  std::unique_ptr<ModelPage> page(new ModelPage(studio.context));
  ASSERT_TRUE(
      QTest::qWaitFor([&] { return !page->isInspecting() && page->inspection().has_value(); }, 20000));
  EXPECT_EQ(trainableShown(*page), engineTrainable);
}

// Clearing the folder while another is being read: the page is idle at once (nothing waits for
// the dropped inspection), and that inspection, when it ends, changes nothing.
TEST(ModelPage, AnEmptyFolderWhileReadingLeavesThePageIdle) {
  Studio studio;
  std::unique_ptr<ModelPage> page(openPage(studio, kLlama));
  page->openModel(kLlama);
  ASSERT_TRUE(page->isInspecting());
  page->openModel(QString());
  EXPECT_FALSE(page->isInspecting());
  EXPECT_FALSE(page->inspection().has_value());
  EXPECT_TRUE(text(*page, "modelError").contains("No model folder"))
      << text(*page, "modelError").toStdString();
  QThreadPool::globalInstance()->waitForDone();
  QCoreApplication::processEvents();
  EXPECT_FALSE(page->isInspecting());
  EXPECT_FALSE(page->inspection().has_value()) << "the dropped inspection was applied";
  EXPECT_EQ(text(*page, "familyValue"), "—");
}

TEST(ModelPage, FollowsADraftLoadedElsewhere) {
  Studio studio;
  std::unique_ptr<ModelPage> page(openPage(studio, kLlama));
  auto* edit = page->findChild<QLineEdit*>("targetsEdit");
  // A configuration loaded elsewhere (a run to repeat) names other targets and another model.
  RunConfig config = studio.context.draft->config();
  config.targets = "o_proj";
  studio.context.draft->setConfig(config);
  EXPECT_EQ(edit->text(), "o_proj");
  EXPECT_EQ(page->findChild<ModuleTree*>("moduleTree")->checkedPaths().size(), 2u);

  config.modelPath = (studio.context.paths.resourcesDir + "/demo/model").toStdString();
  studio.context.draft->setConfig(config);
  ASSERT_TRUE(QTest::qWaitFor([&] { return !page->isInspecting(); }, 20000));
  EXPECT_EQ(page->findChild<QLineEdit*>("modelPathEdit")->text().toStdString(), config.modelPath);
  EXPECT_EQ(text(*page, "layersValue"), "6");
  EXPECT_EQ(page->findChild<ModuleTree*>("moduleTree")->checkedPaths().size(), 6u);
}

TEST(ModelPage, AClassifiersHeadTrainsInFullAndGetsNoAdapter) {
  Studio studio;
  const QString bert = QStringLiteral(LORAFA_FIXTURES_DIR "/models/bert_cls");
  std::unique_ptr<ModelPage> page(openPage(studio, bert));
  ASSERT_TRUE(page->inspection().has_value());
  const QJsonObject c = readConfig(bert);
  const std::int64_t h = c["hidden_size"].toInteger();
  const std::int64_t inter = c["intermediate_size"].toInteger();
  const std::int64_t layers = c["num_hidden_layers"].toInteger();
  const std::int64_t labels = c["id2label"].toObject().size();
  auto* tree = page->findChild<ModuleTree*>("moduleTree");
  EXPECT_EQ(tree->itemForPath("classifier"), nullptr) << "the task head is not an adapter target";
  ASSERT_NE(tree->itemForPath("bert.pooler.dense"), nullptr);
  EXPECT_EQ(placeOf("bert.encoder.layer.0.attention.output.dense").group, "attention");

  studio.context.draft->edit([](RunConfig& config) {
    config.adapter.method = TrainMethod::LoraFa;
    config.adapter.rank = 4;
    config.targets = "all-linear";
  });
  // Per layer: query, key, value, attention.output.dense (out h), intermediate.dense (out inter),
  // output.dense (out h); then the pooler (out h); B is [out, r]. The head: h·labels + labels.
  const std::int64_t adapters = layers * 4 * (5 * h + inter) + 4 * h;
  EXPECT_EQ(trainableShown(*page), adapters + h * labels + labels);
  EXPECT_TRUE(page->findChild<QLabel*>("trainableLabel")->text().contains("task head (classifier)"))
      << page->findChild<QLabel*>("trainableLabel")->text().toStdString();
}
