// Unit tests of the compactor: the aggregate chunk codec, downsampling
// arithmetic against the raw samples, and passes over a real storage with an
// injected clock (progress, retention per resolution and tenant, late
// samples, reopen).
#include "compactor/compactor.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "storage/compaction.h"
#include "storage/format.h"
#include "storage/storage.h"
#include "storage/test_util.h"

namespace meridian::compactor {
namespace {

constexpr int64_t kDay = 86'400'000;
constexpr int64_t kHour = 3'600'000;

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/meridian_compactor_test_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A counter with resets, NaN-free; a gauge with NaN and stale markers.
std::vector<Sample> Counter(int64_t start, int64_t end, int64_t step, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Sample> out;
  double v = 0;
  for (int64_t t = start; t < end; t += step) {
    const int64_t jitter = static_cast<int64_t>(rng() % 7);
    if (rng() % 97 == 0) v = 0;  // reset
    v += static_cast<double>(rng() % 50);
    out.push_back({t + jitter, v});
  }
  return out;
}

std::vector<Sample> Gauge(int64_t start, int64_t end, int64_t step, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Sample> out;
  for (int64_t t = start; t < end; t += step) {
    const uint32_t r = rng() % 200;
    if (r < 10) continue;  // gaps
    double v = static_cast<double>(static_cast<int>(rng() % 1000) - 500);
    if (r == 10) v = std::nan("");
    if (r == 11) v = StaleNaN();
    out.push_back({t, v});
  }
  return out;
}

// Prometheus's increase without extrapolation over non-stale samples.
double RawIncrease(std::span<const Sample> s) {
  double r = 0;
  bool have = false;
  double prev = 0;
  for (const Sample& x : s) {
    if (IsStaleNaN(x.v)) continue;
    if (have) r += x.v < prev ? x.v : x.v - prev;
    prev = x.v;
    have = true;
  }
  return r;
}

void ExpectWindowsEqual(const AggregateWindow& a, const AggregateWindow& b) {
  EXPECT_EQ(a.t_ms, b.t_ms);
  EXPECT_EQ(a.count, b.count);
  EXPECT_EQ(a.last_t, b.last_t);
  EXPECT_EQ(Bits(a.last_v), Bits(b.last_v));
  if (a.count == 0) return;
  EXPECT_EQ(Bits(a.sum), Bits(b.sum)) << a.t_ms;
  EXPECT_EQ(Bits(a.min), Bits(b.min));
  EXPECT_EQ(Bits(a.max), Bits(b.max));
  EXPECT_EQ(a.first_t, b.first_t);
  EXPECT_EQ(Bits(a.first_v), Bits(b.first_v));
  EXPECT_EQ(a.clast_t, b.clast_t);
  EXPECT_EQ(Bits(a.clast_v), Bits(b.clast_v));
  EXPECT_EQ(Bits(a.counter_inc), Bits(b.counter_inc));
}

TEST(AggrChunkTest, RoundTripIsBitExact) {
  const int64_t block = 20000 * kDay;
  std::vector<Sample> raw = Gauge(block, block + kDay, 15'000, 7);
  std::vector<AggregateWindow> w;
  DownsampleRaw(raw, kRes5mMs, &w);
  ASSERT_GT(w.size(), 250u);
  std::string chunk;
  EncodeAggrChunk(Resolution::k5m, block, w, &chunk);
  std::vector<AggregateWindow> back;
  Resolution r;
  int64_t b;
  ASSERT_TRUE(DecodeAggrChunk(chunk, &back, &r, &b).ok());
  EXPECT_EQ(r, Resolution::k5m);
  EXPECT_EQ(b, block);
  ASSERT_EQ(back.size(), w.size());
  for (size_t i = 0; i < w.size(); ++i) ExpectWindowsEqual(back[i], w[i]);
  // A window holding only a stale marker keeps it as `last`.
  std::vector<Sample> stale_only = {{block + 10, StaleNaN()}};
  std::vector<AggregateWindow> sw;
  DownsampleRaw(stale_only, kRes1hMs, &sw);
  chunk.clear();
  EncodeAggrChunk(Resolution::k1h, AlignDown(block, kBlock1hMs), sw, &chunk);
  back.clear();
  ASSERT_TRUE(DecodeAggrChunk(chunk, &back).ok());
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].count, 0u);
  EXPECT_TRUE(IsStaleNaN(back[0].last_v));
  EXPECT_EQ(back[0].last_t, block + 10);
}

TEST(AggrChunkTest, MalformedInputIsDataLossAndLeavesOutputAlone) {
  const int64_t block = 20000 * kDay;
  std::vector<AggregateWindow> w;
  DownsampleRaw(Counter(block, block + kDay, 60'000, 3), kRes5mMs, &w);
  std::string chunk;
  EncodeAggrChunk(Resolution::k5m, block, w, &chunk);
  std::vector<AggregateWindow> out(3);
  for (size_t n = 0; n < chunk.size(); ++n) {
    EXPECT_EQ(DecodeAggrChunk(chunk.substr(0, n), &out).code(), absl::StatusCode::kDataLoss) << n;
    EXPECT_EQ(out.size(), 3u);
  }
  EXPECT_EQ(DecodeAggrChunk(chunk + "x", &out).code(), absl::StatusCode::kDataLoss);
  std::string bad_version = chunk;
  bad_version[0] = static_cast<char>(0x21);
  EXPECT_EQ(DecodeAggrChunk(bad_version, &out).code(), absl::StatusCode::kDataLoss);
}

TEST(DownsampleTest, WindowsAreExactOverRawSamples) {
  const int64_t start = 20000 * kDay;
  std::vector<Sample> raw = Gauge(start, start + kDay, 15'000, 11);
  std::vector<AggregateWindow> w;
  DownsampleRaw(raw, kRes5mMs, &w);
  size_t i = 0;
  for (const AggregateWindow& a : w) {
    std::vector<Sample> in;
    while (i < raw.size() && raw[i].t_ms < a.t_ms + kRes5mMs) in.push_back(raw[i++]);
    ASSERT_FALSE(in.empty());
    uint64_t count = 0;
    double sum = 0, mn = 0, mx = 0;
    bool any = false;
    for (const Sample& s : in) {
      if (IsStaleNaN(s.v)) continue;
      ++count;
      sum += s.v;
      if (!any) {
        mn = mx = s.v;
        any = true;
      } else {
        if (s.v < mn || std::isnan(mn)) mn = s.v;
        if (s.v > mx || std::isnan(mx)) mx = s.v;
      }
    }
    EXPECT_EQ(a.count, count);
    EXPECT_EQ(a.last_t, in.back().t_ms);
    EXPECT_EQ(Bits(a.last_v), Bits(in.back().v));
    if (count > 0) {
      EXPECT_EQ(Bits(a.sum), Bits(sum));
      EXPECT_EQ(Bits(a.min), Bits(mn));
      EXPECT_EQ(Bits(a.max), Bits(mx));
    }
  }
  EXPECT_EQ(i, raw.size());
}

TEST(DownsampleTest, CounterAggregateAcrossResetsGivesTheRawIncrease) {
  const int64_t start = 20000 * kDay;
  std::vector<Sample> raw = Counter(start, start + 10 * kDay, 15'000, 5);
  std::vector<AggregateWindow> w5, w1h, direct;
  DownsampleRaw(raw, kRes5mMs, &w5);
  MergeWindows(w5, kRes1hMs, &w1h);
  DownsampleRaw(raw, kRes1hMs, &direct);
  // 5m -> 1h equals raw -> 1h (integer values: sums are exact).
  ASSERT_EQ(w1h.size(), direct.size());
  for (size_t i = 0; i < w1h.size(); ++i) ExpectWindowsEqual(w1h[i], direct[i]);
  // Over any run of whole windows, the increase from the counter aggregate
  // equals Prometheus's over the raw samples (resets included).
  int resets = 0;
  for (size_t i = 1; i < raw.size(); ++i) resets += raw[i].v < raw[i - 1].v;
  ASSERT_GT(resets, 10);
  for (size_t from : {0, 5, 37}) {
    for (size_t n : {1, 3, 24, 100}) {
      double inc = w1h[from].counter_inc;
      for (size_t k = from + 1; k < from + n; ++k) {
        inc += (w1h[k].first_v < w1h[k - 1].clast_v ? w1h[k].first_v
                                                    : w1h[k].first_v - w1h[k - 1].clast_v) +
               w1h[k].counter_inc;
      }
      std::vector<Sample> in;
      for (const Sample& s : raw) {
        if (s.t_ms >= w1h[from].t_ms && s.t_ms < w1h[from + n - 1].t_ms + kRes1hMs) in.push_back(s);
      }
      EXPECT_EQ(inc, RawIncrease(in)) << from << " " << n;
    }
  }
}

// --- Passes over a real storage -------------------------------------------

struct Fixture {
  TempDir dir;
  int64_t now = 0;
  std::unique_ptr<Storage> storage;

  void Open() {
    StorageOptions o;
    o.dir = dir.path();
    o.sync_wal = false;
    o.now_ms = [this] { return now; };
    storage = *Storage::Open(o);
  }
  void Write(const std::string& tenant, const std::string& name, std::span<const Sample> s) {
    std::vector<LabelView> labels = {{"__name__", name}, {"job", "j"}};
    for (size_t i = 0; i < s.size(); i += 5000) {
      AppendBatch b;
      b.series.push_back({labels, s.subspan(i, std::min<size_t>(5000, s.size() - i))});
      AppendResult r;
      ASSERT_TRUE(storage->Append(tenant, b, &r).ok());
      ASSERT_EQ(r.samples_rejected, 0u) << name;
    }
  }
  size_t RawCount(const std::string& tenant, const std::string& name, int64_t start, int64_t end) {
    auto q = (*storage->ForTenant(tenant)->NewQuerier(start, end));
    auto set = *q->Select({*Matcher::Make(MatchType::kEqual, "__name__", name)},
                          {.start_ms = start, .end_ms = end});
    size_t n = 0;
    std::vector<Sample> buf;
    while (set->Next()) {
      EXPECT_TRUE(set->Samples(&buf).ok());
      n += buf.size();
    }
    return n;
  }
  std::vector<AggregateWindow> Aggr(const std::string& tenant, Resolution r, int64_t start,
                                    int64_t end) {
    std::vector<AggregateWindow> all;
    EXPECT_TRUE(storage->Compaction()
                    ->ReadAggregates(tenant, r, start, end,
                                     [&](uint64_t, std::span<const AggregateWindow> w) {
                                       all.insert(all.end(), w.begin(), w.end());
                                       return absl::OkStatus();
                                     })
                    .ok());
    return all;
  }
};

// 35 days of one counter at a 2-minute step.
constexpr int64_t kStart = 20000 * kDay;
constexpr int64_t kEnd = kStart + 35 * kDay;

TEST(CompactorPassTest, DownsamplesAndAppliesRetentionPerResolution) {
  Fixture f;
  f.now = kEnd;
  f.Open();
  std::vector<Sample> c = Counter(kStart, kEnd, 120'000, 1);
  f.Write("a", "c", c);
  CompactorOptions o;
  o.now_ms = [&] { return f.now; };
  Compactor comp(f.storage.get(), o);
  auto sum = comp.RunPass(/*flush=*/true);
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(sum->failures, 0u);
  auto st = *f.storage->Compaction()->State("a");
  EXPECT_EQ(st.downsampled_5m_through, AlignDown(kEnd - 40 * kHour, kDay));
  EXPECT_EQ(st.downsampled_1h_through, AlignDown(kEnd - 10 * kDay, kBlock1hMs));
  EXPECT_EQ(st.raw_deleted_before, AlignDown(kEnd - 30 * kDay, kDay));
  // Raw data older than the retention is gone; newer raw data is whole.
  EXPECT_EQ(f.RawCount("a", "c", kStart, kEnd - 30 * kDay - 3 * kHour), 0u);
  size_t kept = 0;
  for (const Sample& s : c) kept += s.t_ms >= st.raw_deleted_before;
  EXPECT_EQ(f.RawCount("a", "c", st.raw_deleted_before, kEnd), kept);
  // 5m data covers every day from the start: equal to the raw windows.
  std::vector<AggregateWindow> want5,
      got5 = f.Aggr("a", Resolution::k5m, kStart, st.downsampled_5m_through);
  std::vector<Sample> upto;
  for (const Sample& s : c)
    if (s.t_ms < st.downsampled_5m_through) upto.push_back(s);
  DownsampleRaw(upto, kRes5mMs, &want5);
  ASSERT_EQ(got5.size(), want5.size());
  for (size_t i = 0; i < got5.size(); ++i) ExpectWindowsEqual(got5[i], want5[i]);
  // 1h windows as raw -> 1h.
  std::vector<AggregateWindow> want1h,
      got1h = f.Aggr("a", Resolution::k1h, kStart, st.downsampled_1h_through);
  std::vector<Sample> upto1h;
  for (const Sample& s : c)
    if (s.t_ms < st.downsampled_1h_through) upto1h.push_back(s);
  DownsampleRaw(upto1h, kRes1hMs, &want1h);
  ASSERT_EQ(got1h.size(), want1h.size());
  for (size_t i = 0; i < got1h.size(); ++i) ExpectWindowsEqual(got1h[i], want1h[i]);
  EXPECT_GT(sum->bytes_freed_raw, 0u);

  // A second pass at the same time has nothing to do.
  auto again = comp.RunPass(true);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->blocks_5m + again->blocks_1h + again->late_blocks, 0u);

  // Samples below the raw floor are refused (too old): a window whose raw
  // data is gone is never downsampled again from a part of it.
  AppendBatch b;
  std::vector<LabelView> labels = {{"__name__", "c"}, {"job", "j"}};
  Sample old{kStart + 5 * kDay + 1, 1};
  b.series.push_back({labels, {&old, 1}});
  AppendResult r;
  ASSERT_TRUE(f.storage->Append("a", b, &r).ok());
  EXPECT_EQ(r.samples_rejected, 1u);

  // State survives a reopen.
  f.storage.reset();
  f.Open();
  auto st2 = *f.storage->Compaction()->State("a");
  EXPECT_EQ(st2.downsampled_5m_through, st.downsampled_5m_through);
  EXPECT_EQ(st2.raw_deleted_before, st.raw_deleted_before);
  ASSERT_TRUE(f.storage->Append("a", b, &r).ok());
  EXPECT_EQ(r.samples_rejected, 1u);
}

TEST(CompactorPassTest, LateSamplesMakeTheirDayBeDownsampledAgain) {
  Fixture f;
  f.now = kEnd;
  f.Open();
  std::vector<Sample> c = Counter(kStart, kEnd, 120'000, 2);
  // Leave a hole on day 15 (inside the raw retention, already downsampled to
  // 5m and 1h).
  const int64_t hole = kStart + 15 * kDay + 3 * kHour + 60'000;
  std::vector<Sample> without;
  for (const Sample& s : c)
    if (s.t_ms < hole - 120'000 || s.t_ms > hole + 120'000) without.push_back(s);
  f.Write("a", "c", without);
  CompactorOptions o;
  o.now_ms = [&] { return f.now; };
  Compactor comp(f.storage.get(), o);
  ASSERT_TRUE(comp.RunPass(true).ok());
  auto count_at = [&](Resolution r, int64_t t) {
    auto w = f.Aggr("a", r, AlignDown(t, ResolutionMs(r)), AlignDown(t, ResolutionMs(r)) + 1);
    return w.empty() ? 0 : w[0].count;
  };
  const uint64_t before5 = count_at(Resolution::k5m, hole),
                 before1h = count_at(Resolution::k1h, hole);
  // The late sample arrives; its day and its 1h block are redone.
  f.Write("a", "c", std::vector<Sample>{{hole, 5.0}});
  auto sum = comp.RunPass(true);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum->late_blocks, 1u);
  EXPECT_EQ(count_at(Resolution::k5m, hole), before5 + 1);
  EXPECT_EQ(count_at(Resolution::k1h, hole), before1h + 1);
  // Marks are cleared: the next pass has nothing to redo.
  auto next = comp.RunPass(true);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->late_blocks, 0u);
}

// Appends `s` in 2-hour requests (as a backfill sends them); returns the
// samples rejected.
uint64_t Backfill(Storage* storage, const std::string& name, std::span<const Sample> s,
                  std::vector<AppendError>* errors = nullptr) {
  std::vector<LabelView> labels = {{"__name__", name}, {"job", "j"}};
  uint64_t rejected = 0;
  size_t i = 0;
  while (i < s.size()) {
    const int64_t until = AlignDown(s[i].t_ms, 2 * kHour) + 2 * kHour;
    size_t j = i;
    while (j < s.size() && s[j].t_ms < until) ++j;
    AppendBatch b;
    b.series.push_back({labels, s.subspan(i, j - i)});
    AppendResult r;
    EXPECT_TRUE(storage->Append("a", b, &r).ok());
    rejected += r.samples_rejected;
    if (errors != nullptr) errors->insert(errors->end(), r.errors.begin(), r.errors.end());
    i = j;
  }
  return rejected;
}

std::vector<Sample> Between(std::span<const Sample> s, int64_t from, int64_t to) {
  std::vector<Sample> out;
  for (const Sample& x : s)
    if (x.t_ms >= from && x.t_ms < to) out.push_back(x);
  return out;
}

// A pass in the middle of a backfill longer than the raw retention (issue 8
// item 5): the pass moves the 5m progress over the days not written yet and
// deletes raw data below now - 30d; the rest of the backfill below that floor
// must still end up in the 5m and 1h data, exactly, and a resent part must
// not be counted twice. (It was refused as too old: 2 of the 35 days here.)
TEST(CompactorPassTest, APassInTheMiddleOfABackfillLosesNothing) {
  Fixture f;
  f.now = kEnd;
  f.Open();
  std::vector<Sample> c = Counter(kStart, kEnd, 120'000, 11);
  CompactorOptions o;
  o.now_ms = [&] { return f.now; };
  Compactor comp(f.storage.get(), o);
  ASSERT_EQ(Backfill(f.storage.get(), "c", Between(c, kStart, kStart + 3 * kDay)), 0u);
  ASSERT_TRUE(comp.RunPass(true).ok());
  auto st = *f.storage->Compaction()->State("a");
  ASSERT_EQ(st.raw_deleted_before, kStart + 5 * kDay);  // days 3 and 4 are below it
  // The rest of the backfill; day 3 is sent twice (a retried request).
  ASSERT_EQ(Backfill(f.storage.get(), "c", Between(c, kStart + 3 * kDay, kStart + 4 * kDay)), 0u);
  ASSERT_EQ(Backfill(f.storage.get(), "c", Between(c, kStart + 3 * kDay, kEnd)), 0u);
  auto sum = comp.RunPass(true);
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(sum->failures, 0u);
  EXPECT_EQ(sum->staged_samples, Between(c, kStart + 3 * kDay, kStart + 5 * kDay).size());
  st = *f.storage->Compaction()->State("a");
  // Every 5m and 1h window equals the whole backfill's.
  std::vector<AggregateWindow> want5, want1h;
  DownsampleRaw(Between(c, kStart, st.downsampled_5m_through), kRes5mMs, &want5);
  DownsampleRaw(Between(c, kStart, st.downsampled_1h_through), kRes1hMs, &want1h);
  std::vector<AggregateWindow> got5 = f.Aggr("a", Resolution::k5m, kStart, kEnd),
                               got1h = f.Aggr("a", Resolution::k1h, kStart, kEnd);
  ASSERT_EQ(got5.size(), want5.size());
  for (size_t i = 0; i < got5.size(); ++i) ExpectWindowsEqual(got5[i], want5[i]);
  ASSERT_EQ(got1h.size(), want1h.size());
  for (size_t i = 0; i < got1h.size(); ++i) ExpectWindowsEqual(got1h[i], want1h[i]);
  // The raw data kept is whole.
  EXPECT_EQ(f.RawCount("a", "c", st.raw_deleted_before, kEnd),
            Between(c, st.raw_deleted_before, kEnd).size());
  // Sent again after the merge: refused (its windows hold it already), and
  // nothing changes; the next pass has nothing to merge.
  EXPECT_EQ(Backfill(f.storage.get(), "c", Between(c, kStart + 4 * kDay, kStart + 5 * kDay)),
            Between(c, kStart + 4 * kDay, kStart + 5 * kDay).size());
  auto next = comp.RunPass(true);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->staged_samples, 0u);
  got5 = f.Aggr("a", Resolution::k5m, kStart, kEnd);
  ASSERT_EQ(got5.size(), want5.size());
  for (size_t i = 0; i < got5.size(); ++i) ExpectWindowsEqual(got5[i], want5[i]);
  // Staged samples survive a reopen before their merge.
  const Sample later{kStart + 4 * kDay + 10 * kHour + 299'000, 1e9};  // after its window's last
  AppendBatch b;
  std::vector<LabelView> labels = {{"__name__", "c"}, {"job", "j"}};
  b.series.push_back({labels, {&later, 1}});
  AppendResult r;
  ASSERT_TRUE(f.storage->Append("a", b, &r).ok());
  EXPECT_EQ(r.samples_appended, 1u);
  f.storage.reset();
  f.Open();
  Compactor comp2(f.storage.get(), o);
  auto after = comp2.RunPass(true);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->staged_samples, 1u);
  auto w = f.Aggr("a", Resolution::k5m, AlignDown(later.t_ms, kRes5mMs),
                  AlignDown(later.t_ms, kRes5mMs) + 1);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].last_t, later.t_ms);
  EXPECT_EQ(w[0].last_v, 1e9);
}

// Below the raw floor, a backfilled sample goes to the finest resolution
// still kept there (5m, or 1h below the 5m deletion floor); older than every
// resolution kept, it is refused as too old.
TEST(CompactorPassTest, BackfillBelowEachFloorGoesToTheResolutionKeptThere) {
  Fixture f;
  f.now = kEnd;
  f.Open();
  std::vector<Sample> c = Counter(kStart, kEnd, 600'000, 12);
  const int64_t d2 = kStart + 2 * kDay, d11 = kStart + 11 * kDay, d16 = kStart + 16 * kDay;
  std::vector<Sample> holes;
  for (const Sample& x : c) {
    const int64_t day = AlignDown(x.t_ms, kDay);
    if (day != d2 && day != d11 && day != d16) holes.push_back(x);
  }
  ASSERT_EQ(Backfill(f.storage.get(), "c", holes), 0u);
  CompactorOptions o;
  o.now_ms = [&] { return f.now; };
  o.retention.raw_ms = 15 * kDay;     // raw floor kStart + 20d
  o.retention.res_5m_ms = 22 * kDay;  // 5m floor kStart + 13d
  o.retention.res_1h_ms = 25 * kDay;  // 1h floor kStart + 10d
  Compactor comp(f.storage.get(), o);
  ASSERT_TRUE(comp.RunPass(true).ok());
  auto st = *f.storage->Compaction()->State("a");
  ASSERT_EQ(st.raw_deleted_before, kStart + 20 * kDay);
  ASSERT_EQ(st.deleted_5m_before, kStart + 13 * kDay);
  ASSERT_EQ(st.deleted_1h_before, kStart + 10 * kDay);
  // Day 2 is older than every resolution kept: refused, as too old.
  std::vector<AppendError> errors;
  EXPECT_EQ(Backfill(f.storage.get(), "c", Between(c, d2, d2 + kDay), &errors),
            Between(c, d2, d2 + kDay).size());
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].kind, AppendErrorKind::kTooOld);
  // Day 11 (only 1h data kept) and day 16 (5m and 1h) are accepted.
  EXPECT_EQ(Backfill(f.storage.get(), "c", Between(c, d11, d11 + kDay)), 0u);
  EXPECT_EQ(Backfill(f.storage.get(), "c", Between(c, d16, d16 + kDay)), 0u);
  auto sum = comp.RunPass(true);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum->staged_samples, 2 * 144u);
  // The 1h block [10d, 20d) now equals the raw data's, all of it.
  std::vector<AggregateWindow> want1h;
  DownsampleRaw(Between(c, kStart + 10 * kDay, kStart + 20 * kDay), kRes1hMs, &want1h);
  std::vector<AggregateWindow> got1h =
      f.Aggr("a", Resolution::k1h, kStart + 10 * kDay, kStart + 20 * kDay);
  ASSERT_EQ(got1h.size(), want1h.size());
  for (size_t i = 0; i < got1h.size(); ++i) ExpectWindowsEqual(got1h[i], want1h[i]);
  // Day 16 at 5m too; nothing at 5m below the 5m floor.
  std::vector<AggregateWindow> want5;
  DownsampleRaw(Between(c, d16, d16 + kDay), kRes5mMs, &want5);
  std::vector<AggregateWindow> got5 = f.Aggr("a", Resolution::k5m, d16, d16 + kDay);
  ASSERT_EQ(got5.size(), want5.size());
  for (size_t i = 0; i < got5.size(); ++i) ExpectWindowsEqual(got5[i], want5[i]);
  EXPECT_TRUE(f.Aggr("a", Resolution::k5m, kStart, kStart + 13 * kDay).empty());
}

