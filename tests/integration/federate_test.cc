// Federation (issue 9 item 6), with real processes: meridian's GET /federate
// answers as Prometheus's does (checked by exact text, and by a real
// Prometheus 2.42 scraping it with honor_labels), and a meridian pulling a
// real Prometheus's /federate (--federate-pull) stores its series with
// Prometheus's honor_labels semantics, either way.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <fstream>
#include <thread>

#include "model/sample.h"
#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";

std::string Secs(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::unique_ptr<Process> StartPrometheus(const TempDir& dir, int port, const std::string& config,
                                         httplib::Client* client) {
  std::ofstream(dir.path() + "/prometheus.yml") << config;
  auto p = std::make_unique<Process>(
      std::vector<std::string>{kPrometheus, "--config.file=" + dir.path() + "/prometheus.yml",
                               "--storage.tsdb.path=" + dir.path() + "/data",
                               "--web.listen-address=127.0.0.1:" + std::to_string(port)},
      dir.path() + "/prometheus.log");
  for (int i = 0; i < 300; ++i) {
    auto r = client->Get("/-/ready");
    if (r && r->status == 200) return p;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "Prometheus not ready: " << p->Log();
  return nullptr;
}

// {labels JSON: value} of an instant query's vector.
std::map<std::string, std::string> Vector(const nlohmann::json& j) {
  std::map<std::string, std::string> out;
  if (!j.contains("data")) return out;
  for (const auto& s : j["data"]["result"]) out[s["metric"].dump()] = s["value"][1];
  return out;
}

class FederateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(m_.WaitReady()) << m_.process().Log();
    now_ = NowMs();
    t_ = now_ - 5'000;
    prometheus::WriteRequest req, other;
    AddSeries(&req,
              {{"__name__", "fed_gauge"}, {"job", "a"}, {"instance", "x:1"}, {"path", "/q\"\\\n"}},
              {{now_ - 20'000, 1.5}, {t_, 3.25}});
    AddSeries(&req, {{"__name__", "fed_counter_total"}, {"job", "a"}}, {{t_, 1e21}});
    AddSeries(&req, {{"__name__", "fed_counter_total"}, {"job", "b"}}, {{t_ - 1, -2.5e-7}});
    // Ended by a stale marker: not federated (the format cannot carry it).
    prometheus::TimeSeries* stale =
        AddSeries(&req, {{"__name__", "fed_stale"}, {"job", "a"}}, {{now_ - 30'000, 1}});
    auto* marker = stale->add_samples();
    marker->set_timestamp(now_ - 15'000);
    uint64_t bits = 0x7ff0000000000002ULL;
    double nan;
    std::memcpy(&nan, &bits, sizeof(nan));
    marker->set_value(nan);
    // Beyond the 5m lookback: not federated.
    AddSeries(&req, {{"__name__", "fed_old"}, {"job", "a"}}, {{now_ - 10 * 60'000, 1}});
    AddSeries(&req, {{"__name__", "not_fed"}, {"job", "a"}}, {{t_, 1}});
    AddSeries(&other, {{"__name__", "fed_gauge"}, {"job", "other"}}, {{t_, 9}});
    auto c = m_.Client();
    auto r = PostWrite(*c, EncodeWriteRequest(req));
    ASSERT_TRUE(r && r->status == 204) << (r ? r->body : "");
    r = PostWrite(*c, EncodeWriteRequest(other), "application/x-protobuf",
                  {{"THANOS-TENANT", "other"}});
    ASSERT_TRUE(r && r->status == 204) << (r ? r->body : "");
  }

  Meridian m_;
  int64_t now_ = 0, t_ = 0;
};

TEST_F(FederateTest, ServesTheLatestSamplesAsPrometheusDoes) {
  auto c = m_.Client();
  auto r = c->Get("/federate?match[]=" + UrlEncode("{__name__=~\"fed_.*\"}") +
                  "&match[]=" + UrlEncode("fed_gauge"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string t = std::to_string(t_);
  EXPECT_EQ(r->body,
            "# TYPE fed_counter_total untyped\n"
            "fed_counter_total{job=\"a\",instance=\"\"} 1e+21 " +
                t +
                "\n"
                "fed_counter_total{job=\"b\",instance=\"\"} -2.5e-07 " +
                std::to_string(t_ - 1) +
                "\n"
                "# TYPE fed_gauge untyped\n"
                "fed_gauge{instance=\"x:1\",job=\"a\",path=\"/q\\\"\\\\\\n\"} 3.25 " +
                t + "\n");
  // The tenant header selects the tenant.
  r = c->Get("/federate?match[]=fed_gauge", {{"THANOS-TENANT", "other"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body,
            "# TYPE fed_gauge untyped\nfed_gauge{job=\"other\",instance=\"\"} 9 " + t + "\n");
  // No match[]: nothing; a bad selector: 400 with the parser's message.
  r = c->Get("/federate");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  r = c->Get("/federate?match[]=" + UrlEncode("{job="));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("parse error"), std::string::npos) << r->body;
}

TEST_F(FederateTest, APrometheusScrapesIt) {
  if (access(kPrometheus, X_OK) != 0) GTEST_SKIP() << "SKIP: " << kPrometheus << " not installed";
  TempDir dir;
  const int port = FreePort();
  httplib::Client pc("127.0.0.1", port);
  auto prom = StartPrometheus(dir, port,
                              "global:\n  scrape_interval: 1s\n"
                              "scrape_configs:\n"
                              "  - job_name: federate\n"
                              "    honor_labels: true\n"
                              "    metrics_path: /federate\n"
                              "    params:\n"
                              "      'match[]': ['{__name__=~\"fed_.*\"}']\n"
                              "    static_configs:\n"
                              "      - targets: ['" +
                                  m_.url() + "']\n",
                              &pc);
  ASSERT_NE(prom, nullptr);
  // The scraped series as Prometheus stores them, with their timestamps.
  const std::string q = "/api/v1/query?query=" + UrlEncode("timestamp({__name__=~\"fed_.*\"})") +
                        "&time=" + Secs(NowMs());
  std::map<std::string, std::string> got;
  for (int i = 0; i < 150 && got.size() < 3; ++i) {
    got =
        Vector(GetJson(pc, "/api/v1/query?query=" + UrlEncode("timestamp({__name__=~\"fed_.*\"})") +
                               "&time=" + Secs(NowMs())));
    if (got.size() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // honor_labels: meridian's job and instance are kept; the empty instance
  // stands for none (Prometheus does not put its target's instance there).
  const std::string ts = Secs(t_);
  std::map<std::string, std::string> want = {
      {R"({"instance":"x:1","job":"a","path":"/q\"\\\n"})", ts},
      {R"({"job":"a"})", ts},
      {R"({"job":"b"})", Secs(t_ - 1)},
  };
  // timestamp() drops the name; Prometheus prints 3 decimals.
  for (auto& [k, v] : got) v = Secs(static_cast<int64_t>(std::stod(v) * 1000 + 0.5));
  EXPECT_EQ(got, want) << prom->Log();
  // And the values.
  auto values = Vector(GetJson(
      pc, "/api/v1/query?query=" + UrlEncode("{__name__=~\"fed_.*\"}") + "&time=" + Secs(NowMs())));
  EXPECT_EQ(values[R"({"__name__":"fed_counter_total","job":"a"})"], "1e+21");
  EXPECT_EQ(values[R"({"__name__":"fed_counter_total","job":"b"})"], "-2.5e-07");
}

// meridian pulls a real Prometheus's /federate: with honor_labels the
// federated series keep Prometheus's job/instance and external labels; without,
// the pull's job and instance win and Prometheus's become exported_*.
TEST(FederatePullTest, PullsARealPrometheusWithAndWithoutHonorLabels) {
  if (access(kPrometheus, X_OK) != 0) GTEST_SKIP() << "SKIP: " << kPrometheus << " not installed";
  TempDir dir;
  const int port = FreePort();
  const std::string self = "127.0.0.1:" + std::to_string(port);
  httplib::Client pc("127.0.0.1", port);
  auto prom = StartPrometheus(dir, port,
                              "global:\n  scrape_interval: 1s\n  external_labels: {cluster: eu}\n"
                              "scrape_configs:\n"
                              "  - job_name: prometheus\n"
                              "    static_configs:\n"
                              "      - targets: ['" +
                                  self + "']\n",
                              &pc);
  ASSERT_NE(prom, nullptr);
  const std::string url = "http://" + self + "/federate";
  const std::string match = ";match={job=\"prometheus\",__name__=~\"up|prometheus_build_info\"}";
  Meridian m("", {"--federate-pull", "keep=" + url + match + ";interval=1s;labels=region:eu-west-1",
                  "--federate-pull",
                  "plain=" + url + match +
                      ";interval=1s;labels=region:eu-west-1;honor-labels=false;"
                      "tenant=plain"});
  ASSERT_TRUE(m.WaitReady()) << m.process().Log();
  auto c = m.Client();
  nlohmann::json keep, plain;
  for (int i = 0; i < 100; ++i) {
    // The federated up (the pulls' own up lacks the external label cluster).
    keep = GetJson(*c, "/api/v1/query?query=" + UrlEncode("up{cluster=\"eu\"}"));
    plain = GetJson(*c, "/api/v1/query?query=" + UrlEncode("up{cluster=\"eu\"}"), nullptr,
                    {{"THANOS-TENANT", "plain"}});
    if (keep["data"]["result"].size() == 1 && plain["data"]["result"].size() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(keep["data"]["result"].size(), 1u) << keep.dump() << m.process().Log();
  ASSERT_EQ(plain["data"]["result"].size(), 1u) << plain.dump();
  EXPECT_EQ(keep["data"]["result"][0]["metric"], nlohmann::json({{"__name__", "up"},
                                                                 {"job", "prometheus"},
                                                                 {"instance", self},
                                                                 {"cluster", "eu"},
                                                                 {"region", "eu-west-1"}}));
  EXPECT_EQ(plain["data"]["result"][0]["metric"], nlohmann::json({{"__name__", "up"},
                                                                  {"job", "plain"},
                                                                  {"instance", self},
                                                                  {"exported_job", "prometheus"},
                                                                  {"exported_instance", self},
                                                                  {"cluster", "eu"},
                                                                  {"region", "eu-west-1"}}));
  // Every stored point is one Prometheus has, at its own timestamp.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const int64_t at = NowMs();
  auto mine = RawSamples(*c, "up{cluster=\"eu\"}", at, 60'000);
  auto theirs = RawSamples(pc, "up", at, 60'000);
  ASSERT_EQ(mine.size(), 1u);
  ASSERT_EQ(theirs.size(), 1u);
  const auto& mp = mine.begin()->second;
  const auto& tp = theirs.begin()->second;
  EXPECT_GE(mp.size(), 2u);
  for (const auto& p : mp) {
    EXPECT_NE(std::find(tp.begin(), tp.end(), p), tp.end()) << p.first << " " << p.second;
  }
  auto metrics = c->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("meridian_federate_pull_failures_total{pull=\"keep\"} 0"),
            std::string::npos)
      << metrics->body;
  EXPECT_EQ(metrics->body.find("meridian_federate_pulls_total{pull=\"keep\"} 0\n"),
            std::string::npos);
}

// The pull's report series and staleness against the real thing: one
// Prometheus 2.42 and one meridian scrape the same meridian's /federate with
// honor_labels, once keeping the exposition's timestamps ("ts") and once not
// ("now"); through a vanishing series and the source going down, queries on
// both answer the same (Prometheus marks only series it stamped itself stale).
TEST(FederatePullTest, ReportSeriesAndStalenessAsAPrometheusScrapingTheSameFederate) {
  if (access(kPrometheus, X_OK) != 0) GTEST_SKIP() << "SKIP: " << kPrometheus << " not installed";
  auto source = std::make_unique<Meridian>();
  ASSERT_TRUE(source->WaitReady()) << source->process().Log();
  const int64_t t0 = NowMs() - 5'000;
  {
    prometheus::WriteRequest req;
    AddSeries(&req, {{"__name__", "fed_a"}, {"job", "src"}}, {{t0, 1}});
    AddSeries(&req, {{"__name__", "fed_b"}, {"job", "src"}, {"instance", "h:1"}}, {{t0, 2}});
    AddSeries(&req, {{"__name__", "fed_c"}, {"job", "src"}}, {{t0, 3}});
    auto r = PostWrite(*source->Client(), EncodeWriteRequest(req));
    ASSERT_TRUE(r && r->status == 204) << (r ? r->body : "");
  }
  const std::string match = "{__name__=~\"fed_.*\"}";
  TempDir dir;
  const int port = FreePort();
  httplib::Client pc("127.0.0.1", port);
  std::string jobs;
  for (const char* job : {"ts", "now"}) {
    jobs += std::string("  - job_name: ") + job +
            "\n    honor_labels: true\n    metrics_path: /federate\n" +
            (std::string(job) == "now" ? "    honor_timestamps: false\n" : "") +
            "    params:\n      'match[]': ['" + match +
            "']\n    static_configs:\n      - targets: ['" + source->url() +
            "']\n        labels: {pull: " + job + "}\n";
  }
  auto prom =
      StartPrometheus(dir, port, "global:\n  scrape_interval: 1s\nscrape_configs:\n" + jobs, &pc);
  ASSERT_NE(prom, nullptr);
  const std::string url = "http://" + source->url() + "/federate;match=" + match + ";interval=1s";
  Meridian m("", {"--federate-pull", "ts=" + url + ";labels=pull:ts", "--federate-pull",
                  "now=" + url + ";labels=pull:now;honor-timestamps=false"});
  ASSERT_TRUE(m.WaitReady()) << m.process().Log();
  auto mc = m.Client();

  auto query = [](httplib::Client& c, const std::string& e, int64_t at) {
    return Vector(GetJson(c, "/api/v1/query?query=" + UrlEncode(e) + "&time=" + Secs(at)));
  };
  // Scrapes so far of both jobs, on both sides (the fewest of the four).
  auto scrapes = [&]() {
    double fewest = 1e9;
    for (httplib::Client* c : {&pc, mc.get()}) {
      for (const char* job : {"ts", "now"}) {
        auto v = query(*c, "count_over_time(up{job=\"" + std::string(job) + "\"}[10m])", NowMs());
        fewest = std::min(fewest, v.empty() ? 0.0 : std::stod(v.begin()->second));
      }
    }
    return fewest;
  };
  auto settle = [&]() {  // two more scrapes everywhere: one saw the change whole
    const double base = scrapes();
    for (int i = 0; i < 300 && scrapes() < base + 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_GE(scrapes(), base + 2) << prom->Log() << m.process().Log();
  };
  // Everything both sides answer at one instant (the duration's value aside).
  auto snapshot = [&](httplib::Client& c, int64_t at) {
    auto out = query(c, "{__name__=~\"fed_.*|up|scrape_samples_.*|scrape_series_added\"}", at);
    for (auto& [k, v] : query(c, "max_over_time(scrape_series_added[10m])", at)) {
      out["max added " + k] = v;
    }
    for (auto& [k, v] : query(c, "scrape_duration_seconds >= bool 0", at)) out["duration " + k] = v;
    return out;
  };
  auto compare = [&](const char* phase) {
    const int64_t at = NowMs();
    auto theirs = snapshot(pc, at), mine = snapshot(*mc, at);
    EXPECT_EQ(mine, theirs) << phase;
    return mine;
  };
  const std::string inst = source->url();
  auto key = [&](const std::string& name, const std::string& pull, bool report) {
    nlohmann::json j = {{"__name__", name}, {"pull", pull}};
    if (report) {
      j["job"] = pull;
      j["instance"] = inst;
    } else {
      j["job"] = "src";
      if (name == "fed_b") j["instance"] = "h:1";
    }
    return j.dump();
  };

  ASSERT_NO_FATAL_FAILURE(settle());
  auto got = compare("all three series");
  EXPECT_EQ(got[key("up", "ts", true)], "1");
  EXPECT_EQ(got[key("scrape_samples_scraped", "now", true)], "3");
  EXPECT_EQ(got["max added " +
                nlohmann::json({{"job", "ts"}, {"instance", inst}, {"pull", "ts"}}).dump()],
            "3");
  EXPECT_EQ(got[key("fed_c", "ts", false)], "3");

  // fed_c ends at the source (its stale marker): /federate stops listing it.
  {
    prometheus::WriteRequest req;
    AddSeries(&req, {{"__name__", "fed_c"}, {"job", "src"}}, {{NowMs(), StaleNaN()}});
    auto r = PostWrite(*source->Client(), EncodeWriteRequest(req));
    ASSERT_TRUE(r && r->status == 204) << (r ? r->body : "");
  }
  ASSERT_NO_FATAL_FAILURE(settle());
  got = compare("fed_c vanished");
  EXPECT_EQ(got[key("scrape_samples_scraped", "ts", true)], "2");
  EXPECT_EQ(got.count(key("fed_c", "now", false)), 0u);  // marked stale
  EXPECT_EQ(got.count(key("fed_c", "ts", false)), 1u);   // its timestamp: not tracked

  // The source goes down: up 0; only the "now" series are marked stale.
  source->process().Kill(SIGKILL);
  source->process().Wait(std::chrono::seconds(10));
  ASSERT_NO_FATAL_FAILURE(settle());
  got = compare("source down");
  EXPECT_EQ(got[key("up", "ts", true)], "0");
  EXPECT_EQ(got[key("up", "now", true)], "0");
  EXPECT_EQ(got[key("scrape_samples_scraped", "now", true)], "0");
  EXPECT_EQ(got.count(key("fed_a", "now", false)), 0u);
  EXPECT_EQ(got.count(key("fed_a", "ts", false)), 1u);
  EXPECT_EQ(got.count(key("fed_b", "ts", false)), 1u);
}

}  // namespace
}  // namespace meridian::testing
