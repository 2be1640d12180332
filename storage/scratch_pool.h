// ScratchPool<T>: reusable scratch space for a hot path that runs on many
// threads. Internal to the storage module.
//
// Appends run on the HTTP worker threads (64 by default). Scratch kept per
// thread (thread_local) grows on every worker that ever ran an append to
// the size of the largest request it saw, and stays: 64 x ~0.9 MB of flat
// labels for 2000-series requests was 56 MB of the reference workload's
// peak heap (heaptrack). The pool keeps one scratch object per append
// running at the same time instead (the clients' concurrency), reused
// last-in first-out so the warm ones are handed out first.
//
// Thread-safety: Acquire and the lease's destructor may be called from any
// thread; a leased object belongs to its holder alone.
#ifndef MERIDIAN_STORAGE_SCRATCH_POOL_H_
#define MERIDIAN_STORAGE_SCRATCH_POOL_H_

#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "model/sync.h"

namespace meridian {

template <class T>
class ScratchPool {
 public:
  class Lease {
   public:
    Lease(ScratchPool* pool, std::unique_ptr<T> obj) : pool_(pool), obj_(std::move(obj)) {}
    ~Lease() { pool_->Release(std::move(obj_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    T& operator*() const { return *obj_; }
    T* operator->() const { return obj_.get(); }

   private:
    ScratchPool* pool_;
    std::unique_ptr<T> obj_;
  };

  Lease Acquire() {
    {
      MutexLock l(&mu_);
      if (!free_.empty()) {
        std::unique_ptr<T> obj = std::move(free_.back());
        free_.pop_back();
        return Lease(this, std::move(obj));
      }
    }
    return Lease(this, std::make_unique<T>());
  }

 private:
  void Release(std::unique_ptr<T> obj) {
    MutexLock l(&mu_);
    free_.push_back(std::move(obj));
  }

  Mutex mu_;
  std::vector<std::unique_ptr<T>> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_SCRATCH_POOL_H_
