#include "remote/dedup.h"

#include <gtest/gtest.h>

namespace meridian::remote {
namespace {

std::vector<Sample> Every(int64_t from, int64_t to, int64_t step, int64_t offset, double v0,
                          double dv) {
  std::vector<Sample> s;
  double v = v0;
  for (int64_t t = from + offset; t <= to; t += step, v += dv) s.push_back({t, v});
  return s;
}

// Every output point is one of the inputs' points.
void ExpectFromInputs(const std::vector<Sample>& out, const std::vector<Sample>& a,
                      const std::vector<Sample>& b) {
  for (const Sample& s : out) {
    bool found = false;
    for (const auto* in : {&a, &b}) {
      for (const Sample& x : *in) found |= x.t_ms == s.t_ms && x.v == s.v;
    }
    EXPECT_TRUE(found) << s.t_ms << " " << s.v;
  }
}

// Replica switches in the output (by value: A's points are 1, B's 2).
int Switches(const std::vector<Sample>& out) {
  int n = 0;
  for (size_t i = 1; i < out.size(); ++i) n += out[i].v != out[i - 1].v;
  return n;
}

TEST(DedupTest, FollowsOneReplicaAndFillsItsGapsFromTheOther) {
  // A scrapes at :00, B at :07 (15 s interval); one of them has a gap
  // 60s..120s. Either way: no hole, one point per interval, few switches.
  for (int gap_in : {0, 1}) {
    auto a = Every(0, 300'000, 15'000, 0, 1, 0);
    auto b = Every(0, 300'000, 15'000, 7'000, 2, 0);
    auto& g = gap_in == 0 ? a : b;
    g.erase(std::remove_if(g.begin(), g.end(),
                           [](const Sample& s) { return s.t_ms > 60'000 && s.t_ms < 120'000; }),
            g.end());
    auto out = MergeReplicas(a, b, false);
    ExpectFromInputs(out, a, b);
    for (size_t i = 1; i < out.size(); ++i) {
      EXPECT_GT(out[i].t_ms, out[i - 1].t_ms);
      // The other replica is taken once the penalty (twice the interval)
      // has passed: at most 2 x 15 s + the replicas' 7 s offset + 1 ms.
      EXPECT_LE(out[i].t_ms - out[i - 1].t_ms, 38'001) << "hole at " << out[i].t_ms;
    }
    EXPECT_GE(out.size(), 20u) << gap_in;
    EXPECT_LE(out.size(), 22u) << gap_in;  // ~21 intervals, never the doubled rate
    EXPECT_LE(Switches(out), 3) << gap_in;
  }
}

TEST(DedupTest, CounterFailoverToALaggingReplicaIsNoFakeReset) {
  // Both count the same events; B scrapes 5 s later but its values lag
  // (a replica that started late): B = A - 40. A dies at 150 s.
  auto a = Every(0, 150'000, 15'000, 0, 100, 10);
  auto b = Every(0, 300'000, 15'000, 5'000, 60, 10);
  auto out = MergeReplicas(a, b, /*counter=*/true);
  ExpectFromInputs(out, a, b);
  for (size_t i = 1; i < out.size(); ++i) {
    EXPECT_GE(out[i].v, out[i - 1].v) << "fake reset at " << out[i].t_ms;
  }
  EXPECT_GT(out.back().t_ms, 280'000);
  // Without the counter rule the drop shows.
  auto plain = MergeReplicas(a, b, false);
  bool dropped = false;
  for (size_t i = 1; i < plain.size(); ++i) dropped |= plain[i].v < plain[i - 1].v;
  EXPECT_TRUE(dropped);
}

TEST(DedupTest, ARealResetOfTheReplicaTakenOverIsKept) {
  auto a = Every(0, 150'000, 15'000, 0, 100, 10);
  // B resets right where it takes over: its own values drop from 300 to 1
  // (the 1 itself falls inside the penalty window): B's 11 and 21 follow
  // A's 200 as a real reset, not skipped as a lagging replica.
  std::vector<Sample> b = {{140'000, 300}, {170'000, 1}, {185'000, 11}, {200'000, 21}};
  auto out = MergeReplicas(a, b, true);
  ASSERT_GE(out.size(), 3u);
  EXPECT_EQ(out[out.size() - 3].v, 200);
  EXPECT_EQ(out[out.size() - 2].v, 11);
  EXPECT_EQ(out.back().v, 21);
}

}  // namespace
}  // namespace meridian::remote
