// Durability under real write and read faults: a RocksDB FileSystem wrapper
// fails writes of the WAL or of SST files on demand (Debian's librocksdb
// does not ship RocksDB's fault-injection utilities), and a corrupt chunk
// makes a duplicate lookup fail in the middle of a batch.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/file_system.h"
#include "storage/rocks_storage.h"
#include "storage/storage.h"
#include "storage/test_util.h"

namespace meridian {
namespace {

using storage_testing::Eq;
using storage_testing::TempDir;

class FaultyFileSystem : public rocksdb::FileSystemWrapper {
 public:
  FaultyFileSystem() : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FaultyFileSystem"; }

  // Appends fail as on a full disk or over a file-size limit (ENOSPC,
  // EFBIG); fsync still works. (A failing fsync is fatal to RocksDB: only a
  // reopen recovers.)
  std::atomic<bool> fail_wal{false};       // appends to RocksDB's log files (*.log)
  std::atomic<bool> fail_sst{false};       // appends to table files (*.sst)
  std::atomic<bool> fail_sst_read{false};  // reads of table files (*.sst), as on a bad disk
  std::atomic<int> injected{0};
  std::atomic<int> read_injected{0};
  // Every append fails, as on a full disk.
  void SetDiskFull(bool full) {
    fail_wal = full;
    fail_sst = full;
  }

  rocksdb::IOStatus Check(const std::string& name) {
    if ((fail_wal.load() && name.ends_with(".log")) ||
        (fail_sst.load() && name.ends_with(".sst"))) {
      injected.fetch_add(1);
      return rocksdb::IOStatus::IOError("injected write fault", name);
    }
    return rocksdb::IOStatus::OK();
  }

  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(FaultyFileSystem* fs, std::string name, std::unique_ptr<rocksdb::FSWritableFile> f)
        : rocksdb::FSWritableFileOwnerWrapper(std::move(f)), fs_(fs), name_(std::move(name)) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override {
      rocksdb::IOStatus s = fs_->Check(name_);
      return s.ok() ? target()->Append(d, o, dbg) : s;
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v,
                             rocksdb::IODebugContext* dbg) override {
      rocksdb::IOStatus s = fs_->Check(name_);
      return s.ok() ? target()->Append(d, o, v, dbg) : s;
    }

   private:
    FaultyFileSystem* fs_;
    std::string name_;
  };

  class ReadFile : public rocksdb::FSRandomAccessFileOwnerWrapper {
   public:
    ReadFile(FaultyFileSystem* fs, std::string name, std::unique_ptr<rocksdb::FSRandomAccessFile> f)
        : rocksdb::FSRandomAccessFileOwnerWrapper(std::move(f)), fs_(fs), name_(std::move(name)) {}
    rocksdb::IOStatus Read(uint64_t offset, size_t n, const rocksdb::IOOptions& o,
                           rocksdb::Slice* result, char* scratch,
                           rocksdb::IODebugContext* dbg) const override {
      rocksdb::IOStatus s = fs_->CheckRead(name_);
      return s.ok() ? target()->Read(offset, n, o, result, scratch, dbg) : s;
    }
    rocksdb::IOStatus MultiRead(rocksdb::FSReadRequest* reqs, size_t num_reqs,
                                const rocksdb::IOOptions& o,
                                rocksdb::IODebugContext* dbg) override {
      rocksdb::IOStatus s = fs_->CheckRead(name_);
      if (s.ok()) return target()->MultiRead(reqs, num_reqs, o, dbg);
      for (size_t i = 0; i < num_reqs; ++i) reqs[i].status = s;
      return s;
    }

