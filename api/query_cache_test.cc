// The results cache of range queries (api/query_cache.h) over a real
// Storage and the real engine: kept answers equal uncached ones, and every
// change to the data they came from makes them miss.
#include "api/query_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "query/parser.h"
#include "storage/compaction.h"
#include "storage/storage.h"
#include "storage/test_util.h"

namespace meridian::api {
namespace {

constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kNow = 1'700'000'000'000 / kHour * kHour;  // a whole hour
constexpr int64_t kOffset = 5 * kMin;

class QueryCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StorageOptions o;
    o.dir = dir_.path() + "/data";
    o.sync_wal = false;
    o.now_ms = [this] { return now_.load(); };
    o.late_write_ms = kOffset;
    auto s = Storage::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
    // 6 hours of 15 s scrapes up to a minute ago: three gauges, two counters.
    for (int64_t t = kNow - 6 * kHour; t <= kNow - kMin; t += 15'000) {
      const double x = static_cast<double>(t - kNow) / 1000.0;
      for (int i = 0; i < 3; ++i) {
        Write("gauge", std::to_string(i), t, std::sin(x / 300.0 + i) * 10 + i);
      }
      for (int i = 0; i < 2; ++i) {
        Write("requests_total", std::to_string(i), t, std::fmod(-x * (i + 1), 5000.0));
      }
    }
    cache_ = MakeCache(64 << 20);
  }

  std::unique_ptr<RangeQueryCache> MakeCache(size_t bytes) {
    QueryCacheOptions qo;
    qo.max_bytes = bytes;
    qo.offset_ms = kOffset;
    qo.now_ms = [this] { return now_.load(); };
    return std::make_unique<RangeQueryCache>(
        qo, [this](std::string_view tenant) { return storage_->DataGeneration(tenant); });
  }

  void Write(const std::string& name, const std::string& i, int64_t t, double v) {
    std::vector<LabelView> labels = {{"__name__", name}, {"i", i}, {"job", "app"}};
    std::vector<Sample> samples = {{t, v}};
    AppendBatch b;
    b.series.push_back({labels, samples});
    AppendResult r;
    ASSERT_TRUE(storage_->Append("t", b, &r).ok());
    ASSERT_EQ(r.samples_rejected, 0u) << name << " " << t;
  }

  absl::StatusOr<promql::QueryResult> Uncached(const std::string& q, int64_t start, int64_t end,
                                               int64_t step) {
    auto view = storage_->ForTenant("t");
    return engine_.RangeQuery(*view, q, start, end, step, {});
  }

  // Through the cache; `evaluated` gets the ranges it evaluated.
  absl::StatusOr<promql::QueryResult> Cached(
      const std::string& q, int64_t start, int64_t end, int64_t step,
      std::vector<std::pair<int64_t, int64_t>>* evaluated = nullptr,
      RangeQueryCache* cache = nullptr) {
    auto expr = promql::ParseExpr(q);
    EXPECT_TRUE(expr.ok());
    EXPECT_TRUE(RangeQueryCache::Cacheable(**expr)) << q;
    RangeCacheKey key;
    key.tenant = "t";
    key.expr = promql::Format(**expr);
    key.step_ms = step;
    key.lookback_ms = 5 * kMin;
    return (cache != nullptr ? cache : cache_.get())
        ->RangeQuery(key, start, end, [&](int64_t s, int64_t e) {
          if (evaluated != nullptr) evaluated->push_back({s, e});
          return Uncached(q, s, e, step);
        });
  }

  storage_testing::TempDir dir_;
  std::atomic<int64_t> now_{kNow};
  std::unique_ptr<Storage> storage_;
  promql::Engine engine_{promql::EngineOptions{}};
  std::unique_ptr<RangeQueryCache> cache_;
};

// Same series, timestamps and bits of every value, and the same infos.
void ExpectSame(const absl::StatusOr<promql::QueryResult>& got,
                const absl::StatusOr<promql::QueryResult>& want, const std::string& what) {
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(want.ok()) << want.status();
  const auto& g = std::get<promql::Matrix>(got->value);
  const auto& w = std::get<promql::Matrix>(want->value);
  ASSERT_EQ(g.size(), w.size()) << what;
  for (size_t i = 0; i < g.size(); ++i) {
    EXPECT_EQ(g[i].metric, w[i].metric) << what;
    ASSERT_EQ(g[i].points.size(), w[i].points.size()) << what << " " << w[i].metric.ToString();
    for (size_t k = 0; k < g[i].points.size(); ++k) {
      EXPECT_EQ(g[i].points[k].t_ms, w[i].points[k].t_ms) << what;
      EXPECT_EQ(std::memcmp(&g[i].points[k].v, &w[i].points[k].v, sizeof(double)), 0)
          << what << " " << w[i].metric.ToString() << " @" << w[i].points[k].t_ms << ": "
          << g[i].points[k].v << " vs " << w[i].points[k].v;
    }
  }
  EXPECT_EQ(got->infos, want->infos) << what;
  EXPECT_EQ(got->warnings, want->warnings) << what;
}

