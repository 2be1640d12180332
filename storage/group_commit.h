// GroupCommit: one synced RocksDB write for the WAL batches of many
// concurrent appends. Internal to the storage module.
//
// RocksDB groups concurrent synced writes itself (the writers queued while
// one group syncs share the next sync), but it never waits for writers about
// to arrive: when concurrent remote-write clients are released together by
// one sync, the first of them to reach the write syncs alone and the rest
// wait a whole sync for the next one, so the writers settle into two cohorts
// that each pay two syncs per request. Here the first waiting append leads a
// group: it waits for the number of appends the recent groups held (at most
// as long as the last sync took, and never more than `max_delay`), merges
// their batches into its own and makes one synced write; every member gets
// its status. A lone writer never waits (its groups hold one append).
//
// Only batches of Puts are merged (an append's WAL record, series
// definitions, late marks); any other batch is written on its own, in the
// same group. Durability is unchanged: an append returns OK only after the
// synced write holding its batch succeeded.
//
// A leader that queued while the previous group was being written does not
// wait: the appends that queued behind a running write are written as soon
// as the log is free (the writers of the group just written come back during
// that write and form the next group), so the log is not left idle while
// appends wait.
//
// Thread-safety: Commit may be called from any thread.
#ifndef MERIDIAN_STORAGE_GROUP_COMMIT_H_
#define MERIDIAN_STORAGE_GROUP_COMMIT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "model/sync.h"

namespace rocksdb {
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace meridian {

class GroupCommit {
 public:
  // One synced write of `batch` (RocksStorage::Write: errors degrade the
  // storage and come back fit for clients).
  using WriteFn = std::function<absl::Status(rocksdb::WriteBatch* batch)>;
  // The handle of a column family id (null: unknown, the batch is written
  // on its own).
  using FamilyFn = std::function<rocksdb::ColumnFamilyHandle*(uint32_t id)>;

  GroupCommit(WriteFn write, FamilyFn family,
              std::chrono::microseconds max_delay = std::chrono::microseconds(5000));

  // Writes `batch` (synced) together with those of concurrent callers and
  // returns once that write finished, with its status. `batch` may be
  // modified (a leader merges the others' batches into its own).
  absl::Status Commit(rocksdb::WriteBatch* batch);

  // Synced writes made, batches they carried, and the time they took (the
  // write and its log sync, in microseconds).
  uint64_t writes() const { return writes_.load(std::memory_order_relaxed); }
  uint64_t batches() const { return batches_.load(std::memory_order_relaxed); }
  uint64_t write_micros() const { return write_micros_.load(std::memory_order_relaxed); }

 private:
  struct Waiter {
    rocksdb::WriteBatch* batch;
    absl::Status status;
    bool done = false;
    bool behind_write = false;  // queued while a group was being written
  };
  // Writes the group's batches (merged into the first one where possible);
  // sets each waiter's status. Called without mu_.
  void WriteGroup(std::deque<Waiter*>& group);

  const WriteFn write_;
  const FamilyFn family_;
  const std::chrono::microseconds max_delay_;

  Mutex mu_;
  CondVar arrived_;                                 // a leader gathering its group waits here
  CondVar done_;                                    // members wait here for their group's write
  std::deque<Waiter*> queue_ ABSL_GUARDED_BY(mu_);  // not yet in a group
  bool leading_ ABSL_GUARDED_BY(mu_) = false;       // a group is being gathered or written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;       // a group is being written
  // How many appends the leader waits for: the largest recent group (one
  // less per group, so that it follows writers that leave).
  size_t expect_ ABSL_GUARDED_BY(mu_) = 1;
  std::chrono::microseconds last_write_ ABSL_GUARDED_BY(mu_){0};  // the last write's time

  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> write_micros_{0};
};

}  // namespace meridian

#endif  // MERIDIAN_STORAGE_GROUP_COMMIT_H_