   private:
    FaultyFileSystem* fs_;
    std::string name_;
  };
  rocksdb::IOStatus CheckRead(const std::string& name) {
    if (fail_sst_read.load() && name.ends_with(".sst")) {
      read_injected.fetch_add(1);
      return rocksdb::IOStatus::IOError("injected read fault", name);
    }
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus NewRandomAccessFile(const std::string& f, const rocksdb::FileOptions& o,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* r,
                                        rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSRandomAccessFile> file;
    rocksdb::IOStatus s = target()->NewRandomAccessFile(f, o, &file, dbg);
    if (s.ok()) r->reset(new ReadFile(this, f, std::move(file)));
    return s;
  }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(f, o, &file, dbg);
    if (s.ok()) r->reset(new File(this, f, std::move(file)));
    return s;
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->ReopenWritableFile(f, o, &file, dbg);
    if (s.ok()) r->reset(new File(this, f, std::move(file)));
    return s;
  }
};

std::vector<Sample> Samples(int64_t t0, int n, double v0 = 0) {
  std::vector<Sample> v;
  for (int i = 0; i < n; ++i) v.push_back({t0 + i * 15'000, v0 + i});
  return v;
}

class DurabilityTest : public ::testing::Test {
 protected:
  StorageOptions Options() {
    StorageOptions o;
    o.dir = dir_.path() + "/data";
    o.sync_wal = true;
    o.now_ms = [] { return int64_t{10'000'000}; };
    o.allow_backfill = true;
    o.file_system = fs_;
    return o;
  }
  void Open(StorageOptions o) {
    st_.reset();
    auto s = Storage::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    st_ = std::move(*s);
  }
  void Open() { Open(Options()); }

  // Samples of every series named `name`, by series.
  std::vector<std::vector<Sample>> Select(std::string_view tenant, const std::string& name) {
    auto q = st_->ForTenant(tenant)->NewQuerier(0, 1'000'000'000);
    EXPECT_TRUE(q.ok());
    auto set = (*q)->Select({Eq("__name__", name)}, {.start_ms = 0, .end_ms = 1'000'000'000});
    EXPECT_TRUE(set.ok()) << set.status();
    std::vector<std::vector<Sample>> out;
    while ((*set)->Next()) {
      std::vector<Sample> v;
      EXPECT_TRUE((*set)->Samples(&v).ok());
      if (!v.empty()) out.push_back(std::move(v));
    }
    EXPECT_TRUE((*set)->status().ok()) << (*set)->status();
    return out;
  }
  size_t Count(std::string_view tenant, const std::string& name) {
    size_t n = 0;
    for (const auto& v : Select(tenant, name)) n += v.size();
    return n;
  }
  // Waits until the background thread resumed the storage (at most 5 s).
  bool WaitWritable() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!st_->Health().writable && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return st_->Health().writable;
  }
  // The id of the one in-memory series named `name` (0: none).
  uint64_t SeriesId(std::string_view tenant, const std::string& name) {
    TenantHead* t = static_cast<RocksStorage*>(st_.get())->FindTenant(tenant);
    if (t == nullptr) return 0;
    auto found = t->Select({Eq("__name__", name)});
    return found.size() == 1 ? found[0]->id() : 0;
  }

  std::shared_ptr<FaultyFileSystem> fs_ = std::make_shared<FaultyFileSystem>();
  TempDir dir_;
  std::unique_ptr<Storage> st_;
};

// The sequence of the issue on the storage API: a failed WAL write is never
// visible, a retry while the fault lasts is not acknowledged (on the old
// design the retry found every sample "duplicate" in memory and succeeded),
// after the fault the retry stores everything, and a reopen (the crash:
// no Flush) has exactly the acknowledged samples.
TEST_F(DurabilityTest, FailedWalWriteIsNeitherVisibleNorAcknowledgedOnRetry) {
  Open();
  std::vector<LabelView> x = {{"__name__", "x"}}, y = {{"__name__", "y"}};
  std::vector<Sample> first = Samples(0, 10), more = Samples(150'000, 10), ys = Samples(0, 5, 100);
  AppendBatch b1;
  b1.series.push_back({x, first});
  AppendResult r;
  ASSERT_TRUE(st_->Append("t", b1, &r).ok());

  AppendBatch b2;  // an existing and a new series
  b2.series.push_back({x, more});
  b2.series.push_back({y, ys});
  fs_->SetDiskFull(true);
  absl::Status s = st_->Append("t", b2, &r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(s.message().find("/"), std::string_view::npos) << "no paths in client errors: " << s;
  EXPECT_GT(fs_->injected.load(), 0);
  EXPECT_EQ(Count("t", "x"), 10u);
  EXPECT_EQ(Count("t", "y"), 0u);
  StorageHealth h = st_->Health();
  EXPECT_FALSE(h.writable);
  EXPECT_GE(h.wal_write_failures, 1u);

  for (int retry = 0; retry < 3; ++retry) {  // while the fault lasts
    EXPECT_FALSE(st_->Append("t", b2, &r).ok()) << "retry " << retry << " acknowledged";
    EXPECT_EQ(Count("t", "x"), 10u);
    EXPECT_EQ(Count("t", "y"), 0u);
  }

  fs_->SetDiskFull(false);
  ASSERT_TRUE(WaitWritable());
  s = st_->Append("t", b2, &r);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(r.samples_appended, 15u);
  EXPECT_EQ(r.samples_duplicate, 0u);
  EXPECT_TRUE(st_->Health().writable);
  EXPECT_GE(st_->Health().resumes, 1u);
  EXPECT_EQ(Count("t", "x"), 20u);
  EXPECT_EQ(Count("t", "y"), 5u);

  st_.reset();  // no Flush: what comes back is what the WAL holds
  Open();
  auto got = Select("t", "x");
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(got[0][i].t_ms, i * 15'000) << i;
  EXPECT_EQ(Count("t", "y"), 5u);
}

// An error in the middle of a batch (here: the duplicate lookup of a sample
// of the 2nd series reads the disk, which fails: an injected I/O error on
// reads of the table files) leaves nothing of the batch in memory;
// a checkpoint then has no chunk of a series whose definition was never
// written, and after a restart a new series gets a fresh id, never the one
// the failed append allocated. (Before: the first series' samples stayed
// visible, the checkpoint persisted them under an id without a definition,
// and the restart gave that id to the next new series, which then read them.)
TEST_F(DurabilityTest, FailedAppendMidBatchLeavesNoSamplesAndNoReusableId) {
  StorageOptions o = Options();
  Open(o);
  std::vector<LabelView> old_series = {{"__name__", "old"}};
  std::vector<Sample> old_samples = Samples(0, 100);
  AppendBatch b0;
  b0.series.push_back({old_series, old_samples});
  AppendResult r;
  ASSERT_TRUE(st_->Append("t", b0, &r).ok());
  ASSERT_TRUE(st_->Flush().ok());
  Open(o);  // "old" is on disk only; a fresh block cache: its lookup reads the file

  std::vector<LabelView> a = {{"__name__", "a"}};
  std::vector<Sample> a_samples = Samples(2'000'000, 50, 7);
  std::vector<Sample> old_retry = {{15'000 * 50 + 1, 1}};  // inside the persisted range
  AppendBatch bad;
  bad.series.push_back({a, a_samples});
  bad.series.push_back({old_series, old_retry});
  fs_->fail_sst_read = true;
  absl::Status s = st_->Append("t", bad, &r);
  fs_->fail_sst_read = false;
  ASSERT_FALSE(s.ok()) << "the read fault should fail the duplicate lookup";
  ASSERT_GT(fs_->read_injected.load(), 0);
  EXPECT_EQ(Count("t", "a"), 0u);
  const uint64_t failed_id = SeriesId("t", "a");

  ASSERT_TRUE(st_->Flush().ok());
  Open(o);  // restart
  EXPECT_EQ(Count("t", "a"), 0u);
  std::vector<LabelView> c = {{"__name__", "c"}};
  std::vector<Sample> c_samples = {{3'000'000, 42}};
  AppendBatch bc;
  bc.series.push_back({c, c_samples});
  ASSERT_TRUE(st_->Append("t", bc, &r).ok());
  EXPECT_GT(SeriesId("t", "c"), failed_id) << "series id reused after restart";
  for (int round = 0; round < 2; ++round) {
    auto got = Select("t", "c");
    ASSERT_EQ(got.size(), 1u);
    ASSERT_EQ(got[0].size(), 1u) << "series c reads samples it never had";
    EXPECT_EQ(got[0][0].t_ms, 3'000'000);
    EXPECT_EQ(got[0][0].v, 42);
    EXPECT_EQ(Count("t", "a"), 0u);
    ASSERT_TRUE(st_->Flush().ok());
    Open(o);
  }
}

// Series ids handed out by an append whose write failed are not handed out
// again after a restart either (the reservation is durable).
TEST_F(DurabilityTest, SeriesIdsAreNotReusedAcrossRestartAfterFailedWrite) {
  Open();
  std::vector<LabelView> a = {{"__name__", "a"}}, first = {{"__name__", "first"}};
  std::vector<Sample> samples = Samples(0, 3);
  AppendBatch b0;
  b0.series.push_back({first, samples});
  AppendResult r;
  ASSERT_TRUE(st_->Append("t", b0, &r).ok());  // the tenant exists
  AppendBatch b;
  b.series.push_back({a, samples});
  fs_->fail_wal = true;
  ASSERT_FALSE(st_->Append("t", b, &r).ok());
  const uint64_t failed_id = SeriesId("t", "a");
  ASSERT_NE(failed_id, 0u);
  fs_->fail_wal = false;
  st_.reset();
  Open();
  std::vector<LabelView> c = {{"__name__", "c"}};
  AppendBatch bc;
  bc.series.push_back({c, samples});
  ASSERT_TRUE(st_->Append("t", bc, &r).ok());
  EXPECT_GT(SeriesId("t", "c"), failed_id);
  EXPECT_EQ(Count("t", "a"), 0u);
  EXPECT_EQ(Count("t", "c"), 3u);
}

// A checkpoint that dies after writing a file's spans ('r', synced) but
// before its chunks: the series' postings are on disk already, so after the
// restart (which re-admits the series with the span's days as indexed) the
// series is still found through the on-disk index once it has left the head.
// The spans used to go first: the series vanished from the index (and its
// label-set hash with it). The chunk file's writes fail (it is a *.sst).
TEST_F(DurabilityTest, CheckpointDyingAfterItsSpansKeepsTheSeriesIndexed) {
  Open();
  std::vector<LabelView> x = {{"__name__", "x"}};
  AppendBatch b;
  std::vector<Sample> samples = Samples(0, 200);
  b.series.push_back({x, samples});
  AppendResult r;
  ASSERT_TRUE(st_->Append("t", b, &r).ok());
  fs_->fail_sst = true;
  EXPECT_FALSE(static_cast<RocksStorage*>(st_.get())->Checkpoint().ok());
  fs_->fail_sst = false;
  st_.reset();  // no further checkpoint: as after a crash
  Open();       // the WAL replay re-admits x
  EXPECT_EQ(Count("t", "x"), 200u);
  ASSERT_TRUE(st_->Flush().ok());
  st_.reset();
  Open();  // x is not in the head now: found through the index family
  EXPECT_EQ(Count("t", "x"), 200u);
  // Its label-set hash is there too: appending to it again is no new series.
  ASSERT_TRUE(st_->Append("t", b, &r).ok());
  EXPECT_EQ(r.series_created, 0u);
}

// A checkpoint that fails (its WAL compaction cannot write a table file) is
// counted and retried within seconds, not at the next 10-minute round.
TEST_F(DurabilityTest, FailedCheckpointIsRetriedSoon) {
  StorageOptions o = Options();
  o.checkpoint_wal_bytes = 1 << 10;
  Open(o);
  fs_->fail_sst = true;
  std::vector<LabelView> x = {{"__name__", "x"}};
  std::vector<Sample> samples = Samples(0, 200);
  AppendBatch b;
  b.series.push_back({x, samples});
  AppendResult r;
  ASSERT_TRUE(st_->Append("t", b, &r).ok());  // over the threshold: a checkpoint starts
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (st_->Health().checkpoint_failures == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GE(st_->Health().checkpoint_failures, 1u);
  const uint64_t done_before = st_->Health().checkpoints;
  fs_->fail_sst = false;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while ((st_->Health().checkpoints == done_before || !st_->Health().writable) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GT(st_->Health().checkpoints, done_before) << "the failed checkpoint was not retried";
  EXPECT_TRUE(st_->Health().writable);
  EXPECT_EQ(Count("t", "x"), 200u);
  st_.reset();
  Open(o);
  EXPECT_EQ(Count("t", "x"), 200u);
}

}  // namespace
}  // namespace meridian
