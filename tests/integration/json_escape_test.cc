// meridian's JSON strings byte for byte as the real Prometheus 2.42 writes
// them (jsoniter's ConfigCompatibleWithStandardLibrary: Go's encoding/json
// with HTML escaping): the same label_replace queries against both, the raw
// "metric" objects compared.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";

// The raw text of the first "metric" object of an instant query's answer.
std::string RawMetric(httplib::Client& c, const std::string& expr) {
  auto r = c.Get("/api/v1/query?time=1000&query=" + UrlEncode(expr));
  if (!r) return "(no answer)";
  size_t b = r->body.find("\"metric\":");
  size_t e = r->body.find(",\"value\"", b);
  if (b == std::string::npos || e == std::string::npos) return r->body;
  return r->body.substr(b, e - b);
}

TEST(JsonEscapeTest, LabelValuesAreEscapedAsPrometheusEscapesThem) {
  if (access(kPrometheus, X_OK) != 0) {
    GTEST_SKIP() << "SKIP: " << kPrometheus
                 << " not installed; scripts/install-deps.sh installs Debian's prometheus";
  }
  Meridian meridian;
  ASSERT_TRUE(meridian.WaitReady()) << meridian.process().Log();
  TempDir dir;
  { std::ofstream(dir.path() + "/prometheus.yml") << "global:\n  scrape_interval: 1h\n"; }
  const int port = FreePort();
  Process prom({kPrometheus, "--config.file=" + dir.path() + "/prometheus.yml",
                "--storage.tsdb.path=" + dir.path() + "/data",
                "--web.listen-address=127.0.0.1:" + std::to_string(port)},
               dir.path() + "/prometheus.log");
  httplib::Client pc("127.0.0.1", port);
  bool ready = false;
  for (int i = 0; i < 300 && !ready; ++i) {
    auto r = pc.Get("/-/ready");
    ready = r && r->status == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ready) << prom.Log();
  auto mc = meridian.Client();
  // PromQL string literals (Go's escapes) make the label values.
  for (const char* v : {
           R"(<a&b> \"q\" \\ \b\f\t\u2028\u2029 \x01 \x7f é \xff)",
           R"(\xe2\x80 a\xc3 \xf0\x9f\x98\x80 \n\r \xed\xa0\x80)",
           R"(\x80\xbf \xc0\xaf \xf4\x90\x80\x80 <script>&amp;</script>)",
       }) {
    const std::string expr =
        std::string("label_replace(vector(1), \"x\", \"") + v + "\", \"\", \"\")";
    const std::string want = RawMetric(pc, expr);
    ASSERT_EQ(want.rfind("\"metric\":{\"x\":", 0), 0u) << want;
    EXPECT_EQ(RawMetric(*mc, expr), want) << expr;
  }
}

}  // namespace
}  // namespace meridian::testing