const char* const kQueries[] = {
    "gauge",
    "rate(requests_total[5m])",
    "sum by (job) (rate(requests_total[10m]))",
    "avg_over_time(gauge[7m])",
    "max_over_time(gauge[1h]) - min_over_time(gauge[1h])",
    "increase(requests_total[20m] offset 10m)",
    "max_over_time(deriv(gauge[5m])[30m:1m])",
    "scalar(sum(gauge)) * 2",
    "time() - timestamp(gauge)",
};

TEST_F(QueryCacheTest, AKeptAnswerEqualsTheUncachedOne) {
  const int64_t start = kNow - 5 * kHour + 7'000, end = kNow - 30 * kMin, step = 90'000;
  for (const char* q : kQueries) {
    std::vector<std::pair<int64_t, int64_t>> evaluated;
    ExpectSame(Cached(q, start, end, step, &evaluated), Uncached(q, start, end, step), q);
    ASSERT_EQ(evaluated.size(), 1u) << q;
    evaluated.clear();
    ExpectSame(Cached(q, start, end, step, &evaluated), Uncached(q, start, end, step), q);
    EXPECT_TRUE(evaluated.empty()) << q << ": the second request evaluated again";
    // A range inside the kept one needs no evaluation either.
    ExpectSame(Cached(q, start + 20 * step, end - 10 * step, step, &evaluated),
               Uncached(q, start + 20 * step, end - 10 * step, step), q);
    EXPECT_TRUE(evaluated.empty()) << q;
  }
  QueryCacheStats s = cache_->Stats();
  EXPECT_EQ(s.misses, std::size(kQueries));
  EXPECT_EQ(s.hits, 2 * std::size(kQueries));
  EXPECT_EQ(s.entries, std::size(kQueries));
  EXPECT_GT(s.bytes, 0u);
}

