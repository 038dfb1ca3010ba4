// The Data page with real widgets, real dataset files and the bundled demo model's tokenizer.
#include "RunDraft.h"
#include "StudioContext.h"
#include "StudioSettings.h"
#include "StudioTestSupport.h"
#include "pages/DataPage.h"
#include "widgets/DatasetPreviewModel.h"
#include "widgets/DatasetSegmentDelegate.h"
#include "widgets/TokenHistogram.h"

#include "lorafa/ChatTemplate.h"
#include "lorafa/Dataset.h"
#include "lorafa/RunConfig.h"
#include "lorafa/Tokenizer.h"

#include <QAbstractButton>
#include <QAbstractSpinBox>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QDropEvent>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QMimeData>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTextBlock>
#include <QTextDocument>
#include <QUrl>
#include <QtTest/QtTest>

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

using namespace lorafa;
using namespace lorafa::ui;

namespace {

using lorafa::ui::testing::app;

constexpr int kTimeoutMs = 120000; // generous: two cores shared with other builds and tests

QString resources() {
  app(); // the resources are found from the executable's path
  return findResourcesDir();
}
QString demoDataset() { return resources() + "/demo/data/kjv_books_train.jsonl"; }

RunConfig demoConfig() {
  return loadRunConfig((resources() + "/examples/demo-kjv-lora-fa.yaml").toStdString());
}

void writeFile(const QString& path, const QByteArray& content) {
  QFile file(path);
  ASSERT_TRUE(file.open(QIODevice::WriteOnly | QIODevice::Truncate)) << path.toStdString();
  file.write(content);
}

/// A Data page on its own draft, settings in a temporary folder.
struct Studio {
  QTemporaryDir dir;
  std::unique_ptr<StudioSettings> settings;
  std::unique_ptr<RunDraft> draft;
  StudioContext context;
  std::unique_ptr<DataPage> page;

  explicit Studio(const RunConfig& config) {
    app();
    settings = std::make_unique<StudioSettings>(dir.filePath("settings.ini"));
    draft = std::make_unique<RunDraft>();
    draft->setConfig(config);
    context.paths = lorafa::ui::testing::temporaryPaths(dir);
    context.settings = settings.get();
    context.draft = draft.get();
    page = std::make_unique<DataPage>(context);
    page->resize(1100, 800);
    page->show();
  }

  /// Waits until a result newer than `before` is on screen and nothing is in flight.
  bool waitForResult(int before) {
    return QTest::qWaitFor([&] { return page->resultsShown() > before && !page->isBusy(); }, kTimeoutMs);
  }
  bool waitIdle() {
    return QTest::qWaitFor([&] { return page->resultsShown() > 0 && !page->isBusy(); }, kTimeoutMs);
  }
  template <typename T> T* child(const char* name) const { return page->findChild<T*>(name); }
  QAbstractItemModel* preview() const { return child<QTableView>("previewTable")->model(); }
  QString cell(int row, int column) const { return preview()->index(row, column).data().toString(); }
};

/// The demo's tokens per example counted here, without the page: the Plain template's text (the
/// demo config's template) with the tokenizer's EOS text, tokenized with its BOS.
std::vector<std::int64_t> independentTokenCounts(const RunConfig& config) {
  const auto tokenizer = Tokenizer::load(config.modelPath);
  const Dataset dataset = loadDataset(config.dataset.path);
  ChatTemplateOptions options;
  options.eosToken = *tokenizer->idToToken(*tokenizer->eosId());
  std::vector<std::int64_t> counts;
  for (const Example& e : dataset.examples) {
    const RenderedChat rendered =
        renderInstruction(ChatTemplateKind::Plain, e.instruction, e.input, e.output, options);
    counts.push_back(static_cast<std::int64_t>(tokenizer->encode(rendered.text, true).size()));
  }
  return counts;
}

std::size_t longerThan(const std::vector<std::int64_t>& counts, std::int64_t maxLength) {
  return static_cast<std::size_t>(
      std::count_if(counts.begin(), counts.end(), [&](std::int64_t n) { return n > maxLength; }));
}

std::size_t nonBlankLines(const QString& path) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) return 0;
  std::size_t lines = 0;
  while (!file.atEnd())
    lines += file.readLine().trimmed().isEmpty() ? 0 : 1;
  return lines;
}

} // namespace

