// Bad-input battery against a running meridian: every malformed or invalid
// remote-write gets its status code and a clear message, valid samples of the
// same request are kept, and data stored before is still there, intact.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "proto/write_v2.pb.h"
#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

using ::testing::HasSubstr;

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new Meridian("", {"--max-body-bytes", "1048576", "--max-decoded-bytes", "8388608"});
    ASSERT_TRUE(server_->WaitReady()) << server_->process().Log();
    // The baseline that every bad request must leave intact.
    base_ms_ = (NowMs() / 1000 - 600) * 1000;
    prometheus::WriteRequest req;
    std::vector<std::pair<int64_t, double>> samples;
    for (int i = 0; i < 100; ++i) samples.emplace_back(base_ms_ + i * 1000, i * 1.5);
    AddSeries(&req, {{"__name__", "baseline_total"}, {"job", "it"}}, samples);
    auto c = server_->Client();
    auto r = PostWrite(*c, EncodeWriteRequest(req));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 204) << r->body;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void TearDown() override {
    // After every case the baseline is complete and unchanged.
    auto c = server_->Client();
    auto got = RawSamples(*c, "baseline_total", base_ms_ + 99 * 1000, 100 * 1000);
    ASSERT_EQ(got.size(), 1u);
    const auto& v = got.begin()->second;
    ASSERT_EQ(v.size(), 100u);
    for (int i = 0; i < 100; ++i) {
      EXPECT_EQ(v[i].first, base_ms_ + i * 1000);
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%g", i * 1.5);
      EXPECT_EQ(v[i].second, buf);
    }
  }

  static httplib::Result Post(const std::string& body,
                              const std::string& ct = "application/x-protobuf",
                              const httplib::Headers& h = {}) {
    auto c = server_->Client();
    return PostWrite(*c, body, ct, h);
  }

  static size_t SeriesCount(const std::string& selector) {
    auto c = server_->Client();
    auto j = GetJson(*c, "/api/v1/series?match[]=" + UrlEncode(selector));
    return j.is_null() ? 0 : j["data"].size();
  }

  static Meridian* server_;
  static int64_t base_ms_;
};

Meridian* BadInputTest::server_ = nullptr;
int64_t BadInputTest::base_ms_ = 0;

TEST_F(BadInputTest, UndecodableSnappyIs400) {
  auto r = Post("this is not snappy at all \xff\xff\xff\xff\xff");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("snappy"));
}

TEST_F(BadInputTest, UndecodableProtobufIs400) {
  auto r = Post(SnappyCompress(std::string("\x0a\xff\xff\xff\xff\x0f garbage", 14)));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_FALSE(r->body.empty());
}

TEST_F(BadInputTest, InvalidLabelsAre400AndValidSeriesAreKept) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> labels;
    std::string what;
  };
  std::vector<Case> cases = {
      {{{"job", "no_name"}}, "__name__"},
      {{{"__name__", "dup_labels"}, {"a", "1"}, {"a", "2"}}, "dup_labels"},
      {{{"__name__", "empty_name"}, {"", "x"}}, "empty_name"},
      {{{"__name__", "bad_utf8"}, {"a", std::string("\xc3\x28", 2)}}, "bad_utf8"},
  };
  int n = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    std::string good = "good_alongside_" + std::to_string(n++);
    prometheus::WriteRequest req;
    AddSeries(&req, c.labels, {{NowMs(), 1}});
    AddSeries(&req, {{"__name__", good}}, {{NowMs(), 2}});
    auto r = Post(EncodeWriteRequest(req));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_THAT(r->body, HasSubstr(c.what));
    EXPECT_EQ(SeriesCount(good), 1u) << "valid series of the same request must be stored";
  }
}

TEST_F(BadInputTest, FutureSampleIs400AndLaterWritesWork) {
  prometheus::WriteRequest req;
  int64_t year2100 = 4102444800000;
  AddSeries(&req, {{"__name__", "future_metric"}}, {{year2100, 1}});
  AddSeries(&req, {{"__name__", "present_metric"}}, {{NowMs(), 1}});
  auto r = Post(EncodeWriteRequest(req));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("future_metric"));
  EXPECT_EQ(SeriesCount("present_metric"), 1u);
  // Prometheus 2.42 fails every later write after one year-2100 sample; we must not.
  for (int i = 0; i < 3; ++i) {
    prometheus::WriteRequest later;
    AddSeries(&later, {{"__name__", "present_metric"}}, {{NowMs() + i + 1, 2.0 + i}});
    auto r2 = Post(EncodeWriteRequest(later));
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->status, 204) << r2->body;
  }
}

TEST_F(BadInputTest, ConflictingSampleIs400AndKeepsStoredValue) {
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "baseline_total"}, {"job", "it"}}, {{base_ms_ + 5000, 999}});
  auto r = Post(EncodeWriteRequest(req));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("baseline_total"));
  // TearDown verifies the stored value at base+5s is still 7.5.
}

TEST_F(BadInputTest, IdenticalRetryIsAcceptedAndStoredOnce) {
  prometheus::WriteRequest req;
  std::vector<std::pair<int64_t, double>> s;
  for (int i = 0; i < 100; ++i) s.emplace_back(base_ms_ + i * 1000, i * 1.5);
  AddSeries(&req, {{"__name__", "baseline_total"}, {"job", "it"}}, s);
  for (int i = 0; i < 3; ++i) {
    auto r = Post(EncodeWriteRequest(req));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 204) << r->body;
  }
}

TEST_F(BadInputTest, BodyOverLimitIs413) {
  std::string big(2 << 20, 'x');
  auto r = Post(big);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_FALSE(r->body.empty());
}

