#include "remote/federate_pull.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <snappy.h>

#include <cmath>
#include <map>
#include <thread>

#include "model/sample.h"
#include "proto/remote.pb.h"

namespace meridian::remote {
namespace {

std::string Str(const std::vector<Label>& ls) {
  std::string out;
  for (const Label& l : ls) out += l.name + "=" + l.value + ";";
  return out;
}

TEST(TextExpositionTest, ParsesWhatPrometheusFederationWrites) {
  auto r = ParseTextExposition(
      "# HELP x ignored\n"
      "# TYPE up untyped\n"
      "up{instance=\"localhost:9090\",job=\"prometheus\",cluster=\"eu\"} 1 1700000000123\n"
      "\n"
      "  # a comment\n"
      "esc{path=\"/a\\\"b\\\\c\\nd\",instance=\"\"} -Inf 5\r\n"
      "bare 1e+21\n"
      "nan_metric{a=\"b\",} NaN -1000\n"
      "spaced { a = \"b\" }\t+Inf\t 7\n");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ(Str((*r)[0].labels), "__name__=up;instance=localhost:9090;job=prometheus;cluster=eu;");
  EXPECT_EQ((*r)[0].value, 1);
  EXPECT_EQ(*(*r)[0].t_ms, 1700000000123);
  EXPECT_EQ(Str((*r)[1].labels), "__name__=esc;path=/a\"b\\c\nd;instance=;");
  EXPECT_TRUE(std::isinf((*r)[1].value) && (*r)[1].value < 0);
  EXPECT_EQ(*(*r)[1].t_ms, 5);
  EXPECT_EQ((*r)[2].value, 1e21);
  EXPECT_FALSE((*r)[2].t_ms.has_value());
  EXPECT_TRUE(std::isnan((*r)[3].value));
  EXPECT_EQ(*(*r)[3].t_ms, -1000);
  EXPECT_EQ(Str((*r)[4].labels), "__name__=spaced;a=b;");
  EXPECT_EQ(*(*r)[4].t_ms, 7);
}

TEST(TextExpositionTest, BadLinesAreErrorsNamingTheLine) {
  for (const char* bad : {"up{a=\"b\" 1", "up{a=b} 1", "up 1 2 3", "up{a=\"b\",a=\"c\"} 1",
                          "up abc", "{a=\"b\"} 1", "up{1a=\"b\"} 1", "up 1 12x", "up{a=\"b"}) {
    auto r = ParseTextExposition(std::string("ok 1\n") + bad + "\n");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("line 2:"), std::string_view::npos) << r.status();
  }
}

// Prometheus's mutateSampleLabels (scrape/scrape.go) for target labels.
TEST(TargetLabelsTest, HonorLabelsKeepsScrapedOnesOtherwiseExportedPrefix) {
  const std::vector<Label> target = {{"job", "fed"}, {"instance", "prom:9090"}, {"region", "eu"}};
  const std::vector<Label> scraped = {{"__name__", "up"},
                                      {"job", "node"},
                                      {"instance", ""},  // Prometheus's federation adds this
                                      {"exported_job", "older"}};
  EXPECT_EQ(ApplyTargetLabels(scraped, target, true).ToString(),
            "up{exported_job=\"older\", job=\"node\", region=\"eu\"}");
  EXPECT_EQ(ApplyTargetLabels(scraped, target, false).ToString(),
            "up{exported_exported_job=\"node\", exported_job=\"older\", "
            "instance=\"prom:9090\", job=\"fed\", region=\"eu\"}");
}

// A /federate endpoint whose answer the test sets, and a puller storing into a
// list of samples (decoded from the remote-write requests it sends).
class PullerTest : public ::testing::Test {
 protected:
  struct Point {
    int64_t t;
    double v;
  };
  void SetUp() override {
    srv_.Get("/federate", [this](const httplib::Request&, httplib::Response& res) {
      MutexLock lock(&mu_);
      res.status = status_;
      res.set_content(body_, "text/plain; version=0.0.4");
    });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void TearDown() override {
    srv_.stop();
    thread_.join();
  }
  std::unique_ptr<FederatePuller> Puller(FederatePullConfig c) {
    c.name = "fed";
    c.url = "http://127.0.0.1:" + std::to_string(port_) + "/federate";
    c.labels = {{"region", "eu"}};
    return std::make_unique<FederatePuller>(c, [this](const std::string&, std::string body) {
      std::string raw;
      snappy::Uncompress(body.data(), body.size(), &raw);
      prometheus::WriteRequest req;
      req.ParseFromString(raw);
      MutexLock lock(&mu_);
      for (const auto& ts : req.timeseries()) {
        std::vector<Label> ls;
        for (const auto& l : ts.labels()) ls.push_back({l.name(), l.value()});
        for (const auto& s : ts.samples()) {
          got_[Labels::FromUnsorted(ls).ToString()].push_back({s.timestamp(), s.value()});
        }
      }
      return absl::OkStatus();
    });
  }
  void Serve(int status, std::string body) {
    MutexLock lock(&mu_);
    status_ = status;
    body_ = std::move(body);
  }
  // What the last pull stored, then forgotten.
  std::map<std::string, std::vector<Point>> Take() {
    MutexLock lock(&mu_);
    return std::exchange(got_, {});
  }
  // The report series' labels as Prometheus gives them: the target labels.
  std::string Report(const std::string& name) const {
    return name + "{instance=\"127.0.0.1:" + std::to_string(port_) +
           "\", job=\"fed\", region=\"eu\"}";
  }
  std::string Series(const std::string& name) const {
    return name + "{instance=\"127.0.0.1:" + std::to_string(port_) +
           "\", job=\"x\", region=\"eu\"}";
  }

  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
  Mutex mu_;
  int status_ = 200;
  std::string body_;
  std::map<std::string, std::vector<Point>> got_;
};

// Prometheus 2.42's scrapeLoop (scrape/scrape.go): the five report series at
// the pull's time, scrape_series_added counting series not in the cache,
// stale markers only for series without an explicit timestamp that vanish or
// whose target fails, the cache not flushed by a failed pull, and a body that
// fails to parse counted up to the bad line and then rolled back.
TEST_F(PullerTest, WritesReportSeriesAndStaleMarkersAsAPrometheusScrape) {
  auto p = Puller({});
  auto check_report = [&](const std::map<std::string, std::vector<Point>>& got, double up,
                          double scraped, double added) {
    ASSERT_EQ(got.count(Report("up")), 1u);
    const int64_t t = got.at(Report("up"))[0].t;
    EXPECT_EQ(got.at(Report("up"))[0].v, up);
    EXPECT_EQ(got.at(Report("scrape_samples_scraped"))[0].v, scraped);
    EXPECT_EQ(got.at(Report("scrape_samples_post_metric_relabeling"))[0].v, scraped);
    EXPECT_EQ(got.at(Report("scrape_series_added"))[0].v, added);
    ASSERT_EQ(got.count(Report("scrape_duration_seconds")), 1u);
    EXPECT_GE(got.at(Report("scrape_duration_seconds"))[0].v, 0);
    for (const char* n : {"scrape_duration_seconds", "scrape_samples_scraped",
                          "scrape_samples_post_metric_relabeling", "scrape_series_added"}) {
      EXPECT_EQ(got.at(Report(n))[0].t, t) << n;
    }
  };
  // 1: a carries a timestamp (kept, not tracked), b and c none (the pull's time).
  Serve(200, "# TYPE a untyped\na{job=\"x\"} 1 1000\nb{job=\"x\"} 2\nc{job=\"x\"} 3\n");
  PullResult r = p->PullOnce();
  ASSERT_TRUE(r.status.ok()) << r.status;
  auto got = Take();
  EXPECT_EQ(got.size(), 8u);
  check_report(got, 1, 3, 3);
  const int64_t t1 = got[Report("up")][0].t;
  EXPECT_EQ(got[Series("a")][0].t, 1000);
  EXPECT_EQ(got[Series("b")][0].t, t1);
  EXPECT_EQ(got[Series("c")][0].v, 3);
  // 2: c vanished: its stale marker at the pull's time.
  Serve(200, "a{job=\"x\"} 1 1000\nb{job=\"x\"} 2\n");
  r = p->PullOnce();
  got = Take();
  check_report(got, 1, 2, 0);
  EXPECT_EQ(r.stale_markers, 1u);
  ASSERT_EQ(got[Series("c")].size(), 1u);
  EXPECT_TRUE(IsStaleNaN(got[Series("c")][0].v));
  EXPECT_EQ(got[Series("c")][0].t, got[Report("up")][0].t);
  // 3: a vanished, but its samples had timestamps: no marker.
  Serve(200, "b{job=\"x\"} 2\n");
  r = p->PullOnce();
  got = Take();
  EXPECT_EQ(r.stale_markers, 0u);
  EXPECT_EQ(got.count(Series("a")), 0u);
  check_report(got, 1, 1, 0);
  // 4: the target fails: up 0, zero counts, markers for every tracked series.
  Serve(500, "");
  r = p->PullOnce();
  EXPECT_FALSE(r.status.ok());
  got = Take();
  check_report(got, 0, 0, 0);
  EXPECT_EQ(got.size(), 6u);
  ASSERT_EQ(got[Series("b")].size(), 1u);
  EXPECT_TRUE(IsStaleNaN(got[Series("b")][0].v));
  // 5: back; the failed pull did not flush the cache: b is not new, a and c are.
  Serve(200, "a{job=\"x\"} 1 1000\nb{job=\"x\"} 2\nc{job=\"x\"} 3\n");
  r = p->PullOnce();
  got = Take();
  check_report(got, 1, 3, 2);
  EXPECT_EQ(r.stale_markers, 0u);
  // 6: a bad line: nothing of the body is stored, up 0, the two lines before
  // it (b, c) counted; they were tracked before the rollback, so the pull
  // marks nothing stale (b and c were 5's tracked series).
  Serve(200, "b{job=\"x\"} 2\nc{job=\"x\"} 3\nbad{ 1\n");
  r = p->PullOnce();
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("line 3"), std::string_view::npos) << r.status;
  got = Take();
  check_report(got, 0, 2, 0);
  EXPECT_EQ(got.size(), 5u);
  // 7: an empty answer: up 1, every tracked series stale.
  Serve(200, "");
  r = p->PullOnce();
  got = Take();
  check_report(got, 1, 0, 0);
  EXPECT_EQ(r.stale_markers, 2u);
  EXPECT_TRUE(IsStaleNaN(got[Series("b")][0].v));
  EXPECT_TRUE(IsStaleNaN(got[Series("c")][0].v));
}

// honor_timestamps false: every sample at the pull's time, so every series is
// tracked; track_timestamps_staleness: timestamped series are tracked too.
TEST_F(PullerTest, TimestampedSeriesGetMarkersWhenTimestampsAreIgnoredOrTracked) {
  for (bool honor : {false, true}) {
    FederatePullConfig c;
    c.honor_timestamps = honor;
    c.track_timestamps_staleness = honor;
    auto p = Puller(c);
    Serve(200, "a{job=\"x\"} 1 1000\nb{job=\"x\"} 2 1000\n");
    ASSERT_TRUE(p->PullOnce().status.ok());
    auto got = Take();
    const int64_t t = got[Report("up")][0].t;
    EXPECT_EQ(got[Series("a")][0].t, honor ? 1000 : t);
    Serve(200, "b{job=\"x\"} 2 1000\n");
    PullResult r = p->PullOnce();
    got = Take();
    EXPECT_EQ(r.stale_markers, 1u) << honor;
    ASSERT_EQ(got[Series("a")].size(), 1u);
    EXPECT_TRUE(IsStaleNaN(got[Series("a")][0].v));
    Serve(500, "");
    r = p->PullOnce();
    got = Take();
    EXPECT_EQ(r.stale_markers, 1u);
    EXPECT_TRUE(IsStaleNaN(got[Series("b")][0].v));
  }
}

}  // namespace
}  // namespace meridian::remote