TEST(DataPage, DemoDatasetIsDetectedAndPreviewedWithMaskedAndTrainedSpans) {
  RunConfig config = demoConfig();
  config.dataset.format = DatasetFormat::Auto; // detection decides
  Studio studio(config);
  ASSERT_TRUE(studio.waitIdle());

  EXPECT_TRUE(studio.child<QLabel>("detectedFormatLabel")->text().startsWith("alpaca"))
      << studio.child<QLabel>("detectedFormatLabel")->text().toStdString();
  EXPECT_EQ(studio.child<QComboBox>("formatCombo")->currentData().toString(), "auto");
  EXPECT_TRUE(studio.child<QLabel>("dataErrorLabel")->isHidden())
      << studio.child<QLabel>("dataErrorLabel")->text().toStdString();
  EXPECT_TRUE(studio.child<QLabel>("tokenizerNote")->isHidden());
  EXPECT_FALSE(studio.draft->problems().contains("data.path"));

  QAbstractItemModel* model = studio.preview();
  ASSERT_EQ(model->rowCount(), 20);
  // Row 0 is the file's first record: its prompt is masked, its answer trained on.
  const Dataset dataset = loadDataset(config.dataset.path);
  const Example& first = dataset.examples.front();
  const QVariantList segments =
      model->index(0, DatasetPreviewModel::TextColumn).data(DatasetPreviewModel::SegmentsRole).toList();
  ASSERT_GE(segments.size(), 2);
  QString masked;
  QString trained;
  for (const QVariant& s : segments) {
    (s.toMap().value("trained").toBool() ? trained : masked) += s.toMap().value("text").toString();
  }
  EXPECT_TRUE(masked.contains(QString::fromStdString(first.instruction))) << masked.toStdString();
  EXPECT_TRUE(masked.contains(QString::fromStdString(first.input)));
  EXPECT_TRUE(trained.startsWith(QString::fromStdString(first.output))) << trained.toStdString();
  EXPECT_FALSE(trained.contains(QString::fromStdString(first.instruction)));

  // The delegate draws the two differently: the prompt greyed, the answer bold.
  const QPalette palette = studio.child<QTableView>("previewTable")->palette();
  QTextDocument document;
  DatasetSegmentDelegate::fillDocument(document, segments, palette, QFont());
  std::optional<QTextCharFormat> promptFormat;
  std::optional<QTextCharFormat> answerFormat;
  for (QTextBlock block = document.begin(); block.isValid(); block = block.next()) {
    for (auto it = block.begin(); !it.atEnd(); ++it) {
      const QTextFragment fragment = it.fragment();
      if (fragment.text().contains(QString::fromStdString(first.output)))
        answerFormat = fragment.charFormat();
      if (fragment.text().contains("Which book")) promptFormat = fragment.charFormat();
    }
  }
  ASSERT_TRUE(promptFormat && answerFormat);
  EXPECT_EQ(answerFormat->fontWeight(), QFont::Bold);
  EXPECT_NE(promptFormat->fontWeight(), QFont::Bold);
  EXPECT_EQ(promptFormat->foreground().color(), palette.color(QPalette::PlaceholderText));
  EXPECT_NE(promptFormat->foreground().color(), answerFormat->foreground().color());
  EXPECT_FALSE(studio.child<QLabel>("maskLegend")->text().isEmpty());

  // Token counts: the trained part is a few tokens of the whole.
  const qlonglong tokens = studio.cell(0, DatasetPreviewModel::TokensColumn).toLongLong();
  const qlonglong trainable = studio.cell(0, DatasetPreviewModel::TrainableColumn).toLongLong();
  EXPECT_GT(tokens, 10);
  EXPECT_GT(trainable, 0);
  EXPECT_LT(trainable, tokens);
  EXPECT_EQ(studio.cell(0, DatasetPreviewModel::LineColumn), "1");
}

