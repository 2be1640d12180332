// The query side of downsampling (issue 8 item 4, docs/downsampling.md):
// 35 days of generated data (counters with resets, gauges with NaN, gaps
// and stale markers, dense and sparse series, series starting late and
// stopping early) written through storage with an injected clock,
// downsampled by a compactor pass, then queried through the engine at
// every resolution and compared with the raw answers.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "compactor/compactor.h"
#include "model/executor.h"
#include "model/queryable.h"
#include "query/engine.h"
#include "storage/compaction.h"
#include "storage/storage.h"

namespace meridian {
namespace {

constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay = 86'400'000;
constexpr int64_t kStart = 20000 * kDay;  // a multiple of the 10-day 1h block
constexpr int64_t kEnd = kStart + 35 * kDay;
constexpr int64_t kRaw = 0, k5m = 5 * kMin, k1h = kHour, kAuto = -1;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/meridian_downsampled_query_test_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Scrape times every `step` with a jitter of 1..21 s: never on a window
// boundary (a sample exactly at a step time would belong to the window
// after it, but to the raw range before it).
template <typename F>
std::vector<Sample> Scrapes(int64_t start, int64_t end, int64_t step, uint32_t seed, F value) {
  std::mt19937 rng(seed);
  std::vector<Sample> out;
  for (int64_t t = start; t < end; t += step) {
    const int64_t jitter = 1000 + static_cast<int64_t>(rng() % 20'000);
    double v;
    if (!value(rng, t, &v)) continue;
    out.push_back({t + jitter, v});
  }
  return out;
}

std::vector<Sample> Counter(int64_t start, int64_t end, int64_t step, uint32_t seed) {
  double c = 1000;
  int64_t last_reset = start;
  return Scrapes(start, end, step, seed, [&](std::mt19937& rng, int64_t t, double* v) {
    // A reset now and then, at most one per 2 h (resets() counts the windows
    // with a reset: exact while no window holds two).
    if (rng() % 3000 == 0 && t - last_reset > 2 * kHour) {
      c = static_cast<double>(rng() % 10);
      last_reset = t;
    }
    c += static_cast<double>(rng() % 50);
    *v = c;
    return true;
  });
}

// Values in halves (sums are exact in any order), rare NaN, hour-long gaps
// and stale markers.
std::vector<Sample> Gauge(int64_t start, int64_t end, int64_t step, uint32_t seed, bool holes) {
  int64_t gap_until = 0;
  return Scrapes(start, end, step, seed, [&](std::mt19937& rng, int64_t t, double* v) {
    if (t < gap_until) return false;
    const uint32_t r = rng() % 5000;
    if (holes && r < 3) {
      gap_until = t + kHour + static_cast<int64_t>(rng() % 3) * kHour;
      *v = StaleNaN();  // the series goes stale, then resumes after the gap
      return true;
    }
    if (holes && r == 3) {
      *v = std::nan("");
      return true;
    }
    *v = static_cast<double>(static_cast<int>(rng() % 4000) - 2000) / 2;
    return true;
  });
}

struct Series {
  std::string name;
  std::vector<Sample> samples;
};

std::vector<Series> Generate() {
  std::vector<Series> s;
  s.push_back({"dense_total", Counter(kStart, kEnd, 30'000, 1)});
  s.push_back({"sparse_total", Counter(kStart, kEnd, 7 * kMin, 2)});
  s.push_back({"gauge", Gauge(kStart, kEnd, 30'000, 3, false)});
  s.push_back({"holes", Gauge(kStart, kEnd, 60'000, 4, true)});
  s.push_back({"late", Gauge(kStart + 20 * kDay + 7 * kHour, kEnd, 30'000, 5, false)});
  std::vector<Sample> early = Counter(kStart, kStart + 12 * kDay + 5 * kHour, 30'000, 6);
  early.push_back({early.back().t_ms + 30'000, StaleNaN()});  // stops: a stale marker
  s.push_back({"early_total", early});
  return s;
}

const std::vector<Series>& Data() {
  static const std::vector<Series> d = Generate();
  return d;
}

// A storage holding the data, after one compactor pass at kEnd.
struct Store {
  TempDir dir;
  std::unique_ptr<Storage> storage;

  explicit Store(compactor::RetentionPolicy retention, const std::vector<Series>& data = Data()) {
    StorageOptions o;
    o.dir = dir.path();
    o.sync_wal = false;
    o.now_ms = [] { return kEnd; };
    storage = *Storage::Open(o);
    for (const Series& s : data) {
      std::vector<LabelView> labels = {{"__name__", s.name}, {"job", "j"}};
      for (size_t i = 0; i < s.samples.size(); i += 20000) {
        AppendBatch b;
        b.series.push_back({labels, std::span<const Sample>(s.samples).subspan(
                                        i, std::min<size_t>(20000, s.samples.size() - i))});
        AppendResult r;
        EXPECT_TRUE(storage->Append("t", b, &r).ok());
        EXPECT_EQ(r.samples_rejected, 0u) << s.name;
      }
    }
    compactor::CompactorOptions co;
    co.now_ms = [] { return kEnd; };
    co.retention = retention;
    compactor::Compactor comp(storage.get(), co);
    auto sum = comp.RunPass(/*flush=*/true);
    EXPECT_TRUE(sum.ok());
    if (sum.ok()) {
      EXPECT_EQ(sum->failures, 0u);
    }
  }
};

// Raw data kept for ever (the reference answers come from it) and default
// retention for the aggregates.
Store& KeepAll() {
  static Store* s = [] {
    compactor::RetentionPolicy p;
    p.raw_ms = 0;
    return new Store(p);
  }();
  return *s;
}

using Answer = std::map<std::string, std::map<int64_t, double>>;  // labels -> t -> v

struct Result {
  Answer answer;
  std::vector<std::string> infos;
  size_t points = 0;
};

// A range query's answer as a Result (an error fails the test, empty answer).
template <typename Answer>
Result ToResult(const Answer& r, const std::string& q) {
  EXPECT_TRUE(r.ok()) << q << ": " << r.status();
  Result out;
  if (!r.ok()) return out;
  for (const auto& series : std::get<promql::Matrix>(r->value)) {
    auto& m = out.answer[series.metric.ToString()];
    for (const auto& p : series.points) m[p.t_ms] = p.v;
    out.points += series.points.size();
  }
  out.infos = r->infos;
  return out;
}

Result Query(Store& s, const std::string& q, int64_t start, int64_t end, int64_t step,
             int64_t max_source) {
  promql::Engine engine(promql::EngineOptions{});
  promql::QueryOptions o;
  o.max_source_resolution_ms = max_source;
  return ToResult(engine.RangeQuery(*s.storage->ForTenant("t"), q, start, end, step, o), q);
}

bool SameValue(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// Every point of `want` is in `got` within `rel` (relative, 0: exactly), and
// `got` has no point `want` lacks. Returns the number of points compared.
size_t ExpectClose(const Answer& got, const Answer& want, double rel, const std::string& what) {
  size_t n = 0;
  EXPECT_EQ(got.size(), want.size()) << what;
  for (const auto& [ls, pts] : want) {
    auto it = got.find(ls);
    if (it == got.end()) {
      ADD_FAILURE() << what << ": missing series " << ls;
      continue;
    }
    EXPECT_EQ(it->second.size(), pts.size()) << what << " " << ls;
    int bad = 0;
    for (const auto& [t, v] : pts) {
      auto p = it->second.find(t);
      if (p == it->second.end()) {
        if (bad++ < 3) ADD_FAILURE() << what << " " << ls << ": no point at " << t;
        continue;
      }
      ++n;
      const bool ok = rel == 0 ? SameValue(p->second, v)
                               : std::fabs(p->second - v) <= rel * std::max(std::fabs(v), 1e-9);
      if (!ok && bad++ < 3) {
        ADD_FAILURE() << what << " " << ls << " at " << t << ": got " << p->second << ", raw " << v;
      }
    }
  }
  return n;
}

bool HasInfo(const Result& r, const std::string& part) {
  for (const auto& i : r.infos) {
    if (i.find(part) != std::string::npos) return true;
  }
  return false;
}

// Aligned windows in the part of the data downsampled to 1h (older than 10
// days) and to 5m (older than 40 h).
constexpr int64_t k1hFrom = kStart + kDay, k1hTo = kEnd - 11 * kDay;
constexpr int64_t k5mFrom = kEnd - 9 * kDay, k5mTo = kEnd - 2 * kDay;

TEST(DownsampledQueryTest, OverTimeAggregatesAreExactOverAlignedWindows) {
  Store& s = KeepAll();
  const std::vector<std::string> fns = {
      "sum_over_time",   "count_over_time",   "min_over_time",
      "max_over_time",   "avg_over_time",     "last_over_time",
      "first_over_time", "present_over_time", "ts_of_last_over_time"};
  for (const std::string& fn : fns) {
    for (const char* sel : {"gauge", "holes", "late", "sparse_total", "early_total"}) {
      for (auto [res, range, step, from, to] :
           {std::tuple{k1h, "1h", k1h, k1hFrom, k1hTo}, std::tuple{k1h, "1d", k1h, k1hFrom, k1hTo},
            std::tuple{k5m, "5m", k5m, k5mFrom, k5mTo},
            std::tuple{k5m, "1h", k5m, k5mFrom, k5mTo}}) {
        const std::string q = fn + "(" + sel + "[" + range + "])";
        Result raw = Query(s, q, from, to, step, kRaw);
        Result ds = Query(s, q, from, to, step, res);
        EXPECT_FALSE(HasInfo(raw, "downsampled")) << q;
        if (raw.points == 0) continue;
        EXPECT_TRUE(HasInfo(ds, "answered from downsampled data")) << q;
        ExpectClose(ds.answer, raw.answer, 0, q + " at " + std::to_string(res));
      }
    }
  }
}

TEST(DownsampledQueryTest, PlainSelectorsReadLastAndHonourStaleMarkers) {
  Store& s = KeepAll();
  for (const char* sel : {"gauge", "holes", "late", "dense_total", "early_total"}) {
    Result raw = Query(s, sel, k1hFrom, k1hTo, k1h, kRaw);
    Result ds = Query(s, sel, k1hFrom, k1hTo, k1h, k1h);
    ASSERT_GT(raw.points, 0u) << sel;
    EXPECT_TRUE(HasInfo(ds, "answered from downsampled data")) << sel;
    ExpectClose(ds.answer, raw.answer, 0, sel);
    raw = Query(s, sel, k5mFrom, k5mTo, k5m, kRaw);
    ds = Query(s, sel, k5mFrom, k5mTo, k5m, k5m);
    ExpectClose(ds.answer, raw.answer, 0, std::string(sel) + " 5m");
  }
  // The early-stopping series ends with a stale marker: no value after it.
  Result after = Query(s, "early_total", kStart + 12 * kDay + 6 * kHour,
                       kStart + 12 * kDay + 9 * kHour, k1h, k1h);
  EXPECT_EQ(after.points, 0u);
}

TEST(DownsampledQueryTest, CounterFunctionsAgreeWithRawAcrossResets) {
  Store& s = KeepAll();
  // Resets inside the compared ranges.
  int resets = 0;
  for (const Sample& x : Data()[0].samples) {
    static double prev = 0;
    resets += x.v < prev;
    prev = x.v;
  }
  ASSERT_GT(resets, 10);
  for (const char* sel : {"dense_total", "sparse_total", "early_total"}) {
    for (const char* fn : {"rate", "increase"}) {
      for (const char* range : {"1h", "3h"}) {
        const std::string q = std::string(fn) + "(" + sel + "[" + range + "])";
        Result raw = Query(s, q, k1hFrom, k1hTo, k1h, kRaw);
        ASSERT_GT(raw.points, 0u) << q;
        ExpectClose(Query(s, q, k1hFrom, k1hTo, k1h, k1h).answer, raw.answer, 0.01, q + " 1h");
        ExpectClose(Query(s, q, k1hFrom, k1hTo, k1h, k5m).answer, raw.answer, 0.01, q + " 5m");
      }
      const std::string q5 = std::string(fn) + "(" + sel + "[5m])";
      Result raw = Query(s, q5, k5mFrom, k5mTo, k5m, kRaw);
      ExpectClose(Query(s, q5, k5mFrom, k5mTo, k5m, k5m).answer, raw.answer, 0.02, q5);
    }
    // resets: exact while a window holds at most one reset (as here).
    const std::string q = std::string("resets(") + sel + "[6h])";
    ExpectClose(Query(s, q, k1hFrom, k1hTo, k1h, k1h).answer,
                Query(s, q, k1hFrom, k1hTo, k1h, kRaw).answer, 0, q);
    // irate/idelta have no exact aggregate: they answer wherever raw does.
    for (const char* fn : {"irate", "delta"}) {
      const std::string qi = std::string(fn) + "(" + sel + "[1h])";
      Result raw = Query(s, qi, k1hFrom, k1hTo, k1h, kRaw);
      Result ds = Query(s, qi, k1hFrom, k1hTo, k1h, k1h);
      EXPECT_EQ(ds.points, raw.points) << qi;
    }
  }
}

TEST(DownsampledQueryTest, AutoEqualsRawFor30DaysAt1hAnd7DaysAt5m) {
  Store& s = KeepAll();
  struct Case {
    std::string q;
    double rel;
    std::string info;  // the resolutions that answer
  };
  const std::string all = "resolutions 1h, 5m, raw";
  const std::vector<Case> at1h = {{"rate(dense_total[1h])", 0.01, all},
                                  {"sum by (job) (increase(dense_total[1h]))", 0.01, all},
                                  // Shorter than 1h: 5m data answers, never nothing.
                                  {"rate(dense_total[5m])", 0.02, "resolutions 5m, raw"},
                                  {"rate(sparse_total[2h])", 0.01, all},
                                  {"sum_over_time(gauge[1h])", 0, all},
                                  {"avg_over_time(holes[1h])", 0, all},
                                  {"max_over_time(gauge[1h])", 0, all},
                                  {"gauge", 0, all},
                                  {"holes", 0, all}};
  const int64_t from30 = kEnd - 30 * kDay, to = kEnd;
  for (const Case& c : at1h) {
    Result raw = Query(s, c.q, from30, to, k1h, kRaw);
    Result au = Query(s, c.q, from30, to, k1h, kAuto);
    ASSERT_GT(raw.points, 600u) << c.q;
    EXPECT_TRUE(HasInfo(au, c.info)) << c.q;
    ExpectClose(au.answer, raw.answer, c.rel, "auto 30d " + c.q);
  }
  const std::vector<Case> at5m = {{"rate(dense_total[5m])", 0.02, "resolutions 5m, raw"},
                                  {"increase(dense_total[1h])", 0.01, "resolutions 5m, raw"},
                                  {"count_over_time(gauge[5m])", 0, "resolutions 5m, raw"},
                                  // Long ranges at a short step (prefix sums).
                                  {"increase(dense_total[1d])", 0.01, "resolutions 5m, raw"},
                                  {"count_over_time(gauge[1d])", 0, "resolutions 5m, raw"},
                                  {"min_over_time(holes[15m])", 0, "resolutions 5m, raw"},
                                  {"gauge", 0, "resolutions 5m, raw"}};
  const int64_t from7 = kEnd - 7 * kDay;
  for (const Case& c : at5m) {
    Result raw = Query(s, c.q, from7, to, k5m, kRaw);
    Result au = Query(s, c.q, from7, to, k5m, kAuto);
    ASSERT_GT(raw.points, 1500u) << c.q;
    EXPECT_TRUE(HasInfo(au, c.info)) << c.q;
    ExpectClose(au.answer, raw.answer, c.rel, "auto 7d " + c.q);
  }
}

// Offsets, @ and subqueries keep their meaning over downsampled data.
TEST(DownsampledQueryTest, OffsetAtAndSubqueries) {
  Store& s = KeepAll();
  const std::string at = std::to_string((k1hFrom + kDay) / 1000);
  const std::vector<std::string> qs = {"sum_over_time(gauge[1h] offset 1d)",
                                       "rate(dense_total[1h] offset 3h)",
                                       "gauge offset 2h",
                                       "max_over_time(holes[2h] @ " + at + ")",
                                       "max_over_time(rate(dense_total[5m])[1d:1h])",
                                       "avg_over_time(gauge[1d:1h])"};
  for (const std::string& q : qs) {
    Result raw = Query(s, q, k1hFrom + kDay, k1hTo, k1h, kRaw);
    Result au = Query(s, q, k1hFrom + kDay, k1hTo, k1h, kAuto);
    ASSERT_GT(raw.points, 100u) << q;
    EXPECT_TRUE(HasInfo(au, "answered from downsampled data")) << q;
    ExpectClose(au.answer, raw.answer, q.find("rate") != std::string::npos ? 0.02 : 0, q);
  }
}

TEST(DownsampledQueryTest, FunctionsNoAggregateAnswersReadRawWhereItIsKept) {
  Store& s = KeepAll();
  for (const char* q : {"quantile_over_time(0.9, gauge[1h])", "stddev_over_time(gauge[1h])",
                        "changes(holes[1h])"}) {
    Result raw = Query(s, q, k1hFrom, k1hTo, k1h, kRaw);
    Result au = Query(s, q, k1hFrom, k1hTo, k1h, kAuto);
    EXPECT_FALSE(HasInfo(au, "downsampled")) << q;
    ExpectClose(au.answer, raw.answer, 0, q);
  }
}

// Default retention: raw data older than 30 days is gone after the pass,
// and 30-day (and 35-day) queries are answered from the coarser data.
TEST(DownsampledQueryTest, A35DayBackfillUnderDefaultRetentionAnswersFromCoarseData) {
  Store s{compactor::RetentionPolicy{}};
  const int64_t raw_floor = kEnd - 30 * kDay;
  for (const char* q : {"rate(dense_total[1h])", "sum_over_time(gauge[1h])", "gauge"}) {
    Result raw_only = Query(s, q, kStart + kDay, kEnd, k1h, kRaw);
    for (const auto& [ls, pts] : raw_only.answer) {
      ASSERT_FALSE(pts.empty());
      EXPECT_GE(pts.begin()->first, raw_floor) << q << ": raw data before the floor";
    }
    Result au = Query(s, q, kStart + kDay, kEnd, k1h, kAuto);
    Result want = Query(KeepAll(), q, kStart + kDay, kEnd, k1h, kRaw);
    ASSERT_GT(want.points, 800u);
    ExpectClose(au.answer, want.answer, std::string(q) == "rate(dense_total[1h])" ? 0.01 : 0,
                std::string("35d ") + q);
  }
}

// Only 1h data is left in the oldest days: a range shorter than 1h is
// widened to one 1h window (and said), never answered with nothing.
TEST(DownsampledQueryTest, RangeShorterThanTheOnlyResolutionIsWidenedAndSaid) {
  compactor::RetentionPolicy p;
  p.raw_ms = 20 * kDay;
  p.res_5m_ms = 20 * kDay;
  Store s{p};
  const int64_t from = kStart + kDay, to = kStart + 9 * kDay;
  Result au = Query(s, "rate(dense_total[5m])", from, to, k1h, kAuto);
  EXPECT_TRUE(HasInfo(au, "widened")) << (au.infos.empty() ? "" : au.infos[0]);
  EXPECT_TRUE(HasInfo(au, "resolutions 1h"));
  // What it says: the rate over the 1h window.
  Result want = Query(KeepAll(), "rate(dense_total[1h])", from, to, k1h, kRaw);
  ASSERT_GT(want.points, 150u);
  ExpectClose(au.answer, want.answer, 0.01, "widened rate");
  // A plain selector at a 5m step there has a value at every step.
  Result plain = Query(s, "gauge", from, from + kDay, k5m, kAuto);
  EXPECT_EQ(plain.points, static_cast<size_t>(kDay / k5m + 1));
  EXPECT_TRUE(HasInfo(plain, "lookback widened"));
  // max_source_resolution=raw reads raw data only: nothing there.
  EXPECT_EQ(Query(s, "rate(dense_total[5m])", from, to, k1h, kRaw).points, 0u);
}

// A tenant's Queryable with or without the range hint (SelectHints::
// range_ms cleared), counting the aggregate windows its sets yield.
class RangeHint : public Queryable {
 public:
  RangeHint(std::unique_ptr<Queryable> q, bool hint) : q_(std::move(q)), hint_(hint) {}
  absl::StatusOr<std::unique_ptr<Querier>> NewQuerier(int64_t mint, int64_t maxt,
                                                      const ReadContext& ctx) const override {
    MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<Querier> q, q_->NewQuerier(mint, maxt, ctx));
    return std::unique_ptr<Querier>(new Q(std::move(q), this));
  }
  mutable size_t windows = 0;
  mutable size_t hinted_selects = 0;

 private:
  class Set : public SeriesSet {
   public:
    Set(std::unique_ptr<SeriesSet> s, const RangeHint* h) : s_(std::move(s)), h_(h) {}
    bool Next() override { return s_->Next(); }
    const Labels& labels() const override { return s_->labels(); }
    absl::Status Samples(std::vector<Sample>* out) override { return s_->Samples(out); }
    absl::Status Data(SeriesData* out) override {
      MERIDIAN_RETURN_IF_ERROR(s_->Data(out));
      for (const SeriesData::Run& r : out->runs) {
        if (r.resolution_ms > 0) h_->windows += r.end - r.begin;
      }
      return absl::OkStatus();
    }
    absl::Status status() const override { return s_->status(); }
    std::vector<std::string> warnings() const override { return s_->warnings(); }

   private:
    std::unique_ptr<SeriesSet> s_;
    const RangeHint* h_;
  };
  class Q : public Querier {
   public:
    Q(std::unique_ptr<Querier> q, const RangeHint* h) : q_(std::move(q)), h_(h) {}
    absl::StatusOr<std::unique_ptr<SeriesSet>> Select(const std::vector<Matcher>& m,
                                                      const SelectHints& hints) override {
      SelectHints h = hints;
      if (h.range_ms > 0) ++h_->hinted_selects;
      if (!h_->hint_) h.range_ms = 0;
      MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<SeriesSet> s, q_->Select(m, h));
      return std::unique_ptr<SeriesSet>(new Set(std::move(s), h_));
    }
    absl::StatusOr<std::vector<std::string>> LabelNames(const std::vector<Matcher>& m) override {
      return q_->LabelNames(m);
    }
    absl::StatusOr<std::vector<std::string>> LabelValues(const std::string& n,
                                                         const std::vector<Matcher>& m) override {
      return q_->LabelValues(n, m);
    }
    std::vector<int64_t> AggregateResolutions() const override {
      return q_->AggregateResolutions();
    }
    std::vector<std::string> Infos() const override { return q_->Infos(); }

   private:
    std::unique_ptr<Querier> q_;
    const RangeHint* h_;
  };
  std::unique_ptr<Queryable> q_;
  const bool hint_;
};

Result QueryOn(const Queryable& q, const std::string& text, int64_t start, int64_t end,
               int64_t step, Executor* executor = nullptr) {
  promql::EngineOptions eo;
  eo.executor = executor;
  promql::Engine engine(eo);
  promql::QueryOptions o;
  o.max_source_resolution_ms = kAuto;
  return ToResult(engine.RangeQuery(q, text, start, end, step, o), text);
}

// With the step wider than the range (rate(x[5m]) at a 1 h step) storage
// yields only the windows the steps read (SelectHints::range_ms): the
// answers are bit for bit those without the hint, for steps aligned to the
// windows and not (where raw data is gone, unaligned steps read 5m windows
// of which a step's range holds parts of two), with offsets, where only 1h
// data is left (the range widens to it), and across the resolutions'
// boundaries of 30 days.
TEST(DownsampledQueryTest, RangeHintLeavesOutOnlyWindowsNoStepReads) {
  compactor::RetentionPolicy raw20;
  raw20.raw_ms = 20 * kDay;
  Store no_old_raw{raw20};
  compactor::RetentionPolicy only1h = raw20;
  only1h.res_5m_ms = 20 * kDay;
  Store no_old_5m{only1h};
  const std::vector<std::string> fns = {"rate",           "increase",        "sum_over_time",
                                        "avg_over_time",  "count_over_time", "max_over_time",
                                        "last_over_time", "resets",          "irate"};
  size_t compared = 0, hinted_windows = 0, plain_windows = 0;
  for (Store* s : {&KeepAll(), &no_old_raw, &no_old_5m}) {
    RangeHint hinted(s->storage->ForTenant("t"), true);
    RangeHint plain(s->storage->ForTenant("t"), false);
    for (const std::string& fn : fns) {
      for (const char* sel : {"dense_total", "sparse_total", "holes", "early_total"}) {
        for (auto [range, step, shift, offset] :
             {std::tuple{"5m", k1h, int64_t{0}, ""}, std::tuple{"5m", k1h, int64_t{150'000}, ""},
              std::tuple{"10m", 3 * k1h, int64_t{7'000}, ""},
              std::tuple{"15m", 20 * kMin, int64_t{0}, ""},
              std::tuple{"5m", k1h, int64_t{0}, " offset 7m"},
              std::tuple{"2h", 3 * k1h, int64_t{0}, ""}}) {
          const std::string q = fn + "(" + sel + "[" + range + "]" + offset + ")";
          const int64_t from = kEnd - 30 * kDay + shift;
          hinted.windows = plain.windows = 0;
          const Result h = QueryOn(hinted, q, from, kEnd, step);
          const Result p = QueryOn(plain, q, from, kEnd, step);
          EXPECT_EQ(h.infos, p.infos) << q;
          compared += ExpectClose(h.answer, p.answer, 0, q + " from +" + std::to_string(shift));
          hinted_windows += hinted.windows;
          plain_windows += plain.windows;
        }
      }
    }
    EXPECT_GT(hinted.hinted_selects, 0u);
  }
  EXPECT_GT(compared, 100'000u);
  // The hint took effect: far fewer windows came.
  EXPECT_LT(hinted_windows * 2, plain_windows);
  // rate(x[5m]) at 1 h over 30 days: one 5m window in twelve (and the newest before each step).
  RangeHint hinted(KeepAll().storage->ForTenant("t"), true);
  RangeHint plain(KeepAll().storage->ForTenant("t"), false);
  QueryOn(hinted, "rate(dense_total[5m])", kEnd - 30 * kDay, kEnd, k1h);
  QueryOn(plain, "rate(dense_total[5m])", kEnd - 30 * kDay, kEnd, k1h);
  EXPECT_GT(plain.windows, 7000u);
  EXPECT_LT(hinted.windows * 5, plain.windows) << hinted.windows << " of " << plain.windows;
}

// With an executor the window functions of many series run on two threads
// (batches of series; EngineOptions::executor): every answer is bit for bit
// the one thread's, the series emitted in the same order (sums depend on
// it), also where series without downsampled data come between them.
TEST(DownsampledQueryTest, WindowFunctionsOnTwoThreadsAnswerAsOnOne) {
  std::vector<Series> data;
  for (int i = 0; i < 40; ++i) {
    // Every tenth series is recent only (raw data: read as raw samples).
    const int64_t from = i % 10 == 9 ? kEnd - kDay : kEnd - 12 * kDay;
    data.push_back({"s" + std::to_string(i) + "_total",
                    Counter(from, kEnd, 60'000, static_cast<uint32_t>(100 + i))});
  }
  Store s{compactor::RetentionPolicy{}, data};
  ThreadPool pool(2, "test");
  std::unique_ptr<Queryable> q = s.storage->ForTenant("t");
  size_t compared = 0;
  for (const char* text :
       {"sum(rate({__name__=~\"s.*\"}[1h]))", "sum(increase({__name__=~\"s.*\"}[5m]))",
        "last_over_time({__name__=~\"s.*\"}[1h])", "sum(max_over_time({__name__=~\"s.*\"}[2h]))",
        "sum(count_over_time({__name__=~\"s.*\"}[1h]))"}) {
    for (auto [from, step] : {std::pair{kEnd - 12 * kDay, k1h}, std::pair{kEnd - 3 * kDay, k5m}}) {
      const Result one = QueryOn(*q, text, from, kEnd, step);
      const Result two = QueryOn(*q, text, from, kEnd, step, &pool);
      ASSERT_GT(one.points, 100u) << text;
      EXPECT_TRUE(HasInfo(one, "answered from downsampled data")) << text;
      EXPECT_EQ(two.infos, one.infos) << text;
      compared += ExpectClose(two.answer, one.answer, 0, text);
    }
  }
  EXPECT_GT(compared, 10'000u);
}

// Many series on two threads: each batch of series is computed on the pool
// while the query's thread reads the next one and emits the one before, and
// the series must still reach the aggregation in the order storage gives
// them (here the order of their names), also around series read raw (only
// their newest minutes: no closed window to fold) that make the batches
// before them be emitted first. stdvar's running mean depends on that order
// in its last bits: its answer must be the one computed here from the
// per-series answers in that order, with the arithmetic of Prometheus's
// aggregation (count, delta, mean, value).
TEST(DownsampledQueryTest, BatchesOnTwoThreadsKeepTheSeriesOrder) {
  std::vector<Series> data;
  std::vector<std::string> names;
  for (int i = 0; i < 100; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "s%03d_total", i);
    names.push_back(name);
    const bool raw = i == 45 || i == 46 || i == 80;
    const int64_t from = raw ? kEnd - 5 * kMin : kEnd - 10 * kDay;
    data.push_back(
        {name, Counter(from, kEnd - kMin, raw ? 20'000 : 120'000, static_cast<uint32_t>(500 + i))});
  }
  Store s{compactor::RetentionPolicy{}, data};
  ThreadPool pool(2, "test");
  std::unique_ptr<Queryable> q = s.storage->ForTenant("t");
  size_t compared = 0;
  for (const char* fn : {"rate", "increase"}) {
    for (auto [from, step, range] :
         {std::tuple{kEnd - 10 * kDay, k1h, "1h"}, std::tuple{kEnd - 2 * kDay, k5m, "5m"}}) {
      const std::string inner = std::string(fn) + "({__name__=~\"s.*\"}[" + range + "])";
      for (Executor* ex : {static_cast<Executor*>(nullptr), static_cast<Executor*>(&pool)}) {
        const Result agg = QueryOn(*q, "stdvar(" + inner + ")", from, kEnd, step, ex);
        ASSERT_EQ(agg.answer.size(), 1u) << inner;
        std::map<int64_t, double> want;
        std::map<int64_t, double> count, mean;
        for (const std::string& n : names) {
          const std::string one = std::string(fn) + "(" + n + "[" + range + "])";
          const Result each = QueryOn(*q, one, from, kEnd, step, ex);
          ASSERT_EQ(each.answer.size(), 1u) << one;
          for (const auto& [t, f] : each.answer.begin()->second) {
            if (!count.contains(t)) {
              count[t] = 1;
              mean[t] = f;
              want[t] = std::isnan(f) || std::isinf(f) ? NAN : 0;
              continue;
            }
            count[t]++;
            const double delta = f - mean[t];
            mean[t] += delta / count[t];
            want[t] += delta * (f - mean[t]);
          }
        }
        for (auto& [t, v] : want) v /= count[t];
        compared += ExpectClose(agg.answer, {{agg.answer.begin()->first, want}}, 0,
                                "stdvar(" + inner + ")" + (ex ? " two threads" : " one"));
      }
    }
  }
  EXPECT_GT(compared, 2'000u);
}

}  // namespace
}  // namespace meridian
