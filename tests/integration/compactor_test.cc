// The compactor end to end: a 35-day backfill through remote-write, one
// POST /internal/compact: raw data past the retention is gone and its space
// freed, 5m and 1h data exist, the status endpoint and /metrics report it;
// a pass killed with SIGKILL converges after a restart to the same
// aggregates as an uninterrupted one.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <thread>

#include "storage/compaction.h"
#include "storage/storage.h"
#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

constexpr int64_t kDay = 86'400'000;
constexpr int kSeries = 12;
constexpr int64_t kStep = 300'000;  // 5 minutes

// The part [begin, end) of a backfill that starts at `start`, oldest first,
// in 2-hour requests: counters with resets.
void BackfillPart(Meridian& m, int64_t start, int64_t begin, int64_t end) {
  auto c = m.Client();
  for (int64_t from = begin; from < end; from += 2 * 3'600'000) {
    prometheus::WriteRequest req;
    for (int s = 0; s < kSeries; ++s) {
      std::vector<std::pair<int64_t, double>> samples;
      for (int64_t t = from; t < from + 2 * 3'600'000 && t < end; t += kStep) {
        const int64_t k = (t - start) / kStep;
        samples.push_back({t, static_cast<double>((k * (s + 1)) % (5000 + 97 * s))});
      }
      AddSeries(&req, {{"__name__", "bf_total"}, {"i", std::to_string(s)}}, samples);
    }
    auto r = PostWrite(*c, EncodeWriteRequest(req));
    ASSERT_TRUE(r) << "write failed";
    ASSERT_EQ(r->status, 204) << r->body;
  }
}

// 35 days up to `end`.
void Backfill(Meridian& m, int64_t end, int days = 35) {
  BackfillPart(m, end - days * kDay, end - days * kDay, end);
}

nlohmann::json Compact(Meridian& m) {
  auto c = m.Client();
  c->set_read_timeout(std::chrono::seconds(60));
  auto r = c->Post("/internal/compact", "", "text/plain");
  EXPECT_TRUE(r);
  if (!r) return {};
  EXPECT_EQ(r->status, 200) << r->body;
  return nlohmann::json::parse(r->body);
}

void Stop(Meridian& m) {
  m.process().Kill(SIGTERM);
  EXPECT_NE(m.process().Wait(std::chrono::seconds(30)), -1);
}

// Every aggregate window of both resolutions, per series labels' id order.
// *count_5m: the samples the 5m windows hold.
std::vector<AggregateWindow> AllAggregates(const std::string& dir, DownsampleState* state,
                                           uint64_t* count_5m = nullptr) {
  StorageOptions o;
  o.dir = dir;
  auto s = Storage::Open(o);
  EXPECT_TRUE(s.ok()) << s.status();
  std::vector<AggregateWindow> out;
  if (!s.ok()) return out;
  CompactionAccess* a = (*s)->Compaction();
  *state = *a->State("default-tenant");
  for (Resolution r : {Resolution::k5m, Resolution::k1h}) {
    EXPECT_TRUE(a->ReadAggregates("default-tenant", r, 0, std::numeric_limits<int64_t>::max(),
                                  [&](uint64_t, std::span<const AggregateWindow> w) {
                                    out.insert(out.end(), w.begin(), w.end());
                                    if (count_5m != nullptr && r == Resolution::k5m) {
                                      for (const AggregateWindow& x : w) *count_5m += x.count;
                                    }
                                    return absl::OkStatus();
                                  })
                    .ok());
  }
  return out;
}

