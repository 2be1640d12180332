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
  // Let the last batches arrive: every queue has sent samples past the window
  // (batch_send_deadline is 1s, but a loaded machine holds queues longer).
  ASSERT_TRUE(WaitRemoteWriteSent(prom_port, end_ms + 2000)) << prom->Log();

  auto mc = meridian.Client();
  const std::string all = UrlEncode(R"({__name__=~".+"})");
  const int64_t range_ms = end_ms - start_ms;

  // Compares one query's answers; the failures found, at most 10.
  size_t samples = 0, series = 0;
  auto compare = [&](const std::string& q, bool raw) {
    std::vector<std::string> failures;
    auto prom_ans = GetJson(pc, q);
    auto mer_ans = GetJson(*mc, q);
    if (prom_ans["status"] != "success" || mer_ans["status"] != "success") {
      failures.push_back("prometheus " + prom_ans.dump().substr(0, 300) + "\n meridian " +
                         mer_ans.dump().substr(0, 300));
      return failures;
    }
    SeriesMap want = ByLabels(prom_ans["data"]["result"], false);
    SeriesMap got = ByLabels(mer_ans["data"]["result"], true);
    EXPECT_GT(want.size(), 100u) << "Prometheus should hold hundreds of self-scraped series";
    if (raw) samples = 0, series = want.size();
    for (const auto& [labels, values] : want) {
      auto it = got.find(labels);
      if (it == got.end()) {
        failures.push_back("meridian lacks series " + labels);
      } else if (it->second != values) {
        failures.push_back("series " + labels + " differs:\n prometheus " +
                           values.dump().substr(0, 400) + "\n meridian   " +
                           it->second.dump().substr(0, 400));
      }
      if (raw) samples += values.size();
      if (failures.size() >= 10) return failures;
    }
    if (got.size() != want.size()) {
      failures.push_back("meridian has " + std::to_string(got.size()) + " series, Prometheus " +
                         std::to_string(want.size()));
    }
    return failures;
  };
  // Each comparison is tried again for a few seconds before it fails: a
  // queue's highest sent timestamp does not promise that the other shards
  // sent everything older.
  auto compare_until_equal = [&](const std::string& q, bool raw) {
    std::vector<std::string> failures;
    for (int attempt = 0; attempt < 10; ++attempt) {
      failures = compare(q, raw);
      if (failures.empty()) break;
      std::printf("e2e: attempt %d: %zu differences, first: %s\n", attempt + 1, failures.size(),
                  failures[0].substr(0, 300).c_str());
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
    for (const std::string& f : failures) ADD_FAILURE() << f;
  };

  // 1. Raw samples: identical timestamps and values, series by series.
  const std::string raw_q =
      "/api/v1/query?query=" +
      UrlEncode(std::string(R"({__name__=~".+"}[)") + std::to_string(range_ms) + "ms]") +
      "&time=" + Secs(end_ms);
  compare_until_equal(raw_q, true);

  // 2. query_range over the same window at 1s step: identical matrices.
  const std::string range_q = "/api/v1/query_range?query=" + all + "&start=" + Secs(start_ms) +
                              "&end=" + Secs(end_ms) + "&step=1";
  compare_until_equal(range_q, false);

  // 3. Metadata from remote-write feeds /api/v1/metadata.
  auto md = GetJson(*mc, "/api/v1/metadata?metric=prometheus_http_requests_total");
  EXPECT_EQ(md["data"]["prometheus_http_requests_total"][0]["type"], "counter") << md.dump();

  std::printf("e2e: %zu series, %zu raw samples compared over %lld s\n", series, samples,
              static_cast<long long>(range_ms / 1000));
}

}  // namespace
}  // namespace meridian::testing
