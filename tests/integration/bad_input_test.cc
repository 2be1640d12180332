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
  EXPECT_EQ(j["data"][0],
            nlohmann::json::parse(R"({"__name__":"unsorted_metric","app":"x","zone":"b"})"));
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
  auto mine =
      GetJson(*c, "/api/v1/series?match[]=tenant_secret", nullptr, {{"X-Scope-OrgID", "team-a"}});
  EXPECT_EQ(mine["data"].size(), 1u);
  auto theirs =
      GetJson(*c, "/api/v1/series?match[]=tenant_secret", nullptr, {{"X-Scope-OrgID", "team-b"}});
  EXPECT_EQ(theirs["data"].size(), 0u);
  EXPECT_EQ(SeriesCount("tenant_secret"), 0u) << "default tenant must not see team-a";
}

// Protobuf fields with the wrong wire type are malformed (Prometheus's
// gogo-generated decoders: "proto: wrong wireType"), at the top level and in
// a Sample: 400, nothing of the request stored.
TEST_F(BadInputTest, WrongWireTypeIs400) {
  auto tag = [](std::string* out, int field, int wt) {
    out->push_back(static_cast<char>(field << 3 | wt));
  };
  // WriteRequest.timeseries (field 1, length-delimited) sent as a varint.
  std::string top;
  tag(&top, 1, 0);
  top.push_back(5);
  // A valid series whose Sample.value (field 1, fixed64) is sent as a varint.
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "wire_type_metric"}}, {});
  std::string ts = req.timeseries(0).SerializeAsString();
  std::string sample;
  tag(&sample, 1, 0);
  sample.push_back(3);
  tag(&sample, 2, 0);
  sample.push_back(7);
  tag(&ts, 2, 2);
  ts.push_back(static_cast<char>(sample.size()));
  ts += sample;
  std::string in_sample;
  tag(&in_sample, 1, 2);
  in_sample.push_back(static_cast<char>(ts.size()));
  in_sample += ts;
  for (const std::string& raw : {top, in_sample}) {
    auto r = Post(SnappyCompress(raw));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_THAT(r->body, HasSubstr("wrong wire type"));
  }
  EXPECT_EQ(SeriesCount("wire_type_metric"), 0u);
}

// A 1.0 body with the 2.0 Content-Type was read as an empty 2.0 request
// (204, nothing stored): the sender would never learn its data was lost.
TEST_F(BadInputTest, V1BodyWithV2ContentTypeIs415) {
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "v1_as_v2_metric"}}, {{NowMs(), 1}});
  auto r =
      Post(EncodeWriteRequest(req), "application/x-protobuf;proto=io.prometheus.write.v2.Request");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415) << r->body;
  EXPECT_THAT(r->body, HasSubstr("prometheus.WriteRequest protobuf message sent as "
                                 "io.prometheus.write.v2.Request"));
  EXPECT_EQ(SeriesCount("v1_as_v2_metric"), 0u);
}

// Without Content-Encoding the body is read as snappy, as Prometheus's own
// receiver does for old 1.0 clients; the data is stored exactly.
TEST_F(BadInputTest, MissingContentEncodingIsReadAsSnappy) {
  prometheus::WriteRequest req;
  int64_t t = base_ms_ + 300 * 1000;
  AddSeries(&req, {{"__name__", "no_encoding_metric"}, {"k", "v"}},
            {{t, 0.1}, {t + 1000, -2.5e-300}, {t + 2000, 12345678.875}});
  auto c = server_->Client();
  auto r = c->Post("/api/v1/write", httplib::Headers{}, EncodeWriteRequest(req),
                   "application/x-protobuf");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
  auto got = RawSamples(*c, "no_encoding_metric", t + 2000, 10000);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got.begin()->first, R"({"__name__":"no_encoding_metric","k":"v"})");
  std::vector<std::pair<int64_t, std::string>> want = {
      {t, "0.1"}, {t + 1000, "-2.5e-300"}, {t + 2000, "12345678.875"}};
  EXPECT_EQ(got.begin()->second, want);
}

