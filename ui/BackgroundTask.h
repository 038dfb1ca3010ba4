#pragma once

#include <QEvent>
#include <QObject>
#include <QPointer>
#include <QString>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

class QThreadPool;

namespace lorafa::ui {

/// Runs a function on a worker thread and hands its result to a callback on the UI thread: what
/// the pages use instead of QtConcurrent::run + QFutureWatcher.
///
/// Why: QThreadPool, QFuture and posted events synchronise inside libQt6Core (futex-based
/// QMutex), which a ThreadSanitizer build cannot see because Debian's Qt is not instrumented, so
/// TSan took every hand-over of a functor or a result for a race (about 600 reports in test_ui).
/// Here each hand-over of our data is marked where Qt orders it (submit -> start on the worker
/// -> finish -> delivery on the UI thread: TSan release/acquire annotations; nothing in other
/// builds), and the task object, its captures and the event that wakes the UI thread are
/// allocated and freed on the UI thread; only the result is made on the worker, and it is read
/// and freed on the UI thread after the delivery point.
///
/// Contract:
/// - run() is called on the UI thread (the thread of QCoreApplication and of `receiver`); it
///   returns at once, and never calls `done` or `failed` itself.
/// - `work()` runs on a thread of `pool` (nullptr: QThreadPool::globalInstance(), as with
///   QtConcurrent::run), in the pool's order: on a one-thread pool, tasks run one after another
///   in the order submitted, and their results are delivered in that order.
/// - `done(result)` runs later on the UI thread from the event loop, once, if `receiver` still
///   exists (otherwise the result is dropped). If `work` throws, `failed(what)` runs there
///   instead; without a `failed`, the message is logged with qCritical. Callers report their
///   errors in the result, so that is a bug's last resort, not an error path.
/// - `work`, `done`, `failed` and everything they capture are destroyed on the UI thread, after
///   the delivery (copies of implicitly shared Qt values are released on the thread they were
///   copied on).
/// - Nothing stops a started task; QThreadPool::clear() drops tasks not started yet (destroyed on
///   the caller's thread, no callback). Callers drop stale results with their own generation
///   numbers. Every pool used must be done before the QCoreApplication is destroyed (the global
///   pool is: QCoreApplication waits for it).
class BackgroundTask {
public:
  template <typename Work, typename Done, typename Failed>
  static void run(QThreadPool* pool, QObject* receiver, Work work, Done done, Failed failed) {
    using Result = std::invoke_result_t<Work&>;
    static_assert(!std::is_void_v<Result>, "work() returns the value that done() receives");
    submit(pool, std::make_unique<TypedJob<Work, Done, Failed>>(receiver, std::move(work), std::move(done),
                                                                std::move(failed)));
  }

  template <typename Work, typename Done>
  static void run(QThreadPool* pool, QObject* receiver, Work work, Done done) {
    run(pool, receiver, std::move(work), std::move(done), [](const QString& what) { logFailure(what); });
  }

  /// From any thread (a training thread, say): calls `call()` later on the thread of `context`
  /// from its event loop, as QMetaObject::invokeMethod(context, call, Qt::QueuedConnection) does
  /// (the call is dropped if `context` is destroyed first), with the hand-over visible to TSan:
  /// the call is made and posted under one process-wide gate that the receiving side passes
  /// before it reads the call, as Qt's posted-event queue orders them under its own (invisible)
  /// QMutex. `context` must exist while post() runs.
  template <typename Call> static void post(QObject* context, Call call) {
    std::lock_guard<std::mutex> lock(postGate());
    QMetaObject::invokeMethod(
        context,
        [call = std::move(call)]() mutable {
          { std::lock_guard<std::mutex> passed(postGate()); } // after post() has let go of it
          call();
        },
        Qt::QueuedConnection);
  }

  /// The QEvent type of the deliveries (registered once).
  static QEvent::Type eventType();

  /// The job behind one run(): the event posted back to the UI thread as well.
  class Job : public QEvent {
  public:
    explicit Job(QObject* receiver);
    ~Job() override;
    Job(const Job&) = delete;
    Job& operator=(const Job&) = delete;

    void runOnWorker(); ///< work(), catching what it throws
    void deliver();     ///< on the UI thread: done() or failed(), if the receiver still exists

  protected:
    virtual void compute() = 0;
    virtual void succeed() = 0;
    virtual void fail(const QString& what) = 0;

  private:
    QPointer<QObject> m_receiver;
    std::optional<std::string> m_error;
  };

private:
  template <typename Work, typename Done, typename Failed> class TypedJob final : public Job {
  public:
    TypedJob(QObject* receiver, Work work, Done done, Failed failed)
        : Job(receiver), m_work(std::move(work)), m_done(std::move(done)), m_failed(std::move(failed)) {}

  protected:
    void compute() override { m_result.emplace(m_work()); }
    void succeed() override { m_done(std::move(*m_result)); }
    void fail(const QString& what) override { m_failed(what); }

  private:
    Work m_work;
    Done m_done;
    Failed m_failed;
    std::optional<std::invoke_result_t<Work&>> m_result;
  };

  static void submit(QThreadPool* pool, std::unique_ptr<Job> job);
  static std::mutex& postGate();
  static void logFailure(const QString& what);
};

} // namespace lorafa::ui
