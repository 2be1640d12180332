// Executor: where background work runs. The binary owns and sizes the pools
// (server/); libraries take an Executor* and never start threads of their
// own, so the number of threads meridian runs does not grow with its load.
//
//   ThreadPool pool(4, "read-ahead");
//   pool.Schedule([] { ... });   // runs on one of the pool's threads
//
// A scheduled task may wait behind others: code that must make progress
// without it (a query reading its own series) must be able to do the work
// itself when the task has not started yet (see storage/querier.cc).
#ifndef MERIDIAN_MODEL_EXECUTOR_H_
#define MERIDIAN_MODEL_EXECUTOR_H_

#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "model/sync.h"

namespace meridian {

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `task` later, on some thread. Thread-safe.
  virtual void Schedule(std::function<void()> task) = 0;
};

// A fixed number of threads taking tasks in FIFO order. The destructor runs
// the tasks already scheduled, then joins the threads; scheduling after
// destruction began is a bug.
class ThreadPool : public Executor {
 public:
  ThreadPool(int threads, std::string name);
  ~ThreadPool() override;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Schedule(std::function<void()> task) override;
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void Work();

  Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace meridian

#endif  // MERIDIAN_MODEL_EXECUTOR_H_
