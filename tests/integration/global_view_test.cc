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
#include "tests/integration/regions.h"

namespace meridian::testing {
namespace {

class GlobalViewTest : public TwoRegionsTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartRegions({.region_label = true, .ha_pair = false}));
    global_ = std::make_unique<Meridian>(
        "", std::vector<std::string>{"--remote-read", RemoteFlag("us", *us_, "us-west-2"),
                                     "--remote-read", RemoteFlag("eu", *eu_, "eu-west-1")});
    ASSERT_TRUE(global_->WaitReady()) << global_->process().Log();
  }

  std::unique_ptr<Meridian> global_;
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
