#include "BackgroundTask.h"

#include <QCoreApplication>
#include <QRunnable>
#include <QThread>
#include <QThreadPool>
#include <QtDebug>

#include <exception>

#if defined(__SANITIZE_THREAD__)
#define LORAFA_TSAN_ANNOTATIONS 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LORAFA_TSAN_ANNOTATIONS 1
#endif
#endif
#ifdef LORAFA_TSAN_ANNOTATIONS
#include <sanitizer/tsan_interface.h>
#endif

namespace lorafa::ui {
namespace {

// Qt orders these hand-overs itself (the pool's queue and the posted-event queue are guarded by
// QMutex, a futex TSan cannot see inside uninstrumented libQt6Core); the annotations only tell
// TSan where that ordering happens, as Qt's own qtsan_impl.h does in an instrumented Qt build.
// Each is keyed by an address the other side knows without reading shared memory first.
void handOverRelease(void* key) {
#ifdef LORAFA_TSAN_ANNOTATIONS
  __tsan_release(key);
#else
  Q_UNUSED(key);
#endif
}

void handOverAcquire(void* key) {
#ifdef LORAFA_TSAN_ANNOTATIONS
  __tsan_acquire(key);
#else
  Q_UNUSED(key);
#endif
}

/// Receives the finished jobs on the UI thread. One per application, a child of it.
class Dispatcher final : public QObject {
public:
  using QObject::QObject;

  bool event(QEvent* event) override {
    handOverAcquire(event); // what the worker wrote into the job, before anything reads it
    if (event->type() == BackgroundTask::eventType()) {
      static_cast<BackgroundTask::Job*>(event)->deliver();
      return true; // Qt deletes the posted event (the job) on this thread
    }
    return QObject::event(event);
  }
};

QObject* dispatcher() {
  static QPointer<Dispatcher> instance; // the UI thread only
  if (instance.isNull()) instance = new Dispatcher(QCoreApplication::instance());
  return instance.data();
}

class Runnable final : public QRunnable {
public:
  Runnable(std::unique_ptr<BackgroundTask::Job> job, QObject* dispatcher)
      : m_job(std::move(job)), m_dispatcher(dispatcher) {}

  void run() override {
    handOverAcquire(this); // everything submit() wrote: this runnable, the job, its captures
    m_job->runOnWorker();
    BackgroundTask::Job* job = m_job.release();
    handOverRelease(job); // the result, for Dispatcher::event
    QCoreApplication::postEvent(m_dispatcher, job);
  }

private:
  std::unique_ptr<BackgroundTask::Job> m_job; // deleted here only if the pool drops the task
  QObject* m_dispatcher;
};

} // namespace

QEvent::Type BackgroundTask::eventType() {
  static const QEvent::Type type = static_cast<QEvent::Type>(QEvent::registerEventType());
  return type;
}

BackgroundTask::Job::Job(QObject* receiver) : QEvent(eventType()), m_receiver(receiver) {}

BackgroundTask::Job::~Job() = default;

void BackgroundTask::Job::runOnWorker() {
  try {
    compute();
  } catch (const std::exception& e) {
    m_error = e.what();
  } catch (...) {
    m_error = "an exception that is not a std::exception";
  }
}

void BackgroundTask::Job::deliver() {
  if (m_receiver.isNull()) return; // the page or dialog has gone: nobody to tell
  if (m_error)
    fail(QString::fromStdString(*m_error));
  else
    succeed();
}

void BackgroundTask::submit(QThreadPool* pool, std::unique_ptr<Job> job) {
  Q_ASSERT(QCoreApplication::instance() != nullptr);
  Q_ASSERT(QThread::currentThread() == QCoreApplication::instance()->thread());
  auto* runnable = new Runnable(std::move(job), dispatcher());
  handOverRelease(runnable);
  (pool != nullptr ? pool : QThreadPool::globalInstance())->start(runnable);
}

std::mutex& BackgroundTask::postGate() {
  static std::mutex gate;
  return gate;
}

void BackgroundTask::logFailure(const QString& what) {
  qCritical().noquote() << "lorafa: a background task failed:" << what;
}

} // namespace lorafa::ui
