// The results cache of range queries in the meridian binary
// (--query-cache-bytes, docs/query-cache.md): a repeated query_range is
// answered from it, nocache=1 bypasses it, a backfill through remote-write
// makes the next answer see the new sample, /metrics counts hits, misses and
// bytes, and a global meridian (--remote-read) keeps nothing.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <string>

#include "tests/integration/harness.h"
#include "tests/integration/regions.h"

namespace meridian::testing {
namespace {

constexpr int64_t kMin = 60'000;

// 2 hours of 15 s samples of `cache_gauge{i="0".."2"}`, ending `end_ms`.
void WriteGauges(httplib::Client& c, int64_t end_ms) {
  for (int64_t from = end_ms - 120 * kMin; from < end_ms; from += 30 * kMin) {
    prometheus::WriteRequest req;
    for (int i = 0; i < 3; ++i) {
      std::vector<std::pair<int64_t, double>> samples;
      for (int64_t t = from; t < from + 30 * kMin; t += 15'000) {
        samples.push_back({t, static_cast<double>((t / 15'000) % 100 + i)});
      }
      AddSeries(&req, {{"__name__", "cache_gauge"}, {"i", std::to_string(i)}}, samples);
    }
    auto r = PostWrite(c, EncodeWriteRequest(req));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 204) << r->body;
  }
}

// The value of one metric family's unlabelled series in /metrics.
double MetricValue(httplib::Client& c, const std::string& name) {
  auto r = c.Get("/metrics");
  EXPECT_TRUE(r);
  if (!r) return -1;
  std::smatch m;
  std::regex re("\n" + name + " ([^\n]+)");
  if (!std::regex_search(r->body, m, re)) {
    ADD_FAILURE() << name << " not in /metrics";
    return -1;
  }
  return std::stod(m[1]);
}

struct Counts {
  double hits, partial, misses, bytes;
};
Counts CacheCounts(httplib::Client& c) {
  return {MetricValue(c, "meridian_query_cache_hits_total"),
          MetricValue(c, "meridian_query_cache_partial_hits_total"),
          MetricValue(c, "meridian_query_cache_misses_total"),
          MetricValue(c, "meridian_query_cache_bytes")};
}

std::string RangePath(const std::string& q, int64_t start, int64_t end, const std::string& extra) {
  return "/api/v1/query_range?query=" + UrlEncode(q) + "&start=" + Secs(start) +
         "&end=" + Secs(end) + "&step=60" + extra;
}

TEST(QueryCacheServerTest, RepeatedRangesHitNocacheBypassesABackfillIsSeenMetricsCount) {
  Meridian m;
  ASSERT_TRUE(m.WaitReady()) << m.process().Log();
  auto c = m.Client();
  const int64_t end = NowMs() / kMin * kMin - 10 * kMin;
  ASSERT_NO_FATAL_FAILURE(WriteGauges(*c, end));
  const std::string path = RangePath("cache_gauge", end - 100 * kMin, end - 20 * kMin, "");
  Counts c0 = CacheCounts(*c);
  EXPECT_EQ(c0.hits, 0);
  EXPECT_EQ(c0.misses, 0);
  EXPECT_EQ(c0.bytes, 0);

  auto first = GetJson(*c, path);
  ASSERT_EQ(first["status"], "success") << first.dump();
  ASSERT_EQ(first["data"]["result"].size(), 3u);
  Counts c1 = CacheCounts(*c);
  EXPECT_EQ(c1.misses, 1);
  EXPECT_GT(c1.bytes, 0);
  auto second = GetJson(*c, path);
  EXPECT_EQ(second, first);
  Counts c2 = CacheCounts(*c);
  EXPECT_EQ(c2.hits, 1);
  EXPECT_EQ(c2.misses, 1);
  // nocache=1: evaluated, nothing counted, the same answer.
  auto bypassed = GetJson(*c, path + "&nocache=1");
  EXPECT_EQ(bypassed, first);
  Counts c3 = CacheCounts(*c);
  EXPECT_EQ(c3.hits, 1);
  EXPECT_EQ(c3.misses, 1);
  // A shifted range: the kept steps plus the new one.
  auto shifted = GetJson(*c, RangePath("cache_gauge", end - 99 * kMin, end - 19 * kMin, ""));
  EXPECT_EQ(shifted,
            GetJson(*c, RangePath("cache_gauge", end - 99 * kMin, end - 19 * kMin, "&nocache=1")));
  EXPECT_EQ(CacheCounts(*c).partial, 1);

  // A late sample (an hour old) of a new series inside the kept range.
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "cache_gauge"}, {"i", "7"}}, {{end - 60 * kMin - 1'000, -5.5}});
  auto w = PostWrite(*c, EncodeWriteRequest(req));
  ASSERT_TRUE(w);
  ASSERT_EQ(w->status, 204) << w->body;
  auto after = GetJson(*c, path);
  EXPECT_NE(after, first) << "the kept answer hid the backfilled sample";
  EXPECT_EQ(after, GetJson(*c, path + "&nocache=1"));
  EXPECT_NE(after.dump().find("\"-5.5\""), std::string::npos) << after.dump();
  Counts c4 = CacheCounts(*c);
  EXPECT_EQ(c4.misses, 2);
  EXPECT_EQ(MetricValue(*c, "meridian_query_cache_invalidations_total"), 1);
}

TEST(QueryCacheServerTest, OffTheCacheCountsNothing) {
  Meridian m("", {"--query-cache-bytes", "0"});
  ASSERT_TRUE(m.WaitReady()) << m.process().Log();
  auto c = m.Client();
  const int64_t end = NowMs() / kMin * kMin - 10 * kMin;
  ASSERT_NO_FATAL_FAILURE(WriteGauges(*c, end));
  const std::string path = RangePath("cache_gauge", end - 100 * kMin, end - 20 * kMin, "");
  for (int i = 0; i < 2; ++i) ASSERT_EQ(GetJson(*c, path)["status"], "success");
  Counts n = CacheCounts(*c);
  EXPECT_EQ(n.hits + n.partial + n.misses + n.bytes, 0);
}

// A global meridian over a regional one: its remote's data has no data
// generation, so it keeps nothing, and a backfill in the region shows at once.
TEST(QueryCacheServerTest, AGlobalMeridianKeepsNothingAndSeesARegionsBackfill) {
  Meridian region;
  ASSERT_TRUE(region.WaitReady()) << region.process().Log();
  Meridian global("", {"--remote-read", RemoteFlag("eu", region, "eu-west-1")});
  ASSERT_TRUE(global.WaitReady()) << global.process().Log();
  auto rc = region.Client();
  auto gc = global.Client();
  const int64_t end = NowMs() / kMin * kMin - 10 * kMin;
  ASSERT_NO_FATAL_FAILURE(WriteGauges(*rc, end));
  const std::string path = RangePath("cache_gauge", end - 100 * kMin, end - 20 * kMin, "");
  auto first = GetJson(*gc, path);
  ASSERT_EQ(first["status"], "success") << first.dump();
  ASSERT_EQ(first["data"]["result"].size(), 3u);
  EXPECT_EQ(GetJson(*gc, path), first);
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "cache_gauge"}, {"i", "7"}}, {{end - 60 * kMin - 1'000, -7.25}});
  auto w = PostWrite(*rc, EncodeWriteRequest(req));
  ASSERT_TRUE(w);
  ASSERT_EQ(w->status, 204) << w->body;
  auto after = GetJson(*gc, path);
  EXPECT_NE(after.dump().find("\"-7.25\""), std::string::npos) << after.dump();
  Counts n = CacheCounts(*gc);
  EXPECT_EQ(n.hits + n.partial + n.misses + n.bytes, 0);
}

}  // namespace
}  // namespace meridian::testing
