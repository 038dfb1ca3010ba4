// lorafa-studio: the desktop application.
#include "MainWindow.h"
#include "RunDraft.h"
#include "TrainingController.h"
#include "pages/RunsPage.h"
#include "pages/TrainPage.h"

#include "lorafa/CpuMemoryTracker.h"
#include "lorafa/EngineInfo.h"
#include "lorafa/Version.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QListWidget>
#include <QPixmap>
#include <QTimer>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace {

/// `--screenshots DIR`: starts the configuration on the Train page (the bundled demo on a first
/// start), waits for `steps` training steps, then saves every page as DIR/<page>.png while the run
/// goes on, stops the run and quits. Used by packaging/screenshots.sh under Xvfb.
void takeScreenshots(lorafa::ui::MainWindow& window, const QString& dir, int steps) {
  using namespace lorafa;
  using namespace lorafa::ui;
  QDir().mkpath(dir);
  StudioContext& context = window.context();
  // The demo's first evaluation generates 100 answers, minutes on a small CPU: the loss of the
  // validation rows is enough for the pictures, and one evaluation after `steps` shows on the plot.
  context.draft->edit([steps](RunConfig& c) {
    c.eval.generateMaxExamples = 0;
    c.train.evalEvery = steps;
  });
  TrainingController* controller = context.controller;
  auto stepsSeen = std::make_shared<qint64>(0);
  auto evalsSeen = std::make_shared<int>(0);
  auto started = std::make_shared<bool>(false);
  auto fail = [](const QString& why) {
    std::fprintf(stderr, "lorafa-studio --screenshots: %s\n", qPrintable(why));
    QCoreApplication::exit(1);
  };
  QObject::connect(controller, &TrainingController::stepsArrived, &window,
                   [stepsSeen](const QVector<StepMetrics>& batch) { *stepsSeen = batch.back().step; });
  QObject::connect(controller, &TrainingController::evalsArrived, &window,
                   [evalsSeen](const QVector<EvalMetrics>& batch) { *evalsSeen += static_cast<int>(batch.size()); });

  auto shootAll = [&window, dir, controller] {
    // Every page, the Train page last (its plots have had the longest to fill).
    const QStringList pages = {"modelPage", "dataPage", "methodPage", "runsPage", "exportPage", "playgroundPage", "trainPage"};
    if (auto* runs = window.findChild<RunsPage*>("runsPage")) runs->selectRuns({controller->currentRunId()});
    auto index = std::make_shared<int>(0);
    auto* timer = new QTimer(&window);
    timer->setInterval(4000); // time for a page's background loading (model tree, preview, history)
    QObject::connect(timer, &QTimer::timeout, &window, [&window, dir, pages, index, timer, controller] {
      if (*index > 0) {
        const QString page = pages[*index - 1];
        const QString path = dir + "/" + page.left(page.size() - 4) + ".png";
        if (!window.grab().save(path)) std::fprintf(stderr, "could not write %s\n", qPrintable(path));
        else std::printf("%s\n", qPrintable(path));
      }
      if (*index == pages.size()) {
        timer->stop();
        QObject::connect(controller, &TrainingController::runFinished, qApp, [] { QCoreApplication::quit(); });
        controller->stop();
        return;
      }
      window.showPage(pages[(*index)++]);
    });
    timer->start();
  };

  auto* poll = new QTimer(&window);
  poll->setInterval(200);
  RunDraft* draft = context.draft;
  QObject::connect(poll, &QTimer::timeout, &window, [&window, draft, controller, started, stepsSeen, evalsSeen, steps,
                                                     poll, fail, shootAll] {
    if (!*started) {
      *started = true;
      window.showPage("trainPage");
      if (!draft->canStart()) return fail("the configuration cannot start: " + draft->firstProblem());
      window.trainPage()->startRun();
      return;
    }
    if (!controller->isActive()) return fail("the run ended before the screenshots were taken");
    // The baseline evaluation and the one after `steps`, or a few steps more without them.
    if ((*stepsSeen >= steps && *evalsSeen >= 2) || *stepsSeen >= steps + 3) {
      poll->stop();
      shootAll();
    }
  });
  QObject::connect(controller, &TrainingController::runFinished, &window,
                   [fail, stepsSeen, steps](qint64, const TrainResult& result) {
                     if (*stepsSeen < steps) fail(QString::fromStdString("the run ended: " + result.message));
                   });
  poll->start();
}

} // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("lorafa-studio");
  QApplication::setApplicationDisplayName("LoRA-FA Studio");
  QApplication::setOrganizationName("lorafa-studio");
  QApplication::setApplicationVersion(lorafa::versionString());

  QCommandLineParser parser;
  parser.setApplicationDescription("LoRA-FA Studio: fine-tune language models with LoRA-FA");
  parser.addHelpOption();
  parser.addVersionOption();
  QCommandLineOption screenshots("screenshots", "Run the demo and save every page as DIR/<page>.png.", "DIR");
  screenshots.setFlags(QCommandLineOption::HiddenFromHelp);
  QCommandLineOption screenshotSteps("screenshot-steps", "Training steps before the screenshots (default 3).", "N", "3");
  screenshotSteps.setFlags(QCommandLineOption::HiddenFromHelp);
  QCommandLineOption smokeTest("smoke-test",
                               "Start, load the preselected configuration, report what was found and quit "
                               "(exit status 1 when the bundled resources are missing or it cannot start).");
  parser.addOption(screenshots);
  parser.addOption(screenshotSteps);
  parser.addOption(smokeTest);
  parser.process(app);

  lorafa::CpuMemoryTracker::instance().install();
  // Before any tensor exists (live memory needs it); OMP_NUM_THREADS, when set, limits LibTorch.
  lorafa::configureComputeThreads(std::getenv("OMP_NUM_THREADS") ? std::atoi(std::getenv("OMP_NUM_THREADS")) : 0);

  lorafa::ui::MainWindow window(lorafa::queryEngineInfo());
  if (parser.isSet(screenshots)) window.resize(1360, 860);
  window.show();
  if (parser.isSet(screenshots)) takeScreenshots(window, parser.value(screenshots), parser.value(screenshotSteps).toInt());
  if (parser.isSet(smokeTest)) {
    // Pages inspect the model and read the dataset in the background: give them a few seconds.
    QTimer::singleShot(5000, &window, [&window] {
      const lorafa::ui::StudioContext& context = window.context();
      const lorafa::RunConfig& config = context.draft->config();
      std::printf("resources: %s\nmodel: %s\ndataset: %s\nstart: %s\n",
                  context.paths.resourcesDir.isEmpty() ? "not found" : qPrintable(context.paths.resourcesDir),
                  config.modelPath.c_str(), config.dataset.path.c_str(),
                  context.draft->canStart() ? "ready" : qPrintable(context.draft->firstProblem()));
      std::fflush(stdout);
      QCoreApplication::exit(!context.paths.resourcesDir.isEmpty() && context.draft->canStart() ? 0 : 1);
    });
  }
  return QApplication::exec();
}
