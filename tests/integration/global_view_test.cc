// A global meridian over regional ones (issue 9): regional meridians fed by
// remote-write, a global meridian reading them with --remote-read. Its
// answers equal those of one meridian holding all the data; a region killed
// with SIGKILL gives partial answers with a warning naming it (or 503 with
// partial_response=false), and complete answers again once it is back.
#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>
#include <thread>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

// One region's hour of data: counters with a reset, gauges, a classic
// histogram, an HA-free set of instances; every 15 s, 500 ms off the grid.
prometheus::WriteRequest RegionData(const std::string& region, int64_t from, int64_t to, int seed) {
  prometheus::WriteRequest req;
  for (const char* job : {"api", "gpu"}) {
    // No ties between series: topk/bottomk pick among equals by input order.
    const double job_off = job[0] == 'a' ? 0.5 : 0.25;
    for (int inst = 0; inst < 3; ++inst) {
      std::vector<std::pair<int64_t, double>> ctr, gauge, up;
      std::vector<std::vector<std::pair<int64_t, double>>> buckets(3);
      double total = 0;
      int i = 0;
      for (int64_t t = from + 500; t <= to; t += 15000, ++i) {
        total += 1 + (i * 7 + inst + seed) % 5;
        if (i == 90 && inst == 2) total = 1;  // reset
        ctr.push_back({t, total});
        gauge.push_back({t, 40 + job_off + 30 * std::sin(i / 9.0 + inst + seed)});
        up.push_back({t, 1});
        for (int b = 0; b < 3; ++b) buckets[b].push_back({t, std::floor(total * (b + 1) / 3)});
      }
      std::string in = std::to_string(inst);
      AddSeries(
          &req,
          {{"__name__", "requests_total"}, {"job", job}, {"instance", in}, {"region", region}},
          ctr);
      AddSeries(&req,
                {{"__name__", "gpu_temp"}, {"job", job}, {"instance", in}, {"region", region}},
                gauge);
      AddSeries(&req, {{"__name__", "up"}, {"job", job}, {"instance", in}, {"region", region}}, up);
      const char* les[] = {"0.1", "1", "+Inf"};
      for (int b = 0; b < 3; ++b) {
        AddSeries(&req,
                  {{"__name__", "lat_bucket"},
                   {"job", job},
                   {"instance", in},
                   {"region", region},
                   {"le", les[b]}},
                  buckets[b]);
      }
    }
  }
  return req;
}

void Write(Meridian& m, const prometheus::WriteRequest& req, const httplib::Headers& h = {}) {
  auto c = m.Client();
  auto r = PostWrite(*c, EncodeWriteRequest(req), "application/x-protobuf", h);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
}

std::string RemoteFlag(const std::string& name, Meridian& m, const std::string& region) {
  return name + "=http://" + m.url() + "/api/v1/read;timeout=3s;external-labels=region:" + region;
}

class GlobalViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    now_ = NowMs() / 60000 * 60000;
    from_ = now_ - 3600'000;
    to_ = now_ - 60'000;
    us_ = std::make_unique<Meridian>();
    eu_ = std::make_unique<Meridian>();
    all_ = std::make_unique<Meridian>();
    ASSERT_TRUE(us_->WaitReady() && eu_->WaitReady() && all_->WaitReady());
    auto us_data = RegionData("us-west-2", from_, to_, 0);
    auto eu_data = RegionData("eu-west-1", from_, to_, 3);
    Write(*us_, us_data);
    Write(*eu_, eu_data);
    Write(*all_, us_data);
    Write(*all_, eu_data);
    global_ = std::make_unique<Meridian>(
        "", std::vector<std::string>{"--remote-read", RemoteFlag("us", *us_, "us-west-2"),
                                     "--remote-read", RemoteFlag("eu", *eu_, "eu-west-1")});
    ASSERT_TRUE(global_->WaitReady()) << global_->process().Log();
  }

  nlohmann::json Get(Meridian& m, const std::string& path, int* status = nullptr) {
    auto c = m.Client();
    return GetJson(*c, path, status);
  }

  int64_t now_, from_, to_;
  std::unique_ptr<Meridian> us_, eu_, all_, global_;
};

