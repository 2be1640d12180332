// Durability under a real write fault: a file-size limit on the running
// meridian (prlimit RLIMIT_FSIZE = 0; meridian ignores SIGXFSZ, the harness
// leaves it at its default) makes every write to its WAL fail with EFBIG. The sequence:
// fail a write, retry it while the fault lasts (never 2xx), clear the fault,
// retry (2xx), SIGKILL, restart: every 2xx'd sample is there, nothing else.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <regex>
#include <thread>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

void SetFileSizeLimit(pid_t pid, rlim_t soft) {
  struct rlimit old;
  ASSERT_EQ(prlimit(pid, RLIMIT_FSIZE, nullptr, &old), 0) << strerror(errno);
  struct rlimit lim = {soft, old.rlim_max};
  ASSERT_EQ(prlimit(pid, RLIMIT_FSIZE, &lim, nullptr), 0) << strerror(errno);
}

// The value of an unlabelled metric in /metrics, or -1.
double Metric(httplib::Client& c, const std::string& name) {
  auto r = c.Get("/metrics");
  if (!r || r->status != 200) return -1;
  std::smatch m;
  std::regex re("(^|\n)" + name + " ([0-9.e+-]+)");
  return std::regex_search(r->body, m, re) ? std::stod(m[2]) : -1;
}

int Status(const httplib::Result& r) { return r ? r->status : -1; }

prometheus::WriteRequest Request(const std::string& name, int64_t base, int series, int samples) {
  prometheus::WriteRequest req;
  for (int s = 0; s < series; ++s) {
    std::vector<std::pair<int64_t, double>> v;
    for (int i = 0; i < samples; ++i) v.push_back({base + i * 1000, s * 1000.0 + i});
    AddSeries(&req, {{"__name__", name}, {"series", std::to_string(s)}}, v);
  }
  return req;
}

// Checks that `name` has exactly `series` x `samples` from Request().
void ExpectStored(httplib::Client& c, const std::string& name, int64_t base, int series,
                  int samples) {
  auto got = RawSamples(c, name, base + (samples - 1) * 1000, samples * 1000);
  ASSERT_EQ(got.size(), static_cast<size_t>(series)) << name;
  for (const auto& [labels, v] : got) {
    int s = std::stoi(nlohmann::json::parse(labels)["series"].get<std::string>());
    ASSERT_EQ(v.size(), static_cast<size_t>(samples)) << labels;
    for (int i = 0; i < samples; ++i) {
      EXPECT_EQ(v[i].first, base + i * 1000) << labels;
      EXPECT_EQ(v[i].second, std::to_string(s * 1000 + i)) << labels;
    }
  }
}

size_t SeriesCount(httplib::Client& c, const std::string& name) {
  auto j = GetJson(c, "/api/v1/query?query=" + UrlEncode("count_over_time(" + name + "[1h])"));
  return j.is_null() ? 0 : j["data"]["result"].size();
}

TEST(DurabilityTest, FailedWalWriteIsNeverAcknowledgedAndSurvivesSigkillAfterRecovery) {
  TempDir dir;
  std::string data = dir.path() + "/data";
  auto server = std::make_unique<Meridian>(data);
  ASSERT_TRUE(server->WaitReady()) << server->process().Log();
  auto c = server->Client();
  c->set_read_timeout(10);
  const int64_t base = (NowMs() / 1000 - 600) * 1000;
  constexpr int kSeries = 50, kSamples = 20;

  std::string a = EncodeWriteRequest(Request("dur_a", base, kSeries, kSamples));
  ASSERT_EQ(Status(PostWrite(*c, a)), 204);
  EXPECT_EQ(Metric(*c, "meridian_storage_degraded"), 0);

  // The fault: no file of the process may grow.
  SetFileSizeLimit(server->process().pid(), 0);
  std::string b = EncodeWriteRequest(Request("dur_b", base, kSeries, kSamples));
  std::string never = EncodeWriteRequest(Request("dur_never", base, kSeries, kSamples));
  auto r = PostWrite(*c, b);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_EQ(r->body.find('/'), std::string::npos) << "a path in the error body: " << r->body;
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  for (int retry = 0; retry < 3; ++retry) {  // Prometheus retries while the fault lasts
    r = PostWrite(*c, b);
    ASSERT_TRUE(r);
    EXPECT_NE(r->status / 100, 2) << "retry " << retry << " acknowledged during the fault";
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_NE(Status(PostWrite(*c, never)) / 100, 2);
  EXPECT_EQ(Status(c->Get("/-/ready")), 503);
  EXPECT_EQ(Status(c->Get("/-/healthy")), 200);
  EXPECT_GE(Metric(*c, "meridian_wal_write_failures_total"), 1);
  EXPECT_EQ(Metric(*c, "meridian_storage_degraded"), 1);
  EXPECT_EQ(SeriesCount(*c, "dur_b"), 0u) << "samples of a failed write are visible";
  EXPECT_EQ(SeriesCount(*c, "dur_never"), 0u);

  // Clear the fault: the storage resumes by itself within seconds.
  SetFileSizeLimit(server->process().pid(), RLIM_INFINITY);
  ASSERT_TRUE(server->WaitReady(std::chrono::seconds(10))) << server->process().Log();
  EXPECT_EQ(Metric(*c, "meridian_storage_degraded"), 0);
  r = PostWrite(*c, b);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
  EXPECT_EQ(r->get_header_value("X-Prometheus-Remote-Write-Samples-Written"),
            std::to_string(kSeries * kSamples));
  ExpectStored(*c, "dur_b", base, kSeries, kSamples);
  EXPECT_NE(server->process().Log().find("storage: resumed"), std::string::npos)
      << server->process().Log();

  server->process().Kill(SIGKILL);
  server = std::make_unique<Meridian>(data);
  ASSERT_TRUE(server->WaitReady()) << server->process().Log();
  c = server->Client();
  ExpectStored(*c, "dur_a", base, kSeries, kSamples);
  ExpectStored(*c, "dur_b", base, kSeries, kSamples);
  EXPECT_EQ(SeriesCount(*c, "dur_never"), 0u);
  auto names = GetJson(*c, "/api/v1/label/__name__/values");
  for (const auto& n : names["data"]) EXPECT_NE(n, "dur_never");
}

}  // namespace
}  // namespace meridian::testing
