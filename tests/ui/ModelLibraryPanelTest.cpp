// The Model page's library panel with real widgets: HF_HUB_CACHE points at a temporary cache, a
// local stand-in for the Hub (tests/support/fake_hub.py) serves a repository slowly enough to
// watch the progress, and picking the new row opens it on the Model page.
#include "FakeHub.h"
#include "RunDraft.h"
#include "StudioContext.h"
#include "StudioTestSupport.h"
#include "pages/ModelPage.h"
#include "widgets/ModelLibraryPanel.h"

#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <gtest/gtest.h>

using namespace lorafa;
using namespace lorafa::ui;
using lorafa::testing::FakeHub;
using lorafa::testing::FakeHubOptions;
using lorafa::testing::TempDir;
namespace fs = std::filesystem;

namespace {

/// Sets environment variables for the test and puts the old values back.
class ScopedEnvironment {
public:
  void set(const char* name, const QByteArray& value) {
    if (!m_saved.contains(name)) m_saved.insert(name, qEnvironmentVariableIsSet(name) ? std::optional<QByteArray>(qgetenv(name)) : std::nullopt);
    if (value.isEmpty()) qunsetenv(name);
    else qputenv(name, value);
  }
  ~ScopedEnvironment() {
    for (auto it = m_saved.begin(); it != m_saved.end(); ++it) {
      if (it.value()) qputenv(it.key().constData(), *it.value());
      else qunsetenv(it.key().constData());
    }
  }

private:
  QMap<QByteArray, std::optional<QByteArray>> m_saved;
};

int rowOf(QTableWidget* table, const QString& model) {
  for (int row = 0; row < table->rowCount(); ++row) {
    if (table->item(row, 0)->text() == model) return row;
  }
  return -1;
}

} // namespace

TEST(ModelLibraryPanel, ListsTheCacheDownloadsWithProgressAndOpensTheModel) {
  lorafa::ui::testing::app();
  TempDir dir("ui-library");
  const fs::path llama = fs::path(LORAFA_FIXTURES_DIR) / "models/llama";
  lorafa::testing::writeCachedSnapshot(dir.path / "hub", "org/cached", "0123456789abcdef0123456789abcdef01234567", "main",
                                       {{"config.json", llama / "config.json"}, {"model.safetensors", llama / "model.safetensors"}});
  FakeHubOptions options;
  options.rateBytesPerSecond = 60'000; // about 1.5 s for the weights: progress can be seen
  FakeHub hub(dir.path / "server", options);
  hub.addRepo("org/tiny", lorafa::testing::tinyLlamaRepoFiles(dir.path / "scratch"));
  ASSERT_NO_FATAL_FAILURE(hub.start());
  ScopedEnvironment env;
  env.set("HF_HUB_CACHE", QByteArray::fromStdString((dir.path / "hub").string()));
  env.set("HF_ENDPOINT", QByteArray::fromStdString(hub.endpoint()));
  env.set("HF_TOKEN", {});

  QTemporaryDir studioDir;
  QObject owner;
  StudioContext context;
  context.paths = lorafa::ui::testing::temporaryPaths(studioDir);
  context.engineInfo.defaultDevice = "cpu";
  context.draft = new RunDraft(&owner);
  auto* page = new ModelPage(context);
  page->resize(1000, 900);
  page->show();
  ModelLibraryPanel* panel = page->library();
  auto* table = panel->findChild<QTableWidget*>("modelLibraryTable");
  ASSERT_NE(table, nullptr);
  ASSERT_TRUE(QTest::qWaitFor([&] { return !panel->isScanning(); }, 20000));
  ASSERT_EQ(table->rowCount(), 1);
  EXPECT_EQ(table->item(0, 0)->text(), "org/cached");
  EXPECT_EQ(table->item(0, 1)->text(), "main");
  EXPECT_EQ(table->item(0, 2)->text(), "llama");
  EXPECT_EQ(table->item(0, 4)->text(), "F32");
  EXPECT_EQ(table->item(0, 6)->text(), "yes");

  // Download org/tiny: progress with speed and ETA while it runs, then a new row, selected.
  QTest::keyClicks(panel->findChild<QLineEdit*>("downloadRepoEdit"), "org/tiny");
  auto* progress = panel->findChild<QProgressBar*>("downloadProgress");
  auto* status = panel->findChild<QLabel*>("downloadStatus");
  QTest::mouseClick(panel->findChild<QPushButton*>("downloadButton"), Qt::LeftButton);
  EXPECT_TRUE(panel->isDownloading());
  EXPECT_TRUE(panel->findChild<QPushButton*>("cancelDownloadButton")->isEnabled());
  // The small files come first; the throttled weights take long enough to be seen half way.
  ASSERT_TRUE(QTest::qWaitFor([&] {
    return progress->value() > 0 && progress->value() < progress->maximum() && status->text().contains("model.safetensors");
  }, 20000)) << "no progress seen; status: " << status->text().toStdString();
  EXPECT_TRUE(progress->isVisible());
  const QString during = status->text();
  EXPECT_TRUE(during.contains("/s, ETA")) << during.toStdString();
  EXPECT_TRUE(during.contains("file 3 of 3")) << during.toStdString();
  bool finished = false;
  QObject::connect(panel, &ModelLibraryPanel::scanFinished, &owner, [&] { finished = !panel->isDownloading(); });
  ASSERT_TRUE(QTest::qWaitFor([&] { return finished; }, 30000)) << status->text().toStdString();
  EXPECT_TRUE(status->text().startsWith("Downloaded org/tiny @ main: 3 files")) << status->text().toStdString();
  ASSERT_EQ(table->rowCount(), 2);
  const int row = rowOf(table, "org/tiny");
  ASSERT_GE(row, 0);
  EXPECT_EQ(table->item(row, 6)->text(), "yes");
  ASSERT_FALSE(table->selectedItems().isEmpty());
  EXPECT_EQ(table->selectedItems().front()->row(), row) << "the new model is selected";

  // Picking it opens it on the Model page (and in the draft).
  QTest::mouseClick(panel->findChild<QPushButton*>("useLibraryModelButton"), Qt::LeftButton);
  ASSERT_TRUE(QTest::qWaitFor([&] { return !page->isInspecting() && page->inspection().has_value(); }, 20000));
  const std::string snapshot = panel->models()[static_cast<std::size_t>(row)].path;
  EXPECT_EQ(page->findChild<QLineEdit*>("modelPathEdit")->text().toStdString(), snapshot);
  EXPECT_EQ(context.draft->config().modelPath, snapshot);
  EXPECT_EQ(page->findChild<QLabel*>("familyValue")->text(), "llama");
  delete page;
}

