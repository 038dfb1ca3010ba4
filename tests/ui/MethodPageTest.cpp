// The Method page with real widgets: bound to the draft both ways, invalid values marked inline
// with their reason and recorded as draft problems, the device list from the engine info.
#include "MainWindow.h"
#include "RunDraft.h"
#include "StudioContext.h"
#include "StudioTestSupport.h"
#include "pages/MethodPage.h"
#include "pages/ModelPage.h"

#include <QAbstractSpinBox>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QThreadPool>
#include <QTreeWidget>
#include <QtTest/QtTest>

#include <gtest/gtest.h>

using namespace lorafa;
using namespace lorafa::ui;

namespace {

using lorafa::ui::testing::app;
using lorafa::ui::testing::temporaryPaths;

const QString kLlama = QStringLiteral(LORAFA_FIXTURES_DIR "/models/llama");

struct Studio {
  QTemporaryDir dir;
  QObject owner;
  StudioContext context;
  explicit Studio(EngineInfo info = {}) {
    app();
    context.paths = temporaryPaths(dir);
    if (info.defaultDevice.empty()) info.defaultDevice = "cpu";
    context.engineInfo = info;
    context.draft = new RunDraft(&owner);
    context.draft->setConfig(loadRunConfig(context.paths.demoConfigPath().toStdString()));
  }
};

EngineInfo twoGpus() {
  EngineInfo info;
  info.cudaBuilt = true;
  info.cudaAvailable = true;
  info.cudaDeviceCount = 2;
  info.defaultDevice = "cuda:0";
  info.cpuThreads = 4;
  info.gpus.push_back({0, "Example GPU", 80LL << 30, "9.0"}); // only the first is described
  return info;
}

template <typename W> W* child(QWidget& page, const char* name) {
  W* w = page.findChild<W*>(name);
  EXPECT_NE(w, nullptr) << name;
  return w;
}

void typeInto(QAbstractSpinBox* spin, const QString& text) {
  spin->setFocus();
  spin->selectAll();
  QTest::keyClick(spin, Qt::Key_Backspace);
  QTest::keyClicks(spin, text);
}

void typeInto(QLineEdit* edit, const QString& text) {
  edit->setFocus();
  edit->selectAll();
  QTest::keyClick(edit, Qt::Key_Backspace);
  QTest::keyClicks(edit, text);
}

QString errorOf(QWidget& page, const char* name) {
  auto* label = page.findChild<QLabel*>(name);
  if (label == nullptr) return QStringLiteral("<no label %1>").arg(name);
  return label->isVisible() ? label->text() : QString();
}

} // namespace

