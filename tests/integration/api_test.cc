// The Prometheus HTTP API as Grafana and scripts use it: exact JSON bodies and
// status codes for success and error cases.
#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

class ApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new Meridian();
    ASSERT_TRUE(server_->WaitReady()) << server_->process().Log();
    // Two series with samples every 15 s over 10 minutes ending at t0.
    t0_ms_ = (NowMs() / 60000 - 5) * 60000;
    prometheus::WriteRequest req;
    for (const char* region : {"us-west-2", "eu-west-1"}) {
      std::vector<std::pair<int64_t, double>> s;
      for (int i = 0; i <= 40; ++i) s.emplace_back(t0_ms_ - 600000 + i * 15000, i * 10.0);
      AddSeries(&req, {{"__name__", "http_requests_total"}, {"region", region}, {"job", "api"}}, s);
    }
    auto c = server_->Client();
    auto r = PostWrite(*c, EncodeWriteRequest(req));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 204) << r->body;
  }
  static void TearDownTestSuite() { delete server_; }

  static std::string Body(const std::string& path, int* status) {
    auto c = server_->Client();
    auto r = c->Get(path);
    EXPECT_TRUE(r) << path;
    if (!r) return "";
    *status = r->status;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << path;
    return r->body;
  }
  static std::string PostForm(const std::string& path, const std::string& form, int* status) {
    auto c = server_->Client();
    auto r = c->Post(path, form, "application/x-www-form-urlencoded");
    EXPECT_TRUE(r) << path;
    if (!r) return "";
    *status = r->status;
    return r->body;
  }
  static std::string S(int64_t ms) {
    std::string out = std::to_string(ms / 1000);
    if (ms % 1000) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), ".%03d", static_cast<int>(ms % 1000));
      out += buf;
    }
    return out;
  }

  static Meridian* server_;
  static int64_t t0_ms_;
};

Meridian* ApiTest::server_ = nullptr;
int64_t ApiTest::t0_ms_ = 0;

TEST_F(ApiTest, GrafanaSaveAndTest) {
  int status = 0;
  // Grafana's health check: the instant query 1+1 at time=4, GET and POST.
  EXPECT_EQ(Body("/api/v1/query?query=1%2B1&time=4", &status),
            R"({"status":"success","data":{"resultType":"scalar","result":[4,"2"]}})");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(PostForm("/api/v1/query", "query=1%2B1&time=4", &status),
            R"({"status":"success","data":{"resultType":"scalar","result":[4,"2"]}})");
  EXPECT_EQ(status, 200);
  auto bi = nlohmann::json::parse(Body("/api/v1/status/buildinfo", &status));
  EXPECT_EQ(status, 200);
  EXPECT_EQ(bi["status"], "success");
  for (const char* k : {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}) {
    EXPECT_TRUE(bi["data"][k].is_string()) << k;
  }
  EXPECT_FALSE(bi["data"].contains("features")) << "a features map makes Grafana assume Mimir";
}

TEST_F(ApiTest, RangeQueryPostFormEqualsGet) {
  int64_t step = 60000;
  int64_t end = t0_ms_ / step * step, start = end - 5 * step;
  std::string params = "query=" + UrlEncode("sum by (region) (http_requests_total)") +
                       "&start=" + S(start) + "&end=" + S(end) + "&step=60";
  int s1 = 0, s2 = 0;
  std::string post = PostForm("/api/v1/query_range", params, &s1);
  std::string get = Body("/api/v1/query_range?" + params, &s2);
  EXPECT_EQ(s1, 200);
  EXPECT_EQ(post, get);
  auto j = nlohmann::json::parse(get);
  ASSERT_EQ(j["data"]["resultType"], "matrix");
  ASSERT_EQ(j["data"]["result"].size(), 2u);
  // Sorted by labels: eu-west-1 first; points at start + k*step exactly.
  EXPECT_EQ(j["data"]["result"][0]["metric"], nlohmann::json::parse(R"({"region":"eu-west-1"})"));
  const auto& values = j["data"]["result"][0]["values"];
  ASSERT_EQ(values.size(), 6u);
  for (int k = 0; k < 6; ++k) {
    EXPECT_EQ(std::llround(values[k][0].get<double>() * 1000), start + k * step);
  }
  // The last point is the sample at t0 (value 400).
  EXPECT_EQ(values[5][1], "400");
}