TEST(ModelLibraryPanel, AGatedDownloadSaysWhatToDo) {
  lorafa::ui::testing::app();
  TempDir dir("ui-library-gated");
  FakeHubOptions options;
  options.gated["org/gated"] = "hf_secret";
  FakeHub hub(dir.path / "server", options);
  hub.addRepo("org/gated", lorafa::testing::tinyLlamaRepoFiles(dir.path / "scratch"));
  ASSERT_NO_FATAL_FAILURE(hub.start());
  ScopedEnvironment env;
  env.set("HF_HUB_CACHE", QByteArray::fromStdString((dir.path / "hub").string()));
  env.set("HF_ENDPOINT", QByteArray::fromStdString(hub.endpoint()));
  env.set("HF_TOKEN", {});
  env.set("HF_HOME", QByteArray::fromStdString((dir.path / "hf").string()));

  QTemporaryDir studioDir;
  StudioContext context;
  context.paths = lorafa::ui::testing::temporaryPaths(studioDir);
  ModelLibraryPanel panel(context);
  ASSERT_TRUE(QTest::qWaitFor([&] { return !panel.isScanning(); }, 20000));
  panel.download("org/gated", "");
  ASSERT_TRUE(QTest::qWaitFor([&] { return !panel.isDownloading(); }, 20000));
  const QString text = panel.findChild<QLabel*>("downloadStatus")->text();
  EXPECT_TRUE(text.contains("org/gated is gated: accept its licence")) << text.toStdString();
  EXPECT_TRUE(text.contains("HF_TOKEN")) << text.toStdString();
  EXPECT_FALSE(panel.findChild<QProgressBar*>("downloadProgress")->isVisible());
  EXPECT_TRUE(panel.findChild<QPushButton*>("downloadButton")->isEnabled());
}
