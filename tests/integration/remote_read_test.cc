// Remote-read (POST /api/v1/read) with a real client: Debian's Prometheus
// 2.42 configured with `remote_read` at meridian answers PromQL over
// meridian's data exactly as meridian answers it. 2.42's client asks for
// SAMPLES (and does not send remote_read `headers`, so the tenant header is
// checked with a direct request). Samples lie off the evaluation-time grid, so the
// range-boundary differences between Prometheus 2 and 3 do not matter.
#include <gtest/gtest.h>
#include <snappy.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <thread>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

// Writes a realistic hour: counters with a reset, gauges, a classic histogram,
// two jobs, every 15 s at +500 ms off the grid; default tenant. A decoy with
// the same names but other values goes to tenant "team-b".
void WriteData(httplib::Client& c, int64_t from_ms, int64_t to_ms, bool decoy_too = true) {
  prometheus::WriteRequest req, decoy;
  for (const char* job : {"api", "web"}) {
    for (int inst = 0; inst < 3; ++inst) {
      std::vector<std::pair<int64_t, double>> ctr, gauge, up;
      std::vector<std::vector<std::pair<int64_t, double>>> buckets(4);
      double total = 0;
      int i = 0;
      for (int64_t t = from_ms + 500; t <= to_ms; t += 15000, ++i) {
        total += 1 + (i * 7 + inst) % 5;
        if (i == 100 && inst == 1) total = 2;  // a counter reset
        ctr.push_back({t, total});
        gauge.push_back({t, 50 + 30 * std::sin(i / 10.0 + inst)});
        up.push_back({t, 1});
        for (int b = 0; b < 4; ++b) buckets[b].push_back({t, std::floor(total * (b + 1) / 4)});
      }
      std::string in = std::to_string(inst);
      AddSeries(&req, {{"__name__", "http_requests_total"}, {"job", job}, {"instance", in}}, ctr);
      AddSeries(&req, {{"__name__", "temperature"}, {"job", job}, {"instance", in}}, gauge);
      AddSeries(&req, {{"__name__", "up"}, {"job", job}, {"instance", in}}, up);
      const char* les[] = {"0.1", "0.5", "1", "+Inf"};
      for (int b = 0; b < 4; ++b) {
        AddSeries(&req,
                  {{"__name__", "latency_seconds_bucket"},
                   {"job", job},
                   {"instance", in},
                   {"le", les[b]}},
                  buckets[b]);
      }
      AddSeries(&decoy, {{"__name__", "up"}, {"job", job}, {"instance", in}}, {{to_ms - 500, 7}});
    }
  }
  auto r = PostWrite(c, EncodeWriteRequest(req));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
  if (!decoy_too) return;
  r = PostWrite(c, EncodeWriteRequest(decoy), "application/x-protobuf",
                {{"THANOS-TENANT", "team-b"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
}

const std::vector<std::string> kQueries = {
    "up",
    "http_requests_total{job=\"api\"}",
    "http_requests_total[2m]",
    "sum by (job) (rate(http_requests_total[5m]))",
    "increase(http_requests_total{instance=\"1\"}[10m])",
    "max_over_time(temperature[10m])",
    "avg by (instance) (temperature) > 40",
    "histogram_quantile(0.9, sum by (le, job) (rate(latency_seconds_bucket[5m])))",
    "topk(2, temperature)",
    "count(up) by (job)",
    "temperature offset 5m - temperature",
    "absent(nonexistent_metric)",
    "label_replace(up, \"x\", \"$1\", \"job\", \"(.*)\")",
};

TEST(RemoteReadTest, PrometheusRemoteReadAnswersAsMeridian) {
  if (std::string why = PrometheusMissing(); !why.empty()) GTEST_SKIP() << why;
  Meridian meridian;
  ASSERT_TRUE(meridian.WaitReady()) << meridian.process().Log();
  auto mc = meridian.Client();
  const int64_t now = NowMs() / 60000 * 60000;
  const int64_t from = now - 3600'000, to = now - 60'000;
  WriteData(*mc, from, to);

  TempDir prom_dir;
  int prom_port = FreePort();
  auto prom = StartPrometheus(prom_dir.path(), prom_port,
                              "global:\n  scrape_interval: 1h\n"
                              "remote_read:\n"
                              "  - url: http://" +
                                  meridian.url() +
                                  "/api/v1/read\n"
                                  "    read_recent: true\n");
  httplib::Client pc("127.0.0.1", prom_port);
  pc.set_read_timeout(30);
  ASSERT_TRUE(WaitHttpReady(prom_port, *prom)) << prom->Log();

  const httplib::Headers tenant;
  int compared = 0;
  for (const std::string& q : kQueries) {
    for (int64_t t : {to - 15'000, now - 1800'000}) {
      std::string path = "/api/v1/query?query=" + UrlEncode(q) + "&time=" + Secs(t);
      auto pj = GetJson(pc, path);
      auto mj = GetJson(*mc, path, nullptr, tenant);
      ASSERT_EQ(pj["status"], "success") << q << " " << pj.dump();
      ASSERT_EQ(mj["status"], "success") << q << " " << mj.dump();
      EXPECT_EQ(Canon(pj["data"]), Canon(mj["data"])) << q << " at " << t;
      compared += static_cast<int>(Canon(mj["data"]).size());
    }
    if (q.find('[') != std::string::npos && q.find("[2m]") == q.size() - 4)
      continue;  // range vector
    std::string path = "/api/v1/query_range?query=" + UrlEncode(q) +
                       "&start=" + Secs(from + 600'000) + "&end=" + Secs(to) + "&step=60";
    auto pj = GetJson(pc, path);
    auto mj = GetJson(*mc, path, nullptr, tenant);
    ASSERT_EQ(pj["status"], "success") << q << " " << pj.dump();
    ASSERT_EQ(mj["status"], "success") << q << " " << mj.dump();
    EXPECT_EQ(Canon(pj["data"]), Canon(mj["data"])) << "range " << q;
  }
  EXPECT_GT(compared, 50);
  // The decoy of tenant team-b is invisible to the default tenant's reader.
  auto pj = GetJson(pc, "/api/v1/query?query=max(up)&time=" + Secs(to));
  ASSERT_EQ(pj["data"]["result"].size(), 1u);
  EXPECT_EQ(pj["data"]["result"][0]["value"][1], "1");

  // A remote-read request naming team-b reads team-b's data only.
  prometheus::ReadRequest rr;
  auto* q = rr.add_queries();
  q->set_start_timestamp_ms(from);
  q->set_end_timestamp_ms(to);
  auto* m = q->add_matchers();
  m->set_name("__name__");
  m->set_value("up");
  auto res = mc->Post("/api/v1/read", {{"THANOS-TENANT", "team-b"}, {"Content-Encoding", "snappy"}},
                      SnappyCompress(rr.SerializeAsString()), "application/x-protobuf");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Encoding"), "snappy");
  std::string raw;
  ASSERT_TRUE(snappy::Uncompress(res->body.data(), res->body.size(), &raw));
  prometheus::ReadResponse resp;
  ASSERT_TRUE(resp.ParseFromString(raw));
  ASSERT_EQ(resp.results_size(), 1);
  ASSERT_EQ(resp.results(0).timeseries_size(), 6);
  for (const auto& ts : resp.results(0).timeseries()) {
    ASSERT_EQ(ts.samples_size(), 1);
    EXPECT_EQ(ts.samples(0).value(), 7);
  }
  // Bad tenant: 400; GET: 405 as for the other POST-only endpoints.
  res = mc->Post("/api/v1/read", {{"THANOS-TENANT", "../x"}},
                 SnappyCompress(rr.SerializeAsString()), "application/x-protobuf");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  res = mc->Get("/api/v1/read");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
}

}  // namespace
}  // namespace meridian::testing

namespace meridian::testing {
namespace {

// The other direction: a plain Prometheus 2.42 (data remote-written into it)
// as a remote of a global meridian. Prometheus streams its own XOR chunks,
// so meridian's client decodes chunks Prometheus's TSDB encoded; the answers
// equal those of a meridian holding the same data.
TEST(RemoteReadTest, GlobalMeridianReadsAPlainPrometheus) {
  if (std::string why = PrometheusMissing(); !why.empty()) GTEST_SKIP() << why;
  TempDir prom_dir;
  int prom_port = FreePort();
  auto prom = StartPrometheus(prom_dir.path(), prom_port, "global:\n  scrape_interval: 1h\n",
                              {"--web.enable-remote-write-receiver"});
  httplib::Client pc("127.0.0.1", prom_port);
  pc.set_read_timeout(30);
  ASSERT_TRUE(WaitHttpReady(prom_port, *prom)) << prom->Log();
  Meridian reference;
  ASSERT_TRUE(reference.WaitReady());
  const int64_t now = NowMs() / 60000 * 60000;
  const int64_t from = now - 3600'000, to = now - 60'000;
  WriteData(pc, from, to, /*decoy_too=*/false);
  auto rc = reference.Client();
  WriteData(*rc, from, to, /*decoy_too=*/false);

  Meridian global("", {"--remote-read", "prom=http://127.0.0.1:" + std::to_string(prom_port) +
                                            "/api/v1/read;timeout=10s"});
  ASSERT_TRUE(global.WaitReady()) << global.process().Log();
  auto gc = global.Client();
  int compared = 0;
  for (const std::string& q : kQueries) {
    std::string path = "/api/v1/query?query=" + UrlEncode(q) + "&time=" + Secs(to - 15'000);
    auto gj = GetJson(*gc, path), rj = GetJson(*rc, path);
    ASSERT_EQ(gj["status"], "success") << q << " " << gj.dump();
    EXPECT_FALSE(gj.contains("warnings")) << gj.dump();
    EXPECT_EQ(Canon(gj["data"]), Canon(rj["data"])) << q;
    compared += static_cast<int>(Canon(rj["data"]).size());
    if (q.back() == ']') continue;
    path = "/api/v1/query_range?query=" + UrlEncode(q) + "&start=" + Secs(from + 600'000) +
           "&end=" + Secs(to) + "&step=60";
    gj = GetJson(*gc, path);
    rj = GetJson(*rc, path);
    ASSERT_EQ(gj["status"], "success") << q << " " << gj.dump();
    EXPECT_EQ(Canon(gj["data"]), Canon(rj["data"])) << "range " << q;
  }
  EXPECT_GT(compared, 30);
  // Series and label values through series-only reads of Prometheus.
  const std::string range = "start=" + Secs(from) + "&end=" + Secs(to);
  for (const std::string& path : {"/api/v1/series?match[]=" + UrlEncode("up") + "&" + range,
                                  "/api/v1/label/job/values?" + range}) {
    auto gj = GetJson(*gc, path), rj = GetJson(*rc, path);
    ASSERT_EQ(gj["status"], "success") << path << gj.dump();
    EXPECT_FALSE(rj["data"].empty());
    EXPECT_EQ(gj["data"], rj["data"]) << path;
  }
}

}  // namespace
}  // namespace meridian::testing