TEST(CompactorTest, BackfillCompactRetentionAndKillConverges) {
  const int64_t end = AlignDown(NowMs(), kDay) - 2 * kDay;
  TempDir dir;

  // A: one uninterrupted pass.
  Meridian a(dir.path() + "/a");
  ASSERT_TRUE(a.WaitReady());
  Backfill(a, end);
  auto c = a.Client();
  int status = 0;
  // Raw data 33 days old is there before the pass.
  auto before = RawSamples(*c, "bf_total", end - 33 * kDay, 3'600'000);
  ASSERT_EQ(before.size(), static_cast<size_t>(kSeries));
  nlohmann::json sum = Compact(a);
  ASSERT_EQ(sum["status"], "success");
  std::printf("pass summary: %s\n", sum["data"].dump().c_str());
  EXPECT_GE(sum["data"]["blocks5m"].get<int>(), 33);
  EXPECT_GE(sum["data"]["blocks1h"].get<int>(), 2);
  EXPECT_GT(sum["data"]["bytesFreed"]["raw"].get<int64_t>(), 0);
  EXPECT_EQ(sum["data"]["failures"].get<int>(), 0);
  // Raw data past the 30-day retention is gone, newer raw data is whole.
  EXPECT_TRUE(RawSamples(*c, "bf_total", end - 33 * kDay, 3'600'000).empty());
  auto recent = RawSamples(*c, "bf_total", end - 10 * kDay, 3'600'000);
  ASSERT_EQ(recent.size(), static_cast<size_t>(kSeries));
  EXPECT_EQ(recent.begin()->second.size(), 12u);
  // The status endpoint and /metrics report it.
  nlohmann::json st = GetJson(*c, "/api/v1/status/compactor", &status);
  EXPECT_EQ(status, 200);
  ASSERT_EQ(st["data"]["tenants"].size(), 1u);
  EXPECT_FALSE(st["data"]["tenants"][0]["downsampled5mThrough"].is_null());
  EXPECT_FALSE(st["data"]["tenants"][0]["rawDeletedBefore"].is_null());
  EXPECT_FALSE(st["data"]["lastSuccess"].is_null());
  EXPECT_EQ(st["data"]["tenants"][0]["lag5mSeconds"], 0);  // up to date
  EXPECT_EQ(st["data"]["tenants"][0]["lag1hSeconds"], 0);
  auto metrics = c->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("meridian_compactor_windows_written_total{resolution=\"5m\"} "),
            std::string::npos);
  EXPECT_EQ(metrics->body.find("meridian_compactor_windows_written_total{resolution=\"5m\"} 0\n"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("meridian_compactor_lag_seconds{resolution=\"5m\"} 0\n"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("meridian_compactor_last_success_timestamp_seconds "),
            std::string::npos);
  // Queries read the aggregates (docs/downsampling.md): over the days whose
  // raw data is gone, auto answers from 1h data and says so in `infos`;
  // max_source_resolution=raw has nothing there.
  {
    char range[160];
    std::snprintf(range, sizeof(range), "&start=%lld&end=%lld&step=3600",
                  static_cast<long long>((end - 34 * kDay) / 1000),
                  static_cast<long long>((end - 31 * kDay) / 1000));
    const std::string q =
        "/api/v1/query_range?query=" + UrlEncode("sum(rate(bf_total[1h]))") + range;
    nlohmann::json au = GetJson(*c, q, &status);
    ASSERT_EQ(status, 200) << au;
    ASSERT_EQ(au["data"]["result"].size(), 1u) << au;
    EXPECT_GE(au["data"]["result"][0]["values"].size(), 70u);
    ASSERT_TRUE(au.contains("infos")) << au;
    EXPECT_NE(au["infos"].dump().find("answered from downsampled data, resolutions 1h"),
              std::string::npos)
        << au["infos"];
    nlohmann::json raw = GetJson(*c, q + "&max_source_resolution=raw", &status);
    ASSERT_EQ(status, 200) << raw;
    EXPECT_TRUE(raw["data"]["result"].empty()) << raw;
    EXPECT_FALSE(raw.contains("infos"));
  }
  // A second pass finds nothing to do.
  nlohmann::json again = Compact(a);
  EXPECT_EQ(again["data"]["blocks5m"].get<int>(), 0);
  Stop(a);

  // B: the same data; the pass is killed with SIGKILL, then the server
  // restarts and passes again.
  Meridian b(dir.path() + "/b");
  ASSERT_TRUE(b.WaitReady());
  Backfill(b, end);
  double kill_after = 0;
  {
    std::thread t([&] {
      auto cb = b.Client();
      cb->Post("/internal/compact", "", "text/plain");  // no answer: killed
    });
    // Halfway through a pass as long as A's (its flush included).
    kill_after = std::max(0.02, sum["data"]["seconds"].get<double>() / 2);
    std::this_thread::sleep_for(std::chrono::duration<double>(kill_after));
    b.process().Kill(SIGKILL);
    t.join();
  }
  b.process().Wait(std::chrono::seconds(10));
  b.Restart();
  ASSERT_TRUE(b.WaitReady());
  {
    // Where the killed pass got to (informational: timing-dependent).
    nlohmann::json st = GetJson(*b.Client(), "/api/v1/status/compactor");
    std::printf("killed after %.3f s of a %.3f s pass; progress then: %s\n", kill_after,
                sum["data"]["seconds"].get<double>(), st["data"]["tenants"].dump().c_str());
  }
  nlohmann::json sb = Compact(b);
  EXPECT_EQ(sb["data"]["failures"].get<int>(), 0);
  auto recent_b = RawSamples(*b.Client(), "bf_total", end - 10 * kDay, 3'600'000);
  ASSERT_EQ(recent_b.size(), static_cast<size_t>(kSeries));
  Stop(b);

  DownsampleState sa, sbs;
  std::vector<AggregateWindow> wa = AllAggregates(dir.path() + "/a", &sa);
  std::vector<AggregateWindow> wb = AllAggregates(dir.path() + "/b", &sbs);
  EXPECT_EQ(sa.downsampled_5m_through, sbs.downsampled_5m_through);
  EXPECT_EQ(sa.downsampled_1h_through, sbs.downsampled_1h_through);
  EXPECT_EQ(sa.raw_deleted_before, sbs.raw_deleted_before);
  ASSERT_EQ(wa.size(), wb.size());
  ASSERT_GT(wa.size(), static_cast<size_t>(kSeries * 33 * 288));
  for (size_t i = 0; i < wa.size(); ++i) {
    ASSERT_EQ(wa[i].t_ms, wb[i].t_ms) << i;
    ASSERT_EQ(wa[i].count, wb[i].count) << i;
    ASSERT_EQ(wa[i].sum, wb[i].sum) << i;
    ASSERT_EQ(wa[i].counter_inc, wb[i].counter_inc) << i;
    ASSERT_EQ(wa[i].last_v, wb[i].last_v) << i;
  }
}

// A pass in the middle of a 35-day backfill (issue 8 item 5): it deletes raw
// data below now - 30d, so the next days of the backfill are older than the
// raw data kept. They must still be accepted and end up in the 5m and 1h
// data (they were refused as too old); a pass killed with SIGKILL while
// merging them converges after a restart to the same aggregates, nothing
// counted twice.
TEST(CompactorTest, PassInTheMiddleOfABackfillLosesNothingAndSurvivesAKill) {
  const int64_t end = AlignDown(NowMs(), kDay) - 2 * kDay;
  const int64_t start = end - 35 * kDay;
  TempDir dir;
  auto run = [&](Meridian& m, double kill_after) -> nlohmann::json {
    BackfillPart(m, start, start, start + 4 * kDay);
    nlohmann::json first = Compact(m);
    EXPECT_EQ(first["data"]["failures"].get<int>(), 0);
    // The rest of the backfill: the first days of it are below the raw floor.
    BackfillPart(m, start, start + 4 * kDay, end);
    if (kill_after <= 0) return Compact(m);
    std::thread t([&] { m.Client()->Post("/internal/compact", "", "text/plain"); });
    std::this_thread::sleep_for(std::chrono::duration<double>(kill_after));
    m.process().Kill(SIGKILL);
    t.join();
    m.process().Wait(std::chrono::seconds(10));
    m.Restart();
    EXPECT_TRUE(m.WaitReady());
    return Compact(m);
  };
  Meridian a(dir.path() + "/a");
  ASSERT_TRUE(a.WaitReady());
  nlohmann::json sa = run(a, 0);
  std::printf("pass summary: %s\n", sa["data"].dump().c_str());
  EXPECT_EQ(sa["data"]["failures"].get<int>(), 0);
  EXPECT_GE(sa["data"]["stagedSamples"].get<int64_t>(), 2 * 288 * kSeries);
  Stop(a);
  // Killed early (while merging what was staged, or flushing) and halfway.
  for (double fraction : {0.125, 0.5}) {
    const std::string path = dir.path() + "/b" + std::to_string(static_cast<int>(fraction * 1000));
    Meridian b(path);
    ASSERT_TRUE(b.WaitReady());
    nlohmann::json sb = run(b, std::max(0.01, sa["data"]["seconds"].get<double>() * fraction));
    EXPECT_EQ(sb["data"]["failures"].get<int>(), 0);
    Stop(b);
    DownsampleState da, db;
    uint64_t count_a = 0, count_b = 0;
    std::vector<AggregateWindow> wa = AllAggregates(dir.path() + "/a", &da, &count_a);
    std::vector<AggregateWindow> wb = AllAggregates(path, &db, &count_b);
    // Every backfilled sample is in the 5m data, once (the 5m progress is
    // past the backfill's end).
    ASSERT_GE(da.downsampled_5m_through, end);
    EXPECT_EQ(count_a, static_cast<uint64_t>(35 * 288 * kSeries));
    EXPECT_EQ(count_b, count_a) << fraction;
    EXPECT_EQ(da.raw_deleted_before, db.raw_deleted_before);
    ASSERT_EQ(wa.size(), wb.size());
    for (size_t i = 0; i < wa.size(); ++i) {
      ASSERT_EQ(wa[i].t_ms, wb[i].t_ms) << i;
      ASSERT_EQ(wa[i].count, wb[i].count) << i;
      ASSERT_EQ(wa[i].sum, wb[i].sum) << i;
      ASSERT_EQ(wa[i].counter_inc, wb[i].counter_inc) << i;
      ASSERT_EQ(wa[i].last_v, wb[i].last_v) << i;
    }
  }
}

// `meridian compact --data-dir DIR` runs one pass on a stopped instance and
// prints its summary; on a running instance's dir it refuses.
TEST(CompactorTest, OneShotCompactOnAStoppedInstance) {
  const int64_t end = AlignDown(NowMs(), kDay) - 2 * kDay;
  TempDir dir;
  const std::string data = dir.path() + "/data";
  {
    Meridian m(data);
    ASSERT_TRUE(m.WaitReady());
    Backfill(m, end, 5);
    // Running: the one-shot cannot open the dir.
    Process busy({MeridianBinary(), "compact", "--data-dir", data}, dir.path() + "/busy.log");
    int ws = busy.Wait(std::chrono::seconds(60));
    ASSERT_TRUE(WIFEXITED(ws)) << busy.Log();
    EXPECT_EQ(WEXITSTATUS(ws), 1);
    EXPECT_NE(busy.Log().find("is a meridian still running on it?"), std::string::npos)
        << busy.Log();
    Stop(m);
  }
  Process p({MeridianBinary(), "compact", "--data-dir", data, "--retention-raw", "4d"},
            dir.path() + "/compact.log");
  int ws = p.Wait(std::chrono::seconds(60));
  ASSERT_TRUE(WIFEXITED(ws)) << p.Log();
  ASSERT_EQ(WEXITSTATUS(ws), 0) << p.Log();
  const std::string log = p.Log();
  const size_t brace = log.find("{\"started\"");
  ASSERT_NE(brace, std::string::npos) << log;
  nlohmann::json sum = nlohmann::json::parse(log.substr(brace, log.find('\n', brace) - brace));
  EXPECT_EQ(sum["blocks5m"].get<int>(), 5);
  EXPECT_GT(sum["bytesFreed"]["raw"].get<int64_t>(), 0);
  // The server then serves the result: raw data older than 4 days is gone.
  Meridian again(data);
  ASSERT_TRUE(again.WaitReady());
  auto c = again.Client();
  EXPECT_TRUE(RawSamples(*c, "bf_total", end - 2 * kDay - 2 * 3'600'000, 3'600'000).empty());
  EXPECT_EQ(RawSamples(*c, "bf_total", end - kDay, 3'600'000).size(), static_cast<size_t>(kSeries));
}

// max_source_resolution as Thanos accepts it (plus raw); anything else is
// 400 bad_data, on instant and range queries.
TEST(CompactorTest, MaxSourceResolutionIsValidated) {
  Meridian m;
  ASSERT_TRUE(m.WaitReady());
  auto c = m.Client();
  for (const char* ok : {"auto", "raw", "0", "0s", "300", "5m", "10m", "1h"}) {
    int status = 0;
    GetJson(*c, std::string("/api/v1/query?query=1&max_source_resolution=") + ok, &status);
    EXPECT_EQ(status, 200) << ok;
    GetJson(
        *c,
        std::string("/api/v1/query_range?query=1&start=0&end=60&step=15&max_source_resolution=") +
            ok,
        &status);
    EXPECT_EQ(status, 200) << ok;
  }
  for (const char* bad : {"garbage", "-5m", "5x", "auto2"}) {
    int status = 0;
    nlohmann::json j =
        GetJson(*c, std::string("/api/v1/query?query=1&max_source_resolution=") + bad, &status);
    EXPECT_EQ(status, 400) << bad;
    EXPECT_EQ(j["errorType"], "bad_data") << bad;
    EXPECT_NE(j["error"].get<std::string>().find("max_source_resolution"), std::string::npos) << j;
  }
}

}  // namespace
}  // namespace meridian::testing
