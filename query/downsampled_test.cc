// The engine's resolution rule and the window functions of downsampled
// reads (query/downsampled.h); their accuracy against raw data over real
// storage is tests/downsampling/downsampled_query_test.cc.
#include "query/downsampled.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <deque>
#include <iterator>
#include <random>
#include <vector>

namespace meridian::promql::eval {
namespace {

constexpr int64_t k5m = 300'000, k1h = 3'600'000;
const std::vector<int64_t> kBoth = {k5m, k1h};

TEST(ChooseResolutionTest, Table) {
  struct Case {
    DownsampleUse use;
    int64_t max_source, range, step, ref;
    int64_t preferred, max;
  };
  const int64_t t = 20000 * 86'400'000LL;  // aligned to every resolution
  const std::vector<Case> cases = {
      // auto: the coarsest resolution whose windows tile each step's range.
      {DownsampleUse::kWindows, -1, k1h, k1h, t, k1h, k1h},
      {DownsampleUse::kWindows, -1, 86'400'000, k1h, t, k1h, k1h},
      {DownsampleUse::kWindows, -1, k5m, k1h, t, k5m, k1h},   // rate(x[5m]) at 1h: 5m
      {DownsampleUse::kWindows, -1, k1h, k5m, t, k5m, k1h},   // step 5m: 5m
      {DownsampleUse::kWindows, -1, 60'000, k1h, t, 0, k1h},  // [1m]: raw, 1h where only it is
      {DownsampleUse::kWindows, -1, k1h, k1h, t + 60'000, 0, k1h},  // unaligned steps: raw
      {DownsampleUse::kWindows, -1, k1h, 0, t, k1h, k1h},           // an instant query at an hour
      {DownsampleUse::kPlain, -1, 0, k1h, t, k1h, k1h},
      {DownsampleUse::kPlain, -1, 0, 30'000, t, 0, k1h},
      // Explicit: the coarsest at or below it.
      {DownsampleUse::kWindows, k5m, k1h, k1h, t, k5m, k5m},
      {DownsampleUse::kWindows, 600'000, k1h, k1h, t, k5m, k5m},  // 10m
      {DownsampleUse::kWindows, 0, k1h, k1h, t, 0, 0},            // raw
      {DownsampleUse::kWindows, 60'000, k1h, k1h, t, 0, 0},       // 1m: raw only
      // Functions no aggregate answers: raw first, the finest coarse data after.
      {DownsampleUse::kPointsMean, -1, k1h, k1h, t, 0, k1h},
      {DownsampleUse::kPoints, k5m, k1h, k1h, t, 0, k5m},
      {DownsampleUse::kRawOnly, -1, k1h, k1h, t, 0, 0},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    ResolutionChoice rc = ChooseResolution(c.use, kBoth, c.max_source, c.range, c.step, c.ref);
    EXPECT_EQ(rc.preferred_ms, c.preferred) << "case " << i;
    EXPECT_EQ(rc.max_ms, c.max) << "case " << i;
  }
  // A source without aggregates (a remote region): raw only.
  ResolutionChoice none = ChooseResolution(DownsampleUse::kWindows, {}, -1, k1h, k1h, t);
  EXPECT_EQ(none.max_ms, 0);
  // Only 5m data: 5m at most.
  ResolutionChoice only5 =
      ChooseResolution(DownsampleUse::kWindows, std::vector<int64_t>{k5m}, -1, k1h, k1h, t);
  EXPECT_EQ(only5.preferred_ms, k5m);
  EXPECT_EQ(only5.max_ms, k5m);
}

DsWindow W(int64_t t, int64_t res, uint64_t count, double first, double last, double inc) {
  static std::deque<AggregateWindow> store;  // DsWindow points to its window
  DsWindow w;
  w.attr = t + res - 1;
  w.res_ms = res;
  AggregateWindow& a = store.emplace_back();
  w.a = &a;
  a.t_ms = t;
  a.count = count;
  a.first_t = t + 1000;
  a.first_v = first;
  a.clast_t = t + res - 1000;
  a.clast_v = last;
  a.counter_inc = inc;
  a.sum = first + last;
  a.min = std::min(first, last);
  a.max = std::max(first, last);
  a.last_t = a.clast_t;
  a.last_v = last;
  return w;
}

TEST(WindowsFnTest, CounterAggregateAcrossResetsAndWidening) {
  // Three 5m windows: 10 -> 40, reset inside the second (40 -> 5 -> 25:
  // increase 5 + 20 = 25 though last - first = -15), a reset between the
  // second and third (25 -> 3).
  const int64_t t = 20000 * 86'400'000LL;
  std::vector<DsWindow> w = {W(t, k5m, 10, 10, 40, 30), W(t + k5m, k5m, 10, 40, 25, 25),
                             W(t + 2 * k5m, k5m, 10, 3, 13, 10)};
  bool widened = false;
  double v;
  ASSERT_TRUE(WindowsFn(Fn::kResets, w, 3 * k5m, t + 3 * k5m, &v, &widened));
  EXPECT_EQ(v, 2);
  // increase: 30 + (40 - 40) + 25 + 3 (a reset) + 10 = 68, extrapolated.
  ASSERT_TRUE(WindowsFn(Fn::kIncrease, w, 3 * k5m, t + 3 * k5m, &v, &widened));
  EXPECT_NEAR(v, 68.0 * 900 / 898, 1e-9);  // sampled 898 s, 1 s to each edge
  EXPECT_FALSE(widened);
  ASSERT_TRUE(WindowsFn(Fn::kCountOT, w, k5m, t + 3 * k5m, &v, &widened));
  EXPECT_EQ(v, 10);  // the last window only
  // A 1h window answers a 5m range by widening to it.
  std::vector<DsWindow> h = {W(t, k1h, 100, 0, 1000, 1000)};
  ASSERT_TRUE(WindowsFn(Fn::kRate, h, k5m, t + k1h, &v, &widened));
  EXPECT_TRUE(widened);
  EXPECT_NEAR(v, 1000.0 / 3600, 0.02);
  widened = false;
  ASSERT_TRUE(WindowsFn(Fn::kIncrease, h, k5m, t + k1h, &v, &widened));
  EXPECT_NEAR(v, 1000.0 / 12, 2);  // per asked range
  // Nothing in range: no sample, never a widening past the window.
  EXPECT_FALSE(WindowsFn(Fn::kRate, h, k5m, t + 3 * k1h, &v, &widened));
}

// Windows of one series as storage gives them: 1h windows, then 5m ones,
// then raw samples (windows of one), with gaps, counter resets inside and
// between windows, NaN values, and windows of one sample.
std::vector<DsWindow> MixedWindows(uint32_t seed, std::deque<AggregateWindow>* store) {
  std::mt19937 rng(seed);
  std::vector<DsWindow> out;
  const int64_t t0 = 20000 * 86'400'000LL;
  double c = 100;
  auto add = [&](int64_t t, int64_t res) {
    AggregateWindow& a = store->emplace_back();
    const int64_t span = res == 0 ? 1 : res;
    a.t_ms = t;
    a.count = res == 0 ? 1 : 1 + rng() % 40;
    a.first_t = t + (res == 0 ? 0 : static_cast<int64_t>(rng() % (span / 4)));
    a.clast_t = a.count == 1 ? a.first_t : t + span - 1 - static_cast<int64_t>(rng() % (span / 4));
    if (rng() % 50 == 0) c = static_cast<double>(rng() % 7);  // a reset between windows
    a.first_v = c;
    a.counter_inc = a.count == 1 ? 0 : static_cast<double>(rng() % 100000) / 7;
    if (a.count > 1 && rng() % 20 == 0) {  // a reset inside the window
      c = a.counter_inc / 3;
    } else {
      c += a.counter_inc;
    }
    a.clast_v = c;
    a.sum = a.first_v * static_cast<double>(a.count) + 0.1;
    a.min = a.first_v;
    a.max = c;
    if (rng() % 97 == 0) a.sum = a.max = std::nan("");
    a.last_t = a.clast_t;
    a.last_v = a.clast_v;
    out.push_back(DsWindow{t + (res == 0 ? 0 : res - 1), res, &a});
  };
  int64_t t = t0;
  for (; t < t0 + 48 * k1h; t += k1h) {
    if (rng() % 10 != 0) add(t, k1h);  // gaps
  }
  for (; t < t0 + 96 * k1h; t += k5m) {
    if (rng() % 8 != 0) add(t, k5m);
  }
  for (; t < t0 + 100 * k1h; t += 15'000 + static_cast<int64_t>(rng() % 2000)) add(t, 0);
  return out;
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof(double)) == 0; }

TEST(WindowsFnTest, StepLoopAnswersAsWindowsFnStepByStep) {
  std::deque<AggregateWindow> store;
  const std::vector<Fn> fns = {Fn::kRate,    Fn::kIncrease, Fn::kDelta,     Fn::kIrate,
                               Fn::kIdelta,  Fn::kResets,   Fn::kSumOT,     Fn::kAvgOT,
                               Fn::kCountOT, Fn::kMinOT,    Fn::kMaxOT,     Fn::kLastOT,
                               Fn::kFirstOT, Fn::kTsLastOT, Fn::kTsFirstOT, Fn::kPresentOT};
  const int64_t t0 = 20000 * 86'400'000LL;
  struct Grid {
    int64_t start, interval, range, offset;
    int n;
    bool has_at;
  };
  const std::vector<Grid> grids = {
      {t0, k1h, k1h, 0, 100, false},                      // aligned, step = range
      {t0 + 150'000, k1h, k5m, 0, 100, false},            // unaligned, step > range
      {t0 + 7'000, 3 * k1h, 2 * k1h, 0, 34, false},       // step > range > 16 windows
      {t0, k5m, 86'400'000, 0, 1200, false},              // [1d] at 5m: prefix sums
      {t0 + 13, 7 * 60'000, 10 * 60'000, 0, 857, false},  // 7 min steps, [10m]
      {t0 + k1h, k5m, k1h, 7 * 60'000, 900, false},       // offset 7m
      {t0, k5m, k1h, 0, 200, true},                       // @: every step the same range
  };
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    const std::vector<DsWindow> w = MixedWindows(seed, &store);
    for (const Grid& g : grids) {
      for (bool prefix : {true, false}) {
        WindowSteps steps;
        steps.start_ms = g.start;
        steps.interval_ms = g.interval;
        steps.num_steps = g.n;
        steps.has_at = g.has_at;
        steps.at_ms = t0 + 60 * k1h + 1;
        steps.offset_ms = g.offset;
        steps.range_ms = g.range;
        steps.prefix = prefix;
        for (Fn f : fns) {
          // What the step loop replaced: WindowsFn at each step, one cursor.
          std::vector<Point> want;
          bool want_wide = false;
          WindowsCursor cursor;
          cursor.prefix = prefix;
          for (int i = 0; i < g.n; ++i) {
            const int64_t ts = g.start + i * g.interval;
            double v;
            if (WindowsFn(f, w, g.range, (g.has_at ? steps.at_ms : ts) - g.offset, &v, &want_wide,
                          &cursor)) {
              want.push_back(Point{ts, v});
            }
          }
          std::vector<Point> got;
          bool got_wide = false;
          int checks = 0;
          ASSERT_TRUE(WindowsFnSteps(f, w, steps, &got, &got_wide, [&] {
                        ++checks;
                        return absl::OkStatus();
                      }).ok());
          const std::string what = "seed " + std::to_string(seed) + " fn " +
                                   std::to_string(static_cast<int>(f)) + " step " +
                                   std::to_string(g.interval) + " range " +
                                   std::to_string(g.range) + " prefix " + std::to_string(prefix);
          EXPECT_EQ(checks, g.n / 64) << what;
          EXPECT_EQ(got_wide, want_wide) << what;
          ASSERT_EQ(got.size(), want.size()) << what;
          for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_EQ(got[i].t_ms, want[i].t_ms) << what << " point " << i;
            ASSERT_TRUE(SameBits(got[i].v, want[i].v))
                << what << " point " << i << ": " << got[i].v << " vs " << want[i].v;
          }
          EXPECT_FALSE(want.empty()) << what;
        }
      }
    }
  }
}

// Prometheus's extrapolatedRate (promql/functions.go, 2.42) written out
// plainly, one scalar operation at a time: what Extrapolate must equal bit
// for bit, whatever instructions it uses (two divisions per SSE2 division).
bool ExtrapolateAsPrometheus(double increase, int64_t first_t, int64_t last_t, double first_v,
                             uint64_t n, int64_t end, int64_t range, bool counter, bool rate,
                             double* out) {
  const double sampled = static_cast<double>(last_t - first_t) / 1000;
  if (sampled <= 0) return false;
  double to_start = static_cast<double>(first_t - (end - range)) / 1000;
  double to_end = static_cast<double>(end - last_t) / 1000;
  const double avg = sampled / static_cast<double>(n - 1);
  if (to_start >= avg * 1.1) to_start = avg / 2;
  if (counter) {
    double to_zero = to_start;
    if (increase > 0 && first_v >= 0) to_zero = sampled * (first_v / increase);
    if (to_zero < to_start) to_start = to_zero;
  }
  if (to_end >= avg * 1.1) to_end = avg / 2;
  double factor = (sampled + to_start + to_end) / sampled;
  if (rate) factor /= static_cast<double>(range) / 1000;
  *out = increase * factor;
  return true;
}

TEST(ExtrapolateTest, BitForBitPrometheusArithmetic) {
  std::mt19937_64 rng(42);
  const double specials[] = {0.0, -0.0, 1.0, -3.5, 1e-300, 1e300, NAN, INFINITY, -INFINITY};
  auto value = [&]() -> double {
    switch (rng() % 4) {
      case 0:
        return specials[rng() % std::size(specials)];
      case 1:
        return static_cast<double>(static_cast<int64_t>(rng() % 2'000'000) - 1'000'000) / 8;
      default:
        return std::ldexp(static_cast<double>(rng() % (1ull << 52)) / (1ull << 52) + 1,
                          static_cast<int>(rng() % 80) - 40) *
               (rng() % 5 == 0 ? -1 : 1);
    }
  };
  int compared = 0, answered = 0;
  for (int i = 0; i < 200'000; ++i) {
    const int64_t range = std::vector<int64_t>{60'000, k5m, k1h, 86'400'000}[rng() % 4];
    const int64_t end = 20000 * 86'400'000LL + static_cast<int64_t>(rng() % 10'000'000);
    // Samples inside the range, sometimes at its very ends, sometimes one.
    int64_t first_t = end - range + 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(range));
    int64_t last_t =
        first_t + static_cast<int64_t>(rng() % static_cast<uint64_t>(end - first_t + 1));
    if (rng() % 10 == 0) last_t = first_t;
    if (rng() % 10 == 0) first_t = end - range + 1;
    if (rng() % 10 == 0) last_t = end;
    const uint64_t n = 2 + rng() % 400;
    const double increase = value(), first_v = value();
    for (bool counter : {false, true}) {
      for (bool rate : {false, true}) {
        double got = 0, want = 0;
        const bool g =
            Extrapolate(increase, first_t, last_t, first_v, n, end, range, counter, rate, &got);
        const bool w = ExtrapolateAsPrometheus(increase, first_t, last_t, first_v, n, end, range,
                                               counter, rate, &want);
        ASSERT_EQ(g, w) << i;
        ++compared;
        if (!w) continue;
        ++answered;
        ASSERT_TRUE(SameBits(got, want) || (std::isnan(got) && std::isnan(want)))
            << i << ": " << got << " vs " << want << " increase " << increase << " first_v "
            << first_v << " n " << n << " range " << range << " to_start "
            << first_t - (end - range) << " to_end " << end - last_t;
      }
    }
  }
  EXPECT_GT(answered, compared / 2);
}

TEST(WindowsFnTest, StepLoopStopsAtTheInterruptCheck) {
  std::deque<AggregateWindow> store;
  const std::vector<DsWindow> w = MixedWindows(7, &store);
  WindowSteps steps;
  steps.start_ms = 20000 * 86'400'000LL;
  steps.interval_ms = k5m;
  steps.num_steps = 1000;
  steps.range_ms = k1h;
  std::vector<Point> out;
  bool wide = false;
  int checks = 0;
  const absl::Status st = WindowsFnSteps(Fn::kRate, w, steps, &out, &wide, [&] {
    return ++checks == 2 ? absl::CancelledError("stop") : absl::OkStatus();
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(checks, 2);
  EXPECT_LE(out.size(), 128u);  // no step after the second check
}

}  // namespace
}  // namespace meridian::promql::eval