TEST(MethodPage, ShowsTheDraftAndWritesItBack) {
  Studio studio;
  MethodPage page(studio.context);
  page.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&page));
  // The demo configuration: lora-fa, rank 16, alpha 32, lr 2e-2 cosine, 10 warmup, 100 steps ...
  EXPECT_EQ(child<QComboBox>(page, "methodCombo")->currentData().toString(), "lora-fa");
  EXPECT_EQ(child<QSpinBox>(page, "rankSpin")->value(), 16);
  EXPECT_DOUBLE_EQ(child<QDoubleSpinBox>(page, "alphaSpin")->value(), 32.0);
  EXPECT_EQ(child<QLineEdit>(page, "learningRateEdit")->text(), "0.02");
  EXPECT_EQ(child<QComboBox>(page, "scheduleCombo")->currentData().toString(), "cosine");
  EXPECT_EQ(child<QSpinBox>(page, "warmupSpin")->value(), 10);
  EXPECT_EQ(child<QSpinBox>(page, "maxStepsSpin")->value(), 100);
  EXPECT_EQ(child<QSpinBox>(page, "batchSpin")->value(), 16);
  EXPECT_EQ(child<QSpinBox>(page, "maxLengthSpin")->value(), 128);
  EXPECT_EQ(child<QComboBox>(page, "deviceCombo")->currentData().toString(), "auto");
  EXPECT_TRUE(studio.context.draft->canStart()) << studio.context.draft->firstProblem().toStdString();

  // Widgets → draft.
  typeInto(child<QSpinBox>(page, "rankSpin"), "32");
  EXPECT_EQ(studio.context.draft->config().adapter.rank, 32);
  auto* method = child<QComboBox>(page, "methodCombo");
  method->setCurrentIndex(method->findData("lora"));
  EXPECT_EQ(studio.context.draft->config().adapter.method, TrainMethod::Lora);
  typeInto(child<QLineEdit>(page, "learningRateEdit"), "3e-4");
  EXPECT_DOUBLE_EQ(studio.context.draft->config().optim.learningRate, 3e-4);
  auto* init = child<QComboBox>(page, "initCombo");
  init->setCurrentIndex(init->findData("gaussian"));
  EXPECT_EQ(studio.context.draft->config().adapter.init, LoraInit::Gaussian);
  QTest::mouseClick(child<QCheckBox>(page, "rsloraCheck"), Qt::LeftButton);
  EXPECT_TRUE(studio.context.draft->config().adapter.useRslora);
  QTest::mouseClick(child<QCheckBox>(page, "checkpointingCheck"), Qt::LeftButton);
  EXPECT_TRUE(studio.context.draft->config().train.gradientCheckpointing);
  auto* precision = child<QComboBox>(page, "precisionCombo");
  precision->setCurrentIndex(precision->findData("bf16"));
  EXPECT_EQ(studio.context.draft->config().train.precision, Precision::Bf16);
  typeInto(child<QSpinBox>(page, "accumulationSpin"), "4");
  EXPECT_EQ(studio.context.draft->config().train.gradAccumulation, 4);
  typeInto(child<QDoubleSpinBox>(page, "dropoutSpin"), "0.1");
  EXPECT_DOUBLE_EQ(studio.context.draft->config().adapter.dropout, 0.1);

  // Draft → widgets (a loaded run), with exactly one changed() per edit: no feedback loop.
  QSignalSpy changes(studio.context.draft, &RunDraft::changed);
  studio.context.draft->edit([](RunConfig& c) {
    c.adapter.rank = 4;
    c.adapter.method = TrainMethod::Full;
    c.optim.learningRate = 1e-5;
    c.train.batchSize = 2;
    c.optim.schedule = LrSchedule::Linear;
  });
  EXPECT_EQ(changes.count(), 1);
  EXPECT_EQ(child<QSpinBox>(page, "rankSpin")->value(), 4);
  EXPECT_EQ(method->currentData().toString(), "full");
  EXPECT_EQ(child<QLineEdit>(page, "learningRateEdit")->text(), "1e-05");
  EXPECT_EQ(child<QSpinBox>(page, "batchSpin")->value(), 2);
  EXPECT_EQ(child<QComboBox>(page, "scheduleCombo")->currentData().toString(), "linear");
  // Full fine-tuning has no adapter: its fields are disabled.
  EXPECT_FALSE(child<QSpinBox>(page, "rankSpin")->isEnabled());
  EXPECT_FALSE(child<QDoubleSpinBox>(page, "alphaSpin")->isEnabled());
  EXPECT_FALSE(child<QComboBox>(page, "initCombo")->isEnabled());
  EXPECT_TRUE(child<QSpinBox>(page, "batchSpin")->isEnabled());
}

TEST(MethodPage, AnInvalidRankIsMarkedAndBlocksStartUntilFixed) {
  Studio studio;
  MethodPage page(studio.context);
  page.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&page));
  auto* rank = child<QSpinBox>(page, "rankSpin");
  typeInto(rank, "0");
  EXPECT_TRUE(errorOf(page, "rankError").contains("at least 1")) << errorOf(page, "rankError").toStdString();
  EXPECT_TRUE(rank->property("invalid").toBool());
  EXPECT_TRUE(studio.context.draft->problems().contains("method.rank"));
  EXPECT_FALSE(studio.context.draft->canStart());
  EXPECT_TRUE(studio.context.draft->firstProblem().startsWith("rank: "))
      << studio.context.draft->firstProblem().toStdString();

  typeInto(rank, "300");
  EXPECT_TRUE(errorOf(page, "rankError").contains("between 1 and 256"))
      << errorOf(page, "rankError").toStdString();
  EXPECT_FALSE(studio.context.draft->canStart());

  typeInto(rank, "8");
  EXPECT_EQ(errorOf(page, "rankError"), "");
  EXPECT_FALSE(rank->property("invalid").toBool());
  EXPECT_FALSE(studio.context.draft->problems().contains("method.rank"));
  EXPECT_TRUE(studio.context.draft->canStart()) << studio.context.draft->firstProblem().toStdString();

  // A bad rank does not matter for full fine-tuning.
  typeInto(rank, "0");
  EXPECT_FALSE(studio.context.draft->canStart());
  auto* method = child<QComboBox>(page, "methodCombo");
  method->setCurrentIndex(method->findData("full"));
  EXPECT_EQ(errorOf(page, "rankError"), "");
  EXPECT_TRUE(studio.context.draft->canStart()) << studio.context.draft->firstProblem().toStdString();
}