TEST_F(BadInputTest, DecodedSizeOverLimitIs413BeforeDecompressing) {
  // A snappy header announcing 1 GiB of output, followed by a few bytes.
  std::string body;
  uint64_t n = 1ull << 30;
  while (n >= 0x80) {
    body.push_back(static_cast<char>(n | 0x80));
    n >>= 7;
  }
  body.push_back(static_cast<char>(n));
  body += std::string(16, '\0');
  auto r = Post(body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(BadInputTest, WrongEncodingOrTypeIs415) {
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "never_stored"}}, {{NowMs(), 1}});
  auto c = server_->Client();
  httplib::Headers h = {{"Content-Encoding", "gzip"}};
  auto r = c->Post("/api/v1/write", h, EncodeWriteRequest(req), "application/x-protobuf");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  auto r2 = Post(EncodeWriteRequest(req), "application/x-protobuf;proto=foo.Bar");
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 415);
  auto r3 = Post(EncodeWriteRequest(req), "application/json");
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->status, 415);
  EXPECT_EQ(SeriesCount("never_stored"), 0u);
}

TEST_F(BadInputTest, MetadataOnlyRequestIs2xx) {
  prometheus::WriteRequest req;
  auto* md = req.add_metadata();
  md->set_type(prometheus::MetricMetadata::COUNTER);
  md->set_metric_family_name("http_requests_total");
  md->set_help("Requests served.");
  auto r = Post(EncodeWriteRequest(req));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204) << r->body;
  auto c = server_->Client();
  auto j = GetJson(*c, "/api/v1/metadata?metric=http_requests_total");
  EXPECT_EQ(j["data"]["http_requests_total"][0]["type"], "counter");
  EXPECT_EQ(j["data"]["http_requests_total"][0]["help"], "Requests served.");
}

TEST_F(BadInputTest, RemoteWrite2IsAcceptedWithWrittenHeaders) {
  io::prometheus::write::v2::Request req;
  for (const char* s : {"", "__name__", "v2_metric", "job", "v2"}) req.add_symbols(s);
  auto* ts = req.add_timeseries();
  for (uint32_t ref : {1u, 2u, 3u, 4u}) ts->add_labels_refs(ref);
  auto* s = ts->add_samples();
  s->set_value(42);
  s->set_timestamp(NowMs());
  auto r = Post(SnappyCompress(req.SerializeAsString()),
                "application/x-protobuf;proto=io.prometheus.write.v2.Request");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204) << r->body;
  EXPECT_EQ(r->get_header_value("X-Prometheus-Remote-Write-Samples-Written"), "1");
  EXPECT_EQ(SeriesCount("v2_metric"), 1u);
}

TEST_F(BadInputTest, UnsortedLabelsAndEmptyValuesAreNormalised) {
  prometheus::WriteRequest req;
  AddSeries(&req, {{"zone", "b"}, {"__name__", "unsorted_metric"}, {"empty", ""}, {"app", "x"}},
            {{NowMs(), 1}});
  auto r = Post(EncodeWriteRequest(req));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204) << r->body;
  auto c = server_->Client();
  auto j = GetJson(*c, "/api/v1/series?match[]=unsorted_metric");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0], nlohmann::json::parse(
                              R"({"__name__":"unsorted_metric","app":"x","zone":"b"})"));
}

TEST_F(BadInputTest, SpecialFloatsRoundTrip) {
  prometheus::WriteRequest req;
  int64_t t = base_ms_ + 200 * 1000;
  AddSeries(&req, {{"__name__", "special_values"}},
            {{t, std::nan("")}, {t + 1000, INFINITY}, {t + 2000, -INFINITY}, {t + 3000, -0.0}});
  auto r = Post(EncodeWriteRequest(req));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
  auto c = server_->Client();
  auto got = RawSamples(*c, "special_values", t + 3000, 10000);
  ASSERT_EQ(got.size(), 1u);
  std::vector<std::pair<int64_t, std::string>> want = {
      {t, "NaN"}, {t + 1000, "+Inf"}, {t + 2000, "-Inf"}, {t + 3000, "-0"}};
  EXPECT_EQ(got.begin()->second, want);
}

TEST_F(BadInputTest, TenantsAreIsolated) {
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "tenant_secret"}}, {{NowMs(), 1}});
  auto r = Post(EncodeWriteRequest(req), "application/x-protobuf", {{"THANOS-TENANT", "team-a"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
  auto c = server_->Client();
  auto mine = GetJson(*c, "/api/v1/series?match[]=tenant_secret", nullptr, {{"X-Scope-OrgID", "team-a"}});
  EXPECT_EQ(mine["data"].size(), 1u);
  auto theirs = GetJson(*c, "/api/v1/series?match[]=tenant_secret", nullptr, {{"X-Scope-OrgID", "team-b"}});
  EXPECT_EQ(theirs["data"].size(), 0u);
  EXPECT_EQ(SeriesCount("tenant_secret"), 0u) << "default tenant must not see team-a";
}

}  // namespace
}  // namespace meridian::testing

namespace meridian::testing {
namespace {

TEST(BackPressureTest, OverloadedReceiverAnswers503WithRetryAfter) {
  // No write slots at all: every remote-write is told to back off and retry.
  Meridian server("", {"--max-inflight-writes", "0"});
  ASSERT_TRUE(server.WaitReady()) << server.process().Log();
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "backpressure_metric"}}, {{NowMs(), 1}});
  auto c = server.Client();
  auto r = PostWrite(*c, EncodeWriteRequest(req));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  auto j = GetJson(*c, "/api/v1/series?match[]=backpressure_metric");
  EXPECT_EQ(j["data"].size(), 0u) << "a 503 must not store anything";
}

}  // namespace
}  // namespace meridian::testing