TEST_F(ApiTest, InstantVectorShape) {
  int status = 0;
  std::string body =
      Body("/api/v1/query?query=" + UrlEncode("http_requests_total{region=\"us-west-2\"}") +
               "&time=" + S(t0_ms_),
           &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(
      body,
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"http_requests_total","job":"api","region":"us-west-2"},"value":[)" +
          S(t0_ms_) + R"(,"400"]}]}})");
}

TEST_F(ApiTest, LabelEndpoints) {
  int status = 0;
  EXPECT_EQ(Body("/api/v1/label/region/values", &status),
            R"({"status":"success","data":["eu-west-1","us-west-2"]})");
  EXPECT_EQ(Body("/api/v1/label/region/values?match[]=" + UrlEncode("{region=~\"us.*\"}"), &status),
            R"({"status":"success","data":["us-west-2"]})");
  EXPECT_EQ(
      Body("/api/v1/label/region/values?limit=1", &status),
      R"({"status":"success","data":["eu-west-1"],"warnings":["results truncated due to limit"]})");
  auto labels = nlohmann::json::parse(Body("/api/v1/labels?match[]=http_requests_total", &status));
  EXPECT_EQ(labels["data"], nlohmann::json::parse(R"(["__name__","job","region"])"));
  EXPECT_EQ(
      Body("/api/v1/series?match[]=" + UrlEncode("http_requests_total{region=\"eu-west-1\"}"),
           &status),
      R"({"status":"success","data":[{"__name__":"http_requests_total","job":"api","region":"eu-west-1"}]})");
}

TEST_F(ApiTest, ErrorEnvelopes) {
  struct Case {
    std::string path;
    int status;
    std::string body;
  };
  std::vector<Case> cases = {
      {"/api/v1/query?query=1&time=abc", 400,
       R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"time\": Invalid time value for 'time': cannot parse \"abc\" to a valid timestamp"})"},
      {"/api/v1/query_range?query=1&start=x&end=1&step=1", 400,
       R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": cannot parse \"x\" to a valid timestamp"})"},
      {"/api/v1/query_range?query=1&start=10&end=1&step=1", 400,
       R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"end\": end timestamp must not be before start time"})"},
      {"/api/v1/query_range?query=1&start=1&end=10&step=0", 400,
       R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"})"},
      {"/api/v1/query_range?query=1&start=1&end=10&step=abc", 400,
       R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"step\": cannot parse \"abc\" to a valid duration"})"},
      {"/api/v1/query_range?query=1&start=0&end=100000&step=1", 400,
       R"x({"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"})x"},
      {"/api/v1/query?query=1&timeout=abc", 400,
       R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"timeout\": cannot parse \"abc\" to a valid duration"})"},
      {"/api/v1/series", 400,
       R"({"status":"error","errorType":"bad_data","error":"no match[] parameter provided"})"},
      {"/api/v1/series?match[]=" + UrlEncode("{a=~\".*\"}"), 400,
       R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"match[]\": match[] must contain at least one non-empty matcher"})"},
      {"/api/v1/labels?start=x", 400,
       R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": Invalid time value for 'start': cannot parse \"x\" to a valid timestamp"})"},
      {"/api/v1/query?query=" + UrlEncode("foo("), 400,
       R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"})"},
      {"/api/v1/query?query=", 400,
       R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:1: parse error: no expression found in input"})"},
  };
  for (const auto& c : cases) {
    int status = 0;
    EXPECT_EQ(Body(c.path, &status), c.body) << c.path;
    EXPECT_EQ(status, c.status) << c.path;
  }
}

