// Aggregation pushdown (issue 9, the fan-out overhead): a global meridian
// whose remotes are meridians (`pushdown=true`) has each region evaluate
// sum/min/max/count/group/avg by|without over per-series expressions and
// merges the partial aggregates; everything else uses remote-read. Checked
// against the same global meridian without pushdown and against one meridian
// holding all the data: equal answers (sums across regions within 1e-12),
// HA replicas deduplicated by the regions (replicaLabels[]), dedup=false,
// matchers on external labels, freshness infos, and a region that hangs
// (SIGSTOP) or dies (SIGKILL) mid-test: partial answers with the warning,
// partial_response=false a 503.
#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>

#include "tests/integration/harness.h"
#include "tests/integration/regions.h"

namespace meridian::testing {
namespace {

double MetricValue(const std::string& text, const std::string& series) {
  size_t p = text.find("\n" + series + " ");
  if (p == std::string::npos) return -1;
  return std::stod(text.substr(p + series.size() + 2));
}

// metric JSON -> the values, as numbers.
std::map<std::string, std::vector<std::pair<double, double>>> Values(const nlohmann::json& data) {
  std::map<std::string, std::vector<std::pair<double, double>>> out;
  for (const auto& s : data["result"]) {
    auto& v = out[s["metric"].dump()];
    if (s.contains("values")) {
      for (const auto& p : s["values"]) {
        v.push_back({p[0].get<double>(), std::stod(p[1].get<std::string>())});
      }
    } else {
      v.push_back({s["value"][0].get<double>(), std::stod(s["value"][1].get<std::string>())});
    }
  }
  return out;
}

// Same series, same timestamps, values within a relative 1e-12 (sums over
// several regions add in another order).
void ExpectClose(const nlohmann::json& got, const nlohmann::json& want, const std::string& what) {
  auto g = Values(got), w = Values(want);
  ASSERT_EQ(g.size(), w.size()) << what << "\n" << got.dump() << "\n" << want.dump();
  for (const auto& [k, pts] : w) {
    ASSERT_TRUE(g.count(k)) << what << " lacks " << k;
    ASSERT_EQ(g[k].size(), pts.size()) << what << " " << k;
    for (size_t i = 0; i < pts.size(); ++i) {
      EXPECT_EQ(g[k][i].first, pts[i].first) << what;
      EXPECT_NEAR(g[k][i].second, pts[i].second, 1e-12 * std::max(1.0, std::fabs(pts[i].second)))
          << what << " " << k;
    }
  }
}

class PushdownTest : public TwoRegionsTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(
        StartRegions({.region_label = false, .ha_pair = true}, {"--replica-label", "replica"}));
    for (bool push : {true, false}) {
      auto g = std::make_unique<Meridian>(
          "", std::vector<std::string>{"--remote-read", RemoteFlag("us", *us_, "us-west-2", push),
                                       "--remote-read", RemoteFlag("eu", *eu_, "eu-west-1", push),
                                       "--replica-label", "replica", "--remote-read-freshness-lag",
                                       "30s"});
      ASSERT_TRUE(g->WaitReady()) << g->process().Log();
      (push ? push_ : rr_) = std::move(g);
    }
  }

  double RemoteReads(Meridian& region) {
    auto c = region.Client();
    auto r = c->Get("/metrics");
    return r ? MetricValue(r->body, "meridian_remote_read_server_requests_total{code=\"200\"}")
             : -1;
  }

  std::unique_ptr<Meridian> push_, rr_;
};

const std::vector<std::string> kPushable = {
    "sum by (region) (rate(requests_total[5m]))",
    "sum(increase(requests_total[10m]))",
    "sum without (instance) (rate(requests_total[5m]))",
    "max by (job) (gpu_temp)",
    "min without (instance, region) (gpu_temp)",
    "count by (job) (up)",
    "group by (region) (up)",
    "avg by (region) (gpu_temp)",
    "avg(gpu_temp offset 5m)",
    "sum by (region) (ha_total)",
    "sum(rate(ha_total[5m]))",
    "sum(rate(requests_total{region=\"eu-west-1\"}[5m]))",
    "sum by (job) (gpu_temp{region=~\"us.*\"} * 2)",
    "histogram_quantile(0.9, sum by (le, region) (rate(lat_bucket[5m])))",
    "sum by (region) (rate(requests_total[5m])) / on(region) group_left count by (region) (up)",
};