// The pass flushes its writes: right after it, RocksDB's logs do not hold
// them (the data dir held the aggregates twice until RocksDB flushed).
TEST(CompactorPassTest, APassLeavesNoWritesInRocksDbsLogs) {
  Fixture f;
  f.now = kEnd;
  f.Open();
  for (uint32_t i = 0; i < 8; ++i) {
    f.Write("a", "c" + std::to_string(i), Counter(kStart, kEnd, 120'000, 20 + i));
  }
  ASSERT_TRUE(f.storage->Flush().ok());
  CompactorOptions o;
  o.now_ms = [&] { return f.now; };
  Compactor comp(f.storage.get(), o);
  auto sum = comp.RunPass(/*flush=*/false);
  ASSERT_TRUE(sum.ok());
  ASSERT_GT(sum->windows_5m, 50'000u);
  const uint64_t logs = storage_testing::FileBytes(f.dir.path(), ".log");
  EXPECT_LT(logs, 64u << 10) << "bytes in RocksDB's logs right after the pass";
}

TEST(CompactorPassTest, NothingIsDeletedBeforeTheCoarserDataExists) {
  Fixture f;
  f.now = kEnd;
  f.Open();
  std::vector<Sample> c = Counter(kStart, kEnd, 600'000, 3);
  f.Write("a", "c", c);
  CompactorOptions o;
  o.now_ms = [&] { return f.now; };
  o.downsample_5m_after_ms = 34 * kDay;  // 5m only for the first day
  o.retention.raw_ms = 2 * kDay;
  o.retention.res_5m_ms = 1 * kDay;
  Compactor comp(f.storage.get(), o);
  ASSERT_TRUE(comp.RunPass(true).ok());
  auto st = *f.storage->Compaction()->State("a");
  EXPECT_EQ(st.downsampled_5m_through, kStart + kDay);
  EXPECT_EQ(st.raw_deleted_before, kStart + kDay);  // not kEnd - 2d
  EXPECT_EQ(f.RawCount("a", "c", kStart + kDay, kEnd), c.size() - 144);
  EXPECT_EQ(st.deleted_5m_before, kNoTime);                            // no 1h data replaces it
  EXPECT_EQ(f.Aggr("a", Resolution::k5m, kStart, kEnd).size(), 144u);  // a sample every 10m
}

// 5m data goes only where 1h data replaces it (and no late raw sample can
// make its 1h block be derived again); 1h data by its own retention.
TEST(CompactorPassTest, AggregatesAreDeletedByTheirOwnRetention) {
  Fixture f;
  f.now = kEnd;
  f.Open();
  std::vector<Sample> c = Counter(kStart, kEnd, 600'000, 6);
  f.Write("a", "c", c);
  CompactorOptions o;
  o.now_ms = [&] { return f.now; };
  o.retention.raw_ms = 5 * kDay;      // raw floor kStart + 30d
  o.retention.res_5m_ms = 4 * kDay;   // asks for kStart + 31d
  o.retention.res_1h_ms = 25 * kDay;  // kStart + 10d
  Compactor comp(f.storage.get(), o);
  auto sum = comp.RunPass(true);
  ASSERT_TRUE(sum.ok());
  auto st = *f.storage->Compaction()->State("a");
  EXPECT_EQ(st.downsampled_1h_through, kStart + 20 * kDay);
  // Lowered to the 1h progress: kStart + 20d.
  EXPECT_EQ(st.deleted_5m_before, kStart + 20 * kDay);
  EXPECT_EQ(st.deleted_1h_before, kStart + 10 * kDay);
  EXPECT_TRUE(f.Aggr("a", Resolution::k5m, kStart, kStart + 20 * kDay).empty());
  EXPECT_EQ(f.Aggr("a", Resolution::k5m, kStart + 20 * kDay, kStart + 21 * kDay).size(), 144u);
  EXPECT_TRUE(f.Aggr("a", Resolution::k1h, kStart, kStart + 10 * kDay).empty());
  EXPECT_EQ(f.Aggr("a", Resolution::k1h, kStart + 10 * kDay, kStart + 20 * kDay).size(), 240u);
  EXPECT_GT(sum->bytes_freed_5m, 0u);
  EXPECT_GT(sum->bytes_freed_1h, 0u);
}

TEST(CompactorPassTest, PerTenantRetentionLeavesOtherTenantsAlone) {
  Fixture f;
  f.now = kEnd;
  f.Open();
  std::vector<Sample> c = Counter(kStart, kEnd, 600'000, 4);
  f.Write("a", "c", c);
  f.Write("b", "c", c);
  CompactorOptions o;
  o.now_ms = [&] { return f.now; };
  o.tenant_retention["b"].raw_ms = 0;  // forever
  Compactor comp(f.storage.get(), o);
  ASSERT_TRUE(comp.RunPass(true).ok());
  EXPECT_LT(f.RawCount("a", "c", kStart, kEnd), c.size());
  EXPECT_EQ(f.RawCount("b", "c", kStart, kEnd), c.size());
  EXPECT_NE((*f.storage->Compaction()->State("b")).downsampled_5m_through, kNoTime);
}

// Appends racing with passes (late samples into days being downsampled,
// new series, recent data): after a final pass every 5m window equals the
// raw samples acknowledged in it; nothing lost or counted twice.
TEST(CompactorPassTest, PassesConcurrentWithAppendsLoseNothing) {
  Fixture f;
  f.now = kStart + 20 * kDay;
  f.Open();
  CompactorOptions o;
  o.now_ms = [&] { return f.now; };
  o.retention.raw_ms = 0;  // keep raw to compare with
  Compactor comp(f.storage.get(), o);
  constexpr int kWriters = 3;
  std::vector<std::vector<Sample>> written(kWriters);
  std::atomic<bool> done{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(w);
      std::vector<LabelView> labels = {{"__name__", "m"}, {"w", w == 0 ? "0" : w == 1 ? "1" : "2"}};
      std::set<int64_t> used;
      for (int i = 0; i < 400; ++i) {
        // Anywhere in the 19 days before "now": most of it already
        // downsampled or being downsampled.
        std::vector<Sample> batch;
        for (int k = 0; k < 20; ++k) {
          int64_t t = kStart + static_cast<int64_t>(rng() % (19 * 1440)) * 60'000 + w;
          if (!used.insert(t).second) continue;
          batch.push_back({t, static_cast<double>(rng() % 1000)});
        }
        AppendBatch b;
        b.series.push_back({labels, batch});
        AppendResult r;
        ASSERT_TRUE(f.storage->Append("a", b, &r).ok());
        ASSERT_EQ(r.samples_rejected, 0u);
        written[w].insert(written[w].end(), batch.begin(), batch.end());
      }
    });
  }
  std::thread passes([&] {
    while (!done.load()) ASSERT_TRUE(comp.RunPass(false).ok());
  });
  for (auto& t : writers) t.join();
  done = true;
  passes.join();
  ASSERT_TRUE(comp.RunPass(true).ok());
  auto st = *f.storage->Compaction()->State("a");
  ASSERT_NE(st.downsampled_5m_through, kNoTime);
  std::vector<AggregateWindow> got =
      f.Aggr("a", Resolution::k5m, kStart, st.downsampled_5m_through);
  std::vector<AggregateWindow> want;
  for (auto& w : written) {
    std::sort(w.begin(), w.end(), [](const Sample& a, const Sample& b) { return a.t_ms < b.t_ms; });
    std::vector<Sample> upto;
    for (const Sample& s : w)
      if (s.t_ms < st.downsampled_5m_through) upto.push_back(s);
    DownsampleRaw(upto, kRes5mMs, &want);
  }
  // Series come in id order (whichever writer came first): compare sorted.
  auto order = [](const AggregateWindow& a, const AggregateWindow& b) {
    return std::tie(a.t_ms, a.last_t) < std::tie(b.t_ms, b.last_t);
  };
  std::sort(got.begin(), got.end(), order);
  std::sort(want.begin(), want.end(), order);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ExpectWindowsEqual(got[i], want[i]);
}

TEST(StorageFormatTest, AVersion1DirOpensAndIsMigrated) {
  TempDir dir;
  {
    StorageOptions o;
    o.dir = dir.path();
    auto s = Storage::Open(o);
    ASSERT_TRUE(s.ok());
  }
  // Rewrite the marker as version 1 (the downsampled family is then
  // created by the open as for a real version-1 dir).
  ASSERT_TRUE(WriteFormatFile(dir.path(), 1).ok());
  ASSERT_EQ(*ReadFormatVersion(dir.path()), 1);
  StorageOptions o;
  o.dir = dir.path();
  auto s = Storage::Open(o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*ReadFormatVersion(dir.path()), kStorageFormatVersion);
  EXPECT_NE((*s)->Compaction(), nullptr);
}

}  // namespace
}  // namespace meridian::compactor
