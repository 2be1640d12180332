// DataGenerations: each tenant's data generation (Storage::DataGeneration),
// a counter that moves whenever the tenant's stored data changes anywhere
// but at recent times: an append with a late sample, the compactor's writes
// and deletes, retention. Internal to storage/; RocksStorage bumps it after
// each such change is visible to readers, so a reader that read generation
// g before it evaluated, and finds g again later, knows that no such change
// became visible after its read.
//
// The value is the sum of a storage-wide counter (changes to every tenant)
// and the tenant's own: both only grow, so the sum changes when either does.
// Thread-safe.
#ifndef MERIDIAN_STORAGE_DATA_GENERATION_H_
#define MERIDIAN_STORAGE_DATA_GENERATION_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "model/sync.h"

namespace meridian {

class DataGenerations {
 public:
  uint64_t Get(std::string_view tenant) const {
    const uint64_t all = all_.load(std::memory_order_acquire);
    MutexLock l(&mu_);
    auto it = tenants_.find(absl::string_view(tenant.data(), tenant.size()));
    return all + (it == tenants_.end() ? 0 : it->second);
  }
  void Bump(std::string_view tenant) {
    MutexLock l(&mu_);
    auto it = tenants_.find(absl::string_view(tenant.data(), tenant.size()));
    if (it == tenants_.end()) {
      tenants_.emplace(std::string(tenant), 1);
    } else {
      ++it->second;
    }
  }
  void BumpAll() { all_.fetch_add(1, std::memory_order_acq_rel); }

  // Bumps `tenant` when it goes out of scope if Changed() was called: for
  // a function that makes its change visible on one of several paths.
  class BumpOnExit {
   public:
    BumpOnExit(DataGenerations* g, std::string_view tenant) : g_(g), tenant_(tenant) {}
    BumpOnExit(const BumpOnExit&) = delete;
    BumpOnExit& operator=(const BumpOnExit&) = delete;
    ~BumpOnExit() {
      if (changed_) g_->Bump(tenant_);
    }
    void Changed() { changed_ = true; }

   private:
    DataGenerations* g_;
    std::string_view tenant_;
    bool changed_ = false;
  };

 private:
  std::atomic<uint64_t> all_{0};
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, uint64_t> tenants_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_DATA_GENERATION_H_