TEST_F(PushdownTest, PushedAnswersEqualRemoteReadAndOneMeridianWithAllData) {
  const double reads_before = RemoteReads(*us_) + RemoteReads(*eu_);
  std::vector<std::pair<std::string, nlohmann::json>> pushed;
  for (const auto& q : kPushable) {
    for (bool range : {false, true}) {
      const std::string path =
          range ? "/api/v1/query_range?query=" + UrlEncode(q) + "&start=" + Secs(from_ + 600'000) +
                      "&end=" + Secs(to_) + "&step=30"
                : "/api/v1/query?query=" + UrlEncode(q) + "&time=" + Secs(to_ - 7'000);
      pushed.emplace_back(path, Get(*push_, path));
    }
  }
  // None of them read raw series from the regions.
  EXPECT_EQ(RemoteReads(*us_) + RemoteReads(*eu_), reads_before);
  for (const auto& [path, p] : pushed) {
    auto r = Get(*rr_, path), a = Get(*all_, path);
    ASSERT_EQ(p["status"], "success") << path << p.dump();
    EXPECT_FALSE(p.contains("warnings")) << path << p.dump();
    ASSERT_FALSE(p["data"]["result"].empty()) << path;
    ExpectClose(p["data"], a["data"], "vs all: " + path);
    ExpectClose(p["data"], r["data"], "vs remote-read: " + path);
  }
  const double reads_after = RemoteReads(*us_) + RemoteReads(*eu_);
  EXPECT_GT(reads_after, reads_before);  // the remote-read global's
  // A query it cannot split still goes through remote-read.
  auto t = Get(*push_, "/api/v1/query?query=" + UrlEncode("topk(2, gpu_temp)") +
                           "&time=" + Secs(to_ - 7'000));
  EXPECT_EQ(t["data"]["result"].size(), 2u) << t.dump();
  EXPECT_GT(RemoteReads(*us_) + RemoteReads(*eu_), reads_after);

  // dedup=false: the regions do not deduplicate the HA pair either.
  const std::string ha =
      "/api/v1/query?query=" + UrlEncode("sum by (region) (ha_total)") + "&time=" + Secs(to_);
  auto p = Get(*push_, ha + "&dedup=false"), r = Get(*rr_, ha + "&dedup=false");
  auto a = Get(*all_, ha + "&dedup=false"), d = Get(*push_, ha);
  ExpectClose(p["data"], r["data"], "dedup=false vs remote-read");
  ExpectClose(p["data"], a["data"], "dedup=false vs all");
  ASSERT_EQ(p["data"]["result"].size(), 2u) << p.dump();
  // Replica B stopped 10 min before `to_`: only A counts there either way.
  // 20 min earlier both replicas have data: without dedup twice the sum.
  const std::string earlier =
      "/api/v1/query?query=" + UrlEncode("sum(ha_total)") + "&time=" + Secs(to_ - 1'200'000);
  const double once =
      std::stod(Get(*push_, earlier)["data"]["result"][0]["value"][1].get<std::string>());
  const double twice = std::stod(
      Get(*push_, earlier + "&dedup=false")["data"]["result"][0]["value"][1].get<std::string>());
  EXPECT_EQ(twice, 2 * once);

  // Freshness: the data ends a minute before now, the lag is 30 s: both
  // paths name both regions in the infos.
  const std::string fresh =
      "/api/v1/query?query=" + UrlEncode("sum by (region) (up)") + "&time=" + Secs(now_);
  auto pi = Get(*push_, fresh), ri = Get(*rr_, fresh);
  ASSERT_TRUE(pi.contains("infos")) << pi.dump();
  ASSERT_TRUE(ri.contains("infos")) << ri.dump();
  EXPECT_EQ(pi["infos"], ri["infos"]);
  EXPECT_EQ(pi["infos"].size(), 2u) << pi.dump();
}

TEST_F(PushdownTest, ARegionThatHangsOrDiesGivesPartialAnswersOr503) {
  const std::string q =
      "/api/v1/query_range?query=" + UrlEncode("sum by (region) (rate(requests_total[5m]))") +
      "&start=" + Secs(from_ + 600'000) + "&end=" + Secs(to_) + "&step=60";
  const std::string us_only =
      "/api/v1/query_range?query=" +
      UrlEncode("sum by (region) (rate(requests_total{region=\"us-west-2\"}[5m]))") +
      "&start=" + Secs(from_ + 600'000) + "&end=" + Secs(to_) + "&step=60";
  auto full = Get(*push_, q);
  ASSERT_EQ(full["data"]["result"].size(), 2u) << full.dump();
  auto want = Get(*all_, us_only);

  // eu hangs: the call times out after its 3 s; the answer is us's alone.
  eu_->process().Kill(SIGSTOP);
  auto hung = Get(*push_, q);
  eu_->process().Kill(SIGCONT);
  ASSERT_EQ(hung["status"], "success") << hung.dump();
  ExpectClose(hung["data"], want["data"], "eu hung");
  ASSERT_TRUE(hung.contains("warnings")) << hung.dump();
  EXPECT_EQ(hung["warnings"][0], "remote eu: timed out after 3000ms") << hung.dump();

  eu_->process().Kill(SIGKILL);
  eu_->process().Wait(std::chrono::seconds(10));
  auto g = Get(*push_, q);
  ASSERT_EQ(g["status"], "success") << g.dump();
  ExpectClose(g["data"], want["data"], "eu dead");
  ASSERT_TRUE(g.contains("warnings")) << g.dump();
  ASSERT_EQ(g["warnings"].size(), 1u) << g.dump();
  EXPECT_EQ(g["warnings"][0].get<std::string>().rfind("remote eu: query API failed: ", 0), 0u)
      << g.dump();
  // The same as the remote-read path says, but for the call it names.
  auto r = Get(*rr_, q);
  ExpectClose(r["data"], g["data"], "remote-read, eu dead");
  ASSERT_TRUE(r.contains("warnings")) << r.dump();

  int status = 0;
  auto strict = Get(*push_, q + "&partial_response=false", &status);
  EXPECT_EQ(status, 503) << strict.dump();
  EXPECT_EQ(strict["errorType"], "unavailable");
  EXPECT_NE(strict["error"].get<std::string>().find("remote eu"), std::string::npos)
      << strict.dump();

  eu_->Restart();
  ASSERT_TRUE(eu_->WaitReady());
  g = Get(*push_, q);
  EXPECT_FALSE(g.contains("warnings")) << g.dump();
  ExpectClose(g["data"], full["data"], "eu back");
}

}  // namespace
}  // namespace meridian::testing
