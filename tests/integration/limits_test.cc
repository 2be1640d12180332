// Limits on what clients control, against a running meridian started with
// small limits: series per tenant, tenants, ingestion rate, request sizes,
// metadata result sizes. Each test starts its own server (well under 1 s).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Meridian> Start(std::vector<std::string> args) {
  auto m = std::make_unique<Meridian>("", std::move(args));
  EXPECT_TRUE(m->WaitReady()) << m->process().Log();
  return m;
}

size_t SeriesCount(httplib::Client& c, const std::string& selector,
                   const std::string& tenant = "") {
  httplib::Headers h;
  if (!tenant.empty()) h.emplace("X-Scope-OrgID", tenant);
  auto j = GetJson(c, "/api/v1/series?match[]=" + UrlEncode(selector), nullptr, h);
  return j.is_null() ? 0 : j["data"].size();
}

std::string Metrics(httplib::Client& c) {
  auto r = c.Get("/metrics");
  return r ? r->body : "";
}

TEST(LimitsTest, SeriesPerTenant) {
  auto m = Start({"--max-series-per-tenant", "3"});
  auto c = m->Client();
  int64_t t = NowMs();
  prometheus::WriteRequest first;
  for (const char* name : {"s1", "s2", "s3"}) AddSeries(&first, {{"__name__", name}}, {{t, 1}});
  auto r = PostWrite(*c, EncodeWriteRequest(first));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
  prometheus::WriteRequest more;
  AddSeries(&more, {{"__name__", "s1"}}, {{t + 1000, 2}});
  AddSeries(&more, {{"__name__", "s4"}, {"pod", "p"}}, {{t + 1000, 2}});
  AddSeries(&more, {{"__name__", "s5"}}, {{t + 1000, 2}});
  r = PostWrite(*c, EncodeWriteRequest(more));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(
      r->body,
      "series s4{pod=\"p\"}: new series rejected: tenant \"default-tenant\" holds its limit of 3 "
      "series (max-series-per-tenant) (2 samples rejected in total)\n");
  auto s1 = RawSamples(*c, "s1", t + 1000, 5000);
  ASSERT_EQ(s1.size(), 1u);
  EXPECT_EQ(s1.begin()->second.size(), 2u);
  EXPECT_EQ(SeriesCount(*c, "{__name__=~\"s4|s5\"}"), 0u);
  EXPECT_THAT(
      Metrics(*c),
      HasSubstr(
          R"(meridian_ingest_samples_rejected_total{reason="series_limit",tenant="default-tenant"} 2)"));
  // Another tenant has its own count.
  r = PostWrite(*c, EncodeWriteRequest(more), "application/x-protobuf",
                {{"X-Scope-OrgID", "other"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204) << r->body;
}

TEST(LimitsTest, NumberOfTenants) {
  auto m = Start({"--max-tenants", "2"});
  auto c = m->Client();
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "per_tenant"}}, {{NowMs(), 1}});
  for (const char* t : {"t1", "t2"}) {
    auto r =
        PostWrite(*c, EncodeWriteRequest(req), "application/x-protobuf", {{"THANOS-TENANT", t}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 204) << r->body;
  }
  auto r =
      PostWrite(*c, EncodeWriteRequest(req), "application/x-protobuf", {{"THANOS-TENANT", "t3"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "new tenant \"t3\" rejected: tenant limit of 2 reached (max-tenants)\n");
  EXPECT_EQ(SeriesCount(*c, "per_tenant", "t3"), 0u);
  r = PostWrite(*c, EncodeWriteRequest(req), "application/x-protobuf", {{"THANOS-TENANT", "t1"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204) << r->body;  // existing tenants keep working
  m->Restart();                          // tenants on disk count after a restart
  ASSERT_TRUE(m->WaitReady());
  c = m->Client();
  r = PostWrite(*c, EncodeWriteRequest(req), "application/x-protobuf", {{"THANOS-TENANT", "t3"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(
      Metrics(*c),
      HasSubstr(R"(meridian_ingest_requests_rejected_total{reason="tenant_limit",tenant=""} 1)"));
}

// The ingestion rate is back-pressure: 503 + Retry-After (when enough tokens
// will have accrued), nothing stored; a request over the burst is a 413.
TEST(LimitsTest, IngestionRate) {
  auto m = Start({"--ingestion-rate", "10", "--ingestion-burst", "100"});
  auto c = m->Client();
  int64_t t = NowMs() - 200'000;
  auto series = [&](const std::string& name, int n) {
    prometheus::WriteRequest req;
    std::vector<std::pair<int64_t, double>> s;
    for (int i = 0; i < n; ++i) s.emplace_back(t + i, i);
    AddSeries(&req, {{"__name__", name}}, s);
    return EncodeWriteRequest(req);
  };
  auto r = PostWrite(*c, series("rate_a", 100));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204) << r->body;
  r = PostWrite(*c, series("rate_b", 50));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  int retry = std::atoi(r->get_header_value("Retry-After").c_str());
  EXPECT_GE(retry, 4);
  EXPECT_LE(retry, 5);
  EXPECT_THAT(r->body, HasSubstr("over its ingestion rate limit of 10 samples/s"));
  EXPECT_EQ(SeriesCount(*c, "rate_b"), 0u);
  // Other tenants are not throttled by this one.
  r = PostWrite(*c, series("rate_b", 50), "application/x-protobuf", {{"X-Scope-OrgID", "calm"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204) << r->body;
  r = PostWrite(*c, series("rate_c", 101), "application/x-protobuf", {{"X-Scope-OrgID", "calm2"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_THAT(
      Metrics(*c),
      HasSubstr(
          R"(meridian_ingest_requests_rejected_total{reason="rate_limited",tenant="default-tenant"} 1)"));
}

TEST(LimitsTest, SeriesAndSamplesPerRequest) {
  auto m = Start({"--max-series-per-request", "10", "--max-samples-per-request", "50"});
  auto c = m->Client();
  int64_t t = NowMs();
  prometheus::WriteRequest wide;
  for (int i = 0; i < 11; ++i)
    AddSeries(&wide, {{"__name__", "wide_" + std::to_string(i)}}, {{t, 1}});
  auto r = PostWrite(*c, EncodeWriteRequest(wide));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_THAT(r->body, HasSubstr("more than 10 series"));
  prometheus::WriteRequest deep;
  std::vector<std::pair<int64_t, double>> s;
  for (int i = 0; i < 51; ++i) s.emplace_back(t - i, i);
  AddSeries(&deep, {{"__name__", "deep"}}, s);
  r = PostWrite(*c, EncodeWriteRequest(deep));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_THAT(r->body, HasSubstr("more than 50 samples"));
  EXPECT_EQ(SeriesCount(*c, "{__name__=~\"wide_.*|deep\"}"), 0u);
  wide.mutable_timeseries()->RemoveLast();
  r = PostWrite(*c, EncodeWriteRequest(wide));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204) << r->body;
}

// /api/v1/series, /labels and /label/<name>/values return at most the
// server's maximum, with Prometheus's truncation warning.
TEST(LimitsTest, MetadataResultsAreCapped) {
  auto m = Start({"--max-metadata-results", "2"});
  auto c = m->Client();
  prometheus::WriteRequest req;
  for (int i = 0; i < 5; ++i) {
    AddSeries(&req, {{"__name__", "capped_" + std::to_string(i)}, {"l" + std::to_string(i), "v"}},
              {{NowMs(), 1}});
  }
  auto r = PostWrite(*c, EncodeWriteRequest(req));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
  for (const char* path :
       {"/api/v1/series?match[]=%7B__name__%3D~%22capped_.*%22%7D", "/api/v1/labels",
        "/api/v1/label/__name__/values", "/api/v1/label/__name__/values?limit=100"}) {
    SCOPED_TRACE(path);
    auto j = GetJson(*c, path);
    EXPECT_EQ(j["data"].size(), 2u);
    EXPECT_EQ(j["warnings"], nlohmann::json::parse(R"(["results truncated due to limit"])"));
  }
  auto j = GetJson(*c, "/api/v1/label/__name__/values?limit=1");
  EXPECT_EQ(j["data"].size(), 1u);
  // Overlapping selectors: the first two distinct series in order.
  j = GetJson(*c, "/api/v1/series?match[]=capped_3&match[]=capped_0&match[]=" +
                      UrlEncode("{__name__=~\"capped_.*\"}"));
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0]["__name__"], "capped_0");
  EXPECT_EQ(j["data"][1]["__name__"], "capped_1");
  EXPECT_EQ(j["warnings"].size(), 1u);
  j = GetJson(*c, "/api/v1/series?match[]=capped_3&match[]=capped_3");  // one series: no warning
  EXPECT_EQ(j["data"].size(), 1u);
  EXPECT_FALSE(j.contains("warnings"));
}

}  // namespace
}  // namespace meridian::testing
