// Maintenance and faults through the meridian binary: snapshots during
// ingest restored with `meridian restore`, a corrupt SST data block on disk
// (partial result with a warning, no file path in any body), and the data
// dir's format marker.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "rocksdb/db.h"
#include "rocksdb/metadata.h"
#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kSeries = 20;
constexpr int kWriters = 2;

nlohmann::json PostJson(httplib::Client& c, const std::string& path, int* status) {
  auto r = c.Post(path, "", "application/x-www-form-urlencoded");
  if (!r) {
    ADD_FAILURE() << "POST " << path << " failed";
    return nullptr;
  }
  *status = r->status;
  return nlohmann::json::parse(r->body, nullptr, false);
}

void StopGracefully(Meridian& m) {
  m.process().Kill(SIGTERM);
  int ws = m.process().Wait(std::chrono::seconds(30));
  ASSERT_TRUE(WIFEXITED(ws)) << m.process().Log();
  ASSERT_EQ(WEXITSTATUS(ws), 0) << m.process().Log();
}

// Every sample acknowledged before a snapshot request is in a data dir
// restored from that snapshot, with and without skip_head.
TEST(MaintenanceTest, SnapshotDuringIngestRestoresAcknowledgedSamples) {
  TempDir dir;
  Meridian server(dir.path() + "/data", {"--enable-admin-api", "true"});
  ASSERT_TRUE(server.WaitReady()) << server.process().Log();
  const int port = server.port();
  const int64_t base = (NowMs() / 1000 - 3600) * 1000;
  std::atomic<bool> stop{false};
  std::vector<std::atomic<int>> acked(kWriters);
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(10);
      for (int round = 0; !stop.load() && round < 100000; ++round) {
        prometheus::WriteRequest req;
        for (int s = 0; s < kSeries; ++s) {
          AddSeries(&req,
                    {{"__name__", "snap_metric"},
                     {"writer", std::to_string(w)},
                     {"series", std::to_string(s)}},
                    {{base + round * 100, static_cast<double>(round * 1000 + s)}});
        }
        auto r = PostWrite(c, EncodeWriteRequest(req));
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 204) << r->body;
        acked[w] = round + 1;
      }
    });
  }
  struct Taken {
    std::string name;
    std::vector<int> acked_before;
  };
  std::vector<Taken> taken;
  auto c = server.Client();
  for (const char* params : {"", "?skip_head=true"}) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    Taken t;
    for (auto& a : acked) t.acked_before.push_back(a.load());
    int status = 0;
    nlohmann::json j = PostJson(*c, std::string("/api/v1/admin/tsdb/snapshot") + params, &status);
    ASSERT_EQ(status, 200) << j.dump();
    ASSERT_EQ(j["status"], "success") << j.dump();
    ASSERT_EQ(j.size(), 2u) << j.dump();
    ASSERT_EQ(j["data"].size(), 1u) << j.dump();
    t.name = j["data"]["name"].get<std::string>();
    EXPECT_EQ(t.name.size(), 33u) << t.name;  // 20171210T211224Z-2be650b6d019eb54
    taken.push_back(t);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  for (auto& t : writers) t.join();
  for (int a : taken[0].acked_before) ASSERT_GT(a, 0) << "nothing acknowledged before the snapshot";

  for (size_t k = 0; k < taken.size(); ++k) {
    SCOPED_TRACE("snapshot " + taken[k].name);
    const std::string snap = server.data_dir() + "/snapshots/" + taken[k].name;
    const std::string restored = dir.path() + "/restored" + std::to_string(k);
    Process restore({MeridianBinary(), "restore", "--from", snap, "--data-dir", restored},
                    restored + ".restore.log");
    int ws = restore.Wait(std::chrono::seconds(60));
    ASSERT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << restore.Log();
    EXPECT_NE(restore.Log().find("restored"), std::string::npos) << restore.Log();
    Meridian from_snapshot(restored);
    ASSERT_TRUE(from_snapshot.WaitReady()) << from_snapshot.process().Log();
    auto rc = from_snapshot.Client();
    for (int w = 0; w < kWriters; ++w) {
      const int n = taken[k].acked_before[w];
      auto got = RawSamples(*rc, "snap_metric{writer=\"" + std::to_string(w) + "\"}",
                            base + (n - 1) * 100, n * 100);
      ASSERT_EQ(got.size(), static_cast<size_t>(kSeries));
      for (const auto& [labels, samples] : got) {
        ASSERT_EQ(samples.size(), static_cast<size_t>(n)) << labels;
        int s = std::stoi(nlohmann::json::parse(labels)["series"].get<std::string>());
        for (int round = 0; round < n; ++round) {
          ASSERT_EQ(samples[round].first, base + round * 100);
          ASSERT_EQ(samples[round].second, std::to_string(round * 1000 + s));
        }
      }
    }
  }
  // Restoring into a non-empty dir is refused with a message.
  Process again(
      {MeridianBinary(), "restore", "--from", server.data_dir() + "/snapshots/" + taken[0].name,
       "--data-dir", dir.path() + "/restored0"},
      dir.path() + "/again.log");
  int ws = again.Wait(std::chrono::seconds(30));
  EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 1) << again.Log();
  EXPECT_NE(again.Log().find("exists and is not empty"), std::string::npos) << again.Log();
}

