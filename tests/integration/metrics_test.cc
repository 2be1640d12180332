// meridian's own /metrics: Debian's `promtool check metrics` accepts it (the
// exposition format and Prometheus's naming conventions), the families an
// operator's dashboard needs exist from the start, every non-2xx remote-write
// is counted under a reason, and meridian_storage_disk_bytes agrees with a
// walk of the data dir as `du` counts it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kPromtool[] = "/usr/bin/promtool";

std::string Scrape(httplib::Client& c) {
  auto r = c.Get("/metrics");
  EXPECT_TRUE(r);
  return r ? r->body : "";
}

// The value of the sample line `series` (name and labels exactly as
// rendered), or -1 when absent.
double Value(const std::string& text, const std::string& series) {
  size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
    at += series.size();
  }
  return -1;
}

// Sum of every sample of the family `name` (any labels).
double Sum(const std::string& text, const std::string& name) {
  double sum = 0;
  std::regex line("^" + name + R"((\{[^}]*\})? (\S+)$)");
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_match(l, m, line)) sum += std::stod(m[2].str());
  }
  return sum;
}

// Runs promtool check metrics on `text`; returns its exit status and output.
int Promtool(const std::string& text, std::string* output) {
  TempDir dir;
  const std::string in = dir.path() + "/metrics.txt", out = dir.path() + "/out.txt";
  std::ofstream(in) << text;
  int rc = std::system(
      (std::string(kPromtool) + " check metrics < " + in + " > " + out + " 2>&1").c_str());
  std::ifstream f(out);
  output->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(MetricsTest, PromtoolAcceptsMetricsAndEveryFamilyIsThereFromTheStart) {
  if (access(kPromtool, X_OK) != 0) {
    GTEST_SKIP()
        << "SKIP: " << kPromtool
        << " not installed; scripts/install-deps.sh installs the Debian prometheus package";
  }
  Meridian m;
  ASSERT_TRUE(m.WaitReady()) << m.process().Log();
  auto c = m.Client();
  const std::string fresh = Scrape(*c);
  // Present before anything happened, at 0 (rate() needs the first 0).
  for (
      const char* series :
      {R"(meridian_ingest_samples_total{tenant="default-tenant"})",
       R"(meridian_ingest_series_created_total{tenant="default-tenant"})",
       R"(meridian_ingest_samples_rejected_total{reason="too_old",tenant="default-tenant"})",
       R"(meridian_ingest_requests_rejected_total{reason="unsupported_media_type",tenant=""})",
       R"(meridian_ingest_requests_rejected_total{reason="invalid_request",tenant="default-tenant"})",
       R"(meridian_ingest_requests_rejected_total{reason="method_not_allowed",tenant=""})",
       R"(meridian_query_rejected_total{lane="dashboard",reason="queue_timeout"})",
       R"(meridian_checkpoints_total)", R"(meridian_checkpoint_failures_total)",
       R"(meridian_storage_series_evicted_total)", R"(meridian_storage_series_readmitted_total)",
       R"(meridian_rocksdb_write_stalls_total{family="chunks",kind="stop"})",
       R"(meridian_query_queue_duration_seconds_count{lane="dashboard"})"}) {
    EXPECT_EQ(Value(fresh, series), 0) << series << " missing or not 0 at start";
  }
  EXPECT_TRUE(std::regex_search(
      fresh, std::regex(R"(\nmeridian_build_info\{compiler="[^"]+",version="[^"]+"\} 1\n)")))
      << "meridian_build_info";

  // Traffic: a good write, one with a bad sample, a gzip body (415 before the
  // handler), a GET (405), garbage (400), an invalid tenant (400), queries.
  const int64_t t = NowMs();
  prometheus::WriteRequest good;
  for (int i = 0; i < 20; ++i) {
    AddSeries(&good, {{"__name__", "m_metric"}, {"i", std::to_string(i)}}, {{t - 1000, 1}, {t, 2}});
  }
  auto r = PostWrite(*c, EncodeWriteRequest(good));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
  prometheus::WriteRequest future;
  AddSeries(&future, {{"__name__", "m_metric"}, {"i", "0"}}, {{t + 3600'000, 3}});
  r = PostWrite(*c, EncodeWriteRequest(future));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = c->Post("/api/v1/write", {{"Content-Encoding", "gzip"}}, EncodeWriteRequest(good),
              "application/x-protobuf");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  auto g = c->Get("/api/v1/write");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, 405);
  r = PostWrite(*c, "not snappy at all");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = PostWrite(*c, EncodeWriteRequest(good), "application/x-protobuf",
                {{"X-Scope-OrgID", "../x"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  for (const char* q : {"/api/v1/query?query=sum(m_metric)",
                        "/api/v1/query_range?query=rate(m_metric[1m])&start=1&end=100&step=10"}) {
    auto qr = c->Get(q);
    ASSERT_TRUE(qr);
    EXPECT_EQ(qr->status, 200) << qr->body;
  }

  const std::string text = Scrape(*c);
  std::string out;
  EXPECT_EQ(Promtool(text, &out), 0) << out;
  EXPECT_EQ(out, "") << "promtool check metrics found problems";

  EXPECT_EQ(Value(text, R"(meridian_ingest_samples_total{tenant="default-tenant"})"), 40);
  EXPECT_EQ(Value(text, R"(meridian_ingest_series_created_total{tenant="default-tenant"})"), 20);
  EXPECT_EQ(
      Value(
          text,
          R"(meridian_ingest_samples_rejected_total{reason="too_far_in_future",tenant="default-tenant"})"),
      1);
  // Each non-2xx write counted once, under its reason.
  EXPECT_EQ(Sum(text, "meridian_ingest_requests_rejected_total"), 5) << text;
  EXPECT_EQ(
      Value(
          text,
          R"(meridian_ingest_requests_rejected_total{reason="invalid_samples",tenant="default-tenant"})"),
      1);
  EXPECT_EQ(
      Value(
          text,
          R"(meridian_ingest_requests_rejected_total{reason="unsupported_media_type",tenant="default-tenant"})"),
      1);
  EXPECT_EQ(
      Value(
          text,
          R"(meridian_ingest_requests_rejected_total{reason="method_not_allowed",tenant="default-tenant"})"),
      1);
  EXPECT_EQ(
      Value(
          text,
          R"(meridian_ingest_requests_rejected_total{reason="invalid_request",tenant="default-tenant"})"),
      1);
  EXPECT_EQ(
      Value(text, R"(meridian_ingest_requests_rejected_total{reason="invalid_tenant",tenant=""})"),
      1);
  EXPECT_EQ(text.find("../x"), std::string::npos) << "a refused tenant ID became a label value";
  // Series per tenant, queries, process.
  EXPECT_EQ(Value(text, R"(meridian_tenant_series{tenant="default-tenant"})"), 20);
  EXPECT_EQ(Value(text, R"(meridian_tenant_active_series{tenant="default-tenant"})"), 20);
  EXPECT_EQ(Value(text, R"(meridian_query_queue_duration_seconds_count{lane="dashboard"})"), 2);
  EXPECT_EQ(Value(text, R"(meridian_query_loaded_samples_count{lane="dashboard"})"), 2);
  EXPECT_GE(Value(text, R"(meridian_query_loaded_samples_sum{lane="dashboard"})"), 20);
  EXPECT_EQ(Value(text, R"(meridian_query_slots{lane="dashboard"})"), 20);
  EXPECT_GT(Value(text, "process_resident_memory_bytes"), 1e6);
  EXPECT_GT(Value(text, "process_open_fds"), 3);
  EXPECT_GT(Value(text, "process_max_fds"), Value(text, "process_open_fds"));
  EXPECT_GE(Value(text, "process_cpu_seconds_total"), 0);
  const double start = Value(text, "process_start_time_seconds");
  EXPECT_NEAR(start, static_cast<double>(t) / 1000, 120);
  EXPECT_GT(Value(text, "process_virtual_memory_bytes"),
            Value(text, "process_resident_memory_bytes"));
  EXPECT_GT(Value(text, R"(meridian_rocksdb_block_cache_capacity_bytes)"), 0);
  EXPECT_GT(Value(text, R"(meridian_rocksdb_memtable_bytes{family="wal"})"), 0);
  EXPECT_GT(Value(text, "meridian_wal_written_bytes_total"), 0);
  // Synced WAL writes (--sync-wal, the default): each carries one or more
  // appends, and takes time.
  EXPECT_GE(Value(text, "meridian_wal_syncs_total"), 1);
  EXPECT_GE(Value(text, "meridian_wal_synced_appends_total"),
            Value(text, "meridian_wal_syncs_total"));
  EXPECT_GT(Value(text, "meridian_wal_sync_seconds_total"), 0);

  // A checkpoint (force_flush runs one) is counted and timed.
  auto f = c->Post("/internal/force_flush", "", "text/plain");
  ASSERT_TRUE(f);
  ASSERT_EQ(f->status, 200);
  const std::string after = Scrape(*c);
  EXPECT_GE(Value(after, "meridian_checkpoints_total"), 1);
  EXPECT_NEAR(Value(after, "meridian_checkpoint_last_success_timestamp_seconds"),
              static_cast<double>(NowMs()) / 1000, 60);
  EXPECT_GT(Value(after, R"(meridian_rocksdb_sst_bytes{family="chunks"})"), 0);
  EXPECT_EQ(Value(after, "meridian_wal_pending_bytes"), 0);
  EXPECT_EQ(Promtool(after, &out), 0) << out;
}

// Series leaving the head (idle) and coming back are counted on /metrics.
TEST(MetricsTest, EvictedAndReadmittedSeriesAreCounted) {
  if (access(kPromtool, X_OK) != 0) {
    GTEST_SKIP() << "SKIP: " << kPromtool << " not installed";
  }
  Meridian m("", {"--head-idle-timeout", "1m"});
  ASSERT_TRUE(m.WaitReady()) << m.process().Log();
  auto c = m.Client();
  const int64_t t = NowMs();
  prometheus::WriteRequest req;
  // Idle: its newest sample 10 minutes behind the tenant's newest.
  AddSeries(&req, {{"__name__", "idle_metric"}}, {{t - 600'000, 1}});
  AddSeries(&req, {{"__name__", "busy_metric"}}, {{t, 1}});
  auto r = PostWrite(*c, EncodeWriteRequest(req));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
  auto f = c->Post("/internal/force_flush", "", "text/plain");  // a checkpoint, then eviction
  ASSERT_TRUE(f);
  ASSERT_EQ(f->status, 200);
  std::string text = Scrape(*c);
  EXPECT_EQ(Value(text, "meridian_storage_series_evicted_total"), 1);
  EXPECT_EQ(Value(text, "meridian_storage_series_readmitted_total"), 0);
  EXPECT_EQ(Value(text, R"(meridian_tenant_series{tenant="default-tenant"})"), 1);
  prometheus::WriteRequest back;
  AddSeries(&back, {{"__name__", "idle_metric"}}, {{t + 1000, 2}});
  r = PostWrite(*c, EncodeWriteRequest(back));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 204) << r->body;
  text = Scrape(*c);
  EXPECT_EQ(Value(text, "meridian_storage_series_readmitted_total"), 1);
  EXPECT_EQ(Value(text, R"(meridian_ingest_series_created_total{tenant="default-tenant"})"), 2);
  std::string out;
  EXPECT_EQ(Promtool(text, &out), 0) << out;
  EXPECT_EQ(out, "") << "promtool check metrics found problems";
}

// Bytes of every file below `dir` as `du -s --block-size=1` counts them:
// allocated blocks, hard links once.
uint64_t DuBytes(const std::string& dir) {
  uint64_t bytes = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  struct stat sb;
  if (lstat(dir.c_str(), &sb) == 0) bytes += static_cast<uint64_t>(sb.st_blocks) * 512;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (lstat(e.path().c_str(), &sb) != 0) continue;
    if (!seen.insert({sb.st_dev, sb.st_ino}).second) continue;
    bytes += static_cast<uint64_t>(sb.st_blocks) * 512;
  }
  return bytes;
}

// meridian_storage_disk_bytes said 2 MB of a 41 MB data dir: it summed the
// apparent sizes of the top-level files, missing RocksDB's preallocated log
// and MANIFEST blocks and the snapshots/ subdirectory.
TEST(MetricsTest, DiskBytesAgreeWithDuOfTheDataDir) {
  TempDir dir;
  Meridian m(dir.path() + "/data", {"--enable-admin-api", "true"});
  ASSERT_TRUE(m.WaitReady()) << m.process().Log();
  auto c = m.Client();
  const int64_t t = NowMs() - 600'000;
  for (int batch = 0; batch < 20; ++batch) {
    prometheus::WriteRequest req;
    for (int i = 0; i < 200; ++i) {
      std::vector<std::pair<int64_t, double>> samples;
      for (int k = 0; k < 30; ++k) samples.emplace_back(t + (batch * 30 + k) * 1000, (i * k) % 97);
      AddSeries(&req, {{"__name__", "disk_metric"}, {"series", std::to_string(i)}}, samples);
    }
    auto r = PostWrite(*c, EncodeWriteRequest(req));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 204) << r->body;
  }
  auto f = c->Post("/internal/force_flush", "", "text/plain");
  ASSERT_TRUE(f);
  ASSERT_EQ(f->status, 200);
  auto s = c->Post("/api/v1/admin/tsdb/snapshot", "", "text/plain");
  ASSERT_TRUE(s);
  ASSERT_EQ(s->status, 200) << s->body;
  for (int attempt = 0;; ++attempt) {
    const double reported = Value(Scrape(*c), "meridian_storage_disk_bytes");
    const double walked = static_cast<double>(DuBytes(m.data_dir()));
    ASSERT_GT(walked, 1e6);
    // Background flushes may change the dir between the two reads: retry.
    if (std::abs(reported - walked) <= 0.03 * walked || attempt == 5) {
      EXPECT_NEAR(reported, walked, 0.03 * walked) << "meridian_storage_disk_bytes vs du";
      break;
    }
    usleep(200'000);
  }
}

}  // namespace
}  // namespace meridian::testing
