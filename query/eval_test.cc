// Evaluator tests over a small in-memory Queryable (test-only). The full
// semantics are covered by the Prometheus conformance scripts
// (tests/promql); these pin the tricky cases and the engine's own contract
// (limits, cancellation, result shapes).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "model/matcher.h"
#include "query/engine.h"
#include "query/functions.h"
#include "query/functions_internal.h"

namespace meridian::promql {
namespace {

constexpr int64_t kSec = 1000;
constexpr int64_t kMin = 60 * kSec;

// Series held in memory; Select filters by matchers and time.
class MemQueryable : public Queryable {
 public:
  void Add(std::vector<Label> labels, std::vector<Sample> samples) {
    series_.push_back({Labels::FromUnsorted(std::move(labels)), std::move(samples)});
    std::sort(series_.begin(), series_.end(),
              [](const Entry& a, const Entry& b) { return a.labels < b.labels; });
  }
  // Adds samples v0, v0+inc, ... every `interval_ms` from t=0.
  void AddLinear(std::vector<Label> labels, double v0, double inc, int n, int64_t interval_ms) {
    std::vector<Sample> s;
    for (int i = 0; i < n; ++i) s.push_back({i * interval_ms, v0 + inc * i});
    Add(std::move(labels), std::move(s));
  }
  int selects() const { return selects_; }
  // A warning every querier reports (as a remote that failed would).
  void set_querier_warning(std::string w) { querier_warning_ = std::move(w); }
  // The context of the last querier opened.
  const ReadContext& last_context() const { return last_context_; }

  absl::StatusOr<std::unique_ptr<Querier>> NewQuerier(int64_t, int64_t,
                                                      const ReadContext& ctx) const override {
    last_context_ = ctx;
    return std::unique_ptr<Querier>(new MemQuerier(this));
  }

 private:
  struct Entry {
    Labels labels;
    std::vector<Sample> samples;
  };
  class MemSet : public SeriesSet {
   public:
    MemSet(std::vector<const Entry*> e, SelectHints h) : e_(std::move(e)), h_(h) {}
    bool Next() override { return ++i_ < static_cast<long>(e_.size()); }
    const Labels& labels() const override { return e_[i_]->labels; }
    absl::Status Samples(std::vector<Sample>* out) override {
      out->clear();
      for (const auto& s : e_[i_]->samples) {
        if (s.t_ms >= h_.start_ms && s.t_ms <= h_.end_ms) out->push_back(s);
      }
      return absl::OkStatus();
    }
    absl::Status status() const override { return absl::OkStatus(); }

   private:
    std::vector<const Entry*> e_;
    SelectHints h_;
    long i_ = -1;
  };
  class MemQuerier : public Querier {
   public:
    explicit MemQuerier(const MemQueryable* q) : q_(q) {}
    absl::StatusOr<std::unique_ptr<SeriesSet>> Select(const std::vector<Matcher>& ms,
                                                      const SelectHints& h) override {
      ++const_cast<MemQueryable*>(q_)->selects_;
      std::vector<const Entry*> out;
      for (const auto& e : q_->series_) {
        if (!MatchesAll(ms, e.labels)) continue;
        bool any = std::any_of(e.samples.begin(), e.samples.end(), [&](const Sample& s) {
          return s.t_ms >= h.start_ms && s.t_ms <= h.end_ms;
        });
        if (any) out.push_back(&e);
      }
      return std::unique_ptr<SeriesSet>(new MemSet(std::move(out), h));
    }
    absl::StatusOr<std::vector<std::string>> LabelNames(const std::vector<Matcher>&) override {
      return std::vector<std::string>{};
    }
    absl::StatusOr<std::vector<std::string>> LabelValues(const std::string&,
                                                         const std::vector<Matcher>&) override {
      return std::vector<std::string>{};
    }
    std::vector<std::string> Warnings() const override {
      if (q_->querier_warning_.empty()) return {};
      return {q_->querier_warning_};
    }

   private:
    const MemQueryable* q_;
  };