TEST(DataPage, HistogramCountsEveryExampleAndTruncationFollowsMaxLength) {
  RunConfig config = demoConfig();
  const std::vector<std::int64_t> counts = independentTokenCounts(config);
  ASSERT_EQ(counts.size(), nonBlankLines(demoDataset()));
  std::vector<std::int64_t> sorted = counts;
  std::sort(sorted.begin(), sorted.end());
  // Two max lengths inside the distribution, so both cut some examples and not the same number.
  const std::int64_t shortMax = sorted[sorted.size() / 2];
  const std::int64_t longMax = sorted[sorted.size() * 9 / 10];
  ASSERT_LT(shortMax, longMax);
  ASSERT_NE(longerThan(counts, shortMax), longerThan(counts, longMax));

  config.train.maxSeqLen = shortMax;
  Studio studio(config);
  ASSERT_TRUE(studio.waitIdle());
  auto* histogram = studio.child<TokenHistogram>("lengthHistogram");
  ASSERT_NE(histogram, nullptr);
  ASSERT_GT(histogram->bars()->data()->size(), 1);
  EXPECT_EQ(histogram->barTotal(), counts.size()); // every example in exactly one bar
  EXPECT_DOUBLE_EQ(histogram->maxLengthPosition(), static_cast<double>(shortMax));
  auto* truncation = studio.child<QLabel>("truncationLabel");
  EXPECT_EQ(truncation->property("truncatedExamples").toULongLong(), longerThan(counts, shortMax));
  EXPECT_TRUE(
      truncation->text().contains(QLocale().toString(static_cast<qulonglong>(longerThan(counts, shortMax)))))
      << truncation->text().toStdString();

  // The Method page changes the max length: the line moves at once, the counts follow.
  const int before = studio.page->resultsShown();
  studio.draft->edit([&](RunConfig& c) { c.train.maxSeqLen = longMax; });
  EXPECT_DOUBLE_EQ(histogram->maxLengthPosition(), static_cast<double>(longMax));
  ASSERT_TRUE(studio.waitForResult(before));
  EXPECT_EQ(truncation->property("truncatedExamples").toULongLong(), longerThan(counts, longMax));
  EXPECT_EQ(histogram->barTotal(), counts.size());
  // The preview's truncated flags follow too: row by row against the independent counts.
  QAbstractItemModel* model = studio.preview();
  for (int row = 0; row < model->rowCount(); ++row) {
    const bool truncated = model->index(row, DatasetPreviewModel::TruncatedColumn)
                               .data(DatasetPreviewModel::TruncatedRole)
                               .toBool();
    EXPECT_EQ(truncated, counts[static_cast<std::size_t>(row)] > longMax) << "row " << row;
    EXPECT_EQ(studio.cell(row, DatasetPreviewModel::TokensColumn).toLongLong(),
              counts[static_cast<std::size_t>(row)]);
  }

  // An unrelated edit (the rank) starts no work.
  const int shown = studio.page->resultsShown();
  studio.draft->edit([](RunConfig& c) { c.adapter.rank = 4; });
  EXPECT_FALSE(studio.page->isBusy());
  QTest::qWait(200);
  EXPECT_EQ(studio.page->resultsShown(), shown);
}

TEST(DataPage, CsvHeaderColumnsAreOfferedForMapping) {
  QTemporaryDir data;
  const QString csv = data.filePath("reviews.csv");
  writeFile(csv, "review,sentiment,\"notes, extra\"\n"
                 "\"Great film, loved it\",pos,a\n"
                 "Dull and long,neg,b\n"
                 "A delight,pos,c\n"
                 "Fell asleep,neg,d\n");
  RunConfig config = demoConfig();
  config.dataset = DatasetConfig{};
  config.dataset.path = csv.toStdString();
  Studio studio(config);
  ASSERT_TRUE(studio.waitIdle());

  auto* textCombo = studio.child<QComboBox>("textColumnCombo");
  auto* labelCombo = studio.child<QComboBox>("labelColumnCombo");
  EXPECT_FALSE(studio.child<QWidget>("columnsGroup")->isHidden());
  for (const QString column : {"review", "sentiment", "notes, extra"}) {
    EXPECT_GE(textCombo->findData(column), 0) << column.toStdString();
    EXPECT_GE(labelCombo->findData(column), 0) << column.toStdString();
    EXPECT_GE(studio.child<QComboBox>("sourceColumnCombo")->findData(column), 0);
  }
  // The default columns (text, label) are not in this file: nothing loads yet.
  EXPECT_FALSE(studio.child<QLabel>("dataErrorLabel")->isHidden());
  EXPECT_TRUE(studio.draft->problems().contains("data.path"));

  // Mapping the columns makes it classification data.
  int before = studio.page->resultsShown();
  textCombo->setCurrentIndex(textCombo->findData("review"));
  EXPECT_EQ(studio.draft->config().dataset.textColumn, "review");
  ASSERT_TRUE(studio.waitForResult(before));
  before = studio.page->resultsShown();
  labelCombo->setCurrentIndex(labelCombo->findData("sentiment"));
  EXPECT_EQ(studio.draft->config().dataset.labelColumn, "sentiment");
  ASSERT_TRUE(studio.waitForResult(before));
  EXPECT_TRUE(studio.child<QLabel>("dataErrorLabel")->isHidden())
      << studio.child<QLabel>("dataErrorLabel")->text().toStdString();
  EXPECT_FALSE(studio.draft->problems().contains("data.path"));
  EXPECT_TRUE(studio.child<QLabel>("detectedFormatLabel")->text().startsWith("classification"));
  ASSERT_EQ(studio.preview()->rowCount(), 4);
  EXPECT_EQ(studio.cell(0, DatasetPreviewModel::TextColumn), "Great film, loved it");
  EXPECT_EQ(studio.cell(0, DatasetPreviewModel::LabelColumn), "pos");
  EXPECT_EQ(studio.cell(1, DatasetPreviewModel::LabelColumn), "neg");
}

