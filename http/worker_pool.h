// WorkerPool: a fixed pool of threads with a bounded wait queue (the
// connection layer's workers, http/http_server.h).
//
// Thread-safety: every method may be called from any thread.
#ifndef MERIDIAN_HTTP_WORKER_POOL_H_
#define MERIDIAN_HTTP_WORKER_POOL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "model/sync.h"

namespace meridian::http {

class WorkerPool {
 public:
  WorkerPool(int threads, int max_queued) : max_queued_(max_queued) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~WorkerPool() { Shutdown(); }

  // False when every worker is busy and max_queued tasks already wait.
  bool TryEnqueue(std::function<void()> fn) {
    {
      MutexLock lock(&mu_);
      if (shutdown_) return false;
      if (queue_.size() >= static_cast<size_t>(idle_) + static_cast<size_t>(max_queued_)) {
        return false;
      }
      queue_.push_back(std::move(fn));
    }
    cv_.Signal();
    return true;
  }

  // Runs what is queued, then joins.
  void Shutdown() {
    {
      MutexLock lock(&mu_);
      shutdown_ = true;
    }
    cv_.SignalAll();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  void Counts(int64_t* busy, int64_t* queued) {
    MutexLock lock(&mu_);
    *busy = static_cast<int64_t>(threads_.size()) - idle_;
    *queued = static_cast<int64_t>(queue_.size());
  }

 private:
  void Loop() {
    MutexLock lock(&mu_);
    ++idle_;
    for (;;) {
      while (!shutdown_ && queue_.empty()) cv_.Wait(&mu_);
      if (queue_.empty()) break;  // shutdown_ and nothing left
      std::function<void()> fn = std::move(queue_.front());
      queue_.pop_front();
      --idle_;
      mu_.Unlock();
      fn();
      fn = nullptr;
      mu_.Lock();
      ++idle_;
    }
    --idle_;
  }

  const int max_queued_;
  Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  int idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace meridian::http

#endif  // MERIDIAN_HTTP_WORKER_POOL_H_
