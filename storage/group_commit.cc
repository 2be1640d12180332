#include "storage/group_commit.h"

#include <algorithm>
#include <utility>

#include "rocksdb/write_batch.h"

namespace meridian {
namespace {

// Re-stages the Puts of one batch in another.
class PutCopier : public rocksdb::WriteBatch::Handler {
 public:
  PutCopier(rocksdb::WriteBatch* to, const GroupCommit::FamilyFn& family)
      : to_(to), family_(family) {}
  rocksdb::Status PutCF(uint32_t id, const rocksdb::Slice& key,
                        const rocksdb::Slice& value) override {
    rocksdb::ColumnFamilyHandle* cf = family_(id);
    if (cf == nullptr) return rocksdb::Status::InvalidArgument("unknown column family");
    return to_->Put(cf, key, value);
  }
  // Every other kind of record is refused (some of the Handler's defaults
  // would drop them silently).
  rocksdb::Status DeleteCF(uint32_t, const rocksdb::Slice&) override { return Refuse(); }
  rocksdb::Status SingleDeleteCF(uint32_t, const rocksdb::Slice&) override { return Refuse(); }
  rocksdb::Status DeleteRangeCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return Refuse();
  }
  rocksdb::Status MergeCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return Refuse();
  }
  void LogData(const rocksdb::Slice&) override { refused_ = true; }
  bool Continue() override { return !refused_; }
  bool refused() const { return refused_; }

 private:
  rocksdb::Status Refuse() {
    refused_ = true;
    return rocksdb::Status::NotSupported("only Puts are merged");
  }
  rocksdb::WriteBatch* to_;
  const GroupCommit::FamilyFn& family_;
  bool refused_ = false;
};

}  // namespace

GroupCommit::GroupCommit(WriteFn write, FamilyFn family, std::chrono::microseconds max_delay)
    : write_(std::move(write)), family_(std::move(family)), max_delay_(max_delay) {}

absl::Status GroupCommit::Commit(rocksdb::WriteBatch* batch) {
  Waiter self{batch};
  mu_.Lock();
  self.behind_write = writing_;
  queue_.push_back(&self);
  arrived_.Signal();
  while (!self.done && (leading_ || queue_.front() != &self)) done_.Wait(&mu_);
  if (self.done) {
    absl::Status st = std::move(self.status);
    mu_.Unlock();
    return st;
  }
  // Leader: gather the group, at most as long as the last write took,
  // unless it queued behind the last write (see the header).
  leading_ = true;
  if (!self.behind_write && queue_.size() < expect_) {
    const auto deadline = std::chrono::steady_clock::now() + std::min(last_write_, max_delay_);
    while (queue_.size() < expect_ && !arrived_.WaitUntil(&mu_, deadline)) {
    }
  }
  std::deque<Waiter*> group;
  group.swap(queue_);
  writing_ = true;
  mu_.Unlock();

  const auto start = std::chrono::steady_clock::now();
  WriteGroup(group);
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);

  mu_.Lock();
  writing_ = false;
  for (Waiter* w : group) w->done = true;
  expect_ = std::max(group.size(), expect_ > 1 ? expect_ - 1 : size_t{1});
  last_write_ = took;
  write_micros_.fetch_add(static_cast<uint64_t>(took.count()), std::memory_order_relaxed);
  leading_ = false;
  done_.SignalAll();
  absl::Status st = std::move(self.status);
  mu_.Unlock();
  return st;
}

void GroupCommit::WriteGroup(std::deque<Waiter*>& group) {
  rocksdb::WriteBatch* merged = group.front()->batch;
  std::deque<Waiter*> members = {group.front()};  // whose batches are in `merged`
  std::deque<Waiter*> alone;                      // written on their own
  for (size_t i = 1; i < group.size(); ++i) {
    Waiter* w = group[i];
    merged->SetSavePoint();
    PutCopier copy(merged, family_);
    rocksdb::Status s = w->batch->Iterate(&copy);
    if (s.ok() && !copy.refused()) {
      (void)merged->PopSavePoint();
      members.push_back(w);
    } else {
      (void)merged->RollbackToSavePoint();
      alone.push_back(w);
    }
  }
  absl::Status st = write_(merged);
  writes_.fetch_add(1, std::memory_order_relaxed);
  batches_.fetch_add(members.size(), std::memory_order_relaxed);
  for (Waiter* w : members) w->status = st;
  for (Waiter* w : alone) {
    w->status = write_(w->batch);
    writes_.fetch_add(1, std::memory_order_relaxed);
    batches_.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace meridian