TEST_F(GlobalViewTest, GlobalAnswersEqualOneMeridianHoldingAllData) {
  const std::vector<std::string> queries = {
      "up",
      "sum by (region) (rate(requests_total[5m]))",
      "sum(increase(requests_total[10m]))",
      "histogram_quantile(0.9, sum by (le, region) (rate(lat_bucket[5m])))",
      "max_over_time(gpu_temp{region=\"eu-west-1\"}[10m])",
      "topk(3, gpu_temp)",
      "count by (job) (up)",
      "gpu_temp{region=~\"us.*\"} offset 10m",
      "requests_total[3m]",
      "avg(gpu_temp) by (region) - on(region) avg(gpu_temp offset 5m) by (region)",
  };
  int compared = 0;
  for (const auto& q : queries) {
    std::string path = "/api/v1/query?query=" + UrlEncode(q) + "&time=" + Secs(to_ - 7'000);
    auto g = Get(*global_, path), a = Get(*all_, path);
    ASSERT_EQ(g["status"], "success") << q << g.dump();
    EXPECT_FALSE(g.contains("warnings")) << g.dump();
    EXPECT_EQ(Canon(g["data"]), Canon(a["data"])) << q;
    compared += static_cast<int>(Canon(a["data"]).size());
    if (q.back() == ']') continue;
    path = "/api/v1/query_range?query=" + UrlEncode(q) + "&start=" + Secs(from_ + 600'000) +
           "&end=" + Secs(to_) + "&step=30";
    g = Get(*global_, path);
    a = Get(*all_, path);
    ASSERT_EQ(g["status"], "success") << q << g.dump();
    EXPECT_EQ(Canon(g["data"]), Canon(a["data"])) << "range " << q;
  }
  EXPECT_GT(compared, 40);
  // The metadata endpoints through series-only reads.
  const std::string range = "&start=" + Secs(from_) + "&end=" + Secs(to_);
  for (const std::string& path :
       {"/api/v1/series?match[]=" + UrlEncode("up") + range, "/api/v1/labels?" + range.substr(1),
        "/api/v1/label/region/values?" + range.substr(1),
        "/api/v1/label/instance/values?match[]=" + UrlEncode("gpu_temp{job=\"api\"}") + range}) {
    auto g = Get(*global_, path), a = Get(*all_, path);
    ASSERT_EQ(g["status"], "success") << path << g.dump();
    EXPECT_FALSE(Canon(a["data"]).empty()) << path;
    EXPECT_EQ(Canon(g["data"]), Canon(a["data"])) << path;
  }
}

TEST_F(GlobalViewTest, KilledRegionGivesPartialAnswersOr503AndRecovers) {
  const std::string q =
      "/api/v1/query?query=" + UrlEncode("count by (region) (up)") + "&time=" + Secs(to_ - 7'000);
  auto g = Get(*global_, q);
  ASSERT_EQ(g["data"]["result"].size(), 2u) << g.dump();

  eu_->process().Kill(SIGKILL);
  eu_->process().Wait(std::chrono::seconds(10));
  g = Get(*global_, q);
  ASSERT_EQ(g["status"], "success") << g.dump();
  ASSERT_EQ(g["data"]["result"].size(), 1u) << g.dump();
  EXPECT_EQ(g["data"]["result"][0]["metric"]["region"], "us-west-2");
  ASSERT_TRUE(g.contains("warnings")) << g.dump();
  ASSERT_EQ(g["warnings"].size(), 1u);
  EXPECT_EQ(g["warnings"][0].get<std::string>().rfind("remote eu: ", 0), 0u) << g.dump();

  // A selector only the live region can match asks only it: no warning.
  auto only_us = Get(*global_, "/api/v1/query?query=" + UrlEncode("up{region=\"us-west-2\"}") +
                                   "&time=" + Secs(to_ - 7'000));
  EXPECT_EQ(only_us["data"]["result"].size(), 6u);
  EXPECT_FALSE(only_us.contains("warnings")) << only_us.dump();

  // /api/v1/status/remotes shows the region down with its error, the other up.
  auto remotes = Get(*global_, "/api/v1/status/remotes");
  ASSERT_EQ(remotes["status"], "success") << remotes.dump();
  ASSERT_EQ(remotes["data"].size(), 2u) << remotes.dump();
  EXPECT_EQ(remotes["data"][0]["name"], "us");
  EXPECT_EQ(remotes["data"][0]["up"], true);
  EXPECT_TRUE(remotes["data"][0]["lastSuccess"].is_number()) << remotes.dump();
  EXPECT_EQ(remotes["data"][1]["name"], "eu");
  EXPECT_EQ(remotes["data"][1]["up"], false);
  EXPECT_EQ(remotes["data"][1]["url"], "http://" + eu_->url() + "/api/v1/read");
  EXPECT_FALSE(remotes["data"][1]["lastError"].get<std::string>().empty()) << remotes.dump();

  int status = 0;
  auto strict = Get(*global_, q + "&partial_response=false", &status);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(strict["status"], "error");
  EXPECT_EQ(strict["errorType"], "unavailable");
  EXPECT_NE(strict["error"].get<std::string>().find("remote eu"), std::string::npos)
      << strict.dump();
  auto bad = Get(*global_, q + "&partial_response=maybe", &status);
  EXPECT_EQ(status, 400) << bad.dump();

  eu_->Restart();
  ASSERT_TRUE(eu_->WaitReady());
  g = Get(*global_, q);
  EXPECT_EQ(g["data"]["result"].size(), 2u) << g.dump();
  EXPECT_FALSE(g.contains("warnings")) << g.dump();
  remotes = Get(*global_, "/api/v1/status/remotes");
  EXPECT_EQ(remotes["data"][1]["up"], true) << remotes.dump();
  EXPECT_EQ(remotes["data"][1]["lastError"], "") << remotes.dump();
}

TEST_F(GlobalViewTest, TheCallersTenantReachesTheRegions) {
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "tenant_metric"}, {"region", "us-west-2"}}, {{to_ - 20'000, 42}});
  Write(*us_, req, {{"X-Scope-OrgID", "team-a"}});
  const std::string q = "/api/v1/query?query=tenant_metric&time=" + Secs(to_);
  auto c = global_->Client();
  auto with = GetJson(*c, q, nullptr, {{"X-Scope-OrgID", "team-a"}});
  ASSERT_EQ(with["data"]["result"].size(), 1u) << with.dump();
  EXPECT_EQ(with["data"]["result"][0]["value"][1], "42");
  auto without = GetJson(*c, q);
  EXPECT_EQ(without["data"]["result"].size(), 0u) << without.dump();
}

}  // namespace
}  // namespace meridian::testing