TEST(DataPage, MalformedLineIsNamedAndBlocksStartUntilFixed) {
  QTemporaryDir data;
  const QString bad = data.filePath("broken.jsonl");
  writeFile(bad, "{\"instruction\":\"Say hi\",\"output\":\"hi\"}\n"
                 "{\"instruction\":\"Say bye\",\"output\":\"bye\"}\n"
                 "{\"instruction\":\"Say what\",\"output\": oops}\n");
  RunConfig config = demoConfig();
  config.dataset.path = bad.toStdString();
  Studio studio(config);
  ASSERT_TRUE(studio.waitIdle());

  auto* error = studio.child<QLabel>("dataErrorLabel");
  EXPECT_FALSE(error->isHidden());
  EXPECT_TRUE(error->text().contains("broken.jsonl")) << error->text().toStdString();
  EXPECT_TRUE(error->text().contains("line 3")) << error->text().toStdString();
  ASSERT_TRUE(studio.draft->problems().contains("data.path"));
  EXPECT_TRUE(studio.draft->problems().value("data.path").contains("broken.jsonl:3"));
  EXPECT_FALSE(studio.draft->canStart());
  // The layout and format were still recognised from the good records.
  EXPECT_TRUE(studio.child<QLabel>("detectedFormatLabel")->text().startsWith("alpaca"));

  // Fixed: the error and the problem go.
  writeFile(bad, "{\"instruction\":\"Say hi\",\"output\":\"hi\"}\n"
                 "{\"instruction\":\"Say bye\",\"output\":\"bye\"}\n"
                 "{\"instruction\":\"Say what\",\"output\":\"what\"}\n");
  const int before = studio.page->resultsShown();
  studio.draft->edit([&](RunConfig& c) { c.dataset.path.clear(); });
  EXPECT_TRUE(studio.draft->problems().contains("data.path")); // no file at all is a problem too
  studio.page->openDataset(bad);
  ASSERT_TRUE(studio.waitForResult(before));
  EXPECT_TRUE(error->isHidden()) << error->text().toStdString();
  EXPECT_FALSE(studio.draft->problems().contains("data.path"));
  EXPECT_EQ(studio.preview()->rowCount(), 3);
}

