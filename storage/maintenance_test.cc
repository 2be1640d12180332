// Maintenance and faults: retention that rewrites only what expired, corrupt
// chunks on disk (real byte flips in an SST data block), snapshots and the
// data dir's format marker.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/metadata.h"
#include "storage/chunk_codec.h"
#include "storage/coding.h"
#include "storage/format.h"
#include "storage/rocks_storage.h"
#include "storage/storage.h"
#include "storage/test_util.h"

namespace meridian {
namespace {

namespace fs = std::filesystem;
using storage_testing::Eq;
using storage_testing::M;
using storage_testing::Re;
using storage_testing::Result;
using storage_testing::TempDir;

constexpr int64_t kHour = 3'600'000;

class MaintenanceTest : public ::testing::Test {
 protected:
  StorageOptions Options() {
    StorageOptions o;
    o.dir = dir_.path() + "/data";
    o.sync_wal = false;
    o.now_ms = [this] { return now_ms_.load(); };
    o.allow_backfill = true;
    return o;
  }
  void Open(StorageOptions o) {
    st_.reset();
    auto s = Storage::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    st_ = std::move(*s);
  }
  RocksStorage* rocks() { return static_cast<RocksStorage*>(st_.get()); }

  void Append(std::string_view tenant, std::vector<LabelView> labels, std::vector<Sample> samples) {
    AppendBatch b;
    b.series.push_back({labels, samples});
    AppendResult r;
    absl::Status s = st_->Append(tenant, b, &r);
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_EQ(r.samples_appended, samples.size());
  }

  // Selects; warnings and status are returned through the pointers.
  std::vector<Result> Select(std::string_view tenant, std::vector<Matcher> ms, int64_t start,
                             int64_t end, std::vector<std::string>* warnings, absl::Status* status,
                             bool sorted = true) {
    auto q = st_->ForTenant(tenant)->NewQuerier(start, end);
    EXPECT_TRUE(q.ok());
    auto set = (*q)->Select(ms, {.start_ms = start, .end_ms = end, .sorted = sorted});
    EXPECT_TRUE(set.ok()) << set.status();
    std::vector<Result> out;
    while ((*set)->Next()) {
      Result r{(*set)->labels(), {}};
      EXPECT_TRUE((*set)->Samples(&r.samples).ok());
      out.push_back(std::move(r));
    }
    *status = (*set)->status();
    *warnings = (*set)->warnings();
    return out;
  }

  // The names of the live SST files (a rewrite gives new file numbers).
  std::set<std::string> SstFiles() {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(Options().dir)) {
      if (e.path().extension() == ".sst") out.insert(e.path().filename().string());
    }
    return out;
  }

  TempDir dir_;
  std::atomic<int64_t> now_ms_{0};
  std::unique_ptr<Storage> st_;
};

std::vector<Sample> Random(int64_t t0, int n, int64_t step, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(0, 1);
  std::vector<Sample> v;
  for (int i = 0; i < n; ++i) v.push_back({t0 + i * step, d(rng)});
  return v;
}

uint64_t MemtableBytes(const Storage& st, std::string_view family) {
  for (const ColumnFamilyStats& f : st.Stats().families) {
    if (f.name == family) return f.memtable_bytes;
  }
  ADD_FAILURE() << "no family " << family;
  return 0;
}

// Every sample of `want` is in `got`, in order, bit for bit, and nothing else.
void ExpectSamples(const std::vector<Sample>& got, const std::vector<Sample>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].t_ms, want[i].t_ms) << i;
    ASSERT_EQ(coding::DoubleBits(got[i].v), coding::DoubleBits(want[i].v)) << i;
  }
}

