// The engine's resolution rule and the window functions of downsampled
// reads (query/downsampled.h); their accuracy against raw data over real
// storage is tests/downsampling/downsampled_query_test.cc.
#include "query/downsampled.h"

#include <gtest/gtest.h>

#include <deque>
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

}  // namespace
}  // namespace meridian::promql::eval