// Mimir's defaults: 30 labels per series, 1024-byte names, 2048-byte values.
// A data error for that series: 400 naming it; the request's valid series are
// stored; rejected samples are counted by reason.
TEST_F(BadInputTest, LabelLimitsAre400NamingTheSeries) {
  auto many = [](const std::string& name, int n, const std::string& value) {
    std::vector<std::pair<std::string, std::string>> ls = {{"__name__", name}};
    for (int i = 1; i < n; ++i) ls.push_back({"label_" + std::to_string(1000 + i), value});
    return ls;
  };
  struct Case {
    std::vector<std::pair<std::string, std::string>> labels;
    std::string want;
  };
  std::vector<Case> cases = {
      {many("too_many_labels", 31, "v"), "has 31 labels, over the limit of 30"},
      {[&] {
         auto ls = many("huge_labels", 2000, "v");
         ls.back().second = std::string(1 << 20, 'v');  // and a 1 MB value
         return ls;
       }(),
       "has 2000 labels, over the limit of 30"},
      {{{"__name__", "long_label_name"}, {std::string(1025, 'n'), "v"}},
       "is 1025 bytes long, over the limit of 1024 bytes (max-label-name-bytes)"},
      {{{"__name__", "long_label_value"}, {"job", std::string(2049, 'v')}},
       "is 2049 bytes long, over the limit of 2048 bytes (max-label-value-bytes)"},
  };
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.want);
    std::string good = "good_beside_limit_" + std::to_string(n++);
    prometheus::WriteRequest req;
    AddSeries(&req, {{"__name__", good}}, {{NowMs(), 1}});
    AddSeries(&req, c.labels, {{NowMs(), 2}});
    auto r = Post(EncodeWriteRequest(req));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_THAT(r->body, HasSubstr("series " + c.labels[0].second));
    EXPECT_THAT(r->body, HasSubstr(c.want));
    EXPECT_LT(r->body.size(), 4096u) << "the message quotes a bounded part of the series";
    EXPECT_EQ(SeriesCount(good), 1u) << "valid series of the same request must be stored";
    EXPECT_EQ(SeriesCount(c.labels[0].second), 0u);
  }
  prometheus::WriteRequest ok;  // at the limits exactly
  AddSeries(&ok, many("thirty_labels", 30, std::string(2048, 'v')), {{NowMs(), 1}});
  AddSeries(&ok, {{"__name__", "long_ok"}, {std::string(1024, 'n'), "v"}}, {{NowMs(), 1}});
  auto r = Post(EncodeWriteRequest(ok));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204) << r->body.substr(0, 300);
  auto c = server_->Client();
  auto m = c->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_THAT(
      m->body,
      HasSubstr(
          R"(meridian_ingest_samples_rejected_total{reason="too_many_labels",tenant="default-tenant"} 2)"));
  EXPECT_THAT(
      m->body,
      HasSubstr(
          R"(meridian_ingest_samples_rejected_total{reason="label_name_too_long",tenant="default-tenant"} 1)"));
  EXPECT_THAT(
      m->body,
      HasSubstr(
          R"(meridian_ingest_samples_rejected_total{reason="label_value_too_long",tenant="default-tenant"} 1)"));
}

// Tenant IDs follow Cortex/Mimir's rules; a path-like or 7,000-character
// tenant is refused (400) and creates nothing.
TEST_F(BadInputTest, InvalidTenantIs400) {
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "bad_tenant_metric"}}, {{NowMs(), 1}});
  for (const std::string& tenant : {std::string("../../etc"), std::string(7000, 't'),
                                    std::string(".."), std::string("a/b"), std::string("x y")}) {
    for (const char* header : {"THANOS-TENANT", "X-Scope-OrgID"}) {
      auto r = Post(EncodeWriteRequest(req), "application/x-protobuf", {{header, tenant}});
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 400) << tenant.substr(0, 20);
      EXPECT_THAT(r->body, HasSubstr("invalid tenant ID"));
      EXPECT_LT(r->body.size(), 600u);
    }
  }
  auto c = server_->Client();
  auto m = c->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_THAT(
      m->body,
      HasSubstr(
          R"(meridian_ingest_requests_rejected_total{reason="invalid_tenant",tenant=""} 10)"));
  // Reads refuse the same tenant IDs: 400 bad_data.
  int status = 0;
  auto j = GetJson(*c, "/api/v1/query?query=up", &status, {{"X-Scope-OrgID", "../../etc"}});
  EXPECT_EQ(status, 400);
  EXPECT_EQ(j["errorType"], "bad_data");
  EXPECT_THAT(j["error"].get<std::string>(), HasSubstr("invalid tenant ID"));
}

// Range queries whose (end - start) / step overflows int64 or whose step count
// overflows int: Prometheus's 400 when over 11,000 steps, else exactly the
// points asked for; never points past the limit, a 500 or an exception's text.
TEST_F(BadInputTest, RangeQueryResolutionCannotOverflow) {
  auto c = server_->Client();
  struct Range {
    int64_t start_s;
    int64_t end_s;
    const char* step;
    int64_t step_ms;
  };
  constexpr int64_t kFar = 9'100'000'000'000'000;  // seconds: end - start in ms overflows int64
  for (const Range& q : std::vector<Range>{
           {-kFar, kFar, "1", 1000},
           {-kFar, kFar, "0.001", 1},
           {-kFar, kFar, "1000000000000", 1'000'000'000'000'000},
           {0, kFar, "0.001", 1},
           {-kFar, kFar, "1654545454545", 1'654'545'454'545'000},  // 11,000.0006 steps: passes
           {-kFar, kFar, "9000000000000", 9'000'000'000'000'000},
       }) {
    std::string path = "/api/v1/query_range?query=1&start=" + std::to_string(q.start_s) +
                       "&end=" + std::to_string(q.end_s) + "&step=" + q.step;
    SCOPED_TRACE(path);
    auto r = c->Get(path);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->has_header("EXCEPTION_WHAT")) << r->get_header_value("EXCEPTION_WHAT");
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r->body.substr(0, 200);
    const __int128 steps =
        (static_cast<__int128>(q.end_s) * 1000 - static_cast<__int128>(q.start_s) * 1000) /
        q.step_ms;
    if (steps > 11000) {
      EXPECT_EQ(r->status, 400) << r->body.substr(0, 200);
      EXPECT_EQ(j["errorType"], "bad_data");
      EXPECT_EQ(j["error"],
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
                "query resolution (?step=XX)");
    } else {
      ASSERT_EQ(r->status, 200) << r->body.substr(0, 200);
      EXPECT_EQ(j["data"]["result"][0]["values"].size(), static_cast<size_t>(steps) + 1);
    }
  }
  // Subqueries with more steps than an int: too many samples (422), not a 500.
  auto r = c->Get("/api/v1/query?query=" + UrlEncode("sum_over_time(vector(1)[10000d:1ms])") +
                  "&time=1000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body.substr(0, 200);
  EXPECT_FALSE(r->has_header("EXCEPTION_WHAT"));
  EXPECT_THAT(r->body, HasSubstr("query processing would load too many samples into memory in "
                                 "query execution"));
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
