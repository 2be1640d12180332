#include "storage/storage.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>
#include <thread>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "storage/chunk_codec.h"
#include "storage/coding.h"
#include "storage/mem_series.h"
#include "storage/test_util.h"

namespace meridian {
namespace {

using storage_testing::Eq;
using storage_testing::M;
using storage_testing::Re;
using storage_testing::Result;
using storage_testing::TempDir;

class StorageTest : public ::testing::Test {
 protected:
  // `read_ahead` false: no read-ahead pool, so that a test can fork() while
  // this process has no other thread (SurvivesSigkill).
  StorageOptions Options(bool read_ahead = true) {
    if (read_ahead && read_ahead_ == nullptr) {
      read_ahead_ = std::make_shared<ThreadPool>(2, "read-ahead");
    }
    StorageOptions o;
    o.dir = dir_.path() + "/data";
    o.sync_wal = false;
    o.now_ms = [this] { return now_ms_.load(); };
    o.out_of_order_window_ms = 60'000;
    o.allow_backfill = false;
    if (read_ahead) o.read_ahead_executor = read_ahead_;
    return o;
  }
  void Open(StorageOptions o) {
    st_.reset();
    auto s = Storage::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    st_ = std::move(*s);
  }
  void Open() { Open(Options()); }

  AppendResult Append(std::string_view tenant, std::vector<LabelView> labels,
                      std::vector<Sample> samples) {
    AppendBatch b;
    b.series.push_back({labels, samples});
    AppendResult r;
    absl::Status s = st_->Append(tenant, b, &r);
    EXPECT_TRUE(s.ok()) << s;
    return r;
  }

  std::vector<Result> Select(std::string_view tenant, std::vector<Matcher> ms, int64_t start,
                             int64_t end, bool sorted = true) {
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
    EXPECT_TRUE((*set)->status().ok()) << (*set)->status();
    return out;
  }

  TempDir dir_;
  std::atomic<int64_t> now_ms_{10'000'000};
  // Large Selects read ahead here, as in the server. Made by the first
  // Options() that asks for it.
  std::shared_ptr<ThreadPool> read_ahead_;
  std::unique_ptr<Storage> st_;
};

std::vector<Sample> Samples(int64_t t0, int n, int64_t step = 15'000) {
  std::vector<Sample> v;
  for (int i = 0; i < n; ++i) v.push_back({t0 + i * step, static_cast<double>(i)});
  return v;
}

// The open head chunk keeps only kHeadRawSamples raw samples; older ones are
// encoded blocks that every read, duplicate check, persist and trim sees.
TEST(MemSeriesTest, EncodedHeadBlocks) {
  MemSeries s(1, Labels::FromSorted({{"__name__", "x"}}));
  MutexLock l(&s.mu);
  AppendLimits limits;
  limits.out_of_order_window_ms = 3'600'000;
  std::vector<Sample> want;
  for (int i = 0; i < 100; ++i) {
    Sample x{1000 + i * 15'000 + (i % 3), i == 7 ? std::nan("") : i * 0.25};
    want.push_back(x);
    ASSERT_EQ(*s.Append(x, limits, nullptr), AppendOutcome::kAppended);
  }
  auto bits = [](const std::vector<Sample>& v) {
    std::vector<std::pair<int64_t, uint64_t>> out;
    for (const Sample& x : v) out.push_back({x.t_ms, coding::DoubleBits(x.v)});
    std::sort(out.begin(), out.end());
    return out;
  };
  std::vector<Sample> got;
  ASSERT_TRUE(
      s.ReadMemory(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), &got)
          .ok());
  EXPECT_EQ(bits(got), bits(want));
  got.clear();
  ASSERT_TRUE(s.ReadMemory(want[10].t_ms, want[50].t_ms, &got).ok());
  EXPECT_EQ(bits(got), bits(std::vector<Sample>(want.begin() + 10, want.begin() + 51)));
  // Samples in the encoded blocks: duplicates, conflicts, out-of-order.
  EXPECT_EQ(*s.Append(want[5], limits, nullptr), AppendOutcome::kDuplicate);
  EXPECT_EQ(*s.Append(want[7], limits, nullptr), AppendOutcome::kDuplicate);
  EXPECT_EQ(*s.Append({want[5].t_ms, 99.0}, limits, nullptr), AppendOutcome::kConflict);
  EXPECT_EQ(*s.Append(want[99], limits, nullptr), AppendOutcome::kDuplicate);
  // Far fewer than 16 bytes per head sample.
  EXPECT_LT(s.MemoryBytes(), 100 * sizeof(Sample));
  // Retention inside the encoded part keeps the rest, in blocks again.
  EXPECT_FALSE(s.TrimBefore(want[40].t_ms));
  want.erase(want.begin(), want.begin() + 40);
  got.clear();
  ASSERT_TRUE(
      s.ReadMemory(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), &got)
          .ok());
  EXPECT_EQ(bits(got), bits(want));
  // A persist writes the samples in memory as one piece of the open chunk,
  // which then leaves memory.
  MemSeries::PersistSnapshot snap = s.SnapshotForPersist();
  ASSERT_EQ(snap.chunks.size(), 1u);
  EXPECT_EQ(snap.head_samples, 60u);
  got.clear();
  ASSERT_TRUE(DecodeChunk(snap.chunks[0].data, &got).ok());
  EXPECT_EQ(bits(got), bits(want));
  EXPECT_EQ(snap.chunks[0].min_t_ms, want.front().t_ms);
  EXPECT_EQ(snap.chunks[0].max_t_ms, want.back().t_ms);
  s.MarkPersisted(snap);
  EXPECT_TRUE(s.FullyPersisted());
  EXPECT_TRUE(s.DiskOnlyOverlaps(want.back().t_ms, want.back().t_ms));
  got.clear();
  ASSERT_TRUE(
      s.ReadMemory(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), &got)
          .ok());
  EXPECT_TRUE(got.empty());
  // The chunk is cut at kChunkSamples samples in all (its persisted pieces
  // count): its last piece becomes one closed chunk of what came since.
  std::vector<Sample> more;
  for (int i = 100; i < static_cast<int>(kChunkSamples) + 5; ++i) {
    Sample x{1000 + i * 15'000, i * 0.25};
    more.push_back(x);
    ASSERT_EQ(*s.Append(x, limits, nullptr), AppendOutcome::kAppended);
  }
  snap = s.SnapshotForPersist();
  ASSERT_EQ(snap.chunks.size(), 2u);
  EXPECT_EQ(snap.num_closed, 1u);
  EXPECT_EQ(snap.head_samples, 5u);
  ChunkHeader h;
  ASSERT_TRUE(DecodeChunkHeader(snap.chunks[0].data, &h).ok());
  EXPECT_EQ(h.num_samples, kChunkSamples - 100);
  EXPECT_EQ(snap.chunks[0].min_t_ms, more.front().t_ms);
  got.clear();
  ASSERT_TRUE(
      s.ReadMemory(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), &got)
          .ok());
  EXPECT_EQ(bits(got), bits(more));
}

