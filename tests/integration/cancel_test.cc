// A query whose client goes away is cancelled, not run to completion.
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

// Counter value of meridian_http_requests_total{code="499",handler=...}.
double Cancelled(httplib::Client& c) {
  auto m = c.Get("/metrics");
  if (!m) return -1;
  const std::string key =
      "meridian_http_requests_total{code=\"499\",handler=\"/api/v1/query_range\"} ";
  size_t pos = m->body.find(key);
  return pos == std::string::npos ? 0 : std::atof(m->body.c_str() + pos + key.size());
}

TEST(CancelTest, QueryIsCancelledWhenTheClientGoesAway) {
  Meridian server;
  ASSERT_TRUE(server.WaitReady()) << server.process().Log();
  // Expensive and bounded in memory: 11000 steps, each a quantile over a
  // 86400-point window (about a minute of CPU).
  const std::string q = "/api/v1/query_range?query=" +
                        UrlEncode("quantile_over_time(0.5, timestamp(vector(1))[1d:1s])") +
                        "&start=0&end=11000&step=1";
  auto start = std::chrono::steady_clock::now();
  {
    httplib::Client impatient("127.0.0.1", server.port());
    impatient.set_read_timeout(0, 500000);  // gives up after 0.5 s and closes
    auto r = impatient.Get(q);
    ASSERT_FALSE(r) << "the query was expected to take longer than 0.5 s";
  }
  auto c = server.Client();
  double n = 0;
  for (int i = 0; i < 100 && n < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    n = Cancelled(*c);
  }
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(n, 1) << "no query was recorded as canceled (499) within 10 s";
  std::printf("cancel: query stopped %.2f s after it started (client left after 0.5 s)\n", took);
}

}  // namespace
}  // namespace meridian::testing
