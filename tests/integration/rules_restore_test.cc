// Alerting rules' `for` state across a restart of meridian, as Prometheus
// 2.42 restores it from the ALERTS_FOR_STATE series it wrote (defaults: 1 h
// outage tolerance, 10 m grace period): an alert pending for a while before
// the restart keeps the time it had pending (its ActiveAt moves by the
// outage), and no ALERTS / ALERTS_FOR_STATE sample is written before the
// restoration ran (after the second evaluation).
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <thread>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

// (timestamp ms, value) of the group's ALERTS_FOR_STATE samples in the last
// `range_ms`.
std::vector<std::pair<int64_t, double>> ForState(httplib::Client& c, int64_t range_ms) {
  std::vector<std::pair<int64_t, double>> out;
  for (const auto& [labels, samples] :
       RawSamples(c, "ALERTS_FOR_STATE{alertname=\"Held\"}", NowMs(), range_ms)) {
    for (const auto& [t, v] : samples) out.push_back({t, std::stod(v)});
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(RulesRestoreTest, PendingAlertKeepsItsForStateAcrossARestart) {
  TempDir dir;
  {
    std::ofstream f(dir.path() + "/held.yml");
    f << "groups:\n- name: restore\n  interval: 1s\n  rules:\n"
         "  - alert: Held\n    expr: vector(1)\n    for: 1h\n";
  }
  Meridian m("", {"--rule-files", dir.path() + "/held.yml"});
  ASSERT_TRUE(m.WaitReady()) << m.process().Log();
  auto c = m.Client();
  // Pending for ~10 s (its first evaluation to its last before the restart).
  std::vector<std::pair<int64_t, double>> before;
  for (int i = 0; i < 200; ++i) {
    before = ForState(*c, 60'000);
    if (!before.empty() && before.back().first - before.front().first >= 10'000) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(before.empty()) << m.process().Log();
  const double active_at_s = before.front().second;
  m.process().Kill(SIGTERM);
  ASSERT_NE(m.process().Wait(std::chrono::seconds(30)), -1);
  // Everything written before the shutdown (the last sample is when it went down).
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const int64_t restart_ms = NowMs();
  m.Restart();
  ASSERT_TRUE(m.WaitReady()) << m.process().Log();
  c = m.Client();
  std::vector<std::pair<int64_t, double>> all, after;
  for (int i = 0; i < 100 && after.size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    all = ForState(*c, NowMs() - before.front().first + 1000);
    after.clear();
    for (const auto& s : all) {
      if (s.first > restart_ms) after.push_back(s);
    }
  }
  ASSERT_GE(after.size(), 2u) << m.process().Log();
  int64_t down_ms = 0;
  for (const auto& s : all) {
    if (s.first < restart_ms) down_ms = s.first;
  }
  const double pending_s = std::floor(down_ms / 1000.0) - active_at_s;
  ASSERT_GE(pending_s, 9) << "pending before the restart";
  // Restored: ActiveAt = the old one + (restoration time - down time), i.e.
  // the restoration time minus the time it had been pending. Unrestored it
  // would be the first evaluation after the restart (>= restart_ms).
  const double restored = after.front().second;
  const double restart_s = restart_ms / 1000.0;
  EXPECT_GT(restored, active_at_s) << "the outage does not count as pending";
  // The restoration ran after the restart and before the first sample
  // written since (whatever the machine's load made of the start-up time).
  const double first_written_s = after.front().first / 1000.0;
  EXPECT_GE(restored, restart_s - pending_s - 1);
  EXPECT_LE(restored, first_written_s - pending_s + 1) << "not restored: pending starts again";
  // Nothing was written before the restoration: every sample since the
  // restart carries the restored ActiveAt.
  for (const auto& s : after) EXPECT_EQ(s.second, restored) << "at " << s.first;
  auto alerts = GetJson(*c, "/api/v1/alerts");
  ASSERT_EQ(alerts["data"]["alerts"].size(), 1u) << alerts.dump();
  EXPECT_EQ(alerts["data"]["alerts"][0]["state"], "pending");
}

}  // namespace
}  // namespace meridian::testing
