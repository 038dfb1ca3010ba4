// The Export page with real widgets, a real run store and a tiny real run of the bundled demo.
#include "RunDraft.h"
#include "StudioContext.h"
#include "StudioSettings.h"
#include "StudioTestSupport.h"
#include "pages/ExportPage.h"

#include "lorafa/AdapterImport.h"
#include "lorafa/RunConfig.h"
#include "lorafa/RunStore.h"
#include "lorafa/TrainingSession.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <gtest/gtest.h>

using namespace lorafa;
using namespace lorafa::ui;

namespace {

using lorafa::ui::testing::app;
using lorafa::ui::testing::temporaryPaths;
using lorafa::ui::testing::tinyDemoConfig;

constexpr int kTimeoutMs = 240000; // two shared cores: loading and verifying take a while

// A completed 2-step LoRA-FA run of the demo, recorded in the store; and a run without checkpoint.
std::int64_t recordTinyRun(const StudioPaths& paths, const QString& outputDir) {
  RunConfig config = tinyDemoConfig(paths, 2);
  config.outputDir = outputDir.toStdString();
  config.name = "tiny-demo";
  RunStore store(paths.runStorePath.toStdString());
  NewRun run;
  run.name = config.name;
  run.method = toString(config.adapter.method);
  run.modelPath = config.modelPath;
  run.datasetPath = config.dataset.path;
  run.configText = toJson(config);
  run.outputDir = config.outputDir;
  const std::int64_t id = store.createRun(run);
  auto session = TrainingSession::create(config, nullptr, &store, id);
  session->setup();
  store.startRun(id);
  const TrainResult result = session->run();
  store.finishRun(id, result.state == TrainerState::Completed ? RunStatus::Completed : RunStatus::Failed,
                  result.message);
  NewRun empty = run;
  empty.name = "never-saved";
  empty.outputDir = (outputDir + "-none").toStdString();
  store.createRun(empty);
  return id;
}

TEST(ExportPage, ExportsARunVerifiedAndAsksBeforeReplacingAFolder) {
  app();
  QTemporaryDir dir;
  ASSERT_TRUE(dir.isValid());
  const StudioPaths paths = temporaryPaths(dir);
  const std::int64_t runId = recordTinyRun(paths, dir.filePath("runs/tiny"));

  StudioSettings settings(paths.settingsPath);
  RunDraft draft;
  StudioContext context;
  context.paths = paths;
  context.settings = &settings;
  context.draft = &draft;
  ExportPage page(context);
  page.show();

  auto* runCombo = page.findChild<QComboBox*>("exportRunCombo");
  auto* target = page.findChild<QLineEdit*>("exportTargetEdit");
  auto* exportButton = page.findChild<QPushButton*>("exportButton");
  auto* merged = page.findChild<QRadioButton*>("mergedRadio");
  auto* progress = page.findChild<QProgressBar*>("exportProgress");
  auto* status = page.findChild<QLabel*>("exportStatus");
  auto* verification = page.findChild<QLabel*>("verificationLabel");
  ASSERT_TRUE(runCombo && target && exportButton && merged && progress && status && verification);
  for (QWidget* w : std::initializer_list<QWidget*>{runCombo, target, exportButton, merged}) {
    EXPECT_FALSE(w->toolTip().isEmpty()) << w->objectName().toStdString();
  }

  // The runs load off the UI thread; only the run with a checkpoint is offered.
  QTRY_COMPARE_WITH_TIMEOUT(runCombo->count(), 1, kTimeoutMs);
  EXPECT_EQ(runCombo->itemData(0).toLongLong(), runId);
  EXPECT_TRUE(runCombo->itemText(0).contains("tiny-demo"));
  EXPECT_FALSE(exportButton->isEnabled()); // no folder yet

  const QString adapterDir = dir.filePath("export/adapter");
  QTest::keyClicks(target, adapterDir);
  ASSERT_TRUE(exportButton->isEnabled());
  QSignalSpy finished(&page, &ExportPage::exportFinished);
  QTest::mouseClick(exportButton, Qt::LeftButton);
  // The click returns at once: the export runs on a worker, the controls wait.
  EXPECT_TRUE(page.isBusy());
  EXPECT_FALSE(exportButton->isEnabled());
  ASSERT_TRUE(finished.wait(kTimeoutMs));
  ASSERT_TRUE(finished.takeFirst().at(0).toBool()) << status->text().toStdString();
  EXPECT_EQ(progress->value(), 100);
  EXPECT_TRUE(QFile::exists(adapterDir + "/adapter_config.json"));
  EXPECT_TRUE(QFile::exists(adapterDir + "/adapter_model.safetensors"));
  EXPECT_TRUE(verification->text().contains("max |Δlogit|")) << verification->text().toStdString();
  EXPECT_TRUE(verification->text().contains(": ok")) << verification->text().toStdString();
  EXPECT_FALSE(verification->property("flagged").toBool());
  EXPECT_EQ(readPeftAdapter(adapterDir.toStdString()).metadata.at("run_id"), std::to_string(runId));

  // The same folder again: a confirmation first; Cancel leaves it as it was.
  const QDateTime before = QFileInfo(adapterDir + "/adapter_model.safetensors").lastModified();
  QTest::mouseClick(exportButton, Qt::LeftButton);
  QMessageBox* box = nullptr;
  QTRY_VERIFY_WITH_TIMEOUT((box = page.findChild<QMessageBox*>("confirmReplaceBox")) != nullptr, 5000);
  QTest::mouseClick(box->button(QMessageBox::Cancel), Qt::LeftButton);
  QTRY_VERIFY_WITH_TIMEOUT(status->text().contains("cancelled"), 5000);
  EXPECT_FALSE(page.isBusy());
  EXPECT_EQ(QFileInfo(adapterDir + "/adapter_model.safetensors").lastModified(), before);
  EXPECT_EQ(finished.count(), 0);

  // Yes replaces it.
  QTest::mouseClick(exportButton, Qt::LeftButton);
  QTRY_VERIFY_WITH_TIMEOUT((box = page.findChild<QMessageBox*>("confirmReplaceBox")) != nullptr, 5000);
  QTest::mouseClick(box->button(QMessageBox::Yes), Qt::LeftButton);
  ASSERT_TRUE(finished.wait(kTimeoutMs));
  EXPECT_TRUE(finished.takeFirst().at(0).toBool()) << status->text().toStdString();
  EXPECT_TRUE(QFile::exists(adapterDir + "/adapter_config.json"));

  // Merged, into a new folder.
  const QString mergedDir = dir.filePath("export/merged");
  merged->setChecked(true);
  target->clear();
  QTest::keyClicks(target, mergedDir);
  QTest::mouseClick(exportButton, Qt::LeftButton);
  ASSERT_TRUE(finished.wait(kTimeoutMs));
  EXPECT_TRUE(finished.takeFirst().at(0).toBool()) << status->text().toStdString();
  EXPECT_TRUE(QFile::exists(mergedDir + "/model.safetensors"));
  EXPECT_TRUE(QFile::exists(mergedDir + "/config.json"));
  EXPECT_TRUE(verification->text().contains("merged checkpoint")) << verification->text().toStdString();
  // The choices are remembered for the next session.
  EXPECT_EQ(settings.pageValue("export/target").toString(), QDir::cleanPath(mergedDir));
  EXPECT_EQ(settings.pageValue("export/kind").toString(), "merged");
}

TEST(ExportPage, AFailedExportSaysWhyAndWritesNothing) {
  app();
  QTemporaryDir dir;
  ASSERT_TRUE(dir.isValid());
  const StudioPaths paths = temporaryPaths(dir);
  recordTinyRun(paths, dir.filePath("runs/tiny"));
  StudioSettings settings(paths.settingsPath);
  RunDraft draft;
  StudioContext context;
  context.paths = paths;
  context.settings = &settings;
  context.draft = &draft;
  ExportPage page(context);
  page.show();
  auto* runCombo = page.findChild<QComboBox*>("exportRunCombo");
  QTRY_COMPARE_WITH_TIMEOUT(runCombo->count(), 1, kTimeoutMs);
  // A folder whose parent is a file cannot be written.
  QFile file(dir.filePath("a-file"));
  ASSERT_TRUE(file.open(QIODevice::WriteOnly));
  file.close();
  page.findChild<QLineEdit*>("exportTargetEdit")->setText(dir.filePath("a-file/adapter"));
  QSignalSpy finished(&page, &ExportPage::exportFinished);
  QTest::mouseClick(page.findChild<QPushButton*>("exportButton"), Qt::LeftButton);
  ASSERT_TRUE(finished.wait(kTimeoutMs));
  EXPECT_FALSE(finished.takeFirst().at(0).toBool());
  const QString status = page.findChild<QLabel*>("exportStatus")->text();
  EXPECT_TRUE(status.startsWith("Export failed:")) << status.toStdString();
  EXPECT_TRUE(status.contains("a-file")) << status.toStdString();
  EXPECT_EQ(QDir(dir.path()).entryList(QDir::NoDotAndDotDot | QDir::AllEntries).filter("a-file").size(), 1);

  // The file itself as the target: no "replace its content?" question (nothing would let it be
  // replaced), the export's own reason instead, and the file is untouched.
  page.findChild<QLineEdit*>("exportTargetEdit")->setText(dir.filePath("a-file"));
  QTest::mouseClick(page.findChild<QPushButton*>("exportButton"), Qt::LeftButton);
  EXPECT_EQ(page.findChild<QMessageBox*>("confirmReplaceBox"), nullptr);
  ASSERT_TRUE(finished.wait(kTimeoutMs));
  EXPECT_FALSE(finished.takeFirst().at(0).toBool());
  const QString fileStatus = page.findChild<QLabel*>("exportStatus")->text();
  EXPECT_TRUE(fileStatus.contains("is not a folder")) << fileStatus.toStdString();
  EXPECT_TRUE(QFileInfo(dir.filePath("a-file")).isFile());
}

} // namespace
