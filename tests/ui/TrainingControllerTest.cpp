// The TrainingController with real (tiny) runs of the bundled demo model and a real run store.
#include "StudioTestSupport.h"
#include "TrainingController.h"

#include "lorafa/RunStore.h"
#include "lorafa/TrainingSession.h"

#include <QFile>
#include <QFileInfo>
#include <QSignalSpy>
#include <QtTest/QtTest>

#include <gtest/gtest.h>

using namespace lorafa;
using namespace lorafa::ui;
using lorafa::ui::testing::app;
using lorafa::ui::testing::temporaryPaths;
using lorafa::ui::testing::tinyDemoConfig;

namespace {

constexpr int kRunTimeoutMs = 180000;

} // namespace

TEST(TrainingController, StopsWithACheckpointAndResumesToTheEnd) {
  app();
  QTemporaryDir dir;
  const StudioPaths paths = temporaryPaths(dir);
  RunConfig config = tinyDemoConfig(paths, 4);
  config.outputDir = dir.filePath("out").toStdString();
  TrainingController controller(paths.runStorePath);
  QSignalSpy started(&controller, &TrainingController::runStarted);
  QSignalSpy steps(&controller, &TrainingController::stepsArrived);
  QSignalSpy finished(&controller, &TrainingController::runFinished);
  controller.start(config);
  EXPECT_TRUE(controller.isActive());
  ASSERT_TRUE(QTest::qWaitFor([&] { return steps.count() > 0 || finished.count() > 0; }, kRunTimeoutMs));
  ASSERT_EQ(finished.count(), 0) << finished.at(0).at(1).value<TrainResult>().message;
  ASSERT_EQ(started.count(), 1);
  EXPECT_EQ(started.at(0).at(2).value<qint64>(), 4);
  controller.stop();
  ASSERT_TRUE(QTest::qWaitFor([&] { return finished.count() == 1; }, kRunTimeoutMs));
  EXPECT_FALSE(controller.isActive());
  const auto runId = finished.at(0).at(0).value<qint64>();
  const auto result = finished.at(0).at(1).value<TrainResult>();
  ASSERT_GT(runId, 0);
  // Stopped after 1 to 3 steps (the stop is honoured between steps), with a checkpoint.
  EXPECT_EQ(result.state, TrainerState::Stopped) << result.message;
  EXPECT_GE(result.steps, 1);
  EXPECT_LT(result.steps, 4);
  ASSERT_TRUE(latestCheckpointIn(config.outputDir).has_value());
  {
    RunStore store(paths.runStorePath.toStdString());
    ASSERT_TRUE(store.run(runId));
    EXPECT_EQ(store.run(runId)->status, RunStatus::Stopped);
  }

  QSignalSpy resumedStarted(&controller, &TrainingController::runStarted);
  QSignalSpy resumedFinished(&controller, &TrainingController::runFinished);
  QSignalSpy resumedSteps(&controller, &TrainingController::stepsArrived);
  controller.resumeRun(runId);
  ASSERT_TRUE(QTest::qWaitFor([&] { return resumedFinished.count() == 1; }, kRunTimeoutMs));
  const auto resumedId = resumedFinished.at(0).at(0).value<qint64>();
  const auto resumed = resumedFinished.at(0).at(1).value<TrainResult>();
  ASSERT_GT(resumedId, runId) << resumed.message;
  EXPECT_EQ(resumed.state, TrainerState::Completed) << resumed.message;
  // The resumed run continues where the first stopped: its first step follows the last one.
  ASSERT_GE(resumedSteps.count(), 1);
  const auto firstSteps = resumedSteps.at(0).at(0).value<QVector<StepMetrics>>();
  ASSERT_FALSE(firstSteps.isEmpty());
  EXPECT_EQ(firstSteps.front().step, result.steps + 1);
  RunStore store(paths.runStorePath.toStdString());
  const std::optional<RunInfo> info = store.run(resumedId);
  ASSERT_TRUE(info);
  ASSERT_TRUE(info->resumedFrom.has_value());
  EXPECT_EQ(*info->resumedFrom, runId);
  EXPECT_EQ(info->status, RunStatus::Completed);
  EXPECT_EQ(info->lastStep, 4);
}