TEST(MethodPage, EveryInvalidValueHasItsReason) {
  Studio studio;
  MethodPage page(studio.context);
  page.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&page));
  RunDraft& draft = *studio.context.draft;
  struct Case {
    const char* field;
    std::function<void()> breakIt;
    const char* reason;
  };
  const std::vector<Case> cases{
      {"alpha", [&] { typeInto(child<QDoubleSpinBox>(page, "alphaSpin"), "0"); },
       "lora_alpha must be a positive number"},
      {"dropout", [&] { typeInto(child<QDoubleSpinBox>(page, "dropoutSpin"), "1"); },
       "dropout must be in [0, 1)"},
      {"learningRate", [&] { typeInto(child<QLineEdit>(page, "learningRateEdit"), "2"); },
       "must be in (0, 1]"},
      {"learningRate", [&] { typeInto(child<QLineEdit>(page, "learningRateEdit"), "fast"); },
       "is not a number"},
      {"learningRate", [&] { typeInto(child<QLineEdit>(page, "learningRateEdit"), "-1e-4"); },
       "must be in (0, 1]"},
      {"batchSize", [&] { typeInto(child<QSpinBox>(page, "batchSpin"), "0"); }, "at least 1"},
      {"gradAccumulation", [&] { typeInto(child<QSpinBox>(page, "accumulationSpin"), "0"); }, "at least 1"},
      {"epochs", [&] { typeInto(child<QSpinBox>(page, "epochsSpin"), "0"); }, "at least 1"},
      {"maxSeqLen", [&] { typeInto(child<QSpinBox>(page, "maxLengthSpin"), "4"); }, "at least 8"},
      {"precision",
       [&] {
         auto* p = child<QComboBox>(page, "precisionCombo");
         p->setCurrentIndex(p->findData("fp16"));
       },
       "fp16 needs a CUDA device"},
  };
  const RunConfig good = draft.config();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field);
    c.breakIt();
    const QString error = errorOf(page, (std::string(c.field) + "Error").c_str());
    EXPECT_TRUE(error.contains(c.reason)) << error.toStdString();
    EXPECT_EQ(draft.problems().value(QStringLiteral("method.") + c.field), error);
    EXPECT_FALSE(draft.canStart());
    draft.setConfig(good); // a configuration loaded elsewhere puts the valid value back
    EXPECT_EQ(errorOf(page, (std::string(c.field) + "Error").c_str()), "");
    EXPECT_TRUE(draft.canStart()) << draft.firstProblem().toStdString();
  }
}