TEST(MaintenanceTest, SnapshotApiErrorsAsPrometheus) {
  Meridian off;
  ASSERT_TRUE(off.WaitReady()) << off.process().Log();
  auto c = off.Client();
  auto r = c->Post("/api/v1/admin/tsdb/snapshot", "", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body,
            R"({"status":"error","errorType":"unavailable","error":"admin APIs disabled"})");
  EXPECT_FALSE(fs::exists(off.data_dir() + "/snapshots"));
  // PUT is Prometheus's other method for it.
  r = c->Put("/api/v1/admin/tsdb/snapshot", "", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;

  Meridian on("", {"--enable-admin-api", "true"});
  ASSERT_TRUE(on.WaitReady()) << on.process().Log();
  c = on.Client();
  r = c->Post("/api/v1/admin/tsdb/snapshot?skip_head=maybe", "",
              "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body,
            R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"skip_head\": )"
            R"(unable to parse boolean: strconv.ParseBool: parsing \"maybe\": invalid syntax"})");
  r = c->Put("/api/v1/admin/tsdb/snapshot", "", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->body.find(R"({"status":"success","data":{"name":")"), std::string::npos) << r->body;
}

// Flips bytes in the first data block of the chunks-family SST file that
// starts with series id `series_id`. The server must be stopped.
void CorruptFirstDataBlock(const std::string& dir, uint64_t series_id) {
  std::string path;
  {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{rocksdb::kDefaultColumnFamilyName, {}},
                                                        {"chunks", {}},
                                                        {"wal", {}},
                                                        {"downsampled", {}},
                                                        {"index", {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir, cfs, &handles, &db);
    ASSERT_TRUE(s.ok()) << s.ToString();
    std::vector<rocksdb::LiveFileMetaData> files;
    db->GetLiveFilesMetaData(&files);
    for (const auto& f : files) {
      if (f.column_family_name != "chunks" || f.smallestkey.size() != 16) continue;
      uint64_t id = 0;
      for (int i = 0; i < 8; ++i) id = id << 8 | static_cast<unsigned char>(f.smallestkey[i]);
      if (id == series_id) path = f.db_path + f.name;
    }
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  ASSERT_FALSE(path.empty());
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  char buf[16];
  ASSERT_EQ(::pread(fd, buf, sizeof(buf), 200), static_cast<ssize_t>(sizeof(buf)));
  for (char& ch : buf) ch = static_cast<char>(~ch);
  ASSERT_EQ(::pwrite(fd, buf, sizeof(buf), 200), static_cast<ssize_t>(sizeof(buf)));
  ::close(fd);
}

// A corrupt data block: queries touching it answer 200 with the other
// series and a warning naming the damaged one; no body carries a path; the
// corruption counter rises; writes keep working.
TEST(MaintenanceTest, CorruptBlockGivesPartialResultWithWarning) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  const int64_t base = (NowMs() / 1000 - 48 * 3600) * 1000;
  {
    Meridian server(data);
    ASSERT_TRUE(server.WaitReady()) << server.process().Log();
    auto c = server.Client();
    // Series 1 ("bad") first: 40 h of random values, several 32 KiB blocks.
    std::mt19937_64 rng(1);
    std::uniform_real_distribution<double> d(0, 1);
    prometheus::WriteRequest req;
    std::vector<std::pair<int64_t, double>> bad;
    for (int i = 0; i < 9600; ++i) bad.push_back({base + i * 15'000, d(rng)});
    AddSeries(&req, {{"__name__", "bad"}}, bad);
    auto r = PostWrite(*c, EncodeWriteRequest(req));
    ASSERT_TRUE(r && r->status == 204);
    req.Clear();
    for (int s = 0; s < 10; ++s) {
      std::vector<std::pair<int64_t, double>> v;
      for (int i = 0; i < 960; ++i) v.push_back({base + i * 15'000, d(rng)});
      AddSeries(&req, {{"__name__", "good"}, {"i", std::to_string(s)}}, v);
    }
    r = PostWrite(*c, EncodeWriteRequest(req));
    ASSERT_TRUE(r && r->status == 204);
    r = c->Post("/internal/force_flush", "", "text/plain");
    ASSERT_TRUE(r && r->status == 200);
    StopGracefully(server);
  }
  CorruptFirstDataBlock(data, 1);
  // Backfill on: the out-of-order write below goes 40 h back.
  Meridian server(data, {"--allow-backfill", "true"});
  ASSERT_TRUE(server.WaitReady()) << server.process().Log();
  auto c = server.Client();
  const std::string at = std::to_string((base + 9599 * 15'000) / 1000);
  for (const std::string& path :
       {"/api/v1/query?query=" + UrlEncode("count_over_time({__name__=~\"bad|good\"}[3d])") +
            "&time=" + at,
        "/api/v1/query_range?query=" + UrlEncode("{__name__=~\"bad|good\"}") +
            "&start=" + std::to_string(base / 1000) + "&end=" + at + "&step=3600",
        "/api/v1/series?match[]=" + UrlEncode("{__name__=~\"bad|good\"}")}) {
    SCOPED_TRACE(path);
    auto r = c->Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body.substr(0, 500);
    EXPECT_EQ(r->body.find(dir.path()), std::string::npos) << r->body.substr(0, 500);
    EXPECT_EQ(r->body.find(".sst"), std::string::npos);
    nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
    ASSERT_EQ(j["status"], "success");
    ASSERT_EQ(j["warnings"],
              nlohmann::json::array(
                  {"series bad{} skipped: its stored data is corrupt (partial result)"}));
    const auto& result = j["data"].is_array() ? j["data"] : j["data"]["result"];
    ASSERT_EQ(result.size(), 10u);
    for (const auto& s : result) {
      const auto& m = s.contains("metric") ? s["metric"] : s;
      EXPECT_TRUE(m.contains("i")) << m.dump();  // a "good" series (functions drop the name)
    }
  }
  // A query not touching the damaged series has no warning.
  auto j =
      GetJson(*c, "/api/v1/query?query=" + UrlEncode("count_over_time(good[3d])") + "&time=" + at);
  EXPECT_FALSE(j.contains("warnings")) << j.dump();
  EXPECT_EQ(j["data"]["result"].size(), 10u);
  EXPECT_EQ(j["data"]["result"][0]["value"][1], "960");
  auto metrics = c->Get("/metrics");
  ASSERT_TRUE(metrics);
  const std::string needle = "\nmeridian_storage_corruptions_total ";
  size_t pos = metrics->body.find(needle);
  ASSERT_NE(pos, std::string::npos);
  EXPECT_GE(std::stod(metrics->body.substr(pos + needle.size())), 3.0);
  // Writes keep working.
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "after"}}, {{NowMs(), 1}});
  auto r = PostWrite(*c, EncodeWriteRequest(req));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);

  // An out-of-order write into the damaged range of "bad": its duplicate
  // check meets the corrupt block. 204 (the samples count as new), not a
  // 500 that Prometheus would retry forever, stalling its shard; the retry
  // of the same request is 204 too, and the corruption is counted.
  auto corruptions = [&] {
    auto m = c->Get("/metrics");
    size_t p = m ? m->body.find(needle) : std::string::npos;
    return p == std::string::npos ? -1.0 : std::stod(m->body.substr(p + needle.size()));
  };
  const double before = corruptions();
  req.Clear();
  AddSeries(&req, {{"__name__", "bad"}},
            {{base + 5 * 15'000 + 1, 0.5}, {base + 6 * 15'000 + 1, 0.25}});
  AddSeries(&req, {{"__name__", "good"}, {"i", "0"}}, {{base + 3 * 15'000 + 1, 7}});
  for (int attempt = 0; attempt < 2; ++attempt) {
    r = PostWrite(*c, EncodeWriteRequest(req));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 204) << "attempt " << attempt << ": " << r->body;
    EXPECT_EQ(r->body.find(".sst"), std::string::npos);
  }
  EXPECT_GT(corruptions(), before);
  j = GetJson(
      *c, "/api/v1/query?query=" + UrlEncode("count_over_time(good{i=\"0\"}[3d])") + "&time=" + at);
  ASSERT_EQ(j["data"]["result"].size(), 1u) << j.dump();
  EXPECT_EQ(j["data"]["result"][0]["value"][1], "961");
}

// A data dir of a newer format is refused at start with what to do.
TEST(MaintenanceTest, RefusesDataDirOfNewerFormat) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  {
    Meridian server(data);
    ASSERT_TRUE(server.WaitReady()) << server.process().Log();
    StopGracefully(server);
  }
  {
    std::ofstream f(data + "/FORMAT", std::ios::trunc);
    f << "meridian storage format 7\n";
  }
  Process p(
      {MeridianBinary(), "--listen", "127.0.0.1:" + std::to_string(FreePort()), "--data-dir", data},
      dir.path() + "/refused.log");
  int ws = p.Wait(std::chrono::seconds(30));
  ASSERT_TRUE(WIFEXITED(ws)) << p.Log();
  EXPECT_NE(WEXITSTATUS(ws), 0);
  EXPECT_NE(p.Log().find("storage format version 7, newer than this meridian reads (4): run the "
                         "meridian release that wrote it"),
            std::string::npos)
      << p.Log();
}

}  // namespace
}  // namespace meridian::testing
