// Series that leave the in-memory head when idle and are served from the
// on-disk index (storage/disk_index.h): queries across the active/inactive
// boundary, re-admission under the old id, restart loading only the active
// series, retention and the compactor's reads of inactive series, a SIGKILL
// while series are evicted, the migration of a format-2 and a format-3 data
// dir, and the index family's layout (one postings list per label pair).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/write_batch.h"
#include "storage/compaction.h"
#include "storage/disk_index.h"
#include "storage/format.h"
#include "storage/rocks_storage.h"
#include "storage/storage.h"
#include "storage/test_util.h"

namespace meridian {
namespace {

using storage_testing::Eq;
using storage_testing::M;
using storage_testing::Re;
using storage_testing::Result;
using storage_testing::TempDir;

constexpr int64_t kHour = 3'600'000;

// "t=v" per sample, comparable and printable.
std::vector<std::string> S(const std::vector<Sample>& v) {
  std::vector<std::string> out;
  for (const Sample& s : v) out.push_back(std::to_string(s.t_ms) + "=" + std::to_string(s.v));
  return out;
}
constexpr int64_t kDay = 24 * kHour;
// Mid-day, 20 days after the epoch.
constexpr int64_t kT = 20 * kDay + 6 * kHour;

// Runs this binary's test `filter` in a fresh process (RocksDB's thread pools
// do not survive a fork) with ENV_DIR=`dir` and ENV_FD= the write end of a
// pipe on which the child reports its acknowledged counts; SIGKILLs it a
// random moment (below `max_delay_us`) after it reported `target`.
struct ChildRun {
  int acked = -1;       // the last count the child reported
  bool killed = false;  // false: it exited by itself (`exit_code`)
  int exit_code = 0;
};
ChildRun RunChildAndKill(const std::string& env, const std::string& dir, const std::string& filter,
                         int target, int max_delay_us, std::mt19937& rng) {
  ChildRun run;
  int fds[2];
  if (pipe(fds) != 0) return run;
  pid_t pid = fork();
  if (pid < 0) return run;
  if (pid == 0) {
    close(fds[0]);
    setenv((env + "_DIR").c_str(), dir.c_str(), 1);
    setenv((env + "_FD").c_str(), std::to_string(fds[1]).c_str(), 1);
    execl("/proc/self/exe", "storage_test", ("--gtest_filter=" + filter).c_str(), nullptr);
    _exit(5);
  }
  close(fds[1]);
  int w;
  while (run.acked < target && read(fds[0], &w, sizeof w) == sizeof w) run.acked = w;
  usleep(rng() % max_delay_us);
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  while (read(fds[0], &w, sizeof w) == sizeof w) run.acked = w;
  close(fds[0]);
  run.killed = WIFSIGNALED(status);
  if (!run.killed) run.exit_code = WEXITSTATUS(status);
  return run;
}

class HeadEvictionTest : public ::testing::Test {
 protected:
  StorageOptions Options() {
    StorageOptions o;
    o.dir = dir_.path() + "/data";
    o.sync_wal = false;
    o.now_ms = [this] { return now_ms_.load(); };
    o.allow_backfill = true;
    o.head_idle_timeout_ms = kHour;
    return o;
  }
  void Open(StorageOptions o) {
    st_.reset();
    auto s = Storage::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    st_ = std::move(*s);
  }
  void Open() { Open(Options()); }

  AppendResult Append(std::vector<LabelView> labels, std::vector<Sample> samples,
                      std::string_view tenant = "t") {
    AppendBatch b;
    b.series.push_back({labels, samples});
    AppendResult r;
    absl::Status s = st_->Append(tenant, b, &r);
    EXPECT_TRUE(s.ok()) << s;
    return r;
  }

  std::vector<Result> Select(std::vector<Matcher> ms, int64_t start, int64_t end,
                             std::string_view tenant = "t") {
    auto q = st_->ForTenant(tenant)->NewQuerier(start, end);
    EXPECT_TRUE(q.ok());
    auto set = (*q)->Select(ms, {.start_ms = start, .end_ms = end, .sorted = true});
    EXPECT_TRUE(set.ok()) << set.status();
    std::vector<Result> out;
    if (!set.ok()) return out;
    while ((*set)->Next()) {
      Result r{(*set)->labels(), {}};
      EXPECT_TRUE((*set)->Samples(&r.samples).ok());
      out.push_back(std::move(r));
    }
    EXPECT_TRUE((*set)->status().ok()) << (*set)->status();
    return out;
  }

  std::vector<std::string> LabelValues(const std::string& name, std::vector<Matcher> ms,
                                       int64_t start, int64_t end) {
    auto q = st_->ForTenant("t")->NewQuerier(start, end);
    auto v = (*q)->LabelValues(name, ms);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : std::vector<std::string>{};
  }
  std::vector<std::string> LabelNames(std::vector<Matcher> ms, int64_t start, int64_t end) {
    auto q = st_->ForTenant("t")->NewQuerier(start, end);
    auto v = (*q)->LabelNames(ms);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : std::vector<std::string>{};
  }

  // Series of tenant "t" in the head.
  uint64_t HeadSeries() {
    for (const TenantSeriesStats& t : st_->Stats().tenants) {
      if (t.tenant == "t") return t.series;
    }
    return 0;
  }