TEST(MethodPage, DevicesListCpuAndEachGpuWithItsMemory) {
  Studio studio(twoGpus());
  MethodPage page(studio.context);
  page.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&page));
  auto* device = child<QComboBox>(page, "deviceCombo");
  QStringList items;
  for (int i = 0; i < device->count(); ++i)
    items << device->itemData(i).toString();
  EXPECT_EQ(items, (QStringList{"auto", "cpu", "cuda:0", "cuda:1"}));
  EXPECT_TRUE(device->itemText(2).contains("Example GPU")) << device->itemText(2).toStdString();
  EXPECT_TRUE(device->itemText(2).contains("80.0 GiB")) << device->itemText(2).toStdString();
  EXPECT_TRUE(device->itemText(2).contains("compute capability 9.0")) << device->itemText(2).toStdString();
  EXPECT_TRUE(device->itemText(1).contains("4 threads")) << device->itemText(1).toStdString();

  // fp16 is fine on a CUDA device, not on the CPU.
  device->setCurrentIndex(device->findData("cuda:1"));
  EXPECT_EQ(studio.context.draft->config().train.device, "cuda:1");
  auto* precision = child<QComboBox>(page, "precisionCombo");
  precision->setCurrentIndex(precision->findData("fp16"));
  EXPECT_EQ(errorOf(page, "precisionError"), "");
  EXPECT_TRUE(studio.context.draft->canStart()) << studio.context.draft->firstProblem().toStdString();
  device->setCurrentIndex(device->findData("cpu"));
  EXPECT_TRUE(errorOf(page, "precisionError").contains("fp16 needs a CUDA device"));

  // A configuration naming a device this machine lacks shows it, marked.
  studio.context.draft->edit([](RunConfig& c) {
    c.train.device = "cuda:5";
    c.train.precision = Precision::Fp32;
  });
  EXPECT_EQ(device->currentData().toString(), "cuda:5");
  EXPECT_TRUE(errorOf(page, "deviceError").contains("does not exist"))
      << errorOf(page, "deviceError").toStdString();
  EXPECT_FALSE(studio.context.draft->canStart());
}

TEST(MethodPage, ACudaDeviceWithoutCudaIsMarked) {
  Studio studio; // no CUDA
  MethodPage page(studio.context);
  page.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&page));
  auto* device = child<QComboBox>(page, "deviceCombo");
  EXPECT_EQ(device->findData("cuda:0"), -1);
  studio.context.draft->edit([](RunConfig& c) { c.train.device = "cuda:0"; });
  EXPECT_EQ(device->currentData().toString(), "cuda:0");
  EXPECT_TRUE(errorOf(page, "deviceError").contains("no CUDA")) << errorOf(page, "deviceError").toStdString();
  EXPECT_EQ(studio.context.draft->problems().value("method.device"), errorOf(page, "deviceError"));
  EXPECT_FALSE(studio.context.draft->canStart());
  device->setCurrentIndex(device->findData("cpu"));
  EXPECT_TRUE(studio.context.draft->canStart()) << studio.context.draft->firstProblem().toStdString();
}

TEST(MethodPage, ACudaDeviceOnACudaBuildWithoutADriverSaysWhy) {
  EngineInfo info;
  info.cudaBuilt = true;
  info.cudaStatus = lorafa::CudaStatus::NoDriver;
  info.cudaUnavailableReason = "no NVIDIA driver: libcuda.so.1 cannot be loaded";
  info.cpuThreads = 2;
  Studio studio(info);
  MethodPage page(studio.context);
  page.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&page));
  studio.context.draft->edit([](RunConfig& c) { c.train.device = "cuda:0"; });
  EXPECT_TRUE(errorOf(page, "deviceError").contains("no CUDA device is usable here: no NVIDIA driver: libcuda.so.1"))
      << errorOf(page, "deviceError").toStdString();
  EXPECT_FALSE(studio.context.draft->canStart());
}

TEST(MethodPage, OrthogonalInitNeedsRankWithinTheTargetsInFeatures) {
  Studio studio;
  studio.context.draft->edit([](RunConfig& c) {
    c.modelPath = kLlama.toStdString();
    c.targets = "all-linear";
    c.adapter.init = LoraInit::Orthogonal;
    c.adapter.rank = 33; // the fixture's hidden size is 32
  });
  MethodPage page(studio.context);
  page.show();
  ASSERT_TRUE(QTest::qWaitFor([&] { return !page.isReadingModel(); }, 20000));
  EXPECT_TRUE(errorOf(page, "rankError").contains("orthogonal")) << errorOf(page, "rankError").toStdString();
  EXPECT_TRUE(errorOf(page, "rankError").contains("has 32")) << errorOf(page, "rankError").toStdString();
  EXPECT_FALSE(studio.context.draft->canStart());

  // down_proj reads the 40-wide MLP: rank 33 fits.
  studio.context.draft->edit([](RunConfig& c) { c.targets = "down_proj"; });
  EXPECT_EQ(errorOf(page, "rankError"), "");
  EXPECT_TRUE(studio.context.draft->canStart()) << studio.context.draft->firstProblem().toStdString();
  // Kaiming init has no such limit.
  studio.context.draft->edit([](RunConfig& c) {
    c.targets = "all-linear";
    c.adapter.init = LoraInit::KaimingUniform;
  });
  EXPECT_EQ(errorOf(page, "rankError"), "");
}