// Samples appended while a checkpoint writes a piece stay in memory; a head
// cut in between keeps everything (its closed chunk has the piece's key and
// all its samples, and overwrites it).
TEST(MemSeriesTest, PersistedPiecesLeaveMemoryAndLaterSamplesStay) {
  MemSeries s(1, Labels::FromSorted({{"__name__", "x"}}));
  MutexLock l(&s.mu);
  AppendLimits limits;
  std::vector<Sample> all;
  // The lambdas run under `l` (the analysis does not see into them).
  auto append = [&](int n) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (int k = 0; k < n; ++k) {
      const int i = static_cast<int>(all.size());
      Sample x{i * 15'000LL, i * 1.5};
      all.push_back(x);
      ASSERT_EQ(*s.Append(x, limits, nullptr), AppendOutcome::kAppended);
    }
  };
  auto memory = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    std::vector<Sample> got;
    EXPECT_TRUE(
        s.ReadMemory(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), &got)
            .ok());
    std::sort(got.begin(), got.end(),
              [](const Sample& a, const Sample& b) { return a.t_ms < b.t_ms; });
    std::vector<int64_t> out;
    for (const Sample& x : got) out.push_back(x.t_ms);
    return out;
  };
  auto times = [&](size_t from, size_t to) {
    std::vector<int64_t> out;
    for (size_t i = from; i < to; ++i) out.push_back(all[i].t_ms);
    return out;
  };
  append(30);  // one block of 16 and 14 raw
  MemSeries::PersistSnapshot snap = s.SnapshotForPersist();
  EXPECT_EQ(snap.head_samples, 30u);
  append(20);  // the raw tail becomes a block holding samples of both sides
  s.MarkPersisted(snap);
  EXPECT_EQ(memory(), times(30, 50));
  snap = s.SnapshotForPersist();
  ASSERT_EQ(snap.chunks.size(), 1u);
  EXPECT_EQ(snap.chunks[0].min_t_ms, all[30].t_ms);
  EXPECT_EQ(snap.chunks[0].max_t_ms, all[49].t_ms);
  s.MarkPersisted(snap);
  EXPECT_TRUE(memory().empty());
  // A cut between a snapshot and its mark.
  append(static_cast<int>(kChunkSamples) - 50);  // the open chunk is full
  snap = s.SnapshotForPersist();
  append(3);  // the first one cuts the chunk
  s.MarkPersisted(snap);
  EXPECT_EQ(memory(), times(50, all.size()));
  MemSeries::PersistSnapshot next = s.SnapshotForPersist();
  ASSERT_EQ(next.num_closed, 1u);
  EXPECT_EQ(next.chunks[0].min_t_ms, snap.chunks[0].min_t_ms);
  EXPECT_EQ(next.chunks[0].max_t_ms, all[kChunkSamples - 1].t_ms);
  EXPECT_EQ(next.head_samples, 3u);
}

TEST_F(StorageTest, AppendAndSelect) {
  Open();
  AppendResult r = Append("t", {{"__name__", "up"}, {"job", "a"}}, Samples(1000, 300));
  EXPECT_EQ(r.samples_appended, 300u);
  EXPECT_EQ(r.series_created, 1u);
  Append("t", {{"__name__", "up"}, {"job", "b"}}, Samples(1000, 10));
  auto res = Select("t", {Eq("__name__", "up")}, 0, 1'000'000'000);
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[0].labels.Get("job"), "a");
  EXPECT_EQ(res[0].samples.size(), 300u);
  EXPECT_EQ(res[1].samples.size(), 10u);
  // Range restriction, inclusive ends.
  res = Select("t", {Eq("job", "a")}, 1000 + 15'000, 1000 + 3 * 15'000);
  ASSERT_EQ(res.size(), 1u);
  ASSERT_EQ(res[0].samples.size(), 3u);
  EXPECT_EQ(res[0].samples[0].v, 1.0);
  // Series without samples in range are not returned.
  EXPECT_TRUE(Select("t", {Eq("job", "b")}, 1000 + 11 * 15'000, 1'000'000'000).empty());
  StorageStats stats = st_->Stats();
  EXPECT_EQ(stats.series, 2u);
  EXPECT_EQ(stats.samples_appended, 310u);
  EXPECT_EQ(stats.min_time_ms, 1000);
  EXPECT_EQ(stats.cached_series, 2u);
  EXPECT_GT(stats.cache_bytes, 0u);
}

TEST_F(StorageTest, MatchersIncludingEmpty) {
  Open();
  Append("t", {{"__name__", "up"}, {"env", "prod"}, {"job", "api"}}, {{1, 1}});
  Append("t", {{"__name__", "up"}, {"job", "web"}}, {{1, 2}});
  Append("t", {{"__name__", "up"}, {"env", "dev"}, {"job", "db"}}, {{1, 3}});
  auto jobs = [&](std::vector<Matcher> ms) {
    std::vector<std::string> out;
    for (auto& r : Select("t", ms, 0, 10)) out.emplace_back(r.labels.Get("job"));
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(jobs({Eq("__name__", "up"), M(MatchType::kNotEqual, "job", "api")}), (V{"db", "web"}));
  EXPECT_EQ(jobs({M(MatchType::kRegexMatch, "job", "a.*|d.*")}),
            (V{"db", "api"}));  // env=dev first
  EXPECT_EQ(jobs({Eq("__name__", "up"), M(MatchType::kRegexNoMatch, "job", "a.*")}),
            (V{"db", "web"}));
  EXPECT_EQ(jobs({Eq("__name__", "up"), Eq("env", "")}), (V{"web"}));
  EXPECT_EQ(jobs({Eq("__name__", "up"), M(MatchType::kRegexNoMatch, "env", ".+")}), (V{"web"}));
  EXPECT_EQ(jobs({Eq("__name__", "up"), M(MatchType::kRegexMatch, "env", "prod|")}),
            (V{"api", "web"}));
  // Sorted by labels: env=dev < env=prod < no env? Labels compare name by name.
  auto all = Select("t", {Eq("__name__", "up")}, 0, 10);
  ASSERT_EQ(all.size(), 3u);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_TRUE(all[i - 1].labels < all[i].labels);
}

TEST_F(StorageTest, TenantIsolation) {
  Open();
  Append("a", {{"__name__", "x"}}, {{1, 1}});
  Append("b", {{"__name__", "x"}}, {{1, 2}});
  Append("b", {{"__name__", "y"}}, {{1, 3}});
  auto a = Select("a", {M(MatchType::kRegexMatch, "__name__", ".+")}, 0, 10);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].samples[0].v, 1);
  EXPECT_EQ(Select("b", {M(MatchType::kRegexMatch, "__name__", ".+")}, 0, 10).size(), 2u);
  EXPECT_TRUE(Select("c", {Eq("__name__", "x")}, 0, 10).empty());
  auto q = st_->ForTenant("a")->NewQuerier(0, 10);
  EXPECT_EQ(*(*q)->LabelValues("__name__", {}), (std::vector<std::string>{"x"}));
}

