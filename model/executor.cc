#include "model/executor.h"

#include <pthread.h>

#include <utility>

namespace meridian {

ThreadPool::ThreadPool(int threads, std::string name) {
  if (threads < 1) threads = 1;
  name.resize(std::min<size_t>(name.size(), 15));  // the kernel's limit for thread names
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { Work(); });
    pthread_setname_np(threads_.back().native_handle(), name.c_str());
  }
}

ThreadPool::~ThreadPool() {
  {
    MutexLock l(&mu_);
    stopping_ = true;
  }
  cv_.SignalAll();
  for (std::thread& t : threads_) t.join();
}

void ThreadPool::Schedule(std::function<void()> task) {
  {
    MutexLock l(&mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.Signal();
}

void ThreadPool::Work() {
  for (;;) {
    std::function<void()> task;
    {
      MutexLock l(&mu_);
      while (tasks_.empty() && !stopping_) cv_.Wait(&mu_);
      if (tasks_.empty()) return;  // stopping, and nothing left to run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace meridian