// A checkpoint persists what a series' open head chunk gained since the
// last one as a new piece, keyed by its first sample: nothing is written
// twice, so no old version waits in a table file for a compaction (the
// checkpoint used to rewrite the whole open chunk under one key, and a
// third of the chunk bytes were such old versions until ForceMerge).
TEST_F(MaintenanceTest, HeadChunkPiecesAreWrittenOnce) {
  Open(Options());
  std::vector<std::string> names;
  for (int i = 0; i < 200; ++i) names.push_back(std::to_string(i));
  for (int half = 0; half < 2; ++half) {
    for (int i = 0; i < 200; ++i) {
      Append("t", {{"__name__", "m"}, {"i", names[i]}},
             Random(half * 60 * 15'000, 60, 15'000, i * 2 + half));
    }
    ASSERT_TRUE(st_->Flush().ok());
  }
  // The live SST files of the current version (a listing of the directory
  // could see a compaction's inputs and its output both, or a file deleted
  // while it is read).
  auto sst_bytes = [&] {
    uint64_t b = 0;
    for (const ColumnFamilyStats& f : st_->Stats().families) b += f.sst_bytes;
    return b;
  };
  // Two pieces of 60 samples per series.
  {
    size_t keys = 0;
    std::unique_ptr<rocksdb::Iterator> it = rocks()->chunk_store().NewIterator();
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++keys;
    EXPECT_EQ(keys, 400u);
  }
  const uint64_t before = sst_bytes();
  ASSERT_TRUE(st_->ForceMerge().ok());
  const uint64_t after = sst_bytes();
  // A full compaction finds nothing to drop (it may recompress a little).
  EXPECT_GT(after, before * 9 / 10) << before << " -> " << after;
  for (int reopen = 0; reopen < 2; ++reopen) {
    if (reopen == 1) Open(Options());
    std::vector<std::string> warnings;
    absl::Status status;
    auto res = Select("t", {Eq("__name__", "m")}, 0, 100 * kHour, &warnings, &status);
    ASSERT_TRUE(status.ok());
    ASSERT_EQ(res.size(), 200u);
    for (const auto& r : res) {
      const int i = std::stoi(std::string(r.labels.Get("i")));
      std::vector<Sample> want = Random(0, 60, 15'000, i * 2);
      std::vector<Sample> second = Random(60 * 15'000, 60, 15'000, i * 2 + 1);
      want.insert(want.end(), second.begin(), second.end());
      ExpectSamples(r.samples, want);
    }
  }
}

// When the open head chunk is cut, the checkpoint after it merges the
// chunk's pieces on disk with its last piece into one chunk and deletes the
// other pieces (small pieces would cost their headers for good); an
// out-of-order chunk inside the chunk's span is merged too. Every sample
// reads back once, before and after a reopen.
TEST_F(MaintenanceTest, ACutHeadChunkIsMergedFromItsPieces) {
  now_ms_ = 100 * kHour;
  Open(Options());
  const std::vector<LabelView> labels = {{"__name__", "m"}};
  std::vector<Sample> want;
  auto append = [&](std::vector<Sample> v) {
    Append("t", labels, v);
    want.insert(want.end(), v.begin(), v.end());
  };
  append(Random(0, 100, 15'000, 1));
  ASSERT_TRUE(st_->Flush().ok());  // piece 1
  // Out of order, between the first samples: its own chunk, inside the
  // head chunk's span.
  append(Random(7'500, 10, 15'000, 2));
  append(Random(100 * 15'000, 100, 15'000, 3));
  ASSERT_TRUE(st_->Flush().ok());               // piece 2 and the out-of-order chunk
  append(Random(200 * 15'000, 45, 15'000, 4));  // the 41st cuts the chunk
  ASSERT_TRUE(st_->Flush().ok());
  std::sort(want.begin(), want.end(),
            [](const Sample& a, const Sample& b) { return a.t_ms < b.t_ms; });
  std::vector<std::pair<int64_t, uint32_t>> chunks;  // first sample, samples
  {
    std::unique_ptr<rocksdb::Iterator> it = rocks()->chunk_store().NewIterator();
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ChunkHeader h;
      ASSERT_TRUE(
          DecodeChunkHeader(std::string_view(it->value().data(), it->value().size()), &h).ok());
      chunks.push_back({h.min_t_ms, h.num_samples});
    }
  }
  // The merged chunk (240 head samples and the 10 out of order) and the new
  // head's piece (5).
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0], (std::pair<int64_t, uint32_t>{0, 250}));
  EXPECT_EQ(chunks[1], (std::pair<int64_t, uint32_t>{240 * 15'000, 5}));
  for (int reopen = 0; reopen < 2; ++reopen) {
    if (reopen == 1) Open(Options());
    std::vector<std::string> warnings;
    absl::Status status;
    auto res = Select("t", {Eq("__name__", "m")}, 0, 100 * kHour, &warnings, &status);
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_EQ(res.size(), 1u);
    ExpectSamples(res[0].samples, want);
  }
}

// A checkpoint writes its chunks into table files that it ingests, not
// through the chunks memtable: there they sat in memory beside the head
// they copy, the peak of the process on the reference workload.
TEST_F(MaintenanceTest, CheckpointChunksBypassTheMemtable) {
  now_ms_ = 100 * kHour;
  Open(Options());
  constexpr int kSeries = 2000;
  std::vector<std::string> names;
  for (int i = 0; i < kSeries; ++i) names.push_back(std::to_string(i));
  for (int i = 0; i < kSeries; ++i) {
    Append("t", {{"__name__", "m"}, {"i", names[i]}}, Random(0, 100, 15'000, i));
  }
  const uint64_t before = MemtableBytes(*st_, "chunks");
  ASSERT_TRUE(rocks()->Checkpoint().ok());
  // ~2000 chunks of 100 samples (~0.5 MB) were written; an empty memtable
  // holds a few KiB.
  EXPECT_LT(MemtableBytes(*st_, "chunks"), before + (64 << 10));
  // They are on disk: after a reopen (the WAL records are gone) every
  // sample is read back from them.
  Open(Options());
  std::vector<std::string> warnings;
  absl::Status status;
  auto res = Select("t", {Eq("__name__", "m")}, 0, 100 * kHour, &warnings, &status);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(res.size(), static_cast<size_t>(kSeries));
  for (const Result& r : res) {
    ExpectSamples(r.samples, Random(0, 100, 15'000, std::stoi(std::string(r.labels.Get("i")))));
  }
}

// A checkpoint's table file holds its keys in order: series of tenants whose
// ids interleave, and per series an out-of-order chunk that starts after the
// head chunk. An open head chunk persisted in three pieces by three
// checkpoints, with an out-of-order chunk among them, reads back as exactly
// its samples, before and after a reopen.
TEST_F(MaintenanceTest, CheckpointFilesHoldEveryTenantsChunksInKeyOrder) {
  now_ms_ = 100 * kHour;
  Open(Options());
  constexpr int kSeries = 300;
  std::vector<std::string> names;
  for (int i = 0; i < kSeries; ++i) names.push_back(std::to_string(i));
  auto tenant = [](int i) { return i % 2 == 0 ? "a" : "b"; };
  std::vector<std::vector<Sample>> want(kSeries);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < kSeries; ++i) {
      // Created one after the other: the two tenants' ids interleave.
      std::vector<Sample> in_order = Random(round * 40 * 15'000, 40, 15'000, i * 3 + round);
      Append(tenant(i), {{"__name__", "m"}, {"i", names[i]}}, in_order);
      want[i].insert(want[i].end(), in_order.begin(), in_order.end());
      if (round == 1) {
        // Between samples of the first round: out of order, a chunk whose
        // key sorts after the head chunk's.
        std::vector<Sample> late = Random(7'500, 20, 15'000, i * 3 + 100);
        Append(tenant(i), {{"__name__", "m"}, {"i", names[i]}}, late);
        want[i].insert(want[i].end(), late.begin(), late.end());
      }
    }
    ASSERT_TRUE(st_->Flush().ok()) << "round " << round;
  }
  for (auto& w : want) {
    std::sort(w.begin(), w.end(), [](const Sample& x, const Sample& y) { return x.t_ms < y.t_ms; });
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    if (reopen == 1) Open(Options());
    for (const char* t : {"a", "b"}) {
      std::vector<std::string> warnings;
      absl::Status status;
      auto res = Select(t, {Eq("__name__", "m")}, 0, 100 * kHour, &warnings, &status);
      ASSERT_TRUE(status.ok()) << status;
      ASSERT_EQ(res.size(), static_cast<size_t>(kSeries / 2)) << t;
      for (const Result& r : res) {
        const int i = std::stoi(std::string(r.labels.Get("i")));
        EXPECT_EQ(tenant(i), std::string_view(t));
        ExpectSamples(r.samples, want[i]);
      }
    }
  }
}

// With nothing expired, a retention pass must not rewrite a single file (it
// used to force a full compaction of the chunk and default families every
// minute); once data expires, it is deleted and its space freed.
TEST_F(MaintenanceTest, RetentionRewritesNothingUntilSomethingExpires) {
  StorageOptions o = Options();
  o.retention_ms = 24 * kHour;
  now_ms_ = 30 * kHour;
  Open(o);
  // 40 series, 20 h of 1-minute samples each: 8 h .. 28 h.
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back(std::to_string(i));
  for (int i = 0; i < 40; ++i) {
    Append("t", {{"__name__", "m"}, {"i", names[i]}}, Random(8 * kHour, 1200, 60'000, i));
  }
  ASSERT_TRUE(st_->Flush().ok());
  ASSERT_TRUE(rocks()->CompactAll().ok());
  const std::set<std::string> files = SstFiles();
  ASSERT_FALSE(files.empty());
  // The cut-off (6 h) is before every sample; passes minutes apart.
  for (int pass = 0; pass < 3; ++pass) {
    ASSERT_TRUE(st_->EnforceRetention().ok());
    EXPECT_EQ(SstFiles(), files) << "pass " << pass << " rewrote files";
    now_ms_ += 60'000;
  }
  // The SST files retention rewrites (disk_bytes also counts the blocks
  // RocksDB preallocates for its log, which retention does not touch).
  auto sst_bytes = [](const StorageStats& s) {
    uint64_t b = 0;
    for (const ColumnFamilyStats& f : s.families) b += f.sst_bytes;
    return b;
  };
  const uint64_t before = sst_bytes(st_->Stats());
  // Cut-off at 18 h: half of every series expired.
  now_ms_ = 42 * kHour;
  ASSERT_TRUE(st_->EnforceRetention().ok());
  std::vector<std::string> warnings;
  absl::Status status;
  auto res = Select("t", {Eq("__name__", "m")}, 0, 100 * kHour, &warnings, &status);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(res.size(), 40u);
  for (const Result& r : res) {
    ASSERT_FALSE(r.samples.empty());
    // At most one chunk (2 h) of samples older than the cut-off survives.
    EXPECT_GE(r.samples.front().t_ms, 16 * kHour) << r.labels.ToString();
    EXPECT_EQ(r.samples.back().t_ms, 8 * kHour + 1199 * 60'000);
  }
  EXPECT_NE(SstFiles(), files);
  EXPECT_LT(sst_bytes(st_->Stats()), before * 3 / 4) << before;
  // Once the expired ranges are compacted, the next pass within the same
  // step rewrites nothing again.
  const std::set<std::string> after = SstFiles();
  now_ms_ += 60'000;
  ASSERT_TRUE(st_->EnforceRetention().ok());
  EXPECT_EQ(SstFiles(), after);
}

// Flips bytes in the first data block of the SST file holding the chunks of
// series id `series_id` (the DB must be closed).
void CorruptFirstDataBlock(const std::string& dir, uint64_t series_id) {
  std::string path;
  {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{rocksdb::kDefaultColumnFamilyName, {}},
                                                        {"chunks", {}},
                                                        {"wal", {}},
                                                        {"downsampled", {}},
                                                        {"index", {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir, cfs, &handles, &db).ok());
    std::vector<rocksdb::LiveFileMetaData> files;
    db->GetLiveFilesMetaData(&files);
    for (const auto& f : files) {
      if (f.column_family_name != "chunks" || f.smallestkey.size() != 16) continue;
      if (coding::DecodeFixed64BE(f.smallestkey.data()) == series_id) path = f.db_path + f.name;
    }
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  ASSERT_FALSE(path.empty());
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  // A data block starts at offset 0; flip 16 bytes well inside it.
  char buf[16];
  ASSERT_EQ(::pread(fd, buf, sizeof(buf), 200), static_cast<ssize_t>(sizeof(buf)));
  for (char& c : buf) c = static_cast<char>(~c);
  ASSERT_EQ(::pwrite(fd, buf, sizeof(buf), 200), static_cast<ssize_t>(sizeof(buf)));
  ::close(fd);
}

// Real corruption (a checksum mismatch in one data block): reads of the
// damaged series are skipped with a warning and counted, everything else
// keeps working: other series, appends, retention, compactions.
TEST_F(MaintenanceTest, CorruptDataBlockStaysLocal) {
  StorageOptions o = Options();
  now_ms_ = 40 * kHour;
  Open(o);
  // Series 1 ("bad"): 40 h of random values at 15 s, far more than one
  // 32 KiB block; then 30 series of 10 h each, stored after it.
  Append("t", {{"__name__", "bad"}}, Random(0, 9600, 15'000, 1));
  std::vector<std::string> names;
  for (int i = 0; i < 30; ++i) names.push_back(std::to_string(i));
  for (int i = 0; i < 30; ++i) {
    Append("t", {{"__name__", "good"}, {"i", names[i]}}, Random(0, 2400, 15'000, 100 + i));
  }
  ASSERT_TRUE(st_->Flush().ok());
  ASSERT_TRUE(rocks()->CompactAll().ok());
  st_.reset();
  CorruptFirstDataBlock(o.dir, 1);
  Open(o);  // a fresh block cache: the read goes to the file

  std::vector<std::string> warnings;
  absl::Status status;
  for (bool sorted : {true, false}) {
    auto res =
        Select("t", {Re("__name__", "bad|good")}, 0, 100 * kHour, &warnings, &status, sorted);
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_EQ(res.size(), 30u);
    for (const Result& r : res) {
      EXPECT_EQ(r.labels.Get("__name__"), "good");
      EXPECT_EQ(r.samples.size(), 2400u);
    }
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0], "series bad{} skipped: its stored data is corrupt (partial result)");
    EXPECT_EQ(warnings[0].find('/'), std::string::npos);
  }
  EXPECT_GE(st_->Stats().corruptions, 2u);
  // Reading other series alone: no warning.
  Select("t", {Eq("i", "7")}, 0, 100 * kHour, &warnings, &status);
  EXPECT_TRUE(status.ok());
  EXPECT_TRUE(warnings.empty());

  // Retention with the cut-off inside the damaged block of "bad" (whose
  // chunks around the cut-off cannot be read): the other series' expired
  // data is still deleted, and the pass succeeds.
  StorageOptions r = o;
  r.retention_ms = 35 * kHour;  // cut-off 5 h at now = 40 h
  Open(r);
  const uint64_t corruptions_before = st_->Stats().corruptions;
  ASSERT_TRUE(st_->EnforceRetention().ok());
  EXPECT_GT(st_->Stats().corruptions, corruptions_before);
  auto res = Select("t", {Eq("__name__", "good")}, 0, 100 * kHour, &warnings, &status);
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(res.size(), 30u);
  for (const Result& x : res) EXPECT_GE(x.samples.front().t_ms, 3 * kHour);
  // The store still takes writes and persists them (a compaction that met
  // the corrupt block must not have made RocksDB read-only).
  Append("t", {{"__name__", "good"}, {"i", "new"}}, Random(40 * kHour, 10, 15'000, 7));
  ASSERT_TRUE(st_->Flush().ok());
  // A full compaction meets the damage and says so; RocksDB stays writable.
  EXPECT_EQ(rocks()->CompactAll().code(), absl::StatusCode::kDataLoss);
  Append("t", {{"__name__", "good"}, {"i", "new2"}}, Random(40 * kHour, 10, 15'000, 8));
  ASSERT_TRUE(st_->Flush().ok());
  Open(r);
  res = Select("t", {Re("i", "new.*")}, 0, 100 * kHour, &warnings, &status);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(res.size(), 2u);
}

// An out-of-order append whose duplicate check reads a corrupt chunk (a real
// checksum mismatch in the SST's first data block) is accepted: the damaged
// range is unreadable anyway, so its samples count as new. The encounter is
// counted once per series and append; the rest of the batch is stored; a
// retry finds the samples in memory (duplicates, no disk read). Before, the
// whole append failed (a 500 that Prometheus retries forever).
TEST_F(MaintenanceTest, OutOfOrderAppendIntoCorruptChunkIsAccepted) {
  StorageOptions o = Options();
  now_ms_ = 40 * kHour;
  Open(o);
  Append("t", {{"__name__", "bad"}}, Random(0, 9600, 15'000, 1));
  Append("t", {{"__name__", "good"}}, Random(0, 2400, 15'000, 2));
  ASSERT_TRUE(st_->Flush().ok());
  ASSERT_TRUE(rocks()->CompactAll().ok());
  st_.reset();
  CorruptFirstDataBlock(o.dir, 1);
  Open(o);  // a fresh block cache: the lookup goes to the file
  const uint64_t before = st_->Stats().corruptions;

  std::vector<Sample> into_damage = {
      {5 * 15'000 + 1, 0.5}, {6 * 15'000 + 1, 0.25}, {7 * 15'000 + 1, 2}};
  std::vector<LabelView> bad = {{"__name__", "bad"}}, good = {{"__name__", "good"}};
  std::vector<Sample> good_more = {{2400 * 15'000, 9}};
  AppendBatch b;
  b.series.push_back({bad, into_damage});
  b.series.push_back({good, good_more});
  AppendResult r;
  absl::Status s = st_->Append("t", b, &r);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(r.samples_appended, 4u);
  EXPECT_EQ(r.samples_rejected, 0u);
  EXPECT_EQ(st_->Stats().corruptions, before + 1) << "counted once for the series' run";

  // A retry: the samples are in memory now, so they are duplicates.
  AppendResult r2;
  s = st_->Append("t", b, &r2);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(r2.samples_appended, 0u);
  EXPECT_EQ(r2.samples_duplicate, 4u);

  // Reads: "good" has its new sample; "bad" is skipped with a warning where
  // the range touches the damage, and reads normally away from it.
  std::vector<std::string> warnings;
  absl::Status status;
  auto res = Select("t", {Re("__name__", "bad|good")}, 0, 100 * kHour, &warnings, &status);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].samples.size(), 2401u);
  EXPECT_EQ(warnings.size(), 1u);
  res = Select("t", {Eq("__name__", "bad")}, 30 * kHour, 100 * kHour, &warnings, &status);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(res.size(), 1u);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(res[0].samples.back().t_ms, 9599 * 15'000);
}

// WAL replay at open re-classifies each record's samples, reading the chunk
// for a timestamp inside the persisted range: a corrupt chunk there made
// open fail (the server refused to start). Now it counts the corruption and
// replays the sample as new (the WAL only holds samples that were accepted,
// so there is no other value to lose).
TEST_F(MaintenanceTest, WalReplayOverCorruptChunkOpens) {
  StorageOptions o = Options();
  now_ms_ = 40 * kHour;
  Open(o);
  Append("t", {{"__name__", "bad"}}, Random(0, 9600, 15'000, 1));
  Append("t", {{"__name__", "good"}}, Random(0, 2400, 15'000, 2));
  ASSERT_TRUE(st_->Flush().ok());
  ASSERT_TRUE(rocks()->CompactAll().ok());
  // Out of order into the persisted (still healthy) range: only in the WAL.
  Append("t", {{"__name__", "bad"}}, {{5 * 15'000 + 1, 0.5}});
  st_.reset();  // no checkpoint: the sample comes back by replay
  CorruptFirstDataBlock(o.dir, 1);
  {
    auto opened = Storage::Open(o);
    ASSERT_TRUE(opened.ok()) << "replay over a corrupt chunk must not refuse to open: "
                             << opened.status();
    st_ = std::move(*opened);
  }
  EXPECT_GE(st_->Stats().corruptions, 1u);
  std::vector<std::string> warnings;
  absl::Status status;
  auto res = Select("t", {Eq("__name__", "good")}, 0, 100 * kHour, &warnings, &status);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].samples.size(), 2400u);
  // The replayed sample is in memory: appending it again is a duplicate.
  AppendBatch b;
  std::vector<LabelView> bad = {{"__name__", "bad"}};
  std::vector<Sample> again = {{5 * 15'000 + 1, 0.5}};
  b.series.push_back({bad, again});
  AppendResult r;
  ASSERT_TRUE(st_->Append("t", b, &r).ok());
  EXPECT_EQ(r.samples_duplicate, 1u);
  // It is checkpointed like any other sample; the store stays usable.
  {
    absl::Status fs = st_->Flush();
    ASSERT_TRUE(fs.ok()) << fs;
  }
  Open(o);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

std::set<std::string> Listing(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

TEST_F(MaintenanceTest, NewDataDirRecordsItsFormat) {
  Open(Options());
  EXPECT_EQ(*ReadFormatVersion(Options().dir), kStorageFormatVersion);
  EXPECT_EQ(ReadFile(Options().dir + "/FORMAT").substr(0, 26), "meridian storage format 4\n");
}

// A dir of the layout before the marker existed (version 1, no FORMAT) is
// recognized by its column families, marked, and read as before.
TEST_F(MaintenanceTest, UnmarkedVersion1DataDirIsMarkedAndRead) {
  Open(Options());
  Append("t", {{"__name__", "m"}}, Random(0, 500, 15'000, 1));
  ASSERT_TRUE(st_->Flush().ok());
  Append("t", {{"__name__", "m"}}, Random(500 * 15'000, 10, 15'000, 2));  // WAL only
  st_.reset();
  {
    // Back to the version-1 families: without "downsampled" and "index".
    rocksdb::DBOptions o;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* n : {"default", "chunks", "wal", "downsampled", "index"})
      cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> hs;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, Options().dir, cfs, &hs, &db).ok());
    ASSERT_TRUE(db->DropColumnFamily(hs[3]).ok());
    ASSERT_TRUE(db->DropColumnFamily(hs[4]).ok());
    for (auto* h : hs) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  ASSERT_TRUE(fs::remove(Options().dir + "/FORMAT"));
  Open(Options());
  // Marked as version 1, then migrated to the current version by the open.
  EXPECT_EQ(*ReadFormatVersion(Options().dir), kStorageFormatVersion);
  std::vector<std::string> families;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), Options().dir, &families).ok());
  EXPECT_NE(std::find(families.begin(), families.end(), "downsampled"), families.end());
  EXPECT_NE(std::find(families.begin(), families.end(), "index"), families.end());
  std::vector<std::string> warnings;
  absl::Status status;
  auto res = Select("t", {Eq("__name__", "m")}, 0, 100 * kHour, &warnings, &status);
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].samples.size(), 510u);
}

// A dir written by a newer layout is refused with what to do, and left
// exactly as it was.
TEST_F(MaintenanceTest, NewerFormatIsRefusedUntouched) {
  Open(Options());
  Append("t", {{"__name__", "m"}}, Random(0, 100, 15'000, 1));
  st_.reset();
  WriteFile(Options().dir + "/FORMAT", "meridian storage format 5\n");
  const std::set<std::string> before = Listing(Options().dir);
  auto s = Storage::Open(Options());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(
      s.status().message().find("storage format version 5, newer than this meridian reads (4)"),
      std::string::npos)
      << s.status();
  EXPECT_NE(s.status().message().find("run the meridian release that wrote it"), std::string::npos);
  EXPECT_EQ(Listing(Options().dir), before);
  EXPECT_EQ(ReadFile(Options().dir + "/FORMAT"), "meridian storage format 5\n");
}

TEST_F(MaintenanceTest, UnreadableMarkerAndForeignDirsAreRefused) {
  Open(Options());
  st_.reset();
  WriteFile(Options().dir + "/FORMAT", "garbage\n");
  auto s = Storage::Open(Options());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("unreadable"), std::string::npos) << s.status();
  WriteFile(Options().dir + "/FORMAT", "meridian storage format 0\n");
  EXPECT_FALSE(Storage::Open(Options()).ok());

  // Some other RocksDB database, unmarked: not ours.
  const std::string other = dir_.path() + "/other";
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, other, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "k", "v").ok());
    delete db;
  }
  StorageOptions o = Options();
  o.dir = other;
  s = Storage::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("not meridian's layout"), std::string::npos) << s.status();
  EXPECT_FALSE(fs::exists(other + "/FORMAT"));

  // A non-empty directory without a database.
  const std::string stuff = dir_.path() + "/stuff";
  fs::create_directories(stuff);
  WriteFile(stuff + "/notes.txt", "hello");
  o.dir = stuff;
  s = Storage::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("is not empty and is not a meridian data dir"),
            std::string::npos)
      << s.status();
  EXPECT_EQ(Listing(stuff), std::set<std::string>{"notes.txt"});
}

// Snapshots taken while appends run hold every sample acknowledged before
// the snapshot started; a restored copy opens with all of them, with and
// without persisting the head first.
TEST_F(MaintenanceTest, SnapshotDuringIngestRestoresEveryAcknowledgedSample) {
  now_ms_ = 100 * kHour;
  Open(Options());
  constexpr int kSeries = 50;
  std::vector<std::string> names;
  for (int i = 0; i < kSeries; ++i) names.push_back(std::to_string(i));
  std::atomic<int> acked{0};  // rounds acknowledged
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int round = 0; !stop.load(); ++round) {
      std::vector<std::vector<LabelView>> labels(kSeries);
      std::vector<Sample> sample = {{round * 1000LL, static_cast<double>(round)}};
      AppendBatch b;
      for (int i = 0; i < kSeries; ++i) {
        labels[i] = {{"__name__", "c"}, {"i", names[i]}};
        b.series.push_back({labels[i], sample});
      }
      AppendResult r;
      ASSERT_TRUE(st_->Append("t", b, &r).ok());
      ASSERT_EQ(r.samples_appended, static_cast<uint64_t>(kSeries));
      acked.store(round + 1);
    }
  });
  struct Taken {
    std::string name;
    int acked_before;
  };
  std::vector<Taken> taken;
  for (bool persist_head : {true, false, true}) {
    while (acked.load() < 200 * static_cast<int>(taken.size() + 1)) std::this_thread::yield();
    const int before = acked.load();
    auto name = st_->Snapshot(persist_head);
    ASSERT_TRUE(name.ok()) << name.status();
    // Prometheus's form: 20171210T211224Z-2be650b6d019eb54
    ASSERT_EQ(name->size(), 33u) << *name;
    EXPECT_EQ((*name)[8], 'T');
    EXPECT_EQ((*name)[15], 'Z');
    EXPECT_EQ((*name)[16], '-');
    taken.push_back({*name, before});
  }
  stop = true;
  writer.join();
  st_.reset();
  for (size_t k = 0; k < taken.size(); ++k) {
    const std::string snap = Options().dir + "/snapshots/" + taken[k].name;
    ASSERT_TRUE(fs::exists(snap + "/FORMAT"));
    const std::string restored = dir_.path() + "/restored" + std::to_string(k);
    std::string summary;
    absl::Status rs = RestoreSnapshot(snap, restored, &summary);
    ASSERT_TRUE(rs.ok()) << rs;
    EXPECT_NE(summary.find("50 series"), std::string::npos) << summary;
    StorageOptions o = Options();
    o.dir = restored;
    Open(o);
    std::vector<std::string> warnings;
    absl::Status status;
    auto res = Select("t", {Eq("__name__", "c")}, 0, 100 * kHour, &warnings, &status);
    ASSERT_TRUE(status.ok());
    ASSERT_EQ(res.size(), static_cast<size_t>(kSeries));
    for (const Result& r : res) {
      ASSERT_GE(static_cast<int>(r.samples.size()), taken[k].acked_before) << "snapshot " << k;
      for (size_t j = 0; j < r.samples.size(); ++j) {
        ASSERT_EQ(r.samples[j].t_ms, static_cast<int64_t>(j) * 1000);
      }
    }
    // Restoring over a non-empty dir is refused.
    st_.reset();
    rs = RestoreSnapshot(snap, restored, &summary);
    EXPECT_EQ(rs.code(), absl::StatusCode::kFailedPrecondition) << rs;
  }
  // The data dir with its snapshots/ opens as before.
  Open(Options());
  EXPECT_EQ(st_->Stats().series, static_cast<uint64_t>(kSeries));
  std::string summary;
  EXPECT_EQ(RestoreSnapshot(dir_.path() + "/nope", dir_.path() + "/x", &summary).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_.path() + "/x"));
}

}  // namespace
}  // namespace meridian