TEST_F(QueryCacheTest, AShiftedRangeEvaluatesOnlyTheNewStepsAndEqualsTheUncachedAnswer) {
  const int64_t step = kMin;
  int64_t start = kNow - 4 * kHour, end = kNow - 2 * kHour;
  for (const char* q : kQueries) {
    ASSERT_TRUE(Cached(q, start, end, step).ok());
  }
  // A dashboard that refreshes: both ends move on by a step, then by three.
  for (int64_t shift : {step, 3 * step}) {
    start += shift;
    end += shift;
    for (const char* q : kQueries) {
      std::vector<std::pair<int64_t, int64_t>> evaluated;
      ExpectSame(Cached(q, start, end, step, &evaluated), Uncached(q, start, end, step), q);
      ASSERT_EQ(evaluated.size(), 1u) << q;
      EXPECT_EQ(evaluated[0], std::make_pair(end - shift + step, end)) << q;
    }
  }
  // Earlier and later at once: two evaluations around the kept steps (the
  // extent still begins at the first request's start).
  for (const char* q : kQueries) {
    std::vector<std::pair<int64_t, int64_t>> evaluated;
    ExpectSame(Cached(q, start - 10 * step, end + 2 * step, step, &evaluated),
               Uncached(q, start - 10 * step, end + 2 * step, step), q);
    ASSERT_EQ(evaluated.size(), 2u) << q;
    EXPECT_EQ(evaluated[0], std::make_pair(start - 10 * step, kNow - 4 * kHour - step)) << q;
    EXPECT_EQ(evaluated[1], std::make_pair(end + step, end + 2 * step)) << q;
  }
  EXPECT_EQ(cache_->Stats().partial_hits, 3 * std::size(kQueries));
  // Another phase (start modulo step) is another key: nothing is shared.
  std::vector<std::pair<int64_t, int64_t>> evaluated;
  ExpectSame(Cached("gauge", start + 1'000, end, step, &evaluated),
             Uncached("gauge", start + 1'000, end, step), "phase");
  ASSERT_EQ(evaluated.size(), 1u);
  EXPECT_EQ(evaluated[0].first, start + 1'000);
}

TEST_F(QueryCacheTest, ABackfilledSampleInsideAKeptRangeChangesTheNextAnswer) {
  const int64_t start = kNow - 5 * kHour, end = kNow - kHour, step = 5 * kMin;
  for (const char* q : kQueries) ASSERT_TRUE(Cached(q, start, end, step).ok());
  // A late sample of a new series and one of an existing series, hours old.
  Write("gauge", "9", kNow - 3 * kHour - 7'000, 1234.5);
  Write("requests_total", "0", kNow - 3 * kHour - 7'500, 1e6);
  for (const char* q : kQueries) {
    std::vector<std::pair<int64_t, int64_t>> evaluated;
    ExpectSame(Cached(q, start, end, step, &evaluated), Uncached(q, start, end, step), q);
    EXPECT_EQ(evaluated.size(), 1u) << q << ": the kept answer was used after a backfill";
  }
  EXPECT_EQ(cache_->Stats().invalidations, std::size(kQueries));
  // The answers after the backfill are kept again.
  for (const char* q : kQueries) {
    std::vector<std::pair<int64_t, int64_t>> evaluated;
    ASSERT_TRUE(Cached(q, start, end, step, &evaluated).ok());
    EXPECT_TRUE(evaluated.empty()) << q;
  }
}

TEST_F(QueryCacheTest, StepsNewerThanTheOffsetAreEvaluatedEveryTime) {
  const int64_t step = kMin;
  const int64_t start = kNow - 2 * kHour, end = kNow;
  ASSERT_TRUE(Cached("gauge", start, end, step).ok());
  // A recent sample (not late: no generation change) changes the newest steps.
  Write("gauge", "0", kNow - 10'000, -777);
  std::vector<std::pair<int64_t, int64_t>> evaluated;
  ExpectSame(Cached("gauge", start, end, step, &evaluated), Uncached("gauge", start, end, step),
             "recent sample");
  ASSERT_EQ(evaluated.size(), 1u);
  EXPECT_EQ(evaluated[0], std::make_pair(kNow - kOffset + step, end));
  // Later, as time passes, more steps are kept.
  now_ += 10 * kMin;
  evaluated.clear();
  ASSERT_TRUE(Cached("gauge", start, end, step, &evaluated).ok());
  ASSERT_EQ(evaluated.size(), 1u);
  EXPECT_EQ(evaluated[0].first, kNow - kOffset + step);
  evaluated.clear();
  ASSERT_TRUE(Cached("gauge", start, end, step, &evaluated).ok());
  EXPECT_TRUE(evaluated.empty()) << "every step is older than now - offset";
  // A range wholly newer than now - offset is never kept.
  evaluated.clear();
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(Cached("gauge", now_ - 2 * kMin, now_, step, &evaluated).ok());
  EXPECT_EQ(evaluated.size(), 2u);
}

TEST_F(QueryCacheTest, DataGenerationMovesWithLateWritesAndTheCompactorsChanges) {
  auto gen = [&] { return *storage_->DataGeneration("t"); };
  uint64_t g = gen();
  Write("gauge", "0", kNow - 10'000, 1);  // recent: no change
  EXPECT_EQ(gen(), g);
  Write("gauge", "0", kNow - kOffset - 1, 1);  // older than now - late_write_ms
  EXPECT_NE(gen(), g);
  g = gen();
  EXPECT_EQ(*storage_->DataGeneration("other"), *storage_->DataGeneration("other"));
  const uint64_t other = *storage_->DataGeneration("other");
  CompactionAccess* c = storage_->Compaction();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->SetDownsampledThrough("t", Resolution::k5m, kNow - 4 * kHour).ok());
  EXPECT_NE(gen(), g);
  g = gen();
  SeriesAggregates a;
  a.series_id = 1;
  a.block_start = (kNow - 5 * kHour) / (24 * kHour) * (24 * kHour);
  AggregateWindow w;
  w.t_ms = a.block_start;
  w.count = 1;
  w.sum = w.min = w.max = w.first_v = w.clast_v = w.last_v = 1;
  w.first_t = w.clast_t = w.last_t = a.block_start + 1000;
  a.windows.push_back(w);
  ASSERT_TRUE(
      c->PutAggregates("t", Resolution::k5m, std::span<const SeriesAggregates>(&a, 1)).ok());
  EXPECT_NE(gen(), g);
  g = gen();
  auto del = c->DeleteBefore("t", Resolution::kRaw, kNow - 5 * kHour, /*require_coarser=*/true);
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_NE(gen(), g);
  EXPECT_EQ(*storage_->DataGeneration("other"), other) << "another tenant's data did not change";
}

TEST_F(QueryCacheTest, TheMemoryBoundHolds) {
  const int64_t start = kNow - 5 * kHour, end = kNow - kHour, step = kMin;
  // One answer of `gauge` at a 1-minute step: 3 series x 241 points.
  ASSERT_TRUE(Cached("gauge", start, end, step).ok());
  const uint64_t one = cache_->Stats().bytes;
  ASSERT_GT(one, 3u * 241 * sizeof(promql::Point));
  auto small = MakeCache(3 * one);
  for (int i = 0; i < 20; ++i) {
    std::string q = "gauge + " + std::to_string(i);
    ASSERT_TRUE(Cached(q, start, end, step, nullptr, small.get()).ok());
    EXPECT_LE(small->Stats().bytes, 3 * one) << i;
  }
  QueryCacheStats s = small->Stats();
  EXPECT_GE(s.evictions, 17u);
  EXPECT_LE(s.entries, 3u);
  // The most recent answers stay, the oldest went (least recently used first).
  std::vector<std::pair<int64_t, int64_t>> evaluated;
  ASSERT_TRUE(Cached("gauge + 19", start, end, step, &evaluated, small.get()).ok());
  EXPECT_TRUE(evaluated.empty());
  ASSERT_TRUE(Cached("gauge + 0", start, end, step, &evaluated, small.get()).ok());
  EXPECT_EQ(evaluated.size(), 1u);
  // An answer larger than the whole bound is not kept.
  auto tiny = MakeCache(one / 2);
  evaluated.clear();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(Cached("gauge", start, end, step, &evaluated, tiny.get()).ok());
  }
  EXPECT_EQ(evaluated.size(), 2u);
  EXPECT_EQ(tiny->Stats().bytes, 0u);
}

TEST_F(QueryCacheTest, AnAnswerWithWarningsIsNotKept) {
  const int64_t start = kNow - 3 * kHour, end = kNow - kHour, step = kMin;
  RangeCacheKey key;
  key.tenant = "t";
  key.expr = "gauge";
  key.step_ms = step;
  int calls = 0;
  auto warn = [&](int64_t s, int64_t e) -> absl::StatusOr<promql::QueryResult> {
    ++calls;
    auto r = Uncached("gauge", s, e, step);
    if (r.ok()) r->warnings.push_back("a region did not answer");
    return r;
  };
  for (int i = 0; i < 2; ++i) {
    auto r = cache_->RangeQuery(key, start, end, warn);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->warnings, std::vector<std::string>{"a region did not answer"});
  }
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(cache_->Stats().entries, 0u);
}

TEST_F(QueryCacheTest, OnlyStepInvariantExpressionsAreCacheable) {
  promql::ParseOptions experimental;
  experimental.enable_experimental_functions = true;
  for (const char* q :
       {"x @ start()", "x @ end()", "x @ 1700000000", "rate(x[5m] @ end())", "x offset -5m",
        "sum(rate(x[5m] offset -1m))", "max_over_time(x[1h:1m] @ 100)",
        "max_over_time(x[1h:1m] offset -1h)", "x + on() group_left y @ start()", "start()",
        "x > end() - 60", "sum(x) / range()"}) {
    auto e = promql::ParseExpr(q, experimental);
    ASSERT_TRUE(e.ok()) << q << ": " << e.status();
    EXPECT_FALSE(RangeQueryCache::Cacheable(**e)) << q;
  }
  for (const char* q : {"x", "rate(x[5m] offset 1h)", "max_over_time(rate(x[5m])[1h:1m] offset 5m)",
                        "topk(3, x) / scalar(y)", "-x", "(x)", "time()", "1", "x * step()"}) {
    auto e = promql::ParseExpr(q, experimental);
    ASSERT_TRUE(e.ok()) << q << ": " << e.status();
    EXPECT_TRUE(RangeQueryCache::Cacheable(**e)) << q;
  }
}

TEST_F(QueryCacheTest, NoGenerationNoCaching) {
  QueryCacheOptions qo;
  qo.max_bytes = 64 << 20;
  qo.now_ms = [this] { return now_.load(); };
  RangeQueryCache none(qo, [](std::string_view) { return std::nullopt; });
  RangeCacheKey key;
  key.tenant = "t";
  key.expr = "gauge";
  key.step_ms = kMin;
  int calls = 0;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(none.RangeQuery(key, kNow - 2 * kHour, kNow - kHour,
                                [&](int64_t s, int64_t e) {
                                  ++calls;
                                  return Uncached("gauge", s, e, kMin);
                                })
                    .ok());
  }
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(none.Stats().entries, 0u);
}

}  // namespace
}  // namespace meridian::api
