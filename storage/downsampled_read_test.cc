// PlanReadSegments: which resolution answers each part of a Select's range
// (docs/downsampling.md "Stitching"); closed 5m windows folded from recent
// raw data (storage/aggregate_cache.h).
#include <gtest/gtest.h>

#include <cstring>

#include "storage/compaction.h"
#include "storage/querier.h"
#include "storage/storage.h"
#include "storage/test_util.h"

namespace meridian {
namespace {

constexpr int64_t kDay = 86'400'000;
constexpr int64_t kT = 20000 * kDay;

std::string Plan(const DownsampleState& ds, int64_t start, int64_t end, int64_t pref, int64_t max) {
  std::string out;
  for (const ReadSegment& s : PlanReadSegments(ds, start, end, pref, max)) {
    if (!out.empty()) out += " ";
    out += std::string(ResolutionName(s.resolution)) + "[" + std::to_string((s.lo - kT) / kDay) +
           "," + std::to_string((s.hi - kT) / kDay) + ")";
  }
  return out;
}

TEST(PlanReadSegmentsTest, CoarsestAtOrBelowThePreferredThenFinerThenCoarser) {
  // 35 days: raw deleted before day 5, 5m kept from day 0 up to day 33,
  // 1h from day 0 up to day 20.
  DownsampleState ds;
  ds.raw_deleted_before = kT + 5 * kDay;
  ds.downsampled_5m_through = kT + 33 * kDay;
  ds.downsampled_1h_through = kT + 20 * kDay;
  const int64_t end = kT + 35 * kDay - 1;
  // 1h preferred: 1h, then 5m where 1h is not written yet, raw since.
  EXPECT_EQ(Plan(ds, kT, end, 3'600'000, 3'600'000), "1h[0,20) 5m[20,33) raw[33,35)");
  // 5m preferred: 5m all along, raw where 5m is not written yet.
  EXPECT_EQ(Plan(ds, kT, end, 300'000, 3'600'000), "5m[0,33) raw[33,35)");
  // Raw preferred, coarser allowed: 5m (the finest) where raw is gone.
  EXPECT_EQ(Plan(ds, kT, end, 0, 3'600'000), "5m[0,5) raw[5,35)");
  // Raw only: raw everywhere (nothing before day 5).
  EXPECT_EQ(Plan(ds, kT, end, 0, 0), "raw[0,35)");
  // 5m deleted before day 10 (below the 1h progress): raw (finer) answers
  // where it is kept, 1h (coarser) before.
  ds.deleted_5m_before = kT + 10 * kDay;
  EXPECT_EQ(Plan(ds, kT, end, 300'000, 3'600'000), "1h[0,5) raw[5,10) 5m[10,33) raw[33,35)");
  EXPECT_EQ(Plan(ds, kT, end, 0, 3'600'000), "1h[0,5) raw[5,35)");
  // At most 5m: nothing coarser, so nothing before day 5 (raw reads none).
  EXPECT_EQ(Plan(ds, kT, end, 0, 300'000), "raw[0,35)");
  // A range inside one part; nothing downsampled yet.
  EXPECT_EQ(Plan(ds, kT + 34 * kDay, end, 3'600'000, 3'600'000), "raw[34,35)");
  EXPECT_EQ(Plan(DownsampleState{}, kT, end, 3'600'000, 3'600'000), "raw[0,35)");
}

constexpr int64_t kHour = 3'600'000;

// Field by field, bit for bit (AggregateWindow has no padding).
std::vector<std::string> Bits(const std::vector<AggregateWindow>& w) {
  std::vector<std::string> out;
  for (const AggregateWindow& a : w) {
    std::string b(sizeof(a), '\0');
    std::memcpy(b.data(), &a, sizeof(a));
    out.push_back(std::move(b));
  }
  return out;
}

class FoldedRecentWindowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StorageOptions o;
    o.dir = dir_.path() + "/data";
    o.sync_wal = false;
    o.allow_backfill = true;
    auto s = Storage::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    st_ = std::move(*s);
  }
  void Append(std::vector<Sample> samples) {
    std::vector<LabelView> labels = {{"__name__", "c"}};
    AppendBatch b;
    b.series.push_back({labels, samples});
    AppendResult r;
    ASSERT_TRUE(st_->Append("t", b, &r).ok());
    ASSERT_EQ(r.samples_appended, samples.size());
  }
  // What a Select that allows 5m windows yields: windows and raw samples.
  SeriesData Read(int64_t start, int64_t end, bool fold, int64_t res = kRes5mMs,
                  SelectHints h = {}) {
    auto q = st_->ForTenant("t")->NewQuerier(start, end);
    EXPECT_TRUE(q.ok());
    h.start_ms = start;
    h.end_ms = end;
    h.resolution_ms = res;
    h.max_resolution_ms = kRes1hMs;
    h.fold_raw = fold;
    auto set = (*q)->Select({storage_testing::Eq("__name__", "c")}, h);
    EXPECT_TRUE(set.ok()) << set.status();
    SeriesData d;
    EXPECT_TRUE((*set)->Next());
    EXPECT_TRUE((*set)->Data(&d).ok());
    EXPECT_FALSE((*set)->Next());
    return d;
  }
  // Every window of `d`, and its raw samples, each in time order.
  static std::vector<AggregateWindow> WindowsOf(const SeriesData& d) {
    std::vector<AggregateWindow> out;
    for (const SeriesData::Run& r : d.runs) {
      if (r.resolution_ms > 0) {
        const std::span<const AggregateWindow> w = d.Windows(r);
        out.insert(out.end(), w.begin(), w.end());
      }
    }
    return out;
  }
  static std::vector<Sample> SamplesOf(const SeriesData& d) {
    std::vector<Sample> out;
    for (const SeriesData::Run& r : d.runs) {
      if (r.resolution_ms == 0) {
        const std::span<const Sample> x = d.Samples(r);
        out.insert(out.end(), x.begin(), x.end());
      }
    }
    return out;
  }
  // The windows the compactor would make of [start, through) and the raw
  // samples after, from a read that folds nothing.
  void Expect(int64_t start, int64_t through, int64_t end) {
    const SeriesData raw = Read(start, end, /*fold=*/false);
    std::vector<AggregateWindow> want = WindowsOf(raw);  // day 0, stored
    std::vector<Sample> want_raw;
    std::vector<Sample> fold;
    for (const Sample& s : SamplesOf(raw)) (s.t_ms < through ? fold : want_raw).push_back(s);
    DownsampleRaw(fold, kRes5mMs, &want);
    const SeriesData got = Read(start, end, /*fold=*/true);
    EXPECT_EQ(Bits(WindowsOf(got)), Bits(want));
    ASSERT_EQ(SamplesOf(got).size(), want_raw.size());
    for (size_t i = 0; i < want_raw.size(); ++i) {
      EXPECT_EQ(SamplesOf(got)[i].t_ms, want_raw[i].t_ms);
      EXPECT_EQ(SamplesOf(got)[i].v, want_raw[i].v);
    }
  }

  // A counter every 15 s for 30 h from the start of a day; day 0 is
  // downsampled (as the compactor does it), the 6 h of day 1 are not.
  void Fill() {
    std::vector<Sample> s;
    for (int64_t t = kT + 7'000; t < kT + 30 * kHour; t += 15'000) s.push_back({t, v_ += 3});
    Append(s);
    CompactionAccess* c = st_->Compaction();
    ASSERT_TRUE(c->ClaimRaw("t", kT + kDay).ok());
    SeriesAggregates agg{0, kT, {}};
    ASSERT_TRUE(c->ReadRaw("t", kT, kT + kDay, [&](uint64_t id, std::span<const Sample> day0) {
                   EXPECT_EQ(day0.size(), 5760u);
                   agg.series_id = id;
                   DownsampleRaw(day0, kRes5mMs, &agg.windows);
                   return absl::OkStatus();
                 }).ok());
    ASSERT_FALSE(agg.windows.empty());
    ASSERT_TRUE(c->PutAggregates("t", Resolution::k5m, {&agg, 1}).ok());
    ASSERT_TRUE(c->SetDownsampledThrough("t", Resolution::k5m, kT + kDay).ok());
    day0_ = agg;
  }

  void Reopen(size_t aggregate_cache_bytes) {
    st_.reset();
    StorageOptions o;
    o.dir = dir_.path() + "/data";
    o.sync_wal = false;
    o.allow_backfill = true;
    o.aggregate_cache_bytes = aggregate_cache_bytes;
    auto s = Storage::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    st_ = std::move(*s);
  }

  storage_testing::TempDir dir_;
  std::unique_ptr<Storage> st_;
  double v_ = 0;
  SeriesAggregates day0_;
};

TEST_F(FoldedRecentWindowsTest, ClosedWindowsComeFoldedAndALateSampleIsInTheNextRead) {
  ASSERT_NO_FATAL_FAILURE(Fill());
  double& v = v_;

  // The newest sample is at 29:59:52, so windows up to 29:55 are closed;
  // the one holding the newest sample stays raw.
  const int64_t start = kT + 12 * kHour, end = kT + 30 * kHour;
  const int64_t closed = kT + 30 * kHour - kRes5mMs;
  const SeriesData first = Read(start, end, true);
  ASSERT_EQ(first.runs.size(), 3u);  // stored 5m, folded 5m, raw
  EXPECT_EQ(first.runs[1].resolution_ms, kRes5mMs);
  EXPECT_EQ(first.Windows(first.runs[1]).front().t_ms, kT + kDay);
  EXPECT_EQ(first.Windows(first.runs[1]).back().t_ms, closed - kRes5mMs);
  EXPECT_EQ(first.runs[2].resolution_ms, 0);
  EXPECT_EQ(first.samples[first.runs[2].begin].t_ms, closed + 7'000);
  Expect(start, closed, end);
  Expect(start, closed, end);  // from the cache

  // A late sample inside a closed window (and a value that makes it a
  // counter reset): the next read has it.
  Append({{kT + kDay + 2 * kHour + 1'000, 1}});
  Expect(start, closed, end);
  const SeriesData late = Read(start, end, true);
  const AggregateWindow& w = late.Windows(late.runs[1])[24];
  EXPECT_EQ(w.t_ms, kT + kDay + 2 * kHour);
  EXPECT_EQ(w.count, 21u);
  EXPECT_EQ(w.first_t, kT + kDay + 2 * kHour + 1'000);

  // New samples close more windows: they are folded too.
  std::vector<Sample> more;
  for (int64_t t = kT + 30 * kHour + 7'000; t < kT + 31 * kHour; t += 15'000)
    more.push_back({t, v += 3});
  Append(more);
  Expect(start, kT + 31 * kHour - kRes5mMs, kT + 31 * kHour);
}

// A read of the recent part alone (nothing downsampled in its range) comes
// as raw samples even when the consumer would fold them (storage/querier.cc
// reads a plan of one raw part as raw data): the answer is then exactly
// Prometheus's, a sample on a window boundary included. Folded windows stand
// in for raw samples only in reads that reach downsampled data anyway.
TEST_F(FoldedRecentWindowsTest, ARangeWithoutDownsampledDataComesRaw) {
  ASSERT_NO_FATAL_FAILURE(Fill());
  const int64_t start = kT + kDay + kHour, end = kT + 30 * kHour;
  const SeriesData got = Read(start, end, /*fold=*/true);
  EXPECT_TRUE(WindowsOf(got).empty());
  const std::vector<Sample> want = SamplesOf(Read(start, end, /*fold=*/false));
  ASSERT_EQ(want.size(), 5u * 240);  // every 15 s from 25:00:07 to 29:59:52
  ASSERT_EQ(SamplesOf(got).size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(SamplesOf(got)[i].t_ms, want[i].t_ms);
}

// Decoded chunks are cached until the compactor writes aggregates again; 5m
// chunks come merged into 1h windows for a consumer that folds into 1h.
TEST_F(FoldedRecentWindowsTest, StoredChunksAreReadAgainOnceRewrittenAndMergeInto1h) {
  ASSERT_NO_FATAL_FAILURE(Fill());
  const int64_t start = kT, end = kT + kDay - 1;
  auto stored = [&](int64_t res) {
    std::vector<AggregateWindow> w = WindowsOf(Read(start, end, true, res));
    return Bits(w);
  };
  EXPECT_EQ(stored(kRes5mMs), Bits(day0_.windows));
  EXPECT_EQ(stored(kRes5mMs), Bits(day0_.windows));  // from the cache
  // The day is downsampled again (say a late sample): the new chunk is read.
  SeriesAggregates again = day0_;
  again.windows[10].sum += 1;
  again.windows[10].count += 1;
  ASSERT_TRUE(st_->Compaction()->PutAggregates("t", Resolution::k5m, {&again, 1}).ok());
  EXPECT_EQ(stored(kRes5mMs), Bits(again.windows));
  // At 1h: the compactor's 1h windows of the same 5m windows.
  std::vector<AggregateWindow> hours;
  MergeWindows(again.windows, kRes1hMs, &hours);
  const SeriesData d = Read(start, end, true, kRes1hMs);
  ASSERT_EQ(d.runs.size(), 1u);
  EXPECT_EQ(d.runs[0].resolution_ms, kRes1hMs);
  EXPECT_EQ(d.runs[0].SourceMs(), kRes5mMs);
  EXPECT_EQ(stored(kRes1hMs), Bits(hours));
  ASSERT_EQ(hours.size(), 24u);
}

// Reads hand out runs that point into the cache's windows (no copy), and
// what a reader holds stays valid and unchanged when the cache drops or
// replaces the entry (shared ownership): a rewritten chunk, a late sample,
// a cache that keeps nothing (--aggregate-cache-bytes 0).
TEST_F(FoldedRecentWindowsTest, RunsPointIntoTheCachedWindowsAndOutliveTheirEviction) {
  ASSERT_NO_FATAL_FAILURE(Fill());
  const int64_t start = kT + 12 * kHour, end = kT + 30 * kHour;
  const SeriesData a = Read(start, end, true);
  const SeriesData b = Read(start, end, true);
  ASSERT_EQ(a.runs.size(), 3u);  // stored 5m, folded 5m, raw
  for (size_t k : {0, 1}) {
    ASSERT_NE(a.runs[k].shared, nullptr) << k;
    EXPECT_EQ(a.runs[k].shared, b.runs[k].shared) << k;  // the same cached windows
  }
  EXPECT_TRUE(a.windows.empty());  // nothing copied
  const std::vector<std::string> before = Bits(WindowsOf(a));
  // The chunk is written again and a late sample lands in a folded window:
  // both entries are replaced; `a` still reads what it read.
  SeriesAggregates again = day0_;
  for (AggregateWindow& w : again.windows) w.sum += 1;
  ASSERT_TRUE(st_->Compaction()->PutAggregates("t", Resolution::k5m, {&again, 1}).ok());
  Append({{kT + kDay + 2 * kHour + 1'000, 1}});
  const SeriesData c = Read(start, end, true);
  ASSERT_EQ(c.runs.size(), 3u);
  EXPECT_NE(c.runs[0].shared, a.runs[0].shared);
  EXPECT_NE(c.runs[1].shared, a.runs[1].shared);
  EXPECT_NE(Bits(WindowsOf(c)), before);
  EXPECT_EQ(Bits(WindowsOf(a)), before);
  // A cache of 0 bytes keeps nothing: every read makes its own windows,
  // with the same bits.
  const std::vector<std::string> now = Bits(WindowsOf(c));
  ASSERT_NO_FATAL_FAILURE(Reopen(0));
  const SeriesData d = Read(start, end, true);
  const SeriesData e = Read(start, end, true);
  ASSERT_EQ(d.runs.size(), 3u);
  EXPECT_NE(d.runs[0].shared, e.runs[0].shared);
  EXPECT_EQ(Bits(WindowsOf(d)), now);
  EXPECT_EQ(Bits(WindowsOf(e)), now);
}

// Folded windows come merged into 1h windows for a consumer that folds into
// 1h (cached too): the compactor's merge of the folded 5m windows, read
// again after a late sample.
TEST_F(FoldedRecentWindowsTest, FoldedHoursAreTheMergedFoldedWindowsAndFollowALateSample) {
  ASSERT_NO_FATAL_FAILURE(Fill());
  // From day 0 (stored) on: a read of day 1 alone would come raw.
  const int64_t start = kT + 20 * kHour, end = kT + 30 * kHour;
  auto check = [&](uint64_t count_at_26h) {
    std::vector<AggregateWindow> five;
    for (const AggregateWindow& w : WindowsOf(Read(start, end, true))) {
      if (w.t_ms >= kT + kDay && w.t_ms < kT + 29 * kHour) five.push_back(w);
    }
    std::vector<AggregateWindow> want;
    MergeWindows(five, kRes1hMs, &want);
    ASSERT_EQ(want.size(), 5u);
    EXPECT_EQ(want[2].count, count_at_26h);
    for (int pass = 0; pass < 2; ++pass) {  // made, then from the cache
      const SeriesData d = Read(start, end, true, kRes1hMs);
      ASSERT_GE(d.runs.size(), 3u);  // day 0 merged, day 1 folded and merged, ...
      EXPECT_EQ(d.runs[1].resolution_ms, kRes1hMs);
      EXPECT_EQ(d.runs[1].SourceMs(), 0);
      const std::span<const AggregateWindow> got = d.Windows(d.runs[1]);
      EXPECT_EQ(Bits({got.begin(), got.end()}), Bits(want)) << pass;
    }
  };
  ASSERT_NO_FATAL_FAILURE(check(240));
  Append({{kT + kDay + 2 * kHour + 1'000, 1}});
  ASSERT_NO_FATAL_FAILURE(check(241));
}

// The windows a range function reads at steps T = first + k * step, over
// (T - range, T] widened to the newest window's resolution where that is
// coarser (query/downsampled.cc WindowsFn), and the newest window at or
// before each T: SelectHints::range_ms's rule, written out plainly.
std::vector<AggregateWindow> StepWindows(const SeriesData& d, int64_t first, int64_t end,
                                         int64_t step, int64_t range) {
  struct W {
    int64_t attr, res;
    const AggregateWindow* a;
  };
  std::vector<W> all;
  for (const SeriesData::Run& r : d.runs) {
    if (r.resolution_ms == 0) continue;
    for (const AggregateWindow& a : d.Windows(r))
      all.push_back({a.t_ms + r.resolution_ms - 1, r.resolution_ms, &a});
  }
  std::vector<bool> keep(all.size());
  for (int64_t t = first; t <= end; t += step) {
    int64_t e = range;
    for (size_t i = all.size(); i-- > 0;) {
      if (all[i].attr > t || all[i].a->count == 0) continue;
      keep[i] = true;  // the newest
      if (all[i].res > range && all[i].attr > t - all[i].res) e = all[i].res;
      break;
    }
    for (size_t i = 0; i < all.size(); ++i) {
      if (all[i].attr > t - e && all[i].attr <= t) keep[i] = true;
    }
  }
  std::vector<AggregateWindow> out;
  for (size_t i = 0; i < all.size(); ++i) {
    if (keep[i]) out.push_back(*all[i].a);
  }
  return out;
}

// With the step wider than the range, a Select yields of its windows only
// those the steps read, whether the steps are aligned to the windows or not,
// and every raw sample; a step's range that holds parts of two windows
// keeps both.
TEST_F(FoldedRecentWindowsTest, ARangeHintKeepsTheWindowsEveryStepReads) {
  ASSERT_NO_FATAL_FAILURE(Fill());
  const int64_t start = kT + 2 * kHour, end = kT + 30 * kHour;
  struct Case {
    int64_t res, range, step, shift;
  };
  for (const Case& c :
       {Case{kRes5mMs, kRes5mMs, kHour, 0}, Case{kRes5mMs, kRes5mMs, kHour, 150'000},
        Case{kRes5mMs, 2 * kRes5mMs, 25 * 60'000, 7'000},
        Case{kRes5mMs, kRes5mMs, 7 * 60'000, 299'999},
        // 1h windows (5m ones merged) answer a 5m range: widened to 1h.
        Case{kRes1hMs, kRes5mMs, 2 * kHour, 0}, Case{kRes1hMs, kRes5mMs, 90 * 60'000, 61'000}}) {
    const std::string what = "res " + std::to_string(c.res) + " range " + std::to_string(c.range) +
                             " step " + std::to_string(c.step) + " +" + std::to_string(c.shift);
    const SeriesData all = Read(start, end, true, c.res);
    SelectHints h;
    h.step_ms = c.step;
    h.range_ms = c.range;
    h.first_step_ms = start + c.range - 1 + c.shift;
    const SeriesData got = Read(start, end, true, c.res, h);
    const std::vector<AggregateWindow> want =
        StepWindows(all, h.first_step_ms, end, c.step, c.range);
    ASSERT_FALSE(want.empty()) << what;
    auto times = [](const std::vector<AggregateWindow>& w) {
      std::vector<int64_t> t;
      for (const AggregateWindow& a : w) t.push_back((a.t_ms - kT) / 60'000);
      return t;
    };
    EXPECT_EQ(times(WindowsOf(got)), times(want)) << what << " (minutes from day 0)";
    EXPECT_TRUE(Bits(WindowsOf(got)) == Bits(want)) << what;
    if (c.step >= kHour && c.res == kRes5mMs) {
      EXPECT_LT(WindowsOf(got).size() * 5, WindowsOf(all).size()) << what;
    }
    ASSERT_EQ(SamplesOf(got).size(), SamplesOf(all).size()) << what;
    for (size_t i = 0; i < SamplesOf(all).size(); ++i) {
      EXPECT_EQ(SamplesOf(got)[i].t_ms, SamplesOf(all)[i].t_ms) << what;
    }
  }
}

}  // namespace
}  // namespace meridian