  std::vector<Entry> series_;
  int selects_ = 0;
  std::string querier_warning_;
  mutable ReadContext last_context_;
};

// Renders a vector as "labels=value" lines in result order.
std::vector<std::string> Render(const Vector& v) {
  std::vector<std::string> out;
  for (const auto& e : v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%g", e.v);
    out.push_back(e.metric.ToString() + "=" + buf);
  }
  return out;
}

class EvalTest : public ::testing::Test {
 protected:
  absl::StatusOr<QueryResult> Instant(std::string_view q, int64_t t, QueryOptions o = {}) {
    return engine_.InstantQuery(data_, q, t, o);
  }
  std::vector<std::string> InstantVector(std::string_view q, int64_t t) {
    auto r = Instant(q, t);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status();
    if (!r.ok()) return {};
    const Vector* v = std::get_if<Vector>(&r->value);
    EXPECT_NE(v, nullptr) << q;
    return v == nullptr ? std::vector<std::string>{} : Render(*v);
  }
  std::vector<std::string> InstantSorted(std::string_view q, int64_t t) {
    auto v = InstantVector(q, t);
    std::sort(v.begin(), v.end());
    return v;
  }

  MemQueryable data_;
  Engine engine_{EngineOptions{}};
};

TEST_F(EvalTest, InstantSelectorLookbackAndStaleness) {
  data_.Add({{"__name__", "m"}}, {{0, 1}, {10 * kSec, 2}, {20 * kSec, StaleNaN()}, {30 * kSec, 3}});
  using V = std::vector<std::string>;
  EXPECT_EQ(InstantVector("m", 15 * kSec), V{"m{}=2"});
  EXPECT_EQ(InstantVector("m", 25 * kSec), V{});  // stale marker ends the series
  EXPECT_EQ(InstantVector("m", 30 * kSec + 5 * kMin - 1), V{"m{}=3"});
  EXPECT_EQ(InstantVector("m", 30 * kSec + 5 * kMin), V{});  // lookback is left-open
  EXPECT_EQ(InstantVector("m offset 20s", 30 * kSec), V{"m{}=2"});
  EXPECT_EQ(InstantVector("m @ 10", 300 * kSec), V{"m{}=2"});
}

TEST_F(EvalTest, RangeWindowIsLeftOpenAndDropsStaleMarkers) {
  data_.Add({{"__name__", "m"}}, {{0, 1}, {10 * kSec, 2}, {20 * kSec, StaleNaN()}, {30 * kSec, 3}});
  using V = std::vector<std::string>;
  EXPECT_EQ(InstantVector("count_over_time(m[30s])", 30 * kSec), V{"{}=2"});
  EXPECT_EQ(InstantVector("count_over_time(m[31s])", 30 * kSec), V{"{}=3"});
  EXPECT_EQ(InstantVector("last_over_time(m[15s])", 30 * kSec), V{"m{}=3"});
}

TEST_F(EvalTest, RateExtrapolatesAndDropsNameLazily) {
  data_.AddLinear({{"__name__", "metric_total"}, {"env", "1"}}, 0, 60, 3, 5 * kMin);
  data_.AddLinear({{"__name__", "other_total"}, {"env", "1"}}, 60, 60, 3, 5 * kMin);
  using V = std::vector<std::string>;
  EXPECT_EQ(InstantVector("rate(metric_total[10m])", 10 * kMin), V{"{env=\"1\"}=0.2"});
  EXPECT_EQ(InstantVector("sum by (env) (rate({env=\"1\"}[10m]))", 10 * kMin),
            V{"{env=\"1\"}=0.4"});
  // Grouping by the not-yet-dropped name collides once the names go.
  auto r = Instant("sum by (__name__) (rate({env=\"1\"}[10m]))", 10 * kMin);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), "vector cannot contain metrics with the same labelset");
  // label_replace onto __name__ keeps it.
  EXPECT_EQ(InstantSorted("label_replace(rate({env=\"1\"}[10m]), \"__name__\", \"r_$1\", "
                          "\"__name__\", \"(.+)\")",
                          10 * kMin),
            (V{"r_metric_total{env=\"1\"}=0.2", "r_other_total{env=\"1\"}=0.2"}));
}

