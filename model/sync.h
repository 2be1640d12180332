// Locks that clang's thread-safety analysis (-Wthread-safety) understands.
//
// meridian's code annotates what each lock guards (ABSL_GUARDED_BY,
// ABSL_EXCLUSIVE_LOCKS_REQUIRED, from absl/base/thread_annotations.h); the
// analysis checks those annotations only against a type marked
// ABSL_LOCKABLE. std::mutex is not, and absl::Mutex is not usable under
// ThreadSanitizer here: Debian's libabsl is not built with TSan, so TSan does
// not see its synchronization and reports false races on the data it guards.
// These wrappers are thin layers over what TSan intercepts (std::mutex,
// std::condition_variable, pthread_rwlock_t) with absl::Mutex-like names.
//
//   Mutex            exclusive lock (std::mutex)
//   SharedMutex      reader/writer lock; waiting writers block new readers
//                    (like absl::Mutex), so a stream of readers cannot starve
//                    a writer
//   MutexLock        scoped exclusive lock of a Mutex
//   ReaderMutexLock  scoped shared lock of a SharedMutex
//   WriterMutexLock  scoped exclusive lock of a SharedMutex
//   CondVar          condition variable over a Mutex; callers loop on their
//                    condition: `while (!ready_) cv_.Wait(&mu_);`
//
// Header-only; depends on the standard library, pthreads and absl's
// annotation macros only.

#ifndef MERIDIAN_MODEL_SYNC_H_
#define MERIDIAN_MODEL_SYNC_H_

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace meridian {

class CondVar;

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return mu_.try_lock(); }
  // Tells the analysis the lock is held where it cannot see it (no check at
  // run time).
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// A reader/writer lock with writer preference (glibc's
// PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP): once a writer waits, new
// readers wait behind it. Not recursive: a thread holding it shared must not
// take it shared again while a writer may be waiting.
class ABSL_LOCKABLE SharedMutex {
 public:
  SharedMutex() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    if (pthread_rwlock_init(&rw_, &attr) != 0) std::abort();
    pthread_rwlockattr_destroy(&attr);
  }
  ~SharedMutex() { pthread_rwlock_destroy(&rw_); }
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { Check(pthread_rwlock_wrlock(&rw_)); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { Check(pthread_rwlock_unlock(&rw_)); }
  void ReaderLock() ABSL_SHARED_LOCK_FUNCTION() { Check(pthread_rwlock_rdlock(&rw_)); }
  void ReaderUnlock() ABSL_UNLOCK_FUNCTION() { Check(pthread_rwlock_unlock(&rw_)); }
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}
  void AssertReaderHeld() const ABSL_ASSERT_SHARED_LOCK() {}

 private:
  static void Check(int rc) {
    if (rc != 0) std::abort();  // EDEADLK, EAGAIN: a bug, as std::shared_mutex would throw
  }
  pthread_rwlock_t rw_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

class ABSL_SCOPED_LOCKABLE ReaderMutexLock {
 public:
  explicit ReaderMutexLock(SharedMutex* mu) ABSL_SHARED_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->ReaderLock();
  }
  ~ReaderMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->ReaderUnlock(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

class ABSL_SCOPED_LOCKABLE WriterMutexLock {
 public:
  explicit WriterMutexLock(SharedMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~WriterMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  WriterMutexLock(const WriterMutexLock&) = delete;
  WriterMutexLock& operator=(const WriterMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// A condition variable over a Mutex (std::condition_variable on the
// Mutex's std::mutex, so TSan sees the hand-over). Wakeups may be spurious:
// re-check the condition in a loop.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Releases `mu` while waiting; holds it again on return.
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    cv_.wait(l);
    l.release();
  }
  // As Wait, until `deadline`; true when the deadline passed.
  template <class Clock, class Duration>
  bool WaitUntil(Mutex* mu, const std::chrono::time_point<Clock, Duration>& deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    const bool timed_out = cv_.wait_until(l, deadline) == std::cv_status::timeout;
    l.release();
    return timed_out;
  }
  // As Wait, for at most `timeout`; true when it passed.
  template <class Rep, class Period>
  bool WaitFor(Mutex* mu, const std::chrono::duration<Rep, Period>& timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    const bool timed_out = cv_.wait_for(l, timeout) == std::cv_status::timeout;
    l.release();
    return timed_out;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace meridian

#endif  // MERIDIAN_MODEL_SYNC_H_