// The studio's resume, as `lorafa resume`: a damaged newest checkpoint (one flipped byte in its
// weights) is named in the log and skipped; the run continues from the one before it.
TEST(TrainingController, ResumeSkipsADamagedNewestCheckpointAndSaysSo) {
  app();
  QTemporaryDir dir;
  const StudioPaths paths = temporaryPaths(dir);
  RunConfig config = tinyDemoConfig(paths, 4);
  config.train.saveEvery = 2; // checkpoints after steps 2 and 4 (keep_last 2)
  config.outputDir = dir.filePath("out").toStdString();
  TrainingController controller(paths.runStorePath);
  QSignalSpy finished(&controller, &TrainingController::runFinished);
  controller.start(config);
  ASSERT_TRUE(QTest::qWaitFor([&] { return finished.count() == 1; }, kRunTimeoutMs));
  const auto runId = finished.at(0).at(0).value<qint64>();
  ASSERT_EQ(finished.at(0).at(1).value<TrainResult>().state, TrainerState::Completed)
      << finished.at(0).at(1).value<TrainResult>().message;
  const QString newest = QString::fromStdString(config.outputDir) + "/checkpoints/step-00000004";
  ASSERT_TRUE(QFileInfo::exists(newest + "/weights.safetensors"));
  ASSERT_TRUE(QFileInfo::exists(QString::fromStdString(config.outputDir) + "/checkpoints/step-00000002"));
  {
    QFile weights(newest + "/weights.safetensors");
    ASSERT_TRUE(weights.open(QIODevice::ReadWrite));
    weights.seek(weights.size() - 1);
    char last = 0;
    ASSERT_TRUE(weights.getChar(&last));
    weights.seek(weights.size() - 1);
    ASSERT_TRUE(weights.putChar(static_cast<char>(last ^ 0x01)));
  }

  QSignalSpy logs(&controller, &TrainingController::logArrived);
  QSignalSpy steps(&controller, &TrainingController::stepsArrived);
  QSignalSpy resumedFinished(&controller, &TrainingController::runFinished);
  controller.resumeRun(runId);
  ASSERT_TRUE(QTest::qWaitFor([&] { return resumedFinished.count() == 1; }, kRunTimeoutMs));
  const auto resumed = resumedFinished.at(0).at(1).value<TrainResult>();
  EXPECT_EQ(resumed.state, TrainerState::Completed) << resumed.message;
  QStringList warnings;
  for (const QList<QVariant>& signal : logs)
    if (signal.at(0).value<LogLevel>() == LogLevel::Warning && signal.at(1).toString().contains("damaged"))
      warnings << signal.at(1).toString();
  ASSERT_EQ(warnings.size(), 1) << warnings.join("\n").toStdString();
  EXPECT_TRUE(warnings.front().contains("step-00000004")) << warnings.front().toStdString();
  EXPECT_TRUE(warnings.front().contains("weights.safetensors")) << warnings.front().toStdString();
  // Continued from step 2's checkpoint: its first step is 3.
  ASSERT_GE(steps.count(), 1);
  const auto firstSteps = steps.at(0).at(0).value<QVector<StepMetrics>>();
  ASSERT_FALSE(firstSteps.isEmpty());
  EXPECT_EQ(firstSteps.front().step, 3);
}

TEST(TrainingController, ASetupFailureEndsWithoutARunAndSaysWhy) {
  app();
  QTemporaryDir dir;
  const StudioPaths paths = temporaryPaths(dir);
  RunConfig config = tinyDemoConfig(paths, 2);
  config.modelPath = dir.filePath("no-such-model").toStdString();
  config.outputDir = dir.filePath("out").toStdString();
  TrainingController controller(paths.runStorePath);
  QSignalSpy started(&controller, &TrainingController::runStarted);
  QSignalSpy finished(&controller, &TrainingController::runFinished);
  controller.start(config);
  ASSERT_TRUE(QTest::qWaitFor([&] { return finished.count() == 1; }, kRunTimeoutMs));
  EXPECT_EQ(started.count(), 0);
  EXPECT_EQ(finished.at(0).at(0).value<qint64>(), 0);
  const auto result = finished.at(0).at(1).value<TrainResult>();
  EXPECT_EQ(result.state, TrainerState::Failed);
  EXPECT_NE(result.message.find("no-such-model"), std::string::npos) << result.message;
  RunStore store(paths.runStorePath.toStdString());
  EXPECT_TRUE(store.listRuns().empty()) << "a configuration that cannot run leaves no run behind";
}

TEST(TrainingController, ResumingAnUnknownRunFailsWithItsId) {
  app();
  QTemporaryDir dir;
  const StudioPaths paths = temporaryPaths(dir);
  TrainingController controller(paths.runStorePath);
  QSignalSpy finished(&controller, &TrainingController::runFinished);
  controller.resumeRun(42);
  ASSERT_EQ(finished.count(), 1);
  const auto result = finished.at(0).at(1).value<TrainResult>();
  EXPECT_EQ(result.state, TrainerState::Failed);
  EXPECT_NE(result.message.find("no run 42"), std::string::npos) << result.message;
  EXPECT_FALSE(controller.isActive());
}