TEST_F(StorageTest, OutOfOrderDuplicatesAndConflicts) {
  Open();
  std::vector<LabelView> ls = {{"__name__", "m"}};
  Append("t", ls, {{100'000, 1}, {200'000, 2}});
  // Within the 60 s window: merged in order.
  AppendResult r = Append("t", ls, {{150'000, 1.5}, {199'999, 1.9}});
  EXPECT_EQ(r.samples_appended, 2u);
  // Too old (window), then a good one in the same request is unaffected.
  r = Append("t", ls, {{139'999, 9}, {210'000, 3}});
  EXPECT_EQ(r.samples_appended, 1u);
  EXPECT_EQ(r.samples_rejected, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, AppendErrorKind::kTooOld);
  EXPECT_EQ(r.errors[0].t_ms, 139'999);
  // Duplicates (newest, in-order and out-of-order) are accepted silently.
  r = Append("t", ls, {{210'000, 3}, {150'000, 1.5}, {100'000, 1}});
  EXPECT_EQ(r.samples_duplicate, 3u);
  EXPECT_EQ(r.samples_rejected, 0u);
  // Conflicts are rejected and the stored value stays.
  r = Append("t", ls, {{210'000, 4}, {150'000, 7}, {220'000, 5}});
  EXPECT_EQ(r.samples_rejected, 2u);
  EXPECT_EQ(r.samples_appended, 1u);
  ASSERT_EQ(r.errors.size(), 1u);  // at most one per series
  EXPECT_EQ(r.errors[0].kind, AppendErrorKind::kDuplicateConflict);
  auto check = [&] {
    auto res = Select("t", {Eq("__name__", "m")}, 0, 1'000'000);
    ASSERT_EQ(res.size(), 1u);
    std::vector<Sample> want = {{100'000, 1}, {150'000, 1.5}, {199'999, 1.9},
                                {200'000, 2}, {210'000, 3},   {220'000, 5}};
    ASSERT_EQ(res[0].samples.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(res[0].samples[i].t_ms, want[i].t_ms);
      EXPECT_EQ(res[0].samples[i].v, want[i].v);
    }
  };
  check();
  // After persisting, duplicate and conflict detection still works.
  ASSERT_TRUE(st_->Flush().ok());
  check();
  r = Append("t", ls, {{150'000, 7}, {199'999, 1.9}});
  EXPECT_EQ(r.samples_rejected, 1u);
  EXPECT_EQ(r.samples_duplicate, 1u);
  Open();
  check();
  r = Append("t", ls, {{150'000, 7}, {220'000, 5}, {215'000, 4.5}});
  EXPECT_EQ(r.samples_rejected, 1u);
  EXPECT_EQ(r.samples_duplicate, 1u);
  EXPECT_EQ(r.samples_appended, 1u);
}

TEST_F(StorageTest, BackfillAcceptsOldSamples) {
  StorageOptions o = Options();
  o.allow_backfill = true;
  o.retention_ms = 5'000'000;
  Open(o);
  std::vector<LabelView> ls = {{"__name__", "m"}};
  Append("t", ls, {{9'000'000, 1}});
  AppendResult r = Append("t", ls, {{6'000'000, 2}, {4'000'000, 3}});
  EXPECT_EQ(r.samples_appended, 1u);  // 4'000'000 is before now - retention
  EXPECT_EQ(r.errors.at(0).kind, AppendErrorKind::kTooOld);
  EXPECT_EQ(Select("t", {Eq("__name__", "m")}, 0, 10'000'000).at(0).samples.size(), 2u);
}

// A tenant at its series limit keeps appending to its existing series; new
// series are rejected per series (kSeriesLimit), other tenants are unaffected,
// and the count holds after a restart (series loaded from disk count too).
TEST_F(StorageTest, SeriesLimitPerTenant) {
  Open();
  std::vector<LabelView> a = {{"__name__", "a"}}, b = {{"__name__", "b"}}, c = {{"__name__", "c"}};
  std::vector<Sample> s1 = {{1000, 1}}, s2 = {{2000, 2}};
  auto append = [&](std::string_view tenant, std::vector<std::vector<LabelView>*> series,
                    const std::vector<Sample>& samples) {
    AppendBatch batch;
    batch.max_series_per_tenant = 2;
    for (auto* ls : series) batch.series.push_back({*ls, samples});
    AppendResult r;
    EXPECT_TRUE(st_->Append(tenant, batch, &r).ok());
    return r;
  };
  AppendResult r = append("t", {&a, &b, &c}, s1);
  EXPECT_EQ(r.samples_appended, 2u);
  EXPECT_EQ(r.series_created, 2u);
  EXPECT_EQ(r.samples_rejected, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, AppendErrorKind::kSeriesLimit);
  EXPECT_EQ(r.errors[0].series_index, 2u);
  r = append("t", {&c, &a}, s2);  // existing series still take samples
  EXPECT_EQ(r.samples_appended, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].series_index, 0u);
  EXPECT_EQ(append("u", {&c}, s1).samples_appended, 1u);  // per tenant
  EXPECT_TRUE(Select("t", {Eq("__name__", "c")}, 0, 10'000).empty());
  ASSERT_TRUE(st_->Flush().ok());
  Open();
  r = append("t", {&c}, s2);
  EXPECT_EQ(r.samples_appended, 0u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, AppendErrorKind::kSeriesLimit);
  EXPECT_EQ(Select("t", {Eq("__name__", "a")}, 0, 10'000).at(0).samples.size(), 2u);
}

TEST_F(StorageTest, TenantLimit) {
  StorageOptions o = Options();
  o.max_tenants = 2;
  Open(o);
  std::vector<LabelView> ls = {{"__name__", "m"}};
  std::vector<Sample> samples = {{1000, 1}};
  AppendBatch batch;
  batch.series.push_back({ls, samples});
  AppendResult r;
  ASSERT_TRUE(st_->Append("a", batch, &r).ok());
  ASSERT_TRUE(st_->Append("b", batch, &r).ok());
  absl::Status s = st_->Append("c", batch, &r);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(st_->PutMetadata("c", {}).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(st_->Append("a", batch, &r).ok());  // existing tenants keep working
  Open(o);                                        // tenants loaded from disk count
  EXPECT_EQ(st_->Append("c", batch, &r).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(Select("c", {Eq("__name__", "m")}, 0, 10'000).empty());
}

TEST_F(StorageTest, SpecialValuesSurvivePersistence) {
  Open();
  double payload = coding::BitsDouble(0x7ff8000000000abcULL);
  std::vector<Sample> in = {{1, StaleNaN()}, {2, payload}, {3, INFINITY},
                            {4, -INFINITY},  {5, -0.0},    {6, 0.1}};
  Append("t", {{"__name__", "m"}}, in);
  ASSERT_TRUE(st_->Flush().ok());
  Open();
  auto res = Select("t", {Eq("__name__", "m")}, 0, 10);
  ASSERT_EQ(res.size(), 1u);
  ASSERT_EQ(res[0].samples.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(coding::DoubleBits(res[0].samples[i].v), coding::DoubleBits(in[i].v)) << i;
  }
  EXPECT_TRUE(IsStaleNaN(res[0].samples[0].v));
}

TEST_F(StorageTest, DurableWithoutFlush) {
  Open();
  Append("t", {{"__name__", "m"}, {"i", "1"}}, Samples(0, 500));
  Append("u", {{"__name__", "m"}, {"i", "2"}}, Samples(0, 5));
  st_.reset();  // no Flush
  Open();
  EXPECT_EQ(Select("t", {Eq("__name__", "m")}, 0, 1'000'000'000).at(0).samples.size(), 500u);
  EXPECT_EQ(Select("u", {Eq("__name__", "m")}, 0, 1'000'000'000).at(0).samples.size(), 5u);
  // Appends continue after reopen, and a second reopen replays them.
  AppendResult r = Append("t", {{"__name__", "m"}, {"i", "1"}}, Samples(500 * 15'000, 10));
  EXPECT_EQ(r.samples_appended, 10u);
  EXPECT_EQ(r.series_created, 0u);
  ASSERT_TRUE(st_->Flush().ok());
  Append("t", {{"__name__", "m"}, {"i", "1"}}, Samples(510 * 15'000, 10));
  Open();
  auto res = Select("t", {Eq("__name__", "m")}, 0, 1'000'000'000);
  ASSERT_EQ(res.at(0).samples.size(), 520u);
  for (size_t i = 1; i < 520; ++i) EXPECT_LT(res[0].samples[i - 1].t_ms, res[0].samples[i].t_ms);
  EXPECT_EQ(Select("u", {Eq("__name__", "m")}, 0, 1'000'000'000).at(0).samples.size(), 5u);
  // In the head: the WAL's series (the open loads none; "u" is on disk).
  EXPECT_EQ(st_->Stats().series, 1u);
}

TEST_F(StorageTest, WalBeyondTheMemtableReplaysFromSstFiles) {
  StorageOptions o = Options();
  o.wal_memtable_bytes = 1;                    // raised to the 1 MiB minimum
  o.checkpoint_wal_bytes = uint64_t{1} << 40;  // no checkpoint by size
  Open(o);
  constexpr int kSeries = 200, kSamples = 1000;  // a few MiB of WAL records
  for (int round = 0; round < kSamples; round += 100) {
    for (int i = 0; i < kSeries; ++i) {
      std::string v = std::to_string(i);
      std::vector<Sample> samples = Samples(int64_t{round} * 15'000, 100);
      for (Sample& x : samples) x.v = x.v * 1.37 + i;
      Append("t", {{"__name__", "w"}, {"i", v}}, samples);
    }
  }
  st_.reset();  // no Flush: everything comes back from the wal family
  Open(o);
  auto res = Select("t", {Eq("__name__", "w")}, 0, 1'000'000'000);
  ASSERT_EQ(res.size(), static_cast<size_t>(kSeries));
  for (const Result& r : res) EXPECT_EQ(r.samples.size(), static_cast<size_t>(kSamples));
  ASSERT_TRUE(st_->Flush().ok());
  Open(o);
  res = Select("t", {Eq("__name__", "w")}, 0, 1'000'000'000);
  ASSERT_EQ(res.size(), static_cast<size_t>(kSeries));
  for (const Result& r : res) EXPECT_EQ(r.samples.size(), static_cast<size_t>(kSamples));
}

TEST_F(StorageTest, SurvivesSigkill) {
  // The child is forked while this process has a single thread: a thread that
  // is starting (the read-ahead pool's) can hold ASan's allocator lock, and a
  // child forked at that moment deadlocks on its first allocation (seen in CI).
  StorageOptions o = Options(/*read_ahead=*/false);
  o.sync_wal = true;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = Storage::Open(o);
    if (!s.ok()) _exit(2);
    std::vector<LabelView> ls = {{"__name__", "k"}};
    std::vector<Sample> samples = Samples(0, 1000);
    AppendBatch b;
    b.series.push_back({ls, samples});
    AppendResult r;
    if (!(*s)->Append("t", b, &r).ok()) _exit(3);
    raise(SIGKILL);
    _exit(4);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  o = Options();
  o.sync_wal = true;
  Open(o);
  EXPECT_EQ(Select("t", {Eq("__name__", "k")}, 0, 1'000'000'000).at(0).samples.size(), 1000u);
}

TEST_F(StorageTest, RetentionFreesSpaceAndDropsSeries) {
  StorageOptions o = Options();
  o.retention_ms = 3'600'000;
  o.allow_backfill = true;
  now_ms_ = 0;
  Open(o);
  // 200 old series with many samples each, then one recent series.
  std::vector<std::string> names;
  for (int i = 0; i < 200; ++i) names.push_back(std::to_string(i));
  for (int i = 0; i < 200; ++i) {
    std::vector<Sample> v;
    for (int j = 0; j < 2000; ++j) v.push_back({j * 1000, std::sin(i * 1000.0 + j)});
    Append("t", {{"__name__", "old"}, {"i", names[i]}}, v);
  }
  ASSERT_TRUE(st_->Flush().ok());
  now_ms_ = 10'000'000;
  Append("t", {{"__name__", "new"}}, Samples(9'000'000, 100, 1000));
  ASSERT_TRUE(st_->Flush().ok());
  // The SST files retention rewrites (disk_bytes also counts the blocks
  // RocksDB preallocates for its log, which retention does not touch).
  auto sst_bytes = [](const StorageStats& s) {
    uint64_t b = 0;
    for (const ColumnFamilyStats& f : s.families) b += f.sst_bytes;
    return b;
  };
  uint64_t before = sst_bytes(st_->Stats());
  EXPECT_EQ(st_->Stats().series, 201u);
  ASSERT_TRUE(st_->EnforceRetention().ok());
  StorageStats after = st_->Stats();
  EXPECT_EQ(after.series, 1u);
  EXPECT_LT(sst_bytes(after), before / 2) << before;
  EXPECT_TRUE(Select("t", {Eq("__name__", "old")}, 0, 100'000'000).empty());
  EXPECT_EQ(Select("t", {Eq("__name__", "new")}, 0, 100'000'000).at(0).samples.size(), 100u);
  auto q = st_->ForTenant("t")->NewQuerier(0, 100'000'000);
  EXPECT_EQ(*(*q)->LabelValues("__name__", {}), (std::vector<std::string>{"new"}));
  // Too old for retention now.
  AppendResult r = Append("t", {{"__name__", "old"}, {"i", "1"}}, {{5000, 1}});
  EXPECT_EQ(r.samples_rejected, 1u);
  Open(o);
  EXPECT_EQ(st_->Stats().series, 0u);  // the open loads none
  EXPECT_TRUE(Select("t", {Eq("__name__", "old")}, 0, 100'000'000).empty());
  EXPECT_EQ(Select("t", {Eq("__name__", "new")}, 0, 100'000'000).at(0).samples.size(), 100u);
}

TEST_F(StorageTest, Metadata) {
  Open();
  std::vector<MetricMetadata> md = {{"http_requests_total", MetricType::kCounter, "Requests.", ""},
                                    {"temp", MetricType::kGauge, "Temperature.", "celsius"}};
  ASSERT_TRUE(st_->PutMetadata("t", md).ok());
  md[0].help = "Requests served.";
  ASSERT_TRUE(st_->PutMetadata("t", std::span(md).first(1)).ok());
  Open();
  auto all = st_->Metadata("t", "", 0);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].help, "Requests served.");
  EXPECT_EQ((*all)[1].unit, "celsius");
  EXPECT_EQ((*all)[1].type, MetricType::kGauge);
  EXPECT_EQ(st_->Metadata("t", "temp", 0)->size(), 1u);
  EXPECT_EQ(st_->Metadata("t", "tem", 0)->size(), 0u);
  EXPECT_EQ(st_->Metadata("t", "", 1)->size(), 1u);
  EXPECT_TRUE(st_->Metadata("other", "", 0)->empty());
  EXPECT_EQ(MetricTypeString(MetricType::kCounter), "counter");
  EXPECT_EQ(MetricTypeString(MetricType::kGaugeHistogram), "gaugehistogram");
}

TEST_F(StorageTest, LabelNamesAndValuesWithTimeRange) {
  Open();
  Append("t", {{"__name__", "a"}, {"x", "1"}}, {{1000, 1}});
  Append("t", {{"__name__", "b"}, {"y", "2"}}, {{5000, 1}});
  auto q = *st_->ForTenant("t")->NewQuerier(0, 2000);
  using V = std::vector<std::string>;
  EXPECT_EQ(*q->LabelNames({}), (V{"__name__", "x"}));
  EXPECT_EQ(*q->LabelValues("__name__", {}), (V{"a"}));
  q = *st_->ForTenant("t")->NewQuerier(0, 10'000);
  EXPECT_EQ(*q->LabelNames({}), (V{"__name__", "x", "y"}));
  EXPECT_EQ(*q->LabelNames({Eq("__name__", "b")}), (V{"__name__", "y"}));
  EXPECT_EQ(*q->LabelValues("__name__", {M(MatchType::kRegexMatch, "y", ".+")}), (V{"b"}));
  EXPECT_TRUE(q->LabelValues("nope", {})->empty());
}

TEST_F(StorageTest, Cardinality) {
  Open();
  for (int i = 0; i < 3; ++i) Append("t", {{"__name__", "a"}, {"i", std::to_string(i)}}, {{1, 1}});
  Append("t", {{"__name__", "b"}}, {{1, 1}});
  CardinalityStats c = st_->Cardinality("t", 10);
  EXPECT_EQ(c.num_series, 4u);
  ASSERT_EQ(c.series_count_by_metric_name.size(), 2u);
  EXPECT_EQ(c.series_count_by_metric_name[0].name, "a");
  EXPECT_EQ(c.series_count_by_metric_name[0].value, 3u);
  EXPECT_EQ(c.label_value_count_by_label_name[0].name, "i");
  EXPECT_EQ(c.series_count_by_label_value_pair[0].name, "__name__=a");
  EXPECT_EQ(st_->Cardinality("t", 1).series_count_by_label_value_pair.size(), 1u);
}

TEST_F(StorageTest, BoundedSeriesCache) {
  StorageOptions o = Options();
  o.max_cached_series = 10;
  Open(o);
  std::vector<std::string> ids;
  for (int i = 0; i < 100; ++i) ids.push_back(std::to_string(i));
  for (int round = 0; round < 2; ++round) {
    uint64_t created = 0;
    for (int i = 0; i < 100; ++i) {
      created +=
          Append("t", {{"__name__", "m"}, {"i", ids[i]}}, {{1000 + round, 1}}).series_created;
    }
    EXPECT_EQ(created, round == 0 ? 100u : 0u);
  }
  EXPECT_LE(st_->Stats().cached_series, 10u);
  EXPECT_EQ(st_->Stats().series, 100u);
}

TEST_F(StorageTest, ManyChunksAndOutOfOrderAcrossHeadAndDisk) {
  StorageOptions o = Options();
  o.out_of_order_window_ms = 3'600'000;
  Open(o);
  std::vector<LabelView> ls = {{"__name__", "m"}};
  // 1000 in-order samples every 10 s (several cut chunks), every 7th skipped.
  std::vector<Sample> in, skipped;
  for (int i = 0; i < 1000; ++i) (i % 7 ? in : skipped).push_back({i * 10'000, i * 0.5});
  EXPECT_EQ(Append("t", ls, in).samples_appended, in.size());
  ASSERT_TRUE(st_->Flush().ok());
  // Out-of-order fill-in: only the last hour is inside the window.
  AppendResult r = Append("t", ls, skipped);
  size_t in_window = 0;
  for (const Sample& x : skipped) in_window += x.t_ms >= 999 * 10'000 - 3'600'000;
  EXPECT_EQ(r.samples_appended, in_window);
  auto check = [&](size_t want) {
    auto res = Select("t", {Eq("__name__", "m")}, 0, 100'000'000);
    ASSERT_EQ(res.size(), 1u);
    ASSERT_EQ(res[0].samples.size(), want);
    for (size_t i = 1; i < want; ++i) ASSERT_LT(res[0].samples[i - 1].t_ms, res[0].samples[i].t_ms);
    for (const Sample& x : res[0].samples)
      ASSERT_EQ(x.v, static_cast<double>(x.t_ms / 10'000) * 0.5);
  };
  check(in.size() + in_window);
  Open(o);  // replays the out-of-order samples from the WAL
  check(in.size() + in_window);
  ASSERT_TRUE(st_->Flush().ok());
  Open(o);
  check(in.size() + in_window);
  // A sub-range read crosses chunk boundaries.
  auto res = Select("t", {Eq("__name__", "m")}, 2'000'000, 2'500'000);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].samples.front().t_ms, 2'000'000);
  EXPECT_EQ(res[0].samples.back().t_ms, 2'500'000);
}

TEST_F(StorageTest, CorruptChunkIsDataLossNotCrash) {
  Open();
  Append("t", {{"__name__", "m"}}, Samples(0, 100));
  ASSERT_TRUE(st_->Flush().ok());
  st_.reset();
  {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{rocksdb::kDefaultColumnFamilyName, {}},
                                                        {"chunks", {}},
                                                        {"wal", {}},
                                                        {"downsampled", {}},
                                                        {"index", {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), Options().dir, cfs, &handles, &db).ok());
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[1]));
    it->SeekToFirst();
    ASSERT_TRUE(it->Valid());
    std::string value = it->value().ToString();
    value.resize(value.size() / 2);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[1], it->key(), value).ok());
    it.reset();
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  Open();
  auto q = *st_->ForTenant("t")->NewQuerier(0, 10'000'000);
  auto set = *q->Select({Eq("__name__", "m")}, {.start_ms = 0, .end_ms = 10'000'000});
  // The series is skipped with a warning (a partial result) and counted.
  EXPECT_FALSE(set->Next());
  EXPECT_TRUE(set->status().ok()) << set->status();
  EXPECT_EQ(
      set->warnings(),
      std::vector<std::string>{"series m{} skipped: its stored data is corrupt (partial result)"});
  EXPECT_EQ(st_->Stats().corruptions, 1u);
}

TEST_F(StorageTest, RejectsSeriesWithoutLabelsAndEmptySelect) {
  Open();
  AppendBatch b;
  std::vector<Sample> samples = {{1, 1}};
  b.series.push_back({{}, samples});
  AppendResult r;
  ASSERT_TRUE(st_->Append("t", b, &r).ok());
  EXPECT_EQ(r.samples_rejected, 1u);
  EXPECT_EQ(st_->Stats().series, 0u);
  auto q = *st_->ForTenant("t")->NewQuerier(0, 10);
  EXPECT_FALSE(q->Select({}, {}).ok());
}

TEST_F(StorageTest, RetentionConcurrentWithAppends) {
  StorageOptions o = Options();
  o.retention_ms = 50'000;
  o.allow_backfill = true;
  now_ms_ = 0;
  Open(o);
  std::atomic<bool> done{false};
  std::vector<std::thread> writers;
  int64_t last_t[2] = {0, 0};
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      std::vector<std::string> ids;
      for (int i = 0; i < 20; ++i) ids.push_back(std::to_string(w * 100 + i));
      for (int round = 0; round < 300; ++round) {
        int64_t t = now_ms_.fetch_add(1000) + 1000;
        last_t[w] = t;
        std::vector<std::vector<LabelView>> labels(ids.size());
        std::vector<Sample> sample = {{t, static_cast<double>(round)}};
        AppendBatch b;
        for (size_t i = 0; i < ids.size(); ++i) {
          // Half of the series stop early so that retention drops them.
          if (i % 2 && round > 100) continue;
          labels[i] = {{"__name__", "r"}, {"i", ids[i]}};
          b.series.push_back({labels[i], sample});
        }
        AppendResult r;
        ASSERT_TRUE(st_->Append("t", b, &r).ok());
      }
    });
  }
  std::thread maintenance([&] {
    while (!done) {
      ASSERT_TRUE(st_->EnforceRetention().ok());
      ASSERT_TRUE(st_->Flush().ok());
    }
  });
  for (auto& t : writers) t.join();
  done = true;
  maintenance.join();
  ASSERT_TRUE(st_->EnforceRetention().ok());
  // Writers may run one after the other: only series written after the
  // cut-off survive (10 per writer that was still running then). Retention
  // deletes in steps (a tenth of the retention, at least a minute:
  // docs/format/storage.md), so a series whose last sample lies between the
  // cut-off rounded down to a whole minute and the exact cut-off may still
  // be there; none older, and every newer one must be.
  const int64_t cutoff = now_ms_ - 50'000;
  const int64_t step_cutoff = cutoff - cutoff % 60'000;
  auto writers_after = [&](int64_t t) {
    return size_t{10} * ((last_t[0] >= t) + (last_t[1] >= t));
  };
  const size_t at_least = writers_after(cutoff), at_most = writers_after(step_cutoff);
  auto check = [&] {
    auto res =
        Select("t", {Eq("__name__", "r")}, std::numeric_limits<int64_t>::min() / 2, now_ms_.load());
    EXPECT_GE(res.size(), at_least);
    EXPECT_LE(res.size(), at_most);
    for (auto& r : res) {
      ASSERT_FALSE(r.samples.empty());
      EXPECT_GE(r.samples.back().t_ms, step_cutoff);
      for (size_t i = 1; i < r.samples.size(); ++i)
        ASSERT_LT(r.samples[i - 1].t_ms, r.samples[i].t_ms);
    }
  };
  check();
  EXPECT_GE(st_->Stats().series, at_least);
  EXPECT_LE(st_->Stats().series, at_most);
  Open(o);
  check();
}

// Reads many persisted series through one chunk cursor in both orders: id
// order (sorted=false: the cursor continues instead of seeking) and label
// order, here the reverse of id order (every read seeks back), with matchers
// that skip series so the cursor must tell a skipped series from the next.
TEST_F(StorageTest, SortedAndUnsortedSelectsReadPersistedChunks) {
  Open();
  // 300 series created in reverse label order (enough for the read-ahead
  // thread; the regex below selects few enough to read inline); every third
  // has no samples in the late part of the range. 20 min steps: 6 samples
  // per 2 h chunk.
  for (int i = 299; i >= 0; --i) {
    char name[8];
    snprintf(name, sizeof(name), "%03d", i);
    std::string v = name;
    Append("t", {{"__name__", "m"}, {"i", v}, {"mod", std::to_string(i % 3)}},
           Samples(0, i % 3 == 0 ? 20 : 50, 1'200'000));
  }
  ASSERT_TRUE(st_->Flush().ok());
  Open();  // everything on disk, nothing in memory
  for (int64_t start : {int64_t{0}, int64_t{10'000'000}, int64_t{30'000'000}}) {
    const int64_t end = start + 25'000'000;
    for (auto ms :
         {std::vector<Matcher>{Eq("__name__", "m")},
          std::vector<Matcher>{Eq("__name__", "m"), M(MatchType::kNotEqual, "mod", "1")},
          std::vector<Matcher>{Eq("__name__", "m"), M(MatchType::kRegexMatch, "i", "0[0-4].")}}) {
      std::vector<Result> sorted = Select("t", ms, start, end, true);
      std::vector<Result> unsorted = Select("t", ms, start, end, false);
      ASSERT_FALSE(sorted.empty());
      ASSERT_EQ(sorted.size(), unsorted.size());
      for (size_t k = 1; k < sorted.size(); ++k) ASSERT_LT(sorted[k - 1].labels, sorted[k].labels);
      // Unsorted comes in id (creation) order: descending labels here.
      for (size_t k = 1; k < unsorted.size(); ++k) {
        ASSERT_LT(unsorted[k].labels, unsorted[k - 1].labels);
      }
      for (size_t k = 0; k < sorted.size(); ++k) {
        const Result& a = sorted[k];
        const Result& b = unsorted[unsorted.size() - 1 - k];
        ASSERT_EQ(a.labels, b.labels);
        ASSERT_EQ(a.samples.size(), b.samples.size());
        const int i = std::stoi(std::string(a.labels.Get("i")));
        const int n = i % 3 == 0 ? 20 : 50;
        std::vector<Sample> want;
        for (const Sample& x : Samples(0, n, 1'200'000)) {
          if (x.t_ms >= start && x.t_ms <= end) want.push_back(x);
        }
        ASSERT_EQ(a.samples.size(), want.size()) << a.labels.ToString() << " start " << start;
        for (size_t j = 0; j < want.size(); ++j) {
          ASSERT_EQ(a.samples[j].t_ms, want[j].t_ms);
          ASSERT_EQ(a.samples[j].v, want[j].v);
          ASSERT_EQ(b.samples[j].t_ms, want[j].t_ms);
        }
      }
    }
  }
}

// A series set opened before a checkpoint and read after it: the samples the
// checkpoint moved from memory to disk must come from disk.
TEST_F(StorageTest, SeriesSetOpenedBeforeCheckpointSeesMovedChunks) {
  Open();
  // 3 series are read inline, 300 on the read-ahead thread.
  for (int num_series : {3, 300}) {
    const std::string name = "m" + std::to_string(num_series);
    auto append = [&](int64_t t0, int n) {
      for (int i = 0; i < num_series; ++i) {
        Append("t", {{"__name__", name}, {"i", std::to_string(i)}}, Samples(t0, n, 600'000));
      }
    };
    append(0, 100);
    // Older chunks on disk: the set's first series reads disk, which takes
    // the cursor's view of RocksDB before the checkpoint below.
    ASSERT_TRUE(st_->Flush().ok());
    int next = 100;  // samples appended so far, 10 min apart
    for (bool sorted : {false, true}) {
      append(next * 600'000, 24);  // closes a chunk that stays in memory
      next += 24;
      auto q = *st_->ForTenant("t")->NewQuerier(0, 100'000'000);
      auto set = *q->Select({Eq("__name__", name)},
                            {.start_ms = 0, .end_ms = 100'000'000, .sorted = sorted});
      ASSERT_TRUE(set->Next());        // the cursor's view is taken by now
      ASSERT_TRUE(st_->Flush().ok());  // the chunk closed above leaves memory
      std::vector<Sample> got;
      int n = 0;
      do {
        ASSERT_TRUE(set->Samples(&got).ok());
        ASSERT_EQ(got.size(), static_cast<size_t>(next))
            << set->labels().ToString() << " sorted=" << sorted;
        for (size_t j = 0; j < got.size(); ++j)
          ASSERT_EQ(got[j].t_ms, static_cast<int64_t>(j) * 600'000);
        ++n;
      } while (set->Next());
      ASSERT_TRUE(set->status().ok());
      EXPECT_EQ(n, num_series);
    }
  }
  // A set dropped after one series stops its read-ahead thread.
  auto q = *st_->ForTenant("t")->NewQuerier(0, 100'000'000);
  auto set =
      *q->Select({Eq("__name__", "m300")}, {.start_ms = 0, .end_ms = 100'000'000, .sorted = false});
  ASSERT_TRUE(set->Next());
  set.reset();
}

// A checkpoint writes closed chunks to disk and then drops them from memory.
// A reader racing with it must see every sample exactly once: either in
// memory or, through a cursor that catches up, on disk.
TEST_F(StorageTest, ReadersNeverMissSamplesDroppedByCheckpoints) {
  Open();
  constexpr int kSeries = 20;
  constexpr int kRounds = 400;
  constexpr int64_t kStep = 600'000;  // 12 samples per 2 h chunk: many closed chunks
  std::atomic<int> rounds_done{0};
  std::atomic<bool> done{false};
  std::thread writer([&] {
    std::vector<std::string> vals;
    for (int i = 0; i < kSeries; ++i) vals.push_back(std::to_string(i));
    for (int round = 0; round < kRounds; ++round) {
      std::vector<std::vector<LabelView>> labels(kSeries);
      std::vector<Sample> sample = {{round * kStep, static_cast<double>(round)}};
      AppendBatch b;
      for (int i = 0; i < kSeries; ++i) {
        labels[i] = {{"__name__", "c"}, {"i", vals[i]}};
        b.series.push_back({labels[i], sample});
      }
      AppendResult r;
      ASSERT_TRUE(st_->Append("t", b, &r).ok());
      ASSERT_EQ(r.samples_appended, static_cast<size_t>(kSeries));
      rounds_done.store(round + 1);
    }
  });
  std::thread flusher([&] {
    while (!done) ASSERT_TRUE(st_->Flush().ok());
  });
  int reads = 0;
  // At least two reads (sorted and unsorted) even when the writer is done first.
  for (bool sorted = false; rounds_done.load() < kRounds || reads < 2; sorted = !sorted, ++reads) {
    const int before = rounds_done.load();
    auto q = st_->ForTenant("t")->NewQuerier(0, kRounds * kStep);
    ASSERT_TRUE(q.ok());
    auto set = (*q)->Select({Eq("__name__", "c")},
                            {.start_ms = 0, .end_ms = kRounds * kStep, .sorted = sorted});
    ASSERT_TRUE(set.ok());
    std::vector<Sample> got;
    while ((*set)->Next()) {
      ASSERT_TRUE((*set)->Samples(&got).ok());
      // Every round acknowledged before the read started is there, in order.
      ASSERT_GE(static_cast<int>(got.size()), before) << (*set)->labels().ToString();
      for (size_t j = 0; j < got.size(); ++j) {
        ASSERT_EQ(got[j].t_ms, static_cast<int64_t>(j) * kStep);
        ASSERT_EQ(got[j].v, static_cast<double>(j));
      }
    }
    ASSERT_TRUE((*set)->status().ok()) << (*set)->status();
  }
  writer.join();
  done = true;
  flusher.join();
  EXPECT_GT(reads, 0);
  for (const Result& r : Select("t", {Eq("__name__", "c")}, 0, kRounds * kStep)) {
    EXPECT_EQ(r.samples.size(), static_cast<size_t>(kRounds));
  }
}

TEST_F(StorageTest, ConcurrentAppendAndRead) {
  Open();
  std::atomic<bool> done{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      std::vector<std::string> vals;
      for (int i = 0; i < 50; ++i) vals.push_back(std::to_string(i));
      std::string wname = std::to_string(w);
      for (int round = 0; round < 200; ++round) {
        std::vector<std::vector<LabelView>> labels(50);
        std::vector<Sample> sample = {{round * 1000, static_cast<double>(round)}};
        AppendBatch b;
        for (int i = 0; i < 50; ++i) {
          labels[i] = {{"__name__", "c"}, {"i", vals[i]}, {"w", wname}};
          b.series.push_back({labels[i], sample});
        }
        AppendResult r;
        ASSERT_TRUE(st_->Append("t", b, &r).ok());
        ASSERT_EQ(r.samples_appended, 50u);
      }
    });
  }
  std::thread reader([&] {
    while (!done) {
      for (auto& r : Select("t", {Eq("__name__", "c")}, 0, 1'000'000'000)) {
        for (size_t i = 1; i < r.samples.size(); ++i) {
          ASSERT_LT(r.samples[i - 1].t_ms, r.samples[i].t_ms);
        }
      }
    }
  });
  std::thread flusher([&] {
    while (!done) ASSERT_TRUE(st_->Flush().ok());
  });
  for (auto& t : writers) t.join();
  done = true;
  reader.join();
  flusher.join();
  auto res = Select("t", {Eq("__name__", "c")}, 0, 1'000'000'000);
  ASSERT_EQ(res.size(), 200u);
  for (auto& r : res) EXPECT_EQ(r.samples.size(), 200u);
  Open();
  res = Select("t", {Eq("__name__", "c")}, 0, 1'000'000'000);
  ASSERT_EQ(res.size(), 200u);
  for (auto& r : res) EXPECT_EQ(r.samples.size(), 200u);
}

// A Select stops with the query: a cancelled flag or a passed deadline in the
// Querier's ReadContext ends the iteration with kCancelled or
// kDeadlineExceeded, and a live context reads everything.
TEST_F(StorageTest, SelectStopsOnCancellationAndDeadline) {
  Open();
  const int kSeries = 300;  // over the read-ahead threshold and the check interval
  for (int i = 0; i < kSeries; ++i) {
    std::string v = std::to_string(i);
    Append("t", {{"__name__", "x"}, {"i", v}}, {{now_ms_ - 1000, 1.0}});
  }
  auto count = [&](const ReadContext& ctx, absl::Status* st) {
    auto q = st_->ForTenant("t")->NewQuerier(0, now_ms_, ctx);
    EXPECT_TRUE(q.ok());
    auto set = (*q)->Select({Eq("__name__", "x")}, {.start_ms = 0, .end_ms = now_ms_});
    EXPECT_TRUE(set.ok());
    int n = 0;
    while ((*set)->Next()) ++n;
    *st = (*set)->status();
    return n;
  };
  absl::Status st;
  std::atomic<bool> cancelled{false};
  ReadContext live;
  live.cancelled = &cancelled;
  live.deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  EXPECT_EQ(count(live, &st), kSeries);
  EXPECT_TRUE(st.ok()) << st;

  cancelled = true;
  EXPECT_LT(count(live, &st), kSeries);
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled) << st;

  ReadContext expired;
  expired.deadline = std::chrono::steady_clock::now() - std::chrono::milliseconds(1);
  EXPECT_LT(count(expired, &st), kSeries);
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
}

// An executor that counts the tasks it was given.
class CountingExecutor : public Executor {
 public:
  explicit CountingExecutor(int threads) : pool_(threads, "counting") {}
  void Schedule(std::function<void()> task) override {
    ++scheduled;
    pool_.Schedule(std::move(task));
  }
  std::atomic<int> scheduled{0};

 private:
  ThreadPool pool_;
};

// A busy read-ahead executor never stalls a query: a Select whose task has
// not started reads its series on the caller's thread, and the task, when it
// finally runs after the set is gone, touches nothing (ASan would see it).
TEST_F(StorageTest, SelectReadsItselfWhenTheReadAheadExecutorIsBusy) {
  auto pool = std::make_shared<CountingExecutor>(1);
  StorageOptions o = Options();
  o.read_ahead_executor = pool;
  Open(o);
  const int kSeries = 300;
  for (int i = 0; i < kSeries; ++i) {
    Append("t", {{"__name__", "x"}, {"i", std::to_string(i)}}, {{now_ms_ - 1000, double(i)}});
  }
  std::atomic<bool> release{false};
  pool->Schedule([&] {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < 3; ++round) {
    auto got = Select("t", {Eq("__name__", "x")}, 0, now_ms_, /*sorted=*/round % 2 == 0);
    ASSERT_EQ(got.size(), static_cast<size_t>(kSeries));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(pool->scheduled.load(), 4);  // the blocker and one task per Select
  release = true;                        // the abandoned tasks run now, after their sets are gone
  pool.reset();
  st_.reset();
}

// With the executor free, the same Select is answered by its read-ahead
// task (all series, in order), also when the caller stops early.
TEST_F(StorageTest, SelectReadsAheadOnTheExecutor) {
  auto pool = std::make_shared<CountingExecutor>(2);
  StorageOptions o = Options();
  o.read_ahead_executor = pool;
  Open(o);
  const int kSeries = 300;
  for (int i = 0; i < kSeries; ++i) {
    Append("t", {{"__name__", "x"}, {"i", std::to_string(1000 + i)}},
           {{now_ms_ - 1000, double(i)}});
  }
  auto got = Select("t", {Eq("__name__", "x")}, 0, now_ms_);
  ASSERT_EQ(got.size(), static_cast<size_t>(kSeries));
  for (int i = 0; i < kSeries; ++i) EXPECT_EQ(got[i].labels.Get("i"), std::to_string(1000 + i));
  auto q = st_->ForTenant("t")->NewQuerier(0, now_ms_);
  auto set = (*q)->Select({Eq("__name__", "x")}, {.start_ms = 0, .end_ms = now_ms_});
  ASSERT_TRUE((*set)->Next());
  set->reset();  // stops its task
  EXPECT_EQ(pool->scheduled.load(), 2);
  auto small = Select("t", {Eq("i", "1000")}, 0, now_ms_);  // one series: read inline
  EXPECT_EQ(small.size(), 1u);
  EXPECT_EQ(pool->scheduled.load(), 2);
}

}  // namespace
}  // namespace meridian