  // An old series ({job="old"}, two samples at kT) and a recent one
  // ({job="new"}, three hours later); after the checkpoint the old one has
  // been idle for more than the timeout (1 h).
  void WriteOldAndNew() {
    Append({{"__name__", "m"}, {"job", "old"}}, {{kT, 1}, {kT + 60'000, 2}});
    Append({{"__name__", "m"}, {"job", "new"}}, {{kT + 3 * kHour, 3}});
    ASSERT_TRUE(st_->Flush().ok());
  }

  TempDir dir_;
  std::atomic<int64_t> now_ms_{kT + 4 * kHour};
  std::unique_ptr<Storage> st_;
};

TEST_F(HeadEvictionTest, QueriesAcrossTheActiveInactiveBoundary) {
  Open();
  WriteOldAndNew();
  EXPECT_EQ(HeadSeries(), 1u);  // the old series left the head
  EXPECT_EQ(st_->Stats().series_evicted, 1u);
  EXPECT_EQ(st_->Cardinality("t", 10).num_series, 1u);  // the head, as Prometheus's

  std::vector<Result> all = Select({Re("__name__", "m")}, 0, kT + 5 * kHour);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].labels.Get("job"), "new");
  EXPECT_EQ(all[1].labels.Get("job"), "old");
  EXPECT_EQ(S(all[1].samples), S({{kT, 1}, {kT + 60'000, 2}}));
  EXPECT_EQ(S(all[0].samples), S({{kT + 3 * kHour, 3}}));
  // Only the old range: only the old series.
  std::vector<Result> old = Select({Eq("__name__", "m")}, kT - kHour, kT + kHour);
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].labels.Get("job"), "old");
  // Matchers on the inactive series: equality, regex, negative.
  EXPECT_EQ(Select({Eq("job", "old")}, 0, kT + 5 * kHour).size(), 1u);
  EXPECT_EQ(Select({Re("job", "o.*")}, 0, kT + 5 * kHour).size(), 1u);
  std::vector<Result> not_new =
      Select({Eq("__name__", "m"), M(MatchType::kNotEqual, "job", "new")}, 0, kT + 5 * kHour);
  ASSERT_EQ(not_new.size(), 1u);
  EXPECT_EQ(not_new[0].labels.Get("job"), "old");
  // Label endpoints.
  EXPECT_EQ(LabelValues("job", {}, 0, kT + 5 * kHour), (std::vector<std::string>{"new", "old"}));
  EXPECT_EQ(LabelValues("job", {Eq("__name__", "m")}, 0, kT + 5 * kHour),
            (std::vector<std::string>{"new", "old"}));
  EXPECT_EQ(LabelNames({Eq("job", "old")}, 0, kT + 5 * kHour),
            (std::vector<std::string>{"__name__", "job"}));
  // A range on another day has neither.
  EXPECT_TRUE(Select({Eq("__name__", "m")}, kT + 2 * kDay, kT + 3 * kDay).empty());
  EXPECT_TRUE(LabelValues("job", {}, kT + 2 * kDay, kT + 3 * kDay).empty());
}

TEST_F(HeadEvictionTest, ReadmittedSeriesKeepsItsIdAndData) {
  Open();
  WriteOldAndNew();
  ASSERT_EQ(HeadSeries(), 1u);
  // It comes back: not a new series.
  AppendResult r = Append({{"__name__", "m"}, {"job", "old"}}, {{kT + 3 * kHour + 60'000, 4}});
  EXPECT_EQ(r.series_created, 0u);
  EXPECT_EQ(r.samples_appended, 1u);
  EXPECT_EQ(HeadSeries(), 2u);
  EXPECT_EQ(st_->Stats().series_readmitted, 1u);
  // Its persisted samples are known: a retry is a duplicate, another value
  // at a stored timestamp a conflict.
  r = Append({{"__name__", "m"}, {"job", "old"}}, {{kT, 1}});
  EXPECT_EQ(r.samples_duplicate, 1u);
  r = Append({{"__name__", "m"}, {"job", "old"}}, {{kT + 60'000, 99}});
  EXPECT_EQ(r.samples_rejected, 1u);
  std::vector<Result> old = Select({Eq("job", "old")}, 0, kT + 5 * kHour);
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(S(old[0].samples), S({{kT, 1}, {kT + 60'000, 2}, {kT + 3 * kHour + 60'000, 4}}));
  // And after a restart still one series with all its samples.
  ASSERT_TRUE(st_->Flush().ok());
  Open();
  old = Select({Eq("job", "old")}, 0, kT + 5 * kHour);
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].samples.size(), 3u);
}

TEST_F(HeadEvictionTest, RestartLoadsOnlyActiveSeries) {
  Open();
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) ids.push_back(std::to_string(i));
  for (int i = 0; i < 50; ++i) {
    Append({{"__name__", "old"}, {"i", ids[i]}}, {{kT + i, static_cast<double>(i)}});
  }
  Append({{"__name__", "new"}}, {{kT + 3 * kHour, 1}});
  ASSERT_TRUE(st_->Flush().ok());
  ASSERT_EQ(HeadSeries(), 1u);
  Open();
  EXPECT_EQ(HeadSeries(), 0u);  // none: each comes back with its first append
  EXPECT_EQ(Select({Eq("__name__", "old")}, 0, kT + 5 * kHour).size(), 50u);
  EXPECT_EQ(LabelValues("i", {}, 0, kT + 5 * kHour).size(), 50u);
  // Their samples only in the WAL (never checkpointed) come back too.
  Append({{"__name__", "wal_only"}}, {{kT + 10, 1}});
  Open();  // no Flush: replayed from the WAL
  EXPECT_EQ(Select({Eq("__name__", "wal_only")}, 0, kT + 5 * kHour).size(), 1u);
  // Re-admission after the restart keeps the id.
  EXPECT_EQ(Append({{"__name__", "old"}, {"i", "7"}}, {{kT + 3 * kHour + 1, 1}}).series_created,
            0u);
  EXPECT_EQ(Select({Eq("__name__", "old"), Eq("i", "7")}, 0, kT + 5 * kHour)[0].samples.size(), 2u);
  // A new label set still gets a new series.
  EXPECT_EQ(Append({{"__name__", "old"}, {"i", "x"}}, {{kT + 3 * kHour + 1, 1}}).series_created,
            1u);
}

// After a restart the head is empty: queries answer every series from the
// index family, and the first append of a series admits it under its id
// with its persisted span (duplicates and conflicts against its stored
// samples are recognized).
TEST_F(HeadEvictionTest, RestartAdmitsSeriesOnTheirFirstAppend) {
  Open();
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(std::to_string(i));
  for (int i = 0; i < 20; ++i) {
    Append({{"__name__", "a"}, {"i", ids[i]}},
           {{kT + 3 * kHour, static_cast<double>(i)}, {kT + 3 * kHour + 60'000, i + 0.5}});
  }
  ASSERT_TRUE(st_->Flush().ok());
  ASSERT_EQ(HeadSeries(), 20u);
  Open();
  EXPECT_EQ(HeadSeries(), 0u);  // nothing loaded at open
  std::vector<Result> all = Select({Eq("__name__", "a")}, kT + 3 * kHour, kT + 4 * kHour);
  ASSERT_EQ(all.size(), 20u);
  for (const Result& r : all) EXPECT_EQ(r.samples.size(), 2u) << r.labels.ToString();
  EXPECT_EQ(LabelValues("i", {Eq("__name__", "a")}, kT + 3 * kHour, kT + 4 * kHour).size(), 20u);
  const std::vector<LabelView> seven = {{"__name__", "a"}, {"i", "7"}};
  AppendResult r = Append(seven, {{kT + 3 * kHour + 120'000, 9}});
  EXPECT_EQ(r.series_created, 0u);
  EXPECT_EQ(r.samples_appended, 1u);
  EXPECT_EQ(HeadSeries(), 1u);
  EXPECT_EQ(st_->Stats().series_readmitted, 1u);
  r = Append(seven, {{kT + 3 * kHour, 7}});
  EXPECT_EQ(r.samples_duplicate, 1u);
  r = Append(seven, {{kT + 3 * kHour + 60'000, 99}});
  EXPECT_EQ(r.samples_rejected, 1u);
  std::vector<Result> one = Select({Eq("i", "7")}, 0, kT + 5 * kHour);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(
      S(one[0].samples),
      S({{kT + 3 * kHour, 7}, {kT + 3 * kHour + 60'000, 7.5}, {kT + 3 * kHour + 120'000, 9}}));
  // Head and disk together: every series once.
  all = Select({Eq("__name__", "a")}, 0, kT + 5 * kHour);
  EXPECT_EQ(all.size(), 20u);
  // A label set never seen is still a new series.
  EXPECT_EQ(Append({{"__name__", "a"}, {"i", "new"}}, {{kT + 3 * kHour, 1}}).series_created, 1u);
}

// The child of SigkillAfterRestartLosesNoAdmittedSample: opens a data dir
// whose 40 series are all on disk only, and appends a sample to each of them
// per round (admitting them with the first), acknowledging each round on a
// pipe, with a checkpoint every third round, until killed.
TEST_F(HeadEvictionTest, ChildAppendsAfterRestartUntilKilled) {
  const char* dir = getenv("MERIDIAN_ADMIT_CHILD_DIR");
  const char* fd = getenv("MERIDIAN_ADMIT_CHILD_FD");
  if (dir == nullptr || fd == nullptr) {
    GTEST_SKIP() << "runs only as the child process of SigkillAfterRestartLosesNoAdmittedSample";
  }
  StorageOptions o = Options();
  o.dir = dir;
  o.sync_wal = true;
  o.now_ms = nullptr;
  const int out = std::atoi(fd);
  auto s = Storage::Open(o);
  if (!s.ok()) _exit(1);
  for (const TenantSeriesStats& t : (*s)->Stats().tenants) {
    if (t.series != 0) _exit(6);  // series loaded at open
  }
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back(std::to_string(i));
  for (int round = 1; round < 1000; ++round) {
    AppendBatch b;
    std::vector<std::vector<LabelView>> labels(names.size());
    std::vector<Sample> sample = {{kT + round * 60'000, static_cast<double>(round)}};
    for (size_t i = 0; i < names.size(); ++i) {
      labels[i] = {{"__name__", "a"}, {"i", names[i]}};
      b.series.push_back({labels[i], sample});
    }
    AppendResult r;
    if (!(*s)->Append("t", b, &r).ok() || r.samples_appended != names.size() ||
        r.series_created != 0) {
      _exit(2);
    }
    if (write(out, &round, sizeof round) != sizeof round) _exit(3);
    if (round % 3 == 0 && !(*s)->Flush().ok()) _exit(4);
  }
  _exit(0);
}

// SIGKILL at a random moment while series not loaded at open are appended
// to (admitted by their first append) and checkpointed: after the next open
// every acknowledged sample is there, each label set is still one series
// under its id.
TEST_F(HeadEvictionTest, SigkillAfterRestartLosesNoAdmittedSample) {
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 2; ++round) {
    TempDir dir;
    StorageOptions o = Options();
    o.dir = dir.path() + "/data";
    Open(o);
    for (int i = 0; i < 40; ++i) {
      const std::string n = std::to_string(i);
      Append({{"__name__", "a"}, {"i", n}}, {{kT, -1}});
    }
    ASSERT_TRUE(st_->Flush().ok());
    st_.reset();
    o.sync_wal = true;
    const ChildRun run = RunChildAndKill("MERIDIAN_ADMIT_CHILD", o.dir,
                                         "HeadEvictionTest.ChildAppendsAfterRestartUntilKilled",
                                         2 + static_cast<int>(rng() % 5), 30'000, rng);
    ASSERT_TRUE(run.killed) << "the child exited by itself: " << run.exit_code;
    const int acked = run.acked;
    ASSERT_GE(acked, 2) << "the child acknowledged too little before the kill";
    Open(o);
    std::vector<Result> all = Select({Eq("__name__", "a")}, 0, kT + kHour);
    ASSERT_EQ(all.size(), 40u);
    for (const Result& r : all) {
      std::set<int64_t> ts;
      for (const Sample& x : r.samples) ts.insert(x.t_ms);
      EXPECT_EQ(ts.size(), r.samples.size()) << r.labels.ToString();
      for (int k = 0; k <= acked; ++k) {
        EXPECT_TRUE(ts.count(kT + k * 60'000)) << r.labels.ToString() << " lost round " << k;
      }
    }
    // Still the same series: another append creates nothing.
    EXPECT_EQ(Append({{"__name__", "a"}, {"i", "0"}}, {{kT + kHour, 1}}).series_created, 0u);
    st_.reset();
  }
}

// A wave of series that leaves the head gives the head's tables their space
// back (the series cache's tables here), rather than keeping it for the next.
TEST_F(HeadEvictionTest, EvictionGivesTheHeadTablesSpaceBack) {
  Open();
  AppendBatch b;
  std::vector<std::string> ids;
  for (int i = 0; i < 20000; ++i) ids.push_back(std::to_string(i));
  std::vector<std::vector<LabelView>> labels(ids.size());
  const std::vector<Sample> sample = {{kT, 1}};
  for (size_t i = 0; i < ids.size(); ++i) {
    labels[i] = {{"__name__", "wave"}, {"i", ids[i]}};
    b.series.push_back({labels[i], sample});
  }
  AppendResult r;
  ASSERT_TRUE(st_->Append("t", b, &r).ok());
  ASSERT_EQ(r.samples_appended, ids.size());
  ASSERT_TRUE(st_->Flush().ok());
  const uint64_t full = st_->Stats().cache_bytes;
  Append({{"__name__", "new"}}, {{kT + 3 * kHour, 1}});
  ASSERT_TRUE(st_->Flush().ok());
  ASSERT_EQ(HeadSeries(), 1u);
  EXPECT_LT(st_->Stats().cache_bytes, full / 4) << full;
  EXPECT_EQ(Select({Eq("__name__", "wave")}, 0, kT + kHour).size(), ids.size());
}

// The open starts no compaction: the level-0 files the last checkpoints left
// wait until a checkpoint (or half a minute), not competing with start-up and
// the first queries and scrapes; data written meanwhile is readable.
TEST_F(HeadEvictionTest, CompactionsStartAfterTheOpen) {
  Open();
  auto* rocks = dynamic_cast<RocksStorage*>(st_.get());
  ASSERT_NE(rocks, nullptr);
  EXPECT_TRUE(rocks->compactions_deferred());
  Append({{"__name__", "m"}}, {{kT, 1}});
  ASSERT_TRUE(st_->Flush().ok());
  EXPECT_FALSE(rocks->compactions_deferred());
  Open();
  rocks = dynamic_cast<RocksStorage*>(st_.get());
  ASSERT_NE(rocks, nullptr);
  EXPECT_TRUE(rocks->compactions_deferred());
  EXPECT_EQ(Select({Eq("__name__", "m")}, 0, kT + kHour).size(), 1u);
}

TEST_F(HeadEvictionTest, RetentionDeletesInactiveSeries) {
  StorageOptions o = Options();
  o.retention_ms = 2 * kDay;
  Open(o);
  WriteOldAndNew();
  ASSERT_EQ(HeadSeries(), 1u);
  // Three days later: the old and the new series are past retention; a
  // fresh one keeps the tenant busy.
  now_ms_ = kT + 3 * kDay;
  Append({{"__name__", "fresh"}}, {{kT + 3 * kDay - 1000, 1}});
  ASSERT_TRUE(st_->Flush().ok());
  ASSERT_TRUE(st_->EnforceRetention().ok());
  EXPECT_TRUE(Select({Eq("__name__", "m")}, 0, kT + 4 * kDay).empty());
  EXPECT_TRUE(LabelValues("job", {}, 0, kT + 4 * kDay).empty());
  EXPECT_EQ(Select({Eq("__name__", "fresh")}, 0, kT + 4 * kDay).size(), 1u);
  // Its definition is gone: the same labels make a new series.
  EXPECT_EQ(Append({{"__name__", "m"}, {"job", "old"}}, {{kT + 3 * kDay, 1}}).series_created, 1u);
}

TEST_F(HeadEvictionTest, CompactorReadsInactiveSeries) {
  Open();
  WriteOldAndNew();
  ASSERT_EQ(HeadSeries(), 1u);
  CompactionAccess* c = st_->Compaction();
  std::vector<uint64_t> seen;
  ASSERT_TRUE(c->ReadRaw("t", kT - kDay, kT + kDay, [&](uint64_t id, std::span<const Sample> s) {
                 seen.push_back(id);
                 return absl::OkStatus();
               }).ok());
  EXPECT_EQ(seen.size(), 2u);
  ASSERT_FALSE(seen.empty());
  std::vector<Sample> samples;
  ASSERT_TRUE(c->ReadRawSeries("t", seen[0], kT - kDay, kT + kDay, &samples).ok());
  EXPECT_EQ(samples.size(), 2u);  // the old series, read from disk
  std::optional<int64_t> from = c->RawDataFrom("t", 0);
  ASSERT_TRUE(from.has_value());
  EXPECT_LE(*from, kT);
}

// The child of SigkillDuringEvictionLosesNothing: waves of 40 new series,
// one sample each, two hours apart in sample time, each acknowledged on the
// pipe, each followed by a checkpoint that evicts the older waves.
// One window per resolution step over `samples` (sorted; no stale markers):
// what the compactor's DownsampleRaw writes for plain gauges.
std::vector<AggregateWindow> Windows(std::span<const Sample> samples, int64_t res) {
  std::vector<AggregateWindow> out;
  for (const Sample& x : samples) {
    const int64_t w = AlignDown(x.t_ms, res);
    if (out.empty() || out.back().t_ms != w) {
      out.push_back({.t_ms = w, .min = x.v, .max = x.v, .first_t = x.t_ms, .first_v = x.v});
    }
    AggregateWindow& a = out.back();
    a.count++;
    a.sum += x.v;
    a.min = std::min(a.min, x.v);
    a.max = std::max(a.max, x.v);
    if (a.count > 1) a.counter_inc += x.v >= a.clast_v ? x.v - a.clast_v : x.v;
    a.clast_t = a.last_t = x.t_ms;
    a.clast_v = a.last_v = x.v;
  }
  return out;
}

// "resolution:t=count/sum" per run entry of a downsampled Select, per series.
std::map<std::string, std::vector<std::string>> Downsampled(Storage* st, int64_t start, int64_t end,
                                                            int64_t resolution_ms) {
  std::map<std::string, std::vector<std::string>> out;
  auto q = st->ForTenant("t")->NewQuerier(start, end);
  EXPECT_TRUE(q.ok());
  if (!q.ok()) return out;
  SelectHints h{.start_ms = start, .end_ms = end, .sorted = false};
  h.resolution_ms = resolution_ms;
  h.max_resolution_ms = kHour;
  auto set = (*q)->Select({Eq("__name__", "m")}, h);
  EXPECT_TRUE(set.ok()) << set.status();
  if (!set.ok()) return out;
  SeriesData d;
  while ((*set)->Next()) {
    EXPECT_TRUE((*set)->Data(&d).ok());
    std::vector<std::string>& v = out[std::string((*set)->labels().Get("job"))];
    for (const SeriesData::Run& r : d.runs) {
      for (size_t i = 0; i < r.end - r.begin; ++i) {
        if (r.resolution_ms == 0) {
          v.push_back("raw:" + std::to_string(d.Samples(r)[i].t_ms - kT));
        } else {
          const AggregateWindow& w = d.Windows(r)[i];
          v.push_back((r.resolution_ms == kHour ? "1h:" : "5m:") + std::to_string(w.t_ms - kT) +
                      "=" + std::to_string(w.count) + "/" + std::to_string(w.sum));
        }
      }
    }
  }
  EXPECT_TRUE((*set)->status().ok()) << (*set)->status();
  return out;
}

TEST_F(HeadEvictionTest, DownsampledReadsAnswerInactiveSeriesFromAggregates) {
  // The old series: 12 samples, one every 10 minutes over the first two
  // hours of day kT's day; the new one a day later, so the old one leaves
  // the head at the checkpoint.
  const int64_t day0 = AlignDown(kT, kDay), day1 = day0 + kDay;
  std::vector<Sample> old;
  for (int i = 0; i < 12; ++i) old.push_back({day0 + i * 600'000, double(i + 1)});
  Open();
  Append({{"__name__", "m"}, {"job", "old"}}, old);
  Append({{"__name__", "m"}, {"job", "new"}}, {{day1 + kHour, 5}});
  ASSERT_TRUE(st_->Flush().ok());
  ASSERT_EQ(HeadSeries(), 1u);  // the old one is only on disk

  // A compactor pass over day0 through the compactor's access (storage/
  // cannot link compactor/): claim, read raw, write 5m and 1h windows,
  // record progress, then delete the raw data they replace.
  CompactionAccess* c = st_->Compaction();
  ASSERT_TRUE(c->ClaimRaw("t", day1).ok());
  std::vector<SeriesAggregates> a5, a1;
  ASSERT_TRUE(c->ReadRaw("t", day0, day1, [&](uint64_t id, std::span<const Sample> s) {
                 a5.push_back({id, AlignDown(day0, kBlock5mMs), Windows(s, kRes5mMs)});
                 a1.push_back({id, AlignDown(day0, kBlock1hMs), Windows(s, kRes1hMs)});
                 return absl::OkStatus();
               }).ok());
  ASSERT_EQ(a5.size(), 1u);  // the evicted series, read from disk
  ASSERT_TRUE(c->PutAggregates("t", Resolution::k5m, a5).ok());
  ASSERT_TRUE(c->PutAggregates("t", Resolution::k1h, a1).ok());
  ASSERT_TRUE(c->SetDownsampledThrough("t", Resolution::k5m, day1).ok());
  ASSERT_TRUE(c->SetDownsampledThrough("t", Resolution::k1h, day1).ok());

  // 1h windows (sum 1..6 and 7..12) and 5m windows (one sample each), while
  // the raw data is still there and the series has its persisted span.
  const std::vector<std::string> h1 = {"1h:" + std::to_string(day0 - kT) + "=6/21.000000",
                                       "1h:" + std::to_string(day0 + kHour - kT) + "=6/57.000000"};
  auto got = Downsampled(st_.get(), day0, day1 - 1, kHour);
  EXPECT_EQ(got["old"], h1);
  EXPECT_EQ(HeadSeries(), 1u);  // reading did not bring it back
  got = Downsampled(st_.get(), day0, day1 - 1, kRes5mMs);
  ASSERT_EQ(got["old"].size(), 12u);
  EXPECT_EQ(got["old"][11], "5m:" + std::to_string(day0 + 110 * 60'000 - kT) + "=1/12.000000");

  // Raw data of day0 deleted (the compactor's raw retention): the series
  // keeps its definition and postings for its aggregates, nothing raw.
  auto del = c->DeleteBefore("t", Resolution::kRaw, day1, /*require_coarser=*/true);
  ASSERT_TRUE(del.ok()) << del.status();
  ASSERT_EQ(del->cutoff, day1);
  EXPECT_TRUE(Select({Eq("job", "old")}, day0, day1 - 1).empty());  // raw only: nothing
  got = Downsampled(st_.get(), day0, day1 + 2 * kHour, kHour);
  EXPECT_EQ(got["old"], h1);
  EXPECT_EQ(got["new"], std::vector<std::string>{"raw:" + std::to_string(day1 + kHour - kT)});

  // After a restart it is not loaded (no series is) and still answered.
  Open();
  EXPECT_EQ(HeadSeries(), 0u);
  EXPECT_EQ(Downsampled(st_.get(), day0, day1 - 1, kHour)["old"], h1);
  EXPECT_EQ(Downsampled(st_.get(), day0, day1 - 1, kRes5mMs)["old"].size(), 12u);
}

TEST_F(HeadEvictionTest, ChildWritesWavesUntilKilled) {
  const char* dir = getenv("MERIDIAN_EVICTION_CHILD_DIR");
  const char* fd = getenv("MERIDIAN_EVICTION_CHILD_FD");
  if (dir == nullptr || fd == nullptr) {
    GTEST_SKIP() << "runs only as the child process of SigkillDuringEvictionLosesNothing";
  }
  StorageOptions o = Options();
  o.dir = dir;
  o.sync_wal = true;
  o.now_ms = nullptr;
  const int out = std::atoi(fd);
  auto s = Storage::Open(o);
  if (!s.ok()) _exit(1);
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back(std::to_string(i));
  for (int wave = 0; wave < 1000; ++wave) {
    const std::string w = std::to_string(wave);
    AppendBatch b;
    std::vector<std::vector<LabelView>> labels(names.size());
    std::vector<Sample> sample = {{kT + wave * 2 * kHour, static_cast<double>(wave)}};
    for (size_t i = 0; i < names.size(); ++i) {
      labels[i] = {{"__name__", "w"}, {"i", names[i]}, {"wave", w}};
      b.series.push_back({labels[i], sample});
    }
    AppendResult r;
    if (!(*s)->Append("t", b, &r).ok() || r.samples_appended != names.size()) _exit(2);
    if (write(out, &wave, sizeof wave) != sizeof wave) _exit(3);
    if (!(*s)->Flush().ok()) _exit(4);  // checkpoint + eviction
  }
  _exit(0);
}

// SIGKILL at a random moment while waves of series are appended and
// checkpoints evict the older waves: every acknowledged sample is there
// after the restart, each label set is one series, and it is re-admitted
// under its id.
TEST_F(HeadEvictionTest, SigkillDuringEvictionLosesNothing) {
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 3; ++round) {
    TempDir dir;
    StorageOptions o = Options();
    o.dir = dir.path() + "/data";
    o.sync_wal = true;
    o.now_ms = nullptr;
    // Killed a random moment after a few waves (inside a checkpoint and its
    // eviction, or an append).
    const int acked = RunChildAndKill("MERIDIAN_EVICTION_CHILD", o.dir,
                                      "HeadEvictionTest.ChildWritesWavesUntilKilled",
                                      2 + static_cast<int>(rng() % 4), 60'000, rng)
                          .acked;
    ASSERT_GE(acked, 1) << "the child acknowledged too little before the kill";
    o.now_ms = [this] { return now_ms_.load(); };
    auto reopened = Storage::Open(o);
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    st_ = std::move(*reopened);
    EXPECT_LE(HeadSeries(), 80u) << "idle waves loaded at open";
    const int64_t end = kT + (acked + 2) * 2 * kHour;
    std::vector<Result> all = Select({Eq("__name__", "w")}, 0, end);
    std::set<std::string> label_sets;
    size_t samples = 0;
    for (const Result& r : all) {
      label_sets.insert(r.labels.ToString());
      samples += r.samples.size();
      EXPECT_EQ(r.samples.size(), 1u) << r.labels.ToString();
    }
    EXPECT_EQ(label_sets.size(), all.size());  // one series per label set
    EXPECT_GE(all.size(), static_cast<size_t>((acked + 1) * 40));
    EXPECT_EQ(samples, all.size());
    // The first wave (evicted before the kill) comes back under its id.
    AppendResult r = Append({{"__name__", "w"}, {"i", "0"}, {"wave", "0"}}, {{end, 1}});
    EXPECT_EQ(r.series_created, 0u);
    st_.reset();
  }
}

// A data dir of format 2 (no index family) gets its index built on open.
TEST_F(HeadEvictionTest, Format2DataDirIsMigrated) {
  StorageOptions o = Options();
  o.head_idle_timeout_ms = 0;  // as format 2 kept everything in memory
  Open(o);
  WriteOldAndNew();
  Append({{"__name__", "m"}, {"job", "wal"}}, {{kT + 3 * kHour + 1000, 5}});  // only in the WAL
  st_.reset();
  {
    // Make it a format-2 dir: drop the index family, rewrite FORMAT.
    rocksdb::DBOptions dbo;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(dbo, o.dir, &names).ok());
    for (const std::string& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(dbo, o.dir, cfs, &handles, &db).ok());
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      if (h->GetName() == "index") {
        ASSERT_TRUE(db->DropColumnFamily(h).ok());
      }
    }
    for (rocksdb::ColumnFamilyHandle* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
    ASSERT_TRUE(WriteFormatFile(o.dir, 2).ok());
  }
  Open();  // with eviction
  EXPECT_EQ(*ReadFormatVersion(o.dir), kStorageFormatVersion);
  ASSERT_TRUE(st_->Flush().ok());
  EXPECT_EQ(HeadSeries(), 1u);  // the WAL's series; the others are read from the index
  std::vector<Result> all = Select({Eq("__name__", "m")}, 0, kT + 5 * kHour);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(LabelValues("job", {}, 0, kT + 5 * kHour),
            (std::vector<std::string>{"new", "old", "wal"}));
  EXPECT_EQ(Append({{"__name__", "m"}, {"job", "old"}}, {{kT + 4 * kHour, 1}}).series_created, 0u);
}

// The index family of a closed data dir, read raw (with the postings merge
// operator): the keys under each prefix, and the decoded list of one key.
struct RawIndex {
  std::map<char, uint64_t> keys_by_prefix;
  std::map<std::string, Postings> lists;  // 'q' key -> ids
};
RawIndex ReadRawIndex(const std::string& dir) {
  RawIndex out;
  rocksdb::DBOptions dbo;
  std::vector<std::string> names;
  EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(dbo, dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const std::string& n : names) {
    rocksdb::ColumnFamilyOptions o;
    o.merge_operator = diskindex::NewPostingsMergeOperator();
    cfs.emplace_back(n, o);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  EXPECT_TRUE(rocksdb::DB::OpenForReadOnly(dbo, dir, cfs, &handles, &db).ok());
  if (db == nullptr) return out;
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    if (h->GetName() != "index") continue;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), h));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++out.keys_by_prefix[it->key()[0]];
      if (it->key()[0] == diskindex::kPostingPrefix) {
        Postings ids;
        EXPECT_TRUE(diskindex::DecodePostings(
            std::string_view(it->value().data(), it->value().size()), &ids));
        out.lists[it->key().ToString()] = std::move(ids);
      }
    }
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
  }
  for (rocksdb::ColumnFamilyHandle* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  return out;
}

TEST(PostingsListTest, EncodesDeltasAndUnitesLists) {
  const std::vector<uint64_t> a = {0, 5, 6, 1000, uint64_t{1} << 40};
  std::string enc;
  diskindex::EncodePostings(a.data(), a.size(), &enc);
  EXPECT_EQ(enc.size(), 1u + 1 + 1 + 2 + 6);
  Postings back;
  ASSERT_TRUE(diskindex::DecodePostings(enc, &back));
  EXPECT_EQ(back, a);
  // Not strictly increasing, or truncated: malformed.
  Postings bad;
  EXPECT_FALSE(diskindex::DecodePostings(std::string("\x05\x00", 2), &bad));
  EXPECT_FALSE(diskindex::DecodePostings(std::string("\x85", 1), &bad));
  // The merge operator unites, in order and without duplicates.
  auto op = diskindex::NewPostingsMergeOperator();
  const std::vector<uint64_t> b = {3, 5, 7}, c = {1, 1000};
  std::string eb, ec;
  diskindex::EncodePostings(b.data(), b.size(), &eb);
  diskindex::EncodePostings(c.data(), c.size(), &ec);
  rocksdb::Slice existing(enc);
  std::vector<rocksdb::Slice> operands = {eb, ec};
  rocksdb::MergeOperator::MergeOperationInput in("k", &existing, operands, nullptr);
  std::string merged;
  rocksdb::Slice merged_slice;
  rocksdb::MergeOperator::MergeOperationOutput out(merged, merged_slice);
  ASSERT_TRUE(op->FullMergeV2(in, &out));
  Postings u;
  ASSERT_TRUE(diskindex::DecodePostings(merged, &u));
  EXPECT_EQ(u, (Postings{0, 1, 3, 5, 6, 7, 1000, uint64_t{1} << 40}));
  // A malformed operand fails the merge (RocksDB reports corruption).
  std::vector<rocksdb::Slice> corrupt = {rocksdb::Slice("\x85", 1)};
  rocksdb::MergeOperator::MergeOperationInput bad_in("k", nullptr, corrupt, nullptr);
  EXPECT_FALSE(op->FullMergeV2(bad_in, &out));
}

// The checkpoint writes one postings list per (day, label pair), not one key
// per pair and series, in batches whose lists the merge operator unites:
// 70,000 series x 4 postings is more than one batch.
TEST_F(HeadEvictionTest, CheckpointWritesOneListPerLabelPairInBatches) {
  Open();
  constexpr int kSeries = 70'000;
  std::vector<std::string> is, gs;
  for (int i = 0; i < kSeries; ++i) is.push_back(std::to_string(i));
  for (int g = 0; g < 10; ++g) gs.push_back(std::to_string(g));
  for (int from = 0; from < kSeries; from += 1000) {
    AppendBatch b;
    std::vector<std::vector<LabelView>> labels;
    std::vector<std::vector<Sample>> samples;
    for (int i = from; i < from + 1000; ++i) {
      labels.push_back({{"__name__", "m"}, {"g", gs[i % 10]}, {"i", is[i]}});
      samples.push_back({{kT + i, static_cast<double>(i)}});
    }
    for (size_t j = 0; j < labels.size(); ++j) b.series.push_back({labels[j], samples[j]});
    AppendResult r;
    ASSERT_TRUE(st_->Append("t", b, &r).ok());
  }
  Append({{"__name__", "new"}}, {{kT + 3 * kHour, 1}});
  ASSERT_TRUE(st_->Flush().ok());
  ASSERT_EQ(HeadSeries(), 1u);  // the 70,000 left: answered from the index
  std::vector<Result> g3 = Select({Eq("g", "3")}, 0, kT + 5 * kHour);
  ASSERT_EQ(g3.size(), static_cast<size_t>(kSeries / 10));
  for (const Result& r : g3) EXPECT_EQ(std::stoi(std::string(r.labels.Get("i"))) % 10, 3);
  EXPECT_EQ(Select({Eq("i", "69999")}, 0, kT + 5 * kHour).size(), 1u);
  EXPECT_EQ(Select({Re("g", "[12]"), Re("i", "1.*")}, 0, kT + 5 * kHour).size(), 2223u);
  st_.reset();

  RawIndex raw = ReadRawIndex(Options().dir);
  EXPECT_EQ(raw.keys_by_prefix[diskindex::kLegacyPostingPrefix], 0u);
  // The day's all-series list, __name__ (2), g (10), i (70,000).
  EXPECT_EQ(raw.keys_by_prefix[diskindex::kPostingPrefix], 1u + 2 + 10 + kSeries);
  EXPECT_EQ(raw.keys_by_prefix[diskindex::kLabelHashPrefix], kSeries + 1u);
  const Postings& all = raw.lists[diskindex::PairKey(1, IndexDayOf(kT), "", "")];
  EXPECT_EQ(all.size(), kSeries + 1u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(raw.lists[diskindex::PairKey(1, IndexDayOf(kT), "g", "3")].size(),
            static_cast<size_t>(kSeries / 10));
}

// A format-3 data dir (one 'p' key per pair and series) has its postings
// rewritten as lists on open.
TEST_F(HeadEvictionTest, Format3DataDirIsMigrated) {
  Open();
  WriteOldAndNew();
  ASSERT_EQ(HeadSeries(), 1u);
  st_.reset();
  const std::string dir = Options().dir;
  uint64_t legacy_keys = 0;
  {
    // Make it a format-3 dir: every list becomes 'p' keys, one per id.
    rocksdb::DBOptions dbo;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(dbo, dir, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const std::string& n : names) {
      rocksdb::ColumnFamilyOptions co;
      co.merge_operator = diskindex::NewPostingsMergeOperator();
      cfs.emplace_back(n, co);
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(dbo, dir, cfs, &handles, &db).ok());
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      if (h->GetName() != "index") continue;
      rocksdb::WriteBatch wb;
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), h));
      const std::string q(1, diskindex::kPostingPrefix);
      for (it->Seek(q); it->Valid() && it->key().starts_with(q); it->Next()) {
        Postings ids;
        ASSERT_TRUE(diskindex::DecodePostings(
            std::string_view(it->value().data(), it->value().size()), &ids));
        for (uint64_t id : ids) {
          std::string k = it->key().ToString();
          k[0] = diskindex::kLegacyPostingPrefix;
          for (int b = 7; b >= 0; --b) k.push_back(static_cast<char>(id >> (8 * b)));
          ASSERT_TRUE(wb.Put(h, k, "").ok());
          ++legacy_keys;
        }
      }
      ASSERT_TRUE(wb.DeleteRange(h, q, std::string(1, diskindex::kPostingPrefix + 1)).ok());
      ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &wb).ok());
    }
    for (rocksdb::ColumnFamilyHandle* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
    ASSERT_TRUE(WriteFormatFile(dir, 3).ok());
  }
  // The old series' day: the all-series key, __name__ and job, for 1 id;
  // the new series' (same day): 3 more.
  EXPECT_EQ(legacy_keys, 6u);
  EXPECT_EQ(ReadRawIndex(dir).keys_by_prefix[diskindex::kLegacyPostingPrefix], 6u);
  Open();
  EXPECT_EQ(*ReadFormatVersion(dir), kStorageFormatVersion);
  std::vector<Result> old = Select({Eq("job", "old")}, 0, kT + 5 * kHour);
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(S(old[0].samples), S({{kT, 1}, {kT + 60'000, 2}}));
  EXPECT_EQ(LabelValues("job", {}, 0, kT + 5 * kHour), (std::vector<std::string>{"new", "old"}));
  EXPECT_EQ(Append({{"__name__", "m"}, {"job", "old"}}, {{kT + 4 * kHour, 1}}).series_created, 0u);
  st_.reset();
  RawIndex raw = ReadRawIndex(dir);
  EXPECT_EQ(raw.keys_by_prefix[diskindex::kLegacyPostingPrefix], 0u);
  EXPECT_EQ(raw.lists[diskindex::PairKey(1, IndexDayOf(kT), "__name__", "m")].size(), 2u);
}

}  // namespace
}  // namespace meridian
