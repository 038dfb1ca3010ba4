// BackgroundTask: work on a pool thread, the result on the UI thread, in order on a one-thread
// pool, nothing delivered to a receiver that has gone, exceptions reported, captures released on
// the UI thread. Also run under ThreadSanitizer (packaging/sanitizers.sh tsan), where it checks
// that the hand-overs are visible to TSan: a report fails the run.
#include "BackgroundTask.h"

#include "StudioTestSupport.h"

#include <gtest/gtest.h>

#include <QPointer>
#include <QTest>
#include <QThread>
#include <QThreadPool>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace lorafa::ui {
namespace {

using testing::app;

constexpr int kWaitMs = 60000; // an upper bound for slow (sanitizer) builds, not a timing check

/// Records the thread that destroys each copy of it (the copies share one list).
struct DestructionProbe {
  std::shared_ptr<std::vector<QThread*>> threads;
  explicit DestructionProbe(std::shared_ptr<std::vector<QThread*>> list) : threads(std::move(list)) {}
  DestructionProbe(const DestructionProbe&) = default;
  DestructionProbe(DestructionProbe&& other) noexcept : threads(other.threads) {} // still records
  DestructionProbe& operator=(const DestructionProbe&) = delete;
  ~DestructionProbe() { threads->push_back(QThread::currentThread()); }
};

TEST(BackgroundTask, RunsTheWorkOnAPoolThreadAndDeliversTheResultOnTheUiThread) {
  app();
  QObject receiver;
  QThreadPool pool;
  QThread* workThread = nullptr;
  QThread* doneThread = nullptr;
  std::string delivered;
  bool called = false;
  BackgroundTask::run(
      &pool, &receiver,
      [&workThread] {
        workThread = QThread::currentThread();
        return std::string("computed on the worker");
      },
      [&](std::string result) {
        doneThread = QThread::currentThread();
        delivered = std::move(result);
        called = true;
      });
  EXPECT_FALSE(called) << "run() must return before the delivery, which comes from the event loop";
  ASSERT_TRUE(QTest::qWaitFor([&] { return called; }, kWaitMs));
  EXPECT_EQ(delivered, "computed on the worker");
  EXPECT_EQ(doneThread, app().thread());
  ASSERT_NE(workThread, nullptr);
  EXPECT_NE(workThread, app().thread());
}

TEST(BackgroundTask, AOneThreadPoolRunsAndDeliversInSubmissionOrder) {
  app();
  QObject receiver;
  QThreadPool pool;
  pool.setMaxThreadCount(1);
  pool.setExpiryTimeout(-1); // one thread throughout: `ran` is only touched there
  constexpr int kTasks = 40;
  std::vector<int> ran;       // appended to by the pool's thread only, read after every delivery
  std::vector<int> delivered; // the UI thread only
  std::atomic<bool> release{false};
  for (int i = 0; i < kTasks; ++i) {
    BackgroundTask::run(
        &pool, &receiver,
        [i, &ran, &release] {
          // The first task holds the thread until every task is queued, so the rest wait in the
          // pool's queue rather than each being handed to an idle thread.
          if (i == 0) {
            while (!release.load())
              QThread::yieldCurrentThread();
          }
          ran.push_back(i);
          return i * i;
        },
        [i, &delivered](int square) {
          EXPECT_EQ(square, i * i);
          delivered.push_back(i);
        });
  }
  release = true;
  ASSERT_TRUE(QTest::qWaitFor([&] { return static_cast<int>(delivered.size()) == kTasks; }, kWaitMs))
      << delivered.size() << " of " << kTasks << " delivered";
  std::vector<int> expected(kTasks);
  for (int i = 0; i < kTasks; ++i)
    expected[i] = i;
  EXPECT_EQ(ran, expected);
  EXPECT_EQ(delivered, expected);
}

TEST(BackgroundTask, DropsTheResultWhenTheReceiverHasGoneAndReleasesTheCapturesOnTheUiThread) {
  app();
  QThreadPool pool;
  auto destroyedOn = std::make_shared<std::vector<QThread*>>();
  std::atomic<bool> release{false};
  std::atomic<bool> worked{false};
  bool called = false;
  auto* receiver = new QObject;
  {
    const DestructionProbe probe(destroyedOn);
    BackgroundTask::run(
        &pool, receiver,
        [probe, &release, &worked] {
          while (!release.load())
            QThread::yieldCurrentThread();
          worked = true;
          return 1;
        },
        [&called, probe](int) { called = true; });
  }
  destroyedOn->clear(); // the test's own copy and the moved-from ones: all on this thread
  delete receiver;      // before the work has finished
  release = true;
  ASSERT_TRUE(pool.waitForDone(kWaitMs));
  EXPECT_TRUE(worked.load());
  // The delivery event reaches the event loop, finds no receiver and destroys the task there.
  ASSERT_TRUE(QTest::qWaitFor([&] { return destroyedOn.use_count() == 1; }, kWaitMs))
      << destroyedOn.use_count() - 1 << " copies of the captures still alive";
  EXPECT_FALSE(called);
  ASSERT_FALSE(destroyedOn->empty());
  for (QThread* thread : *destroyedOn)
    EXPECT_EQ(thread, app().thread()) << "a capture was destroyed on the worker";
}

TEST(BackgroundTask, AnExceptionFromTheWorkReachesFailedOnTheUiThreadInsteadOfDone) {
  app();
  QObject receiver;
  QThreadPool pool;
  bool done = false;
  QString message;
  QThread* failedThread = nullptr;
  BackgroundTask::run(
      &pool, &receiver, []() -> int { throw std::runtime_error("the store at /x/runs.db is locked"); },
      [&done](int) { done = true; },
      [&](const QString& what) {
        message = what;
        failedThread = QThread::currentThread();
      });
  ASSERT_TRUE(QTest::qWaitFor([&] { return !message.isEmpty(); }, kWaitMs));
  EXPECT_EQ(message, QStringLiteral("the store at /x/runs.db is locked"));
  EXPECT_EQ(failedThread, app().thread());
  EXPECT_FALSE(done);
}

QStringList g_messages;

void collectMessages(QtMsgType type, const QMessageLogContext&, const QString& message) {
  if (type == QtCriticalMsg) g_messages.push_back(message);
}

TEST(BackgroundTask, AnExceptionWithoutAFailedHandlerIsLoggedAndDoneIsNotCalled) {
  app();
  QObject receiver;
  QThreadPool pool;
  g_messages.clear();
  const QtMessageHandler previous = qInstallMessageHandler(collectMessages);
  bool done = false;
  bool after = false;
  BackgroundTask::run(
      &pool, &receiver, []() -> int { throw std::runtime_error("tokenizer.json: line 3: expected '}'"); },
      [&done](int) { done = true; });
  // A second task on another pool: delivered after the first has been handled (same event queue,
  // posted later, since this one starts only once the first has finished).
  ASSERT_TRUE(pool.waitForDone(kWaitMs));
  BackgroundTask::run(
      nullptr, &receiver, [] { return 0; }, [&after](int) { after = true; });
  const bool delivered = QTest::qWaitFor([&] { return after; }, kWaitMs);
  qInstallMessageHandler(previous);
  ASSERT_TRUE(delivered);
  EXPECT_FALSE(done);
  ASSERT_EQ(g_messages.size(), 1);
  EXPECT_TRUE(g_messages[0].contains(QStringLiteral("tokenizer.json: line 3: expected '}'")))
      << g_messages[0].toStdString();
}

TEST(BackgroundTask, ClearingThePoolDropsTasksNotStartedWithoutCallingThem) {
  app();
  QObject receiver;
  QThreadPool pool;
  pool.setMaxThreadCount(1);
  std::atomic<bool> release{false};
  std::atomic<int> worked{0};
  std::vector<int> delivered;
  auto destroyedOn = std::make_shared<std::vector<QThread*>>();
  for (int i = 0; i < 4; ++i) {
    const DestructionProbe probe(destroyedOn);
    BackgroundTask::run(
        &pool, &receiver,
        [i, probe, &release, &worked] {
          if (i == 0) {
            while (!release.load())
              QThread::yieldCurrentThread();
          }
          ++worked;
          return i;
        },
        [&delivered](int i) { delivered.push_back(i); });
  }
  destroyedOn->clear();
  pool.clear(); // tasks 1..3 have not started: the first holds the only thread
  // Their captures go at once, on this thread.
  EXPECT_EQ(destroyedOn.use_count(), 2) << "only the running task's captures should be left";
  release = true;
  ASSERT_TRUE(pool.waitForDone(kWaitMs));
  ASSERT_TRUE(QTest::qWaitFor([&] { return !delivered.empty(); }, kWaitMs));
  EXPECT_EQ(worked.load(), 1);
  EXPECT_EQ(delivered, std::vector<int>{0});
  QTest::qWait(50); // let anything wrongly posted arrive: nothing may
  EXPECT_EQ(delivered, std::vector<int>{0});
  EXPECT_EQ(destroyedOn.use_count(), 1);
  for (QThread* thread : *destroyedOn)
    EXPECT_EQ(thread, app().thread());
}

TEST(BackgroundTask, PostFromAnotherThreadCallsOnTheUiThreadInOrder) {
  app();
  QObject context;
  constexpr int kCalls = 200;
  std::vector<int> seen; // the UI thread only
  QStringList texts;     // the UI thread only
  int otherThread = 0;   // the UI thread only
  std::thread poster([&context, &seen, &texts, &otherThread] {
    for (int i = 0; i < kCalls; ++i) {
      const QString text = QStringLiteral("step %1").arg(i); // made on this thread
      std::vector<int> payload(64, i);                       // heap memory of this thread
      BackgroundTask::post(&context, [&seen, &texts, &otherThread, i, text, payload] {
        if (QThread::currentThread() != app().thread()) ++otherThread;
        seen.push_back(i);
        texts.push_back(text + QLatin1Char('/') + QString::number(payload.back()));
      });
    }
  });
  const bool all = QTest::qWaitFor([&] { return static_cast<int>(seen.size()) == kCalls; }, kWaitMs);
  poster.join();
  ASSERT_TRUE(all) << seen.size() << " of " << kCalls << " calls made";
  EXPECT_EQ(otherThread, 0);
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(seen[i], i);
    EXPECT_EQ(texts[i], QStringLiteral("step %1/%1").arg(i));
  }
}

TEST(BackgroundTask, PostDropsTheCallWhenTheContextIsGone) {
  app();
  auto* context = new QObject;
  bool called = false;
  std::thread poster([context, &called] { BackgroundTask::post(context, [&called] { called = true; }); });
  poster.join();
  delete context; // before the event loop has run: the posted call goes with it
  QTest::qWait(20);
  EXPECT_FALSE(called);
}

} // namespace
} // namespace lorafa::ui