TEST(DataPage, DroppingAFileLoadsIt) {
  RunConfig config = demoConfig();
  config.dataset.path.clear();
  Studio studio(config);
  EXPECT_TRUE(studio.draft->problems().contains("data.path"));

  const QString path = resources() + "/demo/data/spam_test.jsonl";
  QMimeData mime;
  mime.setUrls({QUrl::fromLocalFile(path)});
  const QPoint at = studio.page->rect().center();
  QDragEnterEvent enter(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QApplication::sendEvent(studio.page.get(), &enter);
  EXPECT_TRUE(enter.isAccepted());
  QDropEvent drop(QPointF(at), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QApplication::sendEvent(studio.page.get(), &drop);
  EXPECT_TRUE(drop.isAccepted());

  EXPECT_EQ(QString::fromStdString(studio.draft->config().dataset.path), path);
  EXPECT_EQ(studio.child<QLineEdit>("datasetPathEdit")->text(), path);
  ASSERT_TRUE(studio.waitIdle());
  EXPECT_FALSE(studio.draft->problems().contains("data.path"))
      << studio.draft->problems().value("data.path").toStdString();
  EXPECT_TRUE(studio.child<QLabel>("detectedFormatLabel")->text().startsWith("classification"));
  EXPECT_EQ(studio.preview()->rowCount(), 20);
  EXPECT_FALSE(studio.cell(0, DatasetPreviewModel::LabelColumn).isEmpty());

  // Text that is not a file is refused.
  QMimeData text;
  text.setText("not a file");
  QDragEnterEvent refused(at, Qt::CopyAction, &text, Qt::LeftButton, Qt::NoModifier);
  refused.setAccepted(false);
  QApplication::sendEvent(studio.page.get(), &refused);
  EXPECT_FALSE(refused.isAccepted());
}

TEST(DataPage, FormatOverrideChangesTheParse) {
  QTemporaryDir data;
  const QString path = data.filePath("labelled.jsonl");
  writeFile(path, "{\"text\":\"win a prize now\",\"label\":\"spam\"}\n"
                  "{\"text\":\"lunch at noon?\",\"label\":\"ham\"}\n"
                  "{\"text\":\"cheap pills\",\"label\":\"spam\"}\n");
  RunConfig config = demoConfig();
  config.dataset = DatasetConfig{};
  config.dataset.path = path.toStdString();
  Studio studio(config);
  ASSERT_TRUE(studio.waitIdle());
  ASSERT_TRUE(studio.page->analysis() && studio.page->analysis()->dataset);
  EXPECT_EQ(studio.page->analysis()->dataset->format, DatasetFormat::Classification);
  EXPECT_EQ(studio.cell(0, DatasetPreviewModel::LabelColumn), "spam");
  EXPECT_EQ(studio.cell(1, DatasetPreviewModel::LabelColumn), "ham");

  auto* format = studio.child<QComboBox>("formatCombo");
  const int before = studio.page->resultsShown();
  format->setCurrentIndex(format->findData("text"));
  EXPECT_EQ(studio.draft->config().dataset.format, DatasetFormat::PlainText);
  ASSERT_TRUE(studio.waitForResult(before));
  ASSERT_TRUE(studio.page->analysis()->dataset);
  EXPECT_EQ(studio.page->analysis()->dataset->format, DatasetFormat::PlainText);
  // Still detected as classification; read as plain documents, all trained on, no labels.
  EXPECT_TRUE(studio.child<QLabel>("detectedFormatLabel")->text().startsWith("classification"));
  ASSERT_EQ(studio.preview()->rowCount(), 3);
  for (int row = 0; row < 3; ++row) {
    EXPECT_TRUE(studio.cell(row, DatasetPreviewModel::LabelColumn).isEmpty());
    const QVariantList segments = studio.preview()
                                      ->index(row, DatasetPreviewModel::TextColumn)
                                      .data(DatasetPreviewModel::SegmentsRole)
                                      .toList();
    ASSERT_EQ(segments.size(), 1);
    EXPECT_TRUE(segments.front().toMap().value("trained").toBool());
  }
  EXPECT_EQ(studio.cell(2, DatasetPreviewModel::TextColumn), "cheap pills");
}

TEST(DataPage, WithoutAModelShowsRawRowsAndSaysWhy) {
  RunConfig config = demoConfig();
  config.modelPath.clear();
  config.tokenizerPath.clear();
  Studio studio(config);
  ASSERT_TRUE(studio.waitIdle());
  EXPECT_TRUE(studio.child<QLabel>("detectedFormatLabel")->text().startsWith("alpaca"));
  auto* note = studio.child<QLabel>("tokenizerNote");
  EXPECT_FALSE(note->isHidden());
  EXPECT_TRUE(note->text().contains("model")) << note->text().toStdString();
  ASSERT_EQ(studio.preview()->rowCount(), 20);
  EXPECT_EQ(studio.cell(0, DatasetPreviewModel::TokensColumn), "—");
  // The template still marks what would be trained on.
  const QVariantList segments = studio.preview()
                                    ->index(0, DatasetPreviewModel::TextColumn)
                                    .data(DatasetPreviewModel::SegmentsRole)
                                    .toList();
  EXPECT_GE(segments.size(), 2);
  EXPECT_EQ(studio.child<TokenHistogram>("lengthHistogram")->barTotal(), 0u);
  EXPECT_FALSE(studio.draft->problems().contains("data.path"));

  // Choosing the model (on the Model page) brings the tokenized preview.
  const int before = studio.page->resultsShown();
  studio.draft->edit([](RunConfig& c) { c.modelPath = demoConfig().modelPath; });
  ASSERT_TRUE(studio.waitForResult(before));
  EXPECT_TRUE(note->isHidden());
  EXPECT_GT(studio.cell(0, DatasetPreviewModel::TokensColumn).toLongLong(), 0);
  EXPECT_GT(studio.child<TokenHistogram>("lengthHistogram")->barTotal(), 0u);
}

TEST(DataPage, SplitSettingsAreBoundToTheDraftBothWays) {
  Studio studio(demoConfig());
  auto* validation = studio.child<QDoubleSpinBox>("validationSpin");
  auto* evalPath = studio.child<QLineEdit>("evalPathEdit");
  auto* trainOnPrompt = studio.child<QCheckBox>("trainOnPromptCheck");
  auto* packing = studio.child<QCheckBox>("packingCheck");

  // Draft → widgets, without echoing back into the draft.
  QSignalSpy changed(studio.draft.get(), &RunDraft::changed);
  studio.draft->edit([](RunConfig& c) {
    c.dataset.evalPath.clear();
    c.dataset.validationFraction = 0.3;
    c.dataset.packing = true;
  });
  EXPECT_EQ(changed.count(), 1);
  EXPECT_DOUBLE_EQ(validation->value(), 0.3);
  EXPECT_TRUE(validation->isEnabled());
  EXPECT_TRUE(evalPath->text().isEmpty());
  EXPECT_TRUE(packing->isChecked());

  // Widgets → draft, one change each.
  changed.clear();
  validation->setValue(0.15);
  EXPECT_DOUBLE_EQ(studio.draft->config().dataset.validationFraction, 0.15);
  trainOnPrompt->setChecked(true);
  EXPECT_TRUE(studio.draft->config().dataset.trainOnPrompt);
  packing->setChecked(false);
  EXPECT_FALSE(studio.draft->config().dataset.packing);
  EXPECT_EQ(changed.count(), 3);

  const QString eval = resources() + "/demo/data/kjv_books_test.jsonl";
  evalPath->setText(eval);
  Q_EMIT evalPath->editingFinished();
  EXPECT_EQ(QString::fromStdString(studio.draft->config().dataset.evalPath), eval);
  EXPECT_FALSE(validation->isEnabled()); // a separate file replaces the split
  ASSERT_TRUE(studio.waitIdle());
  EXPECT_FALSE(studio.draft->problems().contains("data.evalPath"));
  EXPECT_TRUE(studio.child<QLabel>("evalInfoLabel")->text().contains(QString::number(nonBlankLines(eval))))
      << studio.child<QLabel>("evalInfoLabel")->text().toStdString();

  // An evaluation file the trainer could not read is a problem, named with its line.
  QTemporaryDir data;
  const QString badEval = data.filePath("bad_eval.jsonl");
  writeFile(badEval, "{\"instruction\":\"a\",\"output\":\"b\"}\n{\"instruction\": 3,\n");
  studio.draft->edit([&](RunConfig& c) { c.dataset.evalPath = badEval.toStdString(); });
  ASSERT_TRUE(
      QTest::qWaitFor([&] { return studio.draft->problems().contains("data.evalPath"); }, kTimeoutMs));
  EXPECT_TRUE(studio.draft->problems().value("data.evalPath").contains("bad_eval.jsonl:2"))
      << studio.draft->problems().value("data.evalPath").toStdString();
  studio.draft->edit([](RunConfig& c) { c.dataset.evalPath = "/nonexistent/eval.jsonl"; });
  EXPECT_EQ(evalPath->text(), "/nonexistent/eval.jsonl");
  EXPECT_TRUE(studio.draft->problems().value("data.evalPath").contains("/nonexistent/eval.jsonl"));
  ASSERT_TRUE(studio.waitIdle());
}

TEST(DataPage, ANewerFileSupersedesAnOlderOne) {
  QTemporaryDir data;
  const QString bad = data.filePath("bad.jsonl");
  writeFile(bad, "{\"instruction\": \n");
  RunConfig config = demoConfig();
  config.dataset.path = bad.toStdString();
  Studio studio(config);
  // Replaced before its result could land: only the demo's result shows.
  studio.page->openDataset(demoDataset());
  ASSERT_TRUE(studio.waitIdle());
  EXPECT_EQ(studio.page->resultsShown(), 1);
  EXPECT_TRUE(studio.child<QLabel>("dataErrorLabel")->isHidden());
  EXPECT_FALSE(studio.draft->problems().contains("data.path"));
  EXPECT_EQ(studio.preview()->rowCount(), 20);
}

TEST(DataPage, EveryInputHasATooltip) {
  Studio studio(demoConfig());
  QStringList missing;
  for (QWidget* widget : studio.page->findChildren<QWidget*>()) {
    const bool input = qobject_cast<QLineEdit*>(widget) != nullptr ||
                       qobject_cast<QComboBox*>(widget) != nullptr ||
                       qobject_cast<QAbstractButton*>(widget) != nullptr ||
                       qobject_cast<QAbstractSpinBox*>(widget) != nullptr;
    // Parts of other widgets (a combo box's line edit, a line edit's clear button, a table's
    // corner button) are theirs.
    QWidget* parent = widget->parentWidget();
    if (!input || qobject_cast<QComboBox*>(parent) != nullptr ||
        qobject_cast<QAbstractSpinBox*>(parent) != nullptr || qobject_cast<QLineEdit*>(parent) != nullptr ||
        qobject_cast<QAbstractItemView*>(parent) != nullptr) {
      continue;
    }
    if (widget->toolTip().isEmpty())
      missing << widget->objectName() + " (" + widget->metaObject()->className() + ")";
  }
  EXPECT_TRUE(missing.isEmpty()) << missing.join(", ").toStdString();
  ASSERT_TRUE(studio.waitIdle());
}

TEST(DatasetAnalysis, CountsASampleOfALargeDatasetAndStopsWhenCancelled) {
  const RunConfig config = demoConfig();
  const std::vector<std::int64_t> counts = independentTokenCounts(config);
  DatasetRequest request;
  request.dataset = config.dataset;
  request.tokenizerPath = QString::fromStdString(config.modelPath);
  request.modelPath = request.tokenizerPath;
  request.maxSeqLen = 60;
  request.maxStatisticsExamples = 100;
  const DatasetAnalysis sample =
      analyzeDataset(request, nullptr, {}, std::make_shared<std::atomic<bool>>(false));
  ASSERT_TRUE(sample.statistics);
  EXPECT_EQ(sample.dataset->examples.size(), counts.size());
  EXPECT_EQ(sample.statistics->examples, 100u);
  const std::vector<std::int64_t> first(counts.begin(), counts.begin() + 100);
  EXPECT_EQ(sample.statistics->truncatedExamples, longerThan(first, 60));
  // The recount at another length needs no token ids (the analysis keeps none).
  for (const TokenizedExample& row : sample.tokenized->rows)
    EXPECT_TRUE(row.inputIds.empty());
  EXPECT_EQ(recountAtMaxLength(sample, 70).statistics->truncatedExamples, longerThan(first, 70));

  const DatasetAnalysis cancelled =
      analyzeDataset(request, nullptr, {}, std::make_shared<std::atomic<bool>>(true));
  EXPECT_TRUE(cancelled.cancelled);
  EXPECT_FALSE(cancelled.statistics);
}

TEST(DataPage, ATypedPathLoadsOnEnterAndSurvivesUnrelatedEdits) {
  RunConfig config = demoConfig();
  config.dataset.path.clear();
  Studio studio(config);
  auto* edit = studio.child<QLineEdit>("datasetPathEdit");
  const QString path = resources() + "/demo/data/moby_dick_train.jsonl";
  edit->setFocus();
  QTest::keyClicks(edit, path.left(path.size() - 6));
  studio.draft->edit([](RunConfig& c) { c.adapter.rank = 8; }); // another page edits the draft
  EXPECT_EQ(edit->text(), path.left(path.size() - 6));
  EXPECT_TRUE(studio.draft->config().dataset.path.empty());
  QTest::keyClicks(edit, path.right(6));
  QTest::keyClick(edit, Qt::Key_Return);
  EXPECT_EQ(QString::fromStdString(studio.draft->config().dataset.path), path);
  ASSERT_TRUE(studio.waitIdle());
  EXPECT_TRUE(studio.child<QLabel>("detectedFormatLabel")->text().startsWith("text"))
      << studio.child<QLabel>("detectedFormatLabel")->text().toStdString();
  EXPECT_GT(studio.preview()->rowCount(), 0);
}

// Closing the page while a path field has the focus (and unconfirmed text) must not run the
// page's editingFinished handlers on the half-destroyed page: the typed paths are not applied.
// (Before the fix the ASan+UBSan suite reported a member access on a destroyed DataPage here.)
TEST(DataPage, ClosingWithAPathFieldFocusedAppliesNothing) {
  RunConfig config = demoConfig();
  Studio studio(config);
  ASSERT_TRUE(studio.waitIdle());
  const std::string before = studio.draft->config().dataset.path;
  auto* evalEdit = studio.child<QLineEdit>("evalPathEdit");
  ASSERT_NE(evalEdit, nullptr);
  evalEdit->setFocus();
  evalEdit->selectAll();
  QTest::keyClicks(evalEdit, "typed-but-not-confirmed.jsonl");
  auto* edit = studio.child<QLineEdit>("datasetPathEdit");
  edit->setFocus(); // the eval field loses the focus: editingFinished applies it, as it should
  ASSERT_EQ(studio.draft->config().dataset.evalPath, "typed-but-not-confirmed.jsonl");
  edit->selectAll();
  QTest::keyClicks(edit, "another-unconfirmed-path.jsonl");
  ASSERT_TRUE(edit->hasFocus() || QApplication::focusWidget() == edit);
  studio.page.reset();
  EXPECT_EQ(studio.draft->config().dataset.path, before);
}

TEST(DataPage, JsonArrayKeysAreOfferedAndATsvHeaderToo) {
  QTemporaryDir data;
  const QString json = data.filePath("pairs.json");
  writeFile(json,
            "[{\"en\": \"good morning\", \"fr\": \"bonjour\"}, {\"en\": \"thank you\", \"fr\": \"merci\"}]");
  RunConfig config = demoConfig();
  config.dataset = DatasetConfig{};
  config.dataset.path = json.toStdString();
  config.dataset.format = DatasetFormat::SourceTarget;
  Studio studio(config);
  ASSERT_TRUE(studio.waitIdle());
  auto* source = studio.child<QComboBox>("sourceColumnCombo");
  auto* target = studio.child<QComboBox>("targetColumnCombo");
  EXPECT_FALSE(studio.child<QWidget>("columnsGroup")->isHidden());
  ASSERT_GE(source->findData("en"), 0);
  ASSERT_GE(target->findData("fr"), 0);
  EXPECT_TRUE(studio.draft->problems().contains("data.path")); // "source"/"target" are not keys here

  int before = studio.page->resultsShown();
  source->setCurrentIndex(source->findData("en"));
  ASSERT_TRUE(studio.waitForResult(before));
  before = studio.page->resultsShown();
  target->setCurrentIndex(target->findData("fr"));
  ASSERT_TRUE(studio.waitForResult(before));
  EXPECT_FALSE(studio.draft->problems().contains("data.path"))
      << studio.draft->problems().value("data.path").toStdString();
  ASSERT_EQ(studio.preview()->rowCount(), 2);
  // The pair as a user/assistant exchange: the source masked, the target trained on.
  const QVariantList segments = studio.preview()
                                    ->index(0, DatasetPreviewModel::TextColumn)
                                    .data(DatasetPreviewModel::SegmentsRole)
                                    .toList();
  QString masked;
  QString trained;
  for (const QVariant& s : segments) {
    (s.toMap().value("trained").toBool() ? trained : masked) += s.toMap().value("text").toString();
  }
  EXPECT_TRUE(masked.contains("good morning")) << masked.toStdString();
  EXPECT_TRUE(trained.contains("bonjour")) << trained.toStdString();

  // A TSV header, tab-separated with a quoted field.
  const QString tsv = data.filePath("table.tsv");
  writeFile(tsv, "question\t\"the answer\"\nwhy\tbecause\n");
  before = studio.page->resultsShown();
  studio.page->openDataset(tsv);
  ASSERT_TRUE(studio.waitForResult(before));
  EXPECT_GE(source->findData("question"), 0);
  EXPECT_GE(source->findData("the answer"), 0);
}

TEST(DataPage, TheTemplateComesFromTheTokenizerOrIsNotUsedByAnEncoderDecoder) {
  const QString fixtures = QStringLiteral(LORAFA_FIXTURES_DIR);
  // Auto: the Qwen3 tokenizer's chat_template writes the rows.
  RunConfig config = demoConfig();
  config.tokenizerPath = (fixtures + "/tokenizers/qwen3").toStdString();
  config.dataset.chatTemplate.clear();
  Studio studio(config);
  ASSERT_TRUE(studio.waitIdle());
  ASSERT_TRUE(studio.page->analysis()->chatTemplate);
  EXPECT_EQ(*studio.page->analysis()->chatTemplate, ChatTemplateKind::Qwen3);
  EXPECT_TRUE(studio.child<QLabel>("templateNote")->text().contains("tokenizer"))
      << studio.child<QLabel>("templateNote")->text().toStdString();
  EXPECT_TRUE(studio.cell(0, DatasetPreviewModel::TextColumn).contains("<|im_start|>user"));
  // Choosing one overrides it.
  auto* templates = studio.child<QComboBox>("templateCombo");
  int before = studio.page->resultsShown();
  templates->setCurrentIndex(templates->findData("alpaca"));
  EXPECT_EQ(studio.draft->config().dataset.chatTemplate, "alpaca");
  ASSERT_TRUE(studio.waitForResult(before));
  EXPECT_TRUE(studio.cell(0, DatasetPreviewModel::TextColumn).contains("### Response:"));

  // A T5 model reads pairs as encoder source and decoder target: no template.
  before = studio.page->resultsShown();
  studio.draft->edit([&](RunConfig& c) {
    c.modelPath = (fixtures + "/models/t5_v1_1").toStdString();
    c.tokenizerPath = (fixtures + "/tokenizers/gpt2").toStdString();
    c.dataset = DatasetConfig{};
    c.dataset.path = (fixtures + "/data/en_fr_pairs.tsv").toStdString();
    c.dataset.format = DatasetFormat::SourceTarget;
    c.dataset.sourceColumn = "english";
    c.dataset.targetColumn = "french";
  });
  ASSERT_TRUE(studio.waitForResult(before));
  EXPECT_FALSE(studio.page->analysis()->usesTemplate);
  EXPECT_FALSE(templates->isEnabled());
  const QVariantList segments = studio.preview()
                                    ->index(0, DatasetPreviewModel::TextColumn)
                                    .data(DatasetPreviewModel::SegmentsRole)
                                    .toList();
  ASSERT_EQ(segments.size(), 2);
  EXPECT_EQ(segments[0].toMap().value("text").toString(), "Good morning.");
  EXPECT_FALSE(segments[0].toMap().value("trained").toBool());
  EXPECT_EQ(segments[1].toMap().value("text").toString(), "Bonjour.");
  EXPECT_TRUE(segments[1].toMap().value("trained").toBool());
}

TEST(DataPage, PreviewShowsTheStartOfAHugeFieldNotAllOfIt) {
  app();
  // One record with a 3-million-character answer: the delegate must not lay all of it out.
  ExamplePreview row;
  row.segments.push_back(PreviewSegment{"Question: what is long?\n", false});
  row.segments.push_back(PreviewSegment{std::string(3'000'000, 'x'), true});
  std::vector<ExamplePreview> rows;
  rows.push_back(row);
  DatasetPreviewModel model;
  model.setRows(std::move(rows), /*tokenized=*/false);
  const QVariantList segments =
      model.index(0, DatasetPreviewModel::TextColumn).data(DatasetPreviewModel::SegmentsRole).toList();
  ASSERT_EQ(segments.size(), 2);
  EXPECT_EQ(segments[0].toMap().value("text").toString(), "Question: what is long?\n");
  const QString shown = segments[1].toMap().value("text").toString();
  EXPECT_LE(shown.size(), 2001);
  EXPECT_TRUE(shown.startsWith(QString(100, 'x')));
  EXPECT_TRUE(shown.endsWith(QChar(0x2026))) << "a cut piece ends with an ellipsis";
  EXPECT_TRUE(segments[1].toMap().value("trained").toBool());
}