TEST_F(EvalTest, CounterResetsAndNonCounterInfo) {
  data_.Add({{"__name__", "c_total"}}, {{0, 10}, {kMin, 20}, {2 * kMin, 5}, {3 * kMin, 15}});
  data_.Add({{"__name__", "gauge"}}, {{0, 10}, {kMin, 20}});
  using V = std::vector<std::string>;
  EXPECT_EQ(InstantVector("resets(c_total[5m])", 3 * kMin), V{"{}=1"});
  EXPECT_EQ(InstantVector("changes(c_total[5m])", 3 * kMin), V{"{}=3"});
  auto r = Instant("rate(gauge[5m])", 2 * kMin);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->infos.size(), 1u);
  EXPECT_EQ(r->infos[0],
            "PromQL info: metric might not be a counter, name does not end in "
            "_total/_sum/_count/_bucket: \"gauge\" (1:6)");
}

TEST_F(EvalTest, RangeQueryShapesAndSingleSelect) {
  data_.AddLinear({{"__name__", "up"}, {"job", "b"}}, 1, 0, 20, 30 * kSec);
  data_.AddLinear({{"__name__", "up"}, {"job", "a"}}, 2, 0, 20, 30 * kSec);
  auto r = engine_.RangeQuery(data_, "up", 0, 4 * kMin, kMin, {});
  ASSERT_TRUE(r.ok()) << r.status();
  const Matrix& m = std::get<Matrix>(r->value);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].metric.Get("job"), "a");  // sorted by labels
  EXPECT_EQ(m[0].points.size(), 5u);
  EXPECT_EQ(data_.selects(), 1);  // one Select for all steps

  auto s = engine_.RangeQuery(data_, "1 + 1", 0, 2 * kMin, kMin, {});
  ASSERT_TRUE(s.ok());
  const Matrix& sm = std::get<Matrix>(s->value);
  ASSERT_EQ(sm.size(), 1u);
  EXPECT_TRUE(sm[0].metric.empty());
  EXPECT_EQ(sm[0].points.size(), 3u);
  EXPECT_EQ(sm[0].points[2].v, 2);

  auto bad = engine_.RangeQuery(data_, "up[5m]", 0, kMin, kMin, {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EvalTest, InstantResultShapes) {
  data_.AddLinear({{"__name__", "x"}}, 1, 1, 10, 10 * kSec);
  auto sc = Instant("scalar(x) * 2", 30 * kSec);
  ASSERT_TRUE(sc.ok());
  EXPECT_EQ(std::get<Scalar>(sc->value).v, 8);
  auto str = Instant("\"hello\"", 0);
  ASSERT_TRUE(str.ok());
  EXPECT_EQ(std::get<String>(str->value).v, "hello");
  auto mat = Instant("x[30s]", 30 * kSec);
  ASSERT_TRUE(mat.ok());
  const Matrix& m = std::get<Matrix>(mat->value);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].points.size(), 3u);  // (0s, 30s]: 10s, 20s, 30s
  EXPECT_EQ(m[0].points[0].t_ms, 10 * kSec);
}

TEST_F(EvalTest, BinaryMatching) {
  data_.Add({{"__name__", "req"}, {"job", "a"}, {"inst", "1"}}, {{0, 10}});
  data_.Add({{"__name__", "req"}, {"job", "a"}, {"inst", "2"}}, {{0, 20}});
  data_.Add({{"__name__", "info"}, {"job", "a"}, {"team", "x"}}, {{0, 1}});
  using V = std::vector<std::string>;
  EXPECT_EQ(
      InstantSorted("req * on(job) group_left(team) info", 0),
      (V{"{inst=\"1\", job=\"a\", team=\"x\"}=10", "{inst=\"2\", job=\"a\", team=\"x\"}=20"}));
  EXPECT_EQ(InstantSorted("req > bool 15", 0),
            (V{"{inst=\"1\", job=\"a\"}=0", "{inst=\"2\", job=\"a\"}=1"}));
  EXPECT_EQ(InstantSorted("req > 15", 0), V{"req{inst=\"2\", job=\"a\"}=20"});
  EXPECT_EQ(InstantSorted("req unless on(inst) req{inst=\"1\"}", 0),
            V{"req{inst=\"2\", job=\"a\"}=20"});
  auto r = Instant("info * on(job) req", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "found duplicate series for the match group {job=\"a\"} on the right hand-side of the "
            "operation: [{__name__=\"req\", inst=\"1\", job=\"a\"}, {__name__=\"req\", inst=\"2\", "
            "job=\"a\"}];many-to-many matching not allowed: matching labels must be unique on one "
            "side");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  // Go float semantics.
  auto d = Instant("1 / 0", 0);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(std::isinf(std::get<Scalar>(d->value).v));
  auto mod = Instant("-7 % 3", 0);
  ASSERT_TRUE(mod.ok());
  EXPECT_EQ(std::get<Scalar>(mod->value).v, -1);
}