// A draft whose model folder is cleared while the previous one is being read: the page is not
// left waiting for the dropped read.
TEST(MethodPage, ClearingTheModelWhileReadingLeavesThePageIdle) {
  Studio studio;
  MethodPage page(studio.context);
  ASSERT_TRUE(QTest::qWaitFor([&] { return !page.isReadingModel(); }, 20000));
  studio.context.draft->edit([](RunConfig& c) { c.modelPath = kLlama.toStdString(); });
  ASSERT_TRUE(page.isReadingModel());
  studio.context.draft->edit([](RunConfig& c) { c.modelPath.clear(); });
  EXPECT_FALSE(page.isReadingModel());
  QSignalSpy read(&page, &MethodPage::modelRead);
  QThreadPool::globalInstance()->waitForDone();
  QCoreApplication::processEvents();
  EXPECT_FALSE(page.isReadingModel());
  EXPECT_EQ(read.count(), 0) << "the dropped read was applied";
}

TEST(MethodPage, EveryInputOnTheModelAndMethodPagesHasATooltip) {
  Studio studio;
  MethodPage method(studio.context);
  ModelPage model(studio.context);
  for (QWidget* page : {static_cast<QWidget*>(&method), static_cast<QWidget*>(&model)}) {
    int inputs = 0;
    for (QWidget* w : page->findChildren<QWidget*>()) {
      const bool input = qobject_cast<QAbstractSpinBox*>(w) || qobject_cast<QComboBox*>(w) ||
                         qobject_cast<QAbstractButton*>(w) || qobject_cast<QLineEdit*>(w) ||
                         qobject_cast<QTreeWidget*>(w);
      if (!input) continue;
      // The line edit inside a spin box or combo box is part of it, not an input of its own.
      if (qobject_cast<QAbstractSpinBox*>(w->parentWidget()) || qobject_cast<QComboBox*>(w->parentWidget()))
        continue;
      ++inputs;
      EXPECT_FALSE(w->toolTip().trimmed().isEmpty())
          << page->objectName().toStdString() << ": " << w->metaObject()->className() << " "
          << w->objectName().toStdString();
    }
    EXPECT_GE(inputs, page == &method ? 17 : 4) << page->objectName().toStdString();
  }
}

TEST(MethodPage, InTheStudioAnInvalidRankDisablesStartAndSaysWhy) {
  app();
  QTemporaryDir dir;
  EngineInfo info;
  info.defaultDevice = "cpu";
  info.cpuThreads = 2;
  MainWindow window(info, temporaryPaths(dir)); // first start: the demo configuration
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  auto* start = window.findChild<QPushButton*>("startButton");
  auto* reason = window.findChild<QLabel*>("startBlockedReason");
  ASSERT_NE(start, nullptr);
  ASSERT_NE(reason, nullptr);
  // The demo can start once the pages have read its model and data.
  ASSERT_TRUE(QTest::qWaitFor([&] { return start->isEnabled(); }, 30000))
      << window.context().draft->firstProblem().toStdString();

  window.showPage("methodPage");
  auto* method = window.findChild<MethodPage*>("methodPage");
  ASSERT_NE(method, nullptr);
  typeInto(child<QSpinBox>(*method, "rankSpin"), "0");
  EXPECT_FALSE(start->isEnabled());
  EXPECT_TRUE(reason->text().contains("rank")) << reason->text().toStdString();
  EXPECT_TRUE(errorOf(*method, "rankError").contains("at least 1"));

  typeInto(child<QSpinBox>(*method, "rankSpin"), "16");
  EXPECT_TRUE(start->isEnabled()) << reason->text().toStdString();
  EXPECT_EQ(errorOf(*method, "rankError"), "");
}
