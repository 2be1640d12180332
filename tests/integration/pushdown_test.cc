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

namespace meridian::testing {
namespace {

// One region's hour: counters with a reset, gauges, a histogram, and a
// counter written by an HA pair (replica A and B, B missing the last 10 min).
prometheus::WriteRequest RegionData(const std::string& region, int64_t from, int64_t to, int seed) {
  prometheus::WriteRequest req;
  for (const char* job : {"api", "gpu"}) {
    const double job_off = job[0] == 'a' ? 0.5 : 0.25;
    for (int inst = 0; inst < 3; ++inst) {
      std::vector<std::pair<int64_t, double>> ctr, gauge, up, ha_a, ha_b;
      std::vector<std::vector<std::pair<int64_t, double>>> buckets(3);
      double total = 0;
      int i = 0;
      for (int64_t t = from + 500; t <= to; t += 15000, ++i) {
        total += 1 + (i * 7 + inst + seed) % 5;
        if (i == 90 && inst == 2) total = 1;  // reset
        ctr.push_back({t, total});
        gauge.push_back({t, 40 + job_off + 30 * std::sin(i / 9.0 + inst + seed)});
        up.push_back({t, 1});
        ha_a.push_back({t, 3.0 * i + inst});
        if (t < to - 600'000) ha_b.push_back({t + 200, 3.0 * i + inst});
        for (int b = 0; b < 3; ++b) buckets[b].push_back({t, std::floor(total * (b + 1) / 3)});
      }
      const std::string in = std::to_string(inst);
      AddSeries(&req, {{"__name__", "requests_total"}, {"job", job}, {"instance", in}}, ctr);
      AddSeries(&req, {{"__name__", "gpu_temp"}, {"job", job}, {"instance", in}}, gauge);
      AddSeries(&req, {{"__name__", "up"}, {"job", job}, {"instance", in}}, up);
      AddSeries(&req, {{"__name__", "ha_total"}, {"job", job}, {"instance", in}, {"replica", "A"}},
                ha_a);
      AddSeries(&req, {{"__name__", "ha_total"}, {"job", job}, {"instance", in}, {"replica", "B"}},
                ha_b);
      const char* les[] = {"0.1", "1", "+Inf"};
      for (int b = 0; b < 3; ++b) {
        AddSeries(&req,
                  {{"__name__", "lat_bucket"}, {"job", job}, {"instance", in}, {"le", les[b]}},
                  buckets[b]);
      }
    }
  }
  // The one meridian holding everything sees each region's series with the
  // region label the global attaches as an external label.
  (void)region;
  return req;
}

// The same data with region=R on every series (for the single meridian).
prometheus::WriteRequest WithRegion(prometheus::WriteRequest req, const std::string& region) {
  for (auto& ts : *req.mutable_timeseries()) {
    auto* l = ts.add_labels();
    l->set_name("region");
    l->set_value(region);
    std::sort(ts.mutable_labels()->begin(), ts.mutable_labels()->end(),
              [](const auto& a, const auto& b) { return a.name() < b.name(); });
  }
  return req;
}

void Write(Meridian& m, const prometheus::WriteRequest& req) {
  auto c = m.Client();
  auto r = PostWrite(*c, EncodeWriteRequest(req), "application/x-protobuf");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
}

std::string Remote(const std::string& name, Meridian& m, const std::string& region, bool pushdown) {
  return name + "=http://" + m.url() + "/api/v1/read;timeout=3s;external-labels=region:" + region +
         (pushdown ? ";pushdown=true" : "");
}

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

class PushdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    now_ = NowMs() / 60000 * 60000;
    from_ = now_ - 3600'000;
    to_ = now_ - 60'000;
    us_ = std::make_unique<Meridian>();
    eu_ = std::make_unique<Meridian>();
    all_ = std::make_unique<Meridian>("", std::vector<std::string>{"--replica-label", "replica"});
    ASSERT_TRUE(us_->WaitReady() && eu_->WaitReady() && all_->WaitReady());
    auto us_data = RegionData("us-west-2", from_, to_, 0);
    auto eu_data = RegionData("eu-west-1", from_, to_, 3);
    Write(*us_, us_data);
    Write(*eu_, eu_data);
    Write(*all_, WithRegion(us_data, "us-west-2"));
    Write(*all_, WithRegion(eu_data, "eu-west-1"));
    for (bool push : {true, false}) {
      auto g = std::make_unique<Meridian>(
          "", std::vector<std::string>{"--remote-read", Remote("us", *us_, "us-west-2", push),
                                       "--remote-read", Remote("eu", *eu_, "eu-west-1", push),
                                       "--replica-label", "replica", "--remote-read-freshness-lag",
                                       "30s"});
      ASSERT_TRUE(g->WaitReady()) << g->process().Log();
      (push ? push_ : rr_) = std::move(g);
    }
  }

  nlohmann::json Get(Meridian& m, const std::string& path, int* status = nullptr) {
    auto c = m.Client();
    return GetJson(*c, path, status);
  }
  double RemoteReads(Meridian& region) {
    auto c = region.Client();
    auto r = c->Get("/metrics");
    return r ? MetricValue(r->body, "meridian_remote_read_server_requests_total{code=\"200\"}")
             : -1;
  }

  int64_t now_, from_, to_;
  std::unique_ptr<Meridian> us_, eu_, all_, push_, rr_;
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
