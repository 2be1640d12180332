// End to end with the real Prometheus from Debian: Prometheus scrapes itself
// and meridian every second, with external label region="us-west-2", and
// remote-writes to meridian. After about a minute (MERIDIAN_E2E_SECONDS), every
// series Prometheus holds must come back from meridian with identical raw
// samples, and query_range must give identical timestamps and values.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

constexpr char kRegion[] = "us-west-2";

// At least 30: the compared window leaves out the first and the last 10 s.
int E2ESeconds() {
  const char* e = std::getenv("MERIDIAN_E2E_SECONDS");
  return e ? std::max(30, std::atoi(e)) : 60;
}

using SeriesMap = std::map<std::string, nlohmann::json>;

// metric labels (as sorted JSON text, without `region`) -> values array.
SeriesMap ByLabels(const nlohmann::json& result, bool drop_region) {
  SeriesMap out;
  for (const auto& s : result) {
    nlohmann::json m = s["metric"];
    if (drop_region) {
      EXPECT_EQ(m.value("region", ""), kRegion) << m.dump();
      m.erase("region");
    }
    out[m.dump()] = s["values"];
  }
  return out;
}

TEST(PrometheusE2ETest, MeridianReturnsWhatPrometheusHas) {
  if (std::string why = PrometheusMissing(); !why.empty()) GTEST_SKIP() << why;
  Meridian meridian;
  ASSERT_TRUE(meridian.WaitReady()) << meridian.process().Log();

  TempDir prom_dir;
  int prom_port = FreePort();
  std::ostringstream cfg;
  {
    std::ostream& f = cfg;
    f << "global:\n"
         "  scrape_interval: 1s\n"
         "  evaluation_interval: 1s\n"
         "  external_labels:\n"
         "    region: "
      << kRegion
      << "\n"
         "scrape_configs:\n"
         "  - job_name: prometheus\n"
         "    static_configs:\n"
         "      - targets: ['127.0.0.1:"
      << prom_port
      << "']\n"
         "  - job_name: meridian\n"
         "    static_configs:\n"
         "      - targets: ['"
      << meridian.url()
      << "']\n"
         "remote_write:\n"
         "  - url: http://"
      << meridian.url()
      << "/api/v1/write\n"
         "    queue_config:\n"
         "      batch_send_deadline: 1s\n"
         "      max_samples_per_send: 2000\n"
         "    metadata_config:\n"
         "      send_interval: 5s\n";
  }
  auto prom = StartPrometheus(prom_dir.path(), prom_port, cfg.str());
  httplib::Client pc("127.0.0.1", prom_port);
  pc.set_read_timeout(60);
  ASSERT_TRUE(WaitHttpReady(prom_port, *prom)) << prom->Log();
  const int64_t start_ms = (NowMs() / 1000 + 10) * 1000;
  const int seconds = E2ESeconds();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const int64_t end_ms = (NowMs() / 1000 - 10) * 1000;
  ASSERT_GT(end_ms, start_ms);
  // Let the last batches arrive (batch_send_deadline is 1s).
  std::this_thread::sleep_for(std::chrono::seconds(3));

  auto mc = meridian.Client();
  const std::string all = UrlEncode(R"({__name__=~".+"})");
  const int64_t range_ms = end_ms - start_ms;

  // 1. Raw samples: identical timestamps and values, series by series.
  std::string raw_q =
      "/api/v1/query?query=" +
      UrlEncode(std::string(R"({__name__=~".+"}[)") + std::to_string(range_ms) + "ms]") +
      "&time=" + Secs(end_ms);
  auto prom_raw = GetJson(pc, raw_q);
  auto mer_raw = GetJson(*mc, raw_q);
  ASSERT_EQ(prom_raw["status"], "success") << prom_raw.dump().substr(0, 500);
  ASSERT_EQ(mer_raw["status"], "success") << mer_raw.dump().substr(0, 500);
  SeriesMap want = ByLabels(prom_raw["data"]["result"], false);
  SeriesMap got = ByLabels(mer_raw["data"]["result"], true);
  ASSERT_GT(want.size(), 100u) << "Prometheus should hold hundreds of self-scraped series";
  size_t samples = 0, mismatched = 0;
  for (const auto& [labels, values] : want) {
    auto it = got.find(labels);
    if (it == got.end()) {
      ADD_FAILURE() << "meridian lacks series " << labels;
      if (++mismatched > 10) break;
      continue;
    }
    samples += values.size();
    if (it->second != values) {
      ADD_FAILURE() << "series " << labels << " differs:\n prometheus "
                    << values.dump().substr(0, 400) << "\n meridian   "
                    << it->second.dump().substr(0, 400);
      if (++mismatched > 10) break;
    }
  }
  EXPECT_EQ(got.size(), want.size()) << "meridian has series Prometheus does not";

  // 2. query_range over the same window at 1s step: identical matrices.
  std::string range_q = "/api/v1/query_range?query=" + all + "&start=" + Secs(start_ms) +
                        "&end=" + Secs(end_ms) + "&step=1";
  auto prom_range = GetJson(pc, range_q);
  auto mer_range = GetJson(*mc, range_q);
  ASSERT_EQ(prom_range["status"], "success");
  ASSERT_EQ(mer_range["status"], "success") << mer_range.dump().substr(0, 500);
  SeriesMap want_r = ByLabels(prom_range["data"]["result"], false);
  SeriesMap got_r = ByLabels(mer_range["data"]["result"], true);
  EXPECT_EQ(got_r.size(), want_r.size());
  size_t range_mismatch = 0;
  for (const auto& [labels, values] : want_r) {
    auto it = got_r.find(labels);
    if (it == got_r.end() || it->second != values) {
      ADD_FAILURE() << "query_range differs for " << labels;
      if (++range_mismatch > 10) break;
    }
  }

  // 3. Metadata from remote-write feeds /api/v1/metadata.
  auto md = GetJson(*mc, "/api/v1/metadata?metric=prometheus_http_requests_total");
  EXPECT_EQ(md["data"]["prometheus_http_requests_total"][0]["type"], "counter") << md.dump();

  std::printf("e2e: %zu series, %zu raw samples compared over %lld s\n", want.size(), samples,
              static_cast<long long>(range_ms / 1000));
}

}  // namespace
}  // namespace meridian::testing