TEST_F(EvalTest, SetOperatorsOverRanges) {
  // a has points for steps 0..2 only, b for steps 2..4 (lookback 5m is longer
  // than the data, so use staleness to cut the series).
  data_.Add({{"__name__", "a"}, {"x", "1"}},
            {{0, 1}, {kMin, 1}, {2 * kMin, 1}, {150 * kSec, StaleNaN()}});
  data_.Add({{"__name__", "b"}, {"x", "1"}}, {{2 * kMin, 2}, {3 * kMin, 2}, {4 * kMin, 2}});
  data_.Add({{"__name__", "b"}, {"x", "2"}}, {{0, 3}});
  auto points = [&](std::string_view q) {
    std::vector<std::string> out;
    auto r = engine_.RangeQuery(data_, q, 0, 4 * kMin, kMin, {});
    EXPECT_TRUE(r.ok()) << q << ": " << r.status();
    if (!r.ok()) return out;
    for (const auto& s : std::get<Matrix>(r->value)) {
      std::string line = s.metric.ToString() + ":";
      for (const auto& p : s.points)
        line += " " + std::to_string(p.t_ms / kMin) + "=" + std::to_string(static_cast<int>(p.v));
      out.push_back(line);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(points("a and on(x) b"), V{"a{x=\"1\"}: 2=1"});
  EXPECT_EQ(points("a unless on(x) b"), V{"a{x=\"1\"}: 0=1 1=1"});
  EXPECT_EQ(points("a or on(x) b"), (V{"a{x=\"1\"}: 0=1 1=1 2=1", "b{x=\"1\"}: 3=2 4=2",
                                       "b{x=\"2\"}: 0=3 1=3 2=3 3=3 4=3"}));
  // Two lhs series with one signature: the step-by-step path.
  EXPECT_EQ(points("b unless on() a"), (V{"b{x=\"1\"}: 3=2 4=2", "b{x=\"2\"}: 3=3 4=3"}));
}

TEST_F(EvalTest, AggregationsAndOrdering) {
  for (int i = 0; i < 5; ++i) {
    data_.Add({{"__name__", "v"}, {"i", std::to_string(i)}, {"g", i % 2 ? "odd" : "even"}},
              {{0, static_cast<double>(i)}});
  }
  using V = std::vector<std::string>;
  EXPECT_EQ(InstantSorted("sum by (g) (v)", 0), (V{"{g=\"even\"}=6", "{g=\"odd\"}=4"}));
  EXPECT_EQ(InstantSorted("avg without (i) (v)", 0), (V{"{g=\"even\"}=2", "{g=\"odd\"}=2"}));
  EXPECT_EQ(InstantSorted("count_values(\"val\", v)", 0).size(), 5u);
  EXPECT_EQ(InstantVector("topk(2, v)", 0),
            (V{"v{g=\"even\", i=\"4\"}=4", "v{g=\"odd\", i=\"3\"}=3"}));
  EXPECT_EQ(InstantVector("sort_desc(v)", 0).front(), "v{g=\"even\", i=\"4\"}=4");
  EXPECT_EQ(InstantVector("quantile(0.5, v)", 0), V{"{}=2"});
  auto warn = Instant("quantile(2, v)", 0);
  ASSERT_TRUE(warn.ok());
  ASSERT_EQ(warn->warnings.size(), 1u);
  EXPECT_EQ(warn->warnings[0],
            "PromQL warning: quantile value should be between 0 and 1, got 2 (1:10)");
}

// What the engine hands every Querier: the query's deadline and cancellation
// flag (so a remote read stops with the query), and what it takes back: the
// querier's own warnings (a remote that failed) land in the answer once.
TEST_F(EvalTest, QuerierSeesDeadlineAndCancellationAndReportsWarnings) {
  data_.AddLinear({{"__name__", "v"}, {"i", "1"}}, 0, 1, 10, 15 * kSec);
  data_.set_querier_warning("remote \"eu-west-1\" failed: connection refused");
  std::atomic<bool> cancelled{false};
  QueryOptions o;
  o.timeout = std::chrono::milliseconds(5000);
  o.cancelled = &cancelled;
  const auto before = std::chrono::steady_clock::now();
  auto r = Instant("v + on() group_left v", 60 * kSec, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(data_.last_context().cancelled, &cancelled);
  EXPECT_GT(data_.last_context().deadline, before);
  EXPECT_LE(data_.last_context().deadline, before + std::chrono::milliseconds(5100));
  EXPECT_EQ(r->warnings,
            std::vector<std::string>{"remote \"eu-west-1\" failed: connection refused"});
  auto range = engine_.RangeQuery(data_, "rate(v[1m])", 0, 120 * kSec, 15 * kSec, o);
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_EQ(range->warnings.size(), 1u);
}

// count_values' label is strconv.FormatFloat(v, 'f', -1, 64): the shortest
// digits, zero-padded. The expected labels are the real Prometheus 2.42's
// answers to the same queries (count_values("v", vector(X)) over its API).
TEST_F(EvalTest, CountValuesLabelIsGoShortestFixed) {
  using V = std::vector<std::string>;
  EXPECT_EQ(InstantVector("count_values(\"v\", vector(18446744073709551616))", 0),
            V{"{v=\"18446744073709552000\"}=1"});
  EXPECT_EQ(InstantVector("count_values(\"v\", vector(123456789012345678))", 0),
            V{"{v=\"123456789012345680\"}=1"});
  EXPECT_EQ(InstantVector("count_values(\"v\", vector(1e21))", 0),
            V{"{v=\"1000000000000000000000\"}=1"});
  EXPECT_EQ(InstantVector("count_values(\"v\", vector(1e-7))", 0), V{"{v=\"0.0000001\"}=1"});
  EXPECT_EQ(InstantVector("count_values(\"v\", vector(-0.0 * 1))", 0), V{"{v=\"-0\"}=1"});
  EXPECT_EQ(InstantVector("count_values(\"v\", vector(0.1))", 0), V{"{v=\"0.1\"}=1"});
}

// Error texts print factors with Go's %f (strconv 'f', 6 decimals, rounded
// half to even, "+Inf"): the real Prometheus 2.42 says "got: +Inf" and
// "got: 1.007812" for holt_winters(vector(1)[5m:1m], Inf / 1.0078125, 0.5).
TEST_F(EvalTest, SmoothingFactorErrorsPrintGoPercentF) {
  data_.AddLinear({{"__name__", "x"}}, 0, 1, 100, 10 * kSec);
  auto inf = Instant("double_exponential_smoothing(x[5m], Inf, 0.5)", 600 * kSec);
  ASSERT_FALSE(inf.ok());
  EXPECT_EQ(inf.status().message(), "invalid smoothing factor. Expected: 0 < sf < 1, got: +Inf");
  auto tie = Instant("double_exponential_smoothing(x[5m], 0.5, 1.0078125)", 600 * kSec);
  ASSERT_FALSE(tie.ok());
  EXPECT_EQ(tie.status().message(), "invalid trend factor. Expected: 0 < tf < 1, got: 1.007812");
}

// histogram_quantile reads `le` with strconv.ParseFloat; a value Go rejects
// is a malformed bucket (skipped with a warning), even where strtod would
// accept it.
TEST_F(EvalTest, HistogramLeParsedAsGoParseFloat) {
  data_.Add({{"__name__", "h_bucket"}, {"le", "1"}}, {{0, 1}});
  data_.Add({{"__name__", "h_bucket"}, {"le", "0x10"}}, {{0, 2}});  // hex needs a p exponent
  data_.Add({{"__name__", "h_bucket"}, {"le", " 2"}}, {{0, 2}});
  data_.Add({{"__name__", "h_bucket"}, {"le", "1e400"}}, {{0, 3}});  // out of range
  data_.Add({{"__name__", "h_bucket"}, {"le", "+Inf"}}, {{0, 4}});
  auto r = Instant("histogram_quantile(0.5, h_bucket)", 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->warnings.size(), 3u);
  const Vector* v = std::get_if<Vector>(&r->value);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(Render(*v), std::vector<std::string>{"{}=1"});
}

TEST_F(EvalTest, SubqueryAlignsToAbsoluteSteps) {
  data_.AddLinear({{"__name__", "x"}}, 0, 1, 100, 10 * kSec);
  using V = std::vector<std::string>;
  // Steps at 0, 1m, 2m (aligned), window (65s - 2m, 65s] holds 0 and 1m -> 2 points.
  EXPECT_EQ(InstantVector("count_over_time(x[2m:1m])", 65 * kSec), V{"{}=2"});
  EXPECT_EQ(InstantVector("max_over_time(x[2m:1m])", 65 * kSec), V{"{}=6"});
}

TEST_F(EvalTest, ClassicHistogramQuantile) {
  data_.Add({{"__name__", "h_bucket"}, {"le", "1"}}, {{0, 1}});
  data_.Add({{"__name__", "h_bucket"}, {"le", "2"}}, {{0, 3}});
  data_.Add({{"__name__", "h_bucket"}, {"le", "+Inf"}}, {{0, 4}});
  using V = std::vector<std::string>;
  EXPECT_EQ(InstantVector("histogram_quantile(0.5, h_bucket)", 0), V{"{}=1.5"});
  EXPECT_EQ(InstantVector("histogram_fraction(0, 2, h_bucket)", 0), V{"{}=0.75"});
}

TEST_F(EvalTest, LimitsAndCancellation) {
  for (int i = 0; i < 50; ++i) {
    data_.AddLinear({{"__name__", "big"}, {"i", std::to_string(i)}}, 0, 1, 100, 10 * kSec);
  }
  EngineOptions o;
  o.max_samples = 100;
  Engine small(o);
  auto r = small.RangeQuery(data_, "big", 0, 10 * kMin, 10 * kSec, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(r.status().message(),
            "query processing would load too many samples into memory in query execution");

  std::atomic<bool> cancelled{true};
  QueryOptions qo;
  qo.cancelled = &cancelled;
  auto c = engine_.InstantQuery(data_, "sum(big)", 0, qo);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kCancelled);
}

TEST_F(EvalTest, DuplicateLabelsetAfterFunction) {
  data_.Add({{"__name__", "a"}, {"x", "1"}}, {{0, 1}});
  data_.Add({{"__name__", "b"}, {"x", "1"}}, {{0, 2}});
  auto r = Instant("ceil({x=\"1\"})", 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  // Range query: -a or -b merges into one series when the points do not overlap.
  auto ok = engine_.RangeQuery(data_, "-a", 0, kMin, kMin, {});
  ASSERT_TRUE(ok.ok());
}

// The evaluator's function table (functions_impl.cc) has a handler for
// every function the parser accepts, so that none parses and then fails as
// unsupported.
TEST(FunctionTableTest, EveryParsedFunctionHasAHandler) {
  for (const FunctionInfo& f : AllFunctions()) {
    const eval::FunctionDef* def = eval::LookupFunctionDef(f.name);
    ASSERT_NE(def, nullptr) << f.name;
    EXPECT_NE(def->handler, nullptr) << f.name;
    EXPECT_NE(def->fn, eval::Fn::kUnknown) << f.name;
  }
  EXPECT_EQ(eval::LookupFunctionDef("sum"), nullptr);  // an aggregation
}

}  // namespace
}  // namespace meridian::promql
