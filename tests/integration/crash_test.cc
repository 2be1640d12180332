// Crash test: writers stream remote-write requests while meridian is killed
// with SIGKILL; after a restart every sample that got a 2xx reply is there.
// 16 writers, as in bench/overload_bench.sh: their appends share synced
// writes (storage/group_commit.h), and a group in flight at the kill must
// not have been acknowledged to any of them.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

constexpr int kSeries = 50;
constexpr int kWriters = 16;

TEST(CrashTest, AcknowledgedSamplesSurviveSigkill) {
  TempDir dir;
  std::string data = dir.path() + "/data";
  auto server = std::make_unique<Meridian>(data);
  ASSERT_TRUE(server->WaitReady()) << server->process().Log();
  const int port = server->port();
  const int64_t base = (NowMs() / 1000 - 3600) * 1000;

  // acked[w] = number of rounds writer w got a 2xx for (rounds are sequential).
  std::atomic<bool> stop{false};
  std::vector<int> acked(kWriters, 0);
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(10);
      for (int round = 0; !stop.load() && round < 100000; ++round) {
        prometheus::WriteRequest req;
        for (int s = 0; s < kSeries; ++s) {
          AddSeries(&req,
                    {{"__name__", "crash_metric"},
                     {"writer", std::to_string(w)},
                     {"series", std::to_string(s)}},
                    {{base + round * 100, static_cast<double>(round * 1000 + s)}});
        }
        auto r = PostWrite(c, EncodeWriteRequest(req));
        if (!r) break;  // connection died: the server is gone
        if (r->status / 100 != 2) break;
        acked[w] = round + 1;
      }
    });
  }
  // Kill at a random moment while the writers are busy.
  std::mt19937 rng(std::random_device{}());
  std::this_thread::sleep_for(std::chrono::milliseconds(800 + rng() % 1200));
  server->process().Kill(SIGKILL);
  stop = true;
  for (auto& t : writers) t.join();
  int total_rounds = 0;
  for (int a : acked) total_rounds += a;
  ASSERT_GT(total_rounds, 0) << "no write was acknowledged before the kill";

  server = std::make_unique<Meridian>(data);
  std::string relisten_data = data;
  ASSERT_TRUE(server->WaitReady()) << server->process().Log();
  auto c = server->Client();
  for (int w = 0; w < kWriters; ++w) {
    if (acked[w] == 0) continue;
    SCOPED_TRACE("writer " + std::to_string(w) + " acked rounds " + std::to_string(acked[w]));
    int64_t last = base + (acked[w] - 1) * 100;
    auto got = RawSamples(*c, "crash_metric{writer=\"" + std::to_string(w) + "\"}", last,
                          (acked[w]) * 100);
    ASSERT_EQ(got.size(), static_cast<size_t>(kSeries));
    for (const auto& [labels, samples] : got) {
      // Every acknowledged round is present with its value (later unacknowledged
      // rounds may or may not be, but not beyond `last`, which the window excludes).
      ASSERT_EQ(samples.size(), static_cast<size_t>(acked[w])) << labels;
      int s = std::stoi(nlohmann::json::parse(labels)["series"].get<std::string>());
      for (int round = 0; round < acked[w]; ++round) {
        EXPECT_EQ(samples[round].first, base + round * 100);
        EXPECT_EQ(samples[round].second, std::to_string(round * 1000 + s));
      }
    }
  }
  std::printf("crash test: %d acknowledged rounds of %d series survived SIGKILL\n", total_rounds,
              kSeries);
}

}  // namespace
}  // namespace meridian::testing
