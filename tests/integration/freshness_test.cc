// Freshness of a global meridian's remotes (issue 9 item 5): real regional
// meridians behind a global one. A region whose data stopped arriving gives
// every answer reaching past its newest sample by more than
// --remote-read-freshness-lag an `infos` entry saying where its data ends;
// fresh regions, and selectors that do not reach the stale region, give none.
// /api/v1/status/remotes shows each remote's watermark for the caller's
// tenant; /metrics carries the remote-read client and server families
// (promtool-clean).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

constexpr char kPromtool[] = "/usr/bin/promtool";

std::string Secs(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", static_cast<double>(ms) / 1000.0);
  return buf;
}

// Writes up{job,instance,region} every 15 s in [from, to]; returns the last
// sample's time.
int64_t WriteUp(Meridian& m, const std::string& region, int64_t from, int64_t to,
                const httplib::Headers& h = {}) {
  prometheus::WriteRequest req;
  std::vector<std::pair<int64_t, double>> s;
  for (int64_t t = from; t <= to; t += 15'000) s.push_back({t, 1});
  for (const char* inst : {"a", "b"}) {
    AddSeries(&req, {{"__name__", "up"}, {"job", "api"}, {"instance", inst}, {"region", region}},
              s);
  }
  auto c = m.Client();
  auto r = PostWrite(*c, EncodeWriteRequest(req), "application/x-protobuf", h);
  EXPECT_TRUE(r && r->status == 204) << (r ? r->body : "no answer");
  return s.back().first;
}

std::vector<std::string> Infos(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (j.contains("infos")) {
    for (const auto& i : j["infos"]) out.push_back(i.get<std::string>());
  }
  return out;
}

double MetricValue(const std::string& text, const std::string& series) {
  size_t p = text.find("\n" + series + " ");
  if (p == std::string::npos) return -1;
  return std::stod(text.substr(p + series.size() + 2));
}

TEST(FreshnessTest, AStaleRegionGivesInfosAFreshOneNone) {
  Meridian us, eu;
  ASSERT_TRUE(us.WaitReady() && eu.WaitReady());
  const int64_t now = NowMs();
  const int64_t from = now - 30 * 60'000;
  const int64_t us_last = WriteUp(us, "us-west-2", from, now - 1'000);
  // eu stopped receiving data ten minutes ago.
  const int64_t eu_last = WriteUp(eu, "eu-west-1", from, now - 10 * 60'000);
  // Another tenant's data in eu is fresh: watermarks are per tenant.
  WriteUp(eu, "eu-west-1", now - 60'000, now - 1'000, {{"THANOS-TENANT", "team-b"}});

  Meridian global(
      "", {"--remote-read",
           "us=http://" + us.url() + "/api/v1/read;timeout=3s;external-labels=region:us-west-2",
           "--remote-read",
           "eu=http://" + eu.url() + "/api/v1/read;timeout=3s;external-labels=region:eu-west-1"});
  ASSERT_TRUE(global.WaitReady()) << global.process().Log();
  auto g = global.Client();

  // Status: each remote's watermark (Unix seconds) for the caller's tenant.
  auto st = GetJson(*g, "/api/v1/status/remotes");
  ASSERT_EQ(st["status"], "success") << st.dump();
  ASSERT_EQ(st["data"].size(), 2u);
  EXPECT_EQ(st["data"][0]["name"], "us");
  EXPECT_EQ(Secs(static_cast<int64_t>(st["data"][0]["watermark"].get<double>() * 1000 + 0.5)),
            Secs(us_last))
      << st.dump();
  EXPECT_EQ(Secs(static_cast<int64_t>(st["data"][1]["watermark"].get<double>() * 1000 + 0.5)),
            Secs(eu_last))
      << st.dump();
  auto other = GetJson(*g, "/api/v1/status/remotes", nullptr, {{"THANOS-TENANT", "nobody"}});
  EXPECT_TRUE(other["data"][0]["watermark"].is_null()) << other.dump();
  EXPECT_TRUE(other["data"][1]["watermark"].is_null()) << other.dump();

  // An instant query now reaches eu's stale data: one info naming eu and its end.
  const std::string at_now = "&time=" + Secs(now);
  auto q = GetJson(*g, "/api/v1/query?query=" + UrlEncode("count by (region) (up)") + at_now);
  ASSERT_EQ(q["status"], "success") << q.dump();
  EXPECT_FALSE(q.contains("warnings")) << q.dump();
  auto infos = Infos(q);
  ASSERT_EQ(infos.size(), 1u) << q.dump();
  EXPECT_EQ(infos[0].rfind("remote eu: data ends at ", 0), 0u) << infos[0];
  EXPECT_NE(infos[0].find("(" + Secs(eu_last) + ")"), std::string::npos) << infos[0];
  EXPECT_NE(infos[0].find("10m"), std::string::npos) << infos[0];

  // So does a range query ending now.
  auto r = GetJson(*g, "/api/v1/query_range?query=" + UrlEncode("sum(up)") +
                           "&start=" + Secs(now - 20 * 60'000) + "&end=" + Secs(now) + "&step=60");
  ASSERT_EQ(r["status"], "success") << r.dump();
  ASSERT_EQ(Infos(r).size(), 1u) << r.dump();
  EXPECT_EQ(Infos(r)[0].rfind("remote eu: ", 0), 0u);

  // Fresh data only: no infos.
  auto us_only =
      GetJson(*g, "/api/v1/query?query=" + UrlEncode("up{region=\"us-west-2\"}") + at_now);
  EXPECT_EQ(us_only["data"]["result"].size(), 2u) << us_only.dump();
  EXPECT_TRUE(Infos(us_only).empty()) << us_only.dump();
  // A query ending within the lag after eu's last sample: no infos.
  auto old = GetJson(*g, "/api/v1/query?query=up&time=" + Secs(eu_last + 60'000));
  EXPECT_EQ(old["data"]["result"].size(), 4u) << old.dump();
  EXPECT_TRUE(Infos(old).empty()) << old.dump();
  // The other tenant's eu data is fresh.
  auto b = GetJson(*g, "/api/v1/query?query=up" + at_now, nullptr, {{"THANOS-TENANT", "team-b"}});
  EXPECT_EQ(b["data"]["result"].size(), 2u) << b.dump();
  EXPECT_TRUE(Infos(b).empty()) << b.dump();

  // eu receives data again: once its watermark is re-read (the status page
  // re-reads it; queries at most 10 s later), the info is gone.
  const int64_t now2 = NowMs();
  WriteUp(eu, "eu-west-1", now2 - 30'000, now2 - 1'000);
  GetJson(*g, "/api/v1/status/remotes");
  q = GetJson(*g,
              "/api/v1/query?query=" + UrlEncode("count by (region) (up)") + "&time=" + Secs(now2));
  EXPECT_EQ(q["data"]["result"].size(), 2u) << q.dump();
  EXPECT_TRUE(Infos(q).empty()) << q.dump();

  // Metrics: the client's per-remote families and the regional server's.
  auto metrics = g->Get("/metrics");
  ASSERT_TRUE(metrics && metrics->status == 200);
  const std::string& text = metrics->body;
  EXPECT_GT(MetricValue(text, "meridian_remote_read_requests_total{remote=\"eu\"}"), 0) << text;
  EXPECT_EQ(MetricValue(text, "meridian_remote_read_failures_total{remote=\"eu\"}"), 0);
  EXPECT_EQ(MetricValue(text, "meridian_remote_up{remote=\"us\"}"), 1);
  EXPECT_GT(MetricValue(text, "meridian_remote_read_duration_seconds_count{remote=\"us\"}"), 0);
  EXPECT_NEAR(MetricValue(text,
                          "meridian_remote_watermark_timestamp_seconds{remote=\"us\","
                          "tenant=\"\"}"),
              us_last / 1000.0, 0.001)
      << text;
  auto regional = us.Client()->Get("/metrics");
  ASSERT_TRUE(regional && regional->status == 200);
  EXPECT_GT(MetricValue(regional->body,
                        "meridian_remote_read_server_samples_sent_total{"
                        "response_type=\"streamed_xor_chunks\"}"),
            0)
      << regional->body;
  EXPECT_GT(MetricValue(regional->body, "meridian_remote_read_server_requests_total{code=\"200\"}"),
            0);
  if (access(kPromtool, X_OK) != 0) {
    std::printf("SKIP promtool check: %s not installed\n", kPromtool);
    return;
  }
  TempDir dir;
  std::ofstream(dir.path() + "/m.txt") << text;
  int rc = std::system((std::string(kPromtool) + " check metrics < " + dir.path() + "/m.txt > " +
                        dir.path() + "/out.txt 2>&1")
                           .c_str());
  std::ifstream out(dir.path() + "/out.txt");
  std::string problems((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << problems;
  EXPECT_EQ(problems, "") << problems;
}

// A plain Prometheus as the remote: its watermark is its head's newest sample.
TEST(FreshnessTest, APlainPrometheusWatermarkIsItsNewestSample) {
  constexpr char kPrometheus[] = "/usr/bin/prometheus";
  if (access(kPrometheus, X_OK) != 0) {
    GTEST_SKIP() << "SKIP: " << kPrometheus << " not installed";
  }
  TempDir prom_dir;
  int prom_port = FreePort();
  std::ofstream(prom_dir.path() + "/prometheus.yml") << "global:\n  scrape_interval: 1h\n";
  Process prom({kPrometheus, "--config.file=" + prom_dir.path() + "/prometheus.yml",
                "--storage.tsdb.path=" + prom_dir.path() + "/data",
                "--web.listen-address=127.0.0.1:" + std::to_string(prom_port),
                "--web.enable-remote-write-receiver"},
               prom_dir.path() + "/prometheus.log");
  httplib::Client pc("127.0.0.1", prom_port);
  bool ready = false;
  for (int i = 0; i < 300 && !ready; ++i) {
    auto r = pc.Get("/-/ready");
    ready = r && r->status == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ready) << prom.Log();
  const int64_t now = NowMs();
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "up"}, {"job", "x"}},
            {{now - 9 * 60'000, 1}, {now - 8 * 60'000 - 123, 1}});
  auto w = PostWrite(pc, EncodeWriteRequest(req));
  ASSERT_TRUE(w && w->status / 100 == 2) << (w ? w->body : "");
  Meridian global("", {"--remote-read", "prom=http://127.0.0.1:" + std::to_string(prom_port) +
                                            "/api/v1/read;timeout=5s"});
  ASSERT_TRUE(global.WaitReady()) << global.process().Log();
  auto g = global.Client();
  auto st = GetJson(*g, "/api/v1/status/remotes");
  ASSERT_TRUE(st["data"][0]["watermark"].is_number()) << st.dump();
  EXPECT_EQ(Secs(static_cast<int64_t>(st["data"][0]["watermark"].get<double>() * 1000 + 0.5)),
            Secs(now - 8 * 60'000 - 123));
  auto q = GetJson(
      *g, "/api/v1/query?query=" + UrlEncode("last_over_time(up[10m])") + "&time=" + Secs(now));
  ASSERT_EQ(q["data"]["result"].size(), 1u) << q.dump();
  ASSERT_EQ(Infos(q).size(), 1u) << q.dump();
  EXPECT_EQ(Infos(q)[0].rfind("remote prom: data ends at ", 0), 0u) << q.dump();
}

}  // namespace
}  // namespace meridian::testing