TEST_F(ApiTest, ExecutionErrorIs422) {
  int status = 0;
  // Two series with identical labels after dropping the name: Prometheus's
  // "vector cannot contain metrics with the same labelset" execution error.
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "dup_a"}, {"x", "1"}}, {{t0_ms_, 1}});
  AddSeries(&req, {{"__name__", "dup_b"}, {"x", "1"}}, {{t0_ms_, 2}});
  auto c = server_->Client();
  ASSERT_EQ(PostWrite(*c, EncodeWriteRequest(req))->status, 204);
  auto j = nlohmann::json::parse(Body(
      "/api/v1/query?query=" + UrlEncode(R"x(abs({__name__=~"dup_."}))x") + "&time=" + S(t0_ms_),
      &status));
  EXPECT_EQ(status, 422);
  EXPECT_EQ(j["errorType"], "execution");
  EXPECT_EQ(j["error"], "vector cannot contain metrics with the same labelset");
}

TEST_F(ApiTest, FormatQueryAndEmptyExemplars) {
  int status = 0;
  EXPECT_EQ(Body("/api/v1/format_query?query=" + UrlEncode("sum(x)by(a)"), &status),
            R"x({"status":"success","data":"sum by (a) (x)"})x");
  EXPECT_EQ(Body("/api/v1/query_exemplars?query=up&start=1&end=2", &status),
            R"({"status":"success","data":[]})");
}

TEST_F(ApiTest, ParseQueryReturnsTheSyntaxTree) {
  int status = 0;
  EXPECT_EQ(
      Body("/api/v1/parse_query?query=" + UrlEncode(R"(sum by (job) (rate(x{a="b"}[5m])))"),
           &status),
      R"x({"status":"success","data":{"expr":{"args":[{"anchored":false,"matchers":[{"name":"a","type":"=","value":"b"},{"name":"__name__","type":"=","value":"x"}],"name":"x","offset":0,"range":300000,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"matrixSelector"}],"func":{"argTypes":["matrix"],"name":"rate","returnType":"vector","variadic":0},"type":"call"},"grouping":["job"],"op":"sum","param":null,"type":"aggregation","without":false}})x");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(
      Body("/api/v1/parse_query?query=" + UrlEncode("-1 + foo @ end()"), &status),
      R"x({"status":"success","data":{"bool":false,"lhs":{"type":"numberLiteral","val":"-1"},"matching":null,"op":"+","rhs":{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"foo"}],"name":"foo","offset":0,"smoothed":false,"startOrEnd":"end","timestamp":null,"type":"vectorSelector"},"type":"binaryExpr"}})x");
  // Number literals print as Go's FormatFloat(v, 'f', -1, 64): never in
  // exponent form, unlike sample values.
  EXPECT_EQ(Body("/api/v1/parse_query?query=" + UrlEncode("1e-7"), &status),
            R"x({"status":"success","data":{"type":"numberLiteral","val":"0.0000001"}})x");
  EXPECT_EQ(
      Body("/api/v1/parse_query?query=" + UrlEncode("2.5e21"), &status),
      R"x({"status":"success","data":{"type":"numberLiteral","val":"2500000000000000000000"}})x");
  EXPECT_EQ(
      Body("/api/v1/parse_query?query=" + UrlEncode("18446744073709551616"), &status),
      R"x({"status":"success","data":{"type":"numberLiteral","val":"18446744073709552000"}})x");
  EXPECT_EQ(Body("/api/v1/parse_query?query=" + UrlEncode("-Inf"), &status),
            R"x({"status":"success","data":{"type":"numberLiteral","val":"-Inf"}})x");
}

TEST_F(ApiTest, OwnMetricsAndHealth) {
  auto c = server_->Client();
  auto h = c->Get("/-/healthy");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto m = c->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  for (const char* name :
       {"meridian_ingest_samples_total", "meridian_storage_series",
        "meridian_http_request_duration_seconds_bucket", "meridian_storage_disk_bytes"}) {
    EXPECT_NE(m->body.find(name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace meridian::testing
