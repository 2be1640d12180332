// Replica dedup with a real HA pair: two Debian Prometheus 2.42 scrape the
// same target (a regional meridian's /metrics) with external labels
// replica="A" / "B" and remote-write into that regional meridian; a global
// meridian reads it with --replica-label replica. One Prometheus is killed
// mid-test. The global answers count the pair once, every point is one a
// replica wrote, the counter shows no reset across the failover, and
// dedup=false shows both replicas.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

std::unique_ptr<Process> StartReplica(const TempDir& dir, const std::string& replica,
                                      const Meridian& target, int* port) {
  *port = FreePort();
  std::ostringstream cfg;
  {
    std::ostream& f = cfg;
    f << "global:\n  scrape_interval: 1s\n  external_labels:\n    replica: " << replica
      << "\n    region: us-west-2\n"
         "scrape_configs:\n  - job_name: meridian\n    static_configs:\n      - targets: ['"
      << target.url()
      << "']\n"
         "remote_write:\n  - url: http://"
      << target.url()
      << "/api/v1/write\n"
         "    queue_config:\n      batch_send_deadline: 500ms\n";
  }
  return StartPrometheus(dir.path(), *port, cfg.str(), {}, "prom-" + replica);
}

TEST(HaDedupTest, APairKilledMidTestIsOneSeriesWithoutFakeResets) {
  if (std::string why = PrometheusMissing(); !why.empty()) GTEST_SKIP() << why;
  Meridian regional;
  ASSERT_TRUE(regional.WaitReady());
  Meridian global("", {"--remote-read", "us=http://" + regional.url() + "/api/v1/read;timeout=5s",
                       "--replica-label", "replica"});
  ASSERT_TRUE(global.WaitReady()) << global.process().Log();
  TempDir dir;
  int port_a = 0, port_b = 0;
  auto a = StartReplica(dir, "A", regional, &port_a);
  auto b = StartReplica(dir, "B", regional, &port_b);
  const int64_t start = NowMs();
  std::this_thread::sleep_for(std::chrono::seconds(9));
  a->Kill(SIGKILL);
  a->Wait(std::chrono::seconds(5));
  const int64_t killed = NowMs();
  std::this_thread::sleep_for(std::chrono::seconds(9));
  const int64_t end = NowMs() - 1500;
  // B's queue has sent everything up to `end` (a loaded machine holds it
  // longer than its batch_send_deadline).
  ASSERT_TRUE(WaitRemoteWriteSent(port_b, end)) << b->Log();

  auto gc = global.Client();
  auto rc = regional.Client();
  const std::string at = "&time=" + Secs(end);
  // Both replicas are stored regionally; the global view counts the pair once.
  auto raw = GetJson(*rc, "/api/v1/query?query=" + UrlEncode("count(up{job=\"meridian\"})") +
                              "&time=" + Secs(killed - 2000));
  ASSERT_EQ(raw["data"]["result"].size(), 1u) << raw.dump();
  EXPECT_EQ(raw["data"]["result"][0]["value"][1], "2") << raw.dump();
  auto g = GetJson(*gc, "/api/v1/query?query=" + UrlEncode("sum(up{job=\"meridian\"})") +
                            "&time=" + Secs(killed - 2000));
  ASSERT_EQ(g["data"]["result"].size(), 1u) << g.dump();
  EXPECT_EQ(g["data"]["result"][0]["value"][1], "1") << g.dump();
  auto nodedup = GetJson(*gc, "/api/v1/query?query=" + UrlEncode("sum(up{job=\"meridian\"})") +
                                  "&time=" + Secs(killed - 2000) + "&dedup=false");
  EXPECT_EQ(nodedup["data"]["result"][0]["value"][1], "2") << nodedup.dump();

  // Each pair of replica series is one series without the replica label
  // (the target may expose several label sets of the counter), and every
  // deduplicated point is a point one replica wrote.
  const std::string counter = "meridian_ingest_samples_total";
  auto series = GetJson(*gc, "/api/v1/query?query=" + UrlEncode(counter + "[30s]") + at);
  ASSERT_EQ(series["status"], "success") << series.dump();
  auto both = GetJson(*rc, "/api/v1/query?query=" + UrlEncode(counter + "[30s]") + at);
  ASSERT_GT(series["data"]["result"].size(), 0u) << series.dump();
  EXPECT_EQ(both["data"]["result"].size(), 2 * series["data"]["result"].size()) << both.dump();
  std::map<std::string, std::set<std::string>> written;  // labels without replica -> points
  for (const auto& s : both["data"]["result"]) {
    nlohmann::json m = s["metric"];
    m.erase("replica");
    for (const auto& v : s["values"]) written[m.dump()].insert(v.dump());
  }
  size_t n = 0;
  for (const auto& s : series["data"]["result"]) {
    EXPECT_FALSE(s["metric"].contains("replica")) << s.dump();
    for (const auto& v : s["values"]) {
      EXPECT_TRUE(written[s["metric"].dump()].count(v.dump())) << "synthesised point " << v.dump();
      ++n;
    }
  }
  EXPECT_GE(n, 10u);
  // The counter never goes down across the failover (no fake reset), and
  // the series continues after A died.
  auto resets = GetJson(*gc, "/api/v1/query?query=" +
                                 UrlEncode("resets(" + counter + "[" +
                                           std::to_string((end - start) / 1000 + 5) + "s])") +
                                 at);
  ASSERT_EQ(resets["data"]["result"].size(), series["data"]["result"].size()) << resets.dump();
  for (const auto& r : resets["data"]["result"]) EXPECT_EQ(r["value"][1], "0") << resets.dump();
  auto last = series["data"]["result"][0]["values"].back();
  EXPECT_GT(last[0].get<double>(), static_cast<double>(killed) / 1000.0 + 3) << series.dump();
}

}  // namespace
}  // namespace meridian::testing
