// Limits on what remote-write clients control (ingest/limits.h), through
// RemoteWriteReceiver against the real Storage.
#include "ingest/limits.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "ingest/remote_write.h"
#include "ingest/test_requests.h"
#include "storage/storage.h"

namespace meridian::ingest {
namespace {

using testing::TestSeries;
using testing::V1Body;
using testing::V2Body;

constexpr int64_t kNow = 1'700'000'000'000;
constexpr char kV1Type[] = "application/x-protobuf";
constexpr char kV2Type[] = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

TEST(ValidateTenant, CortexRules) {
  for (const std::string& ok : std::vector<std::string>{"a", "team-a", "A_b.c", "x!*'()", "..a",
                                                        "a..", std::string(150, 'x')}) {
    EXPECT_TRUE(ValidateTenant(ok, 150).ok()) << ok;
  }
  struct Bad {
    std::string tenant;
    const char* want;
  };
  for (const Bad& b : std::vector<Bad>{
           {"../../etc", "unsupported character '/'"},
           {".", "\".\" and \"..\" are not allowed"},
           {"..", "\".\" and \"..\" are not allowed"},
           {std::string(151, 'x'), "151 bytes, over the limit of 150 bytes"},
           {std::string(7000, 'y'), "7000 bytes, over the limit of 150 bytes"},
           {"a b", "unsupported character ' '"},
           {"t\xc3\xa9", "unsupported character"},
           {"a:b", "unsupported character ':'"},
           {"", "empty"},
       }) {
    absl::Status st = ValidateTenant(b.tenant, 150);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << b.tenant;
    EXPECT_NE(st.message().find(b.want), std::string::npos) << st;
    EXPECT_LT(st.message().size(), 400u) << "the message quotes a bounded prefix";
  }
}

TEST(IngestionRateLimiter, TokenBucketPerTenant) {
  int64_t now = 0;
  IngestionRateLimiter l(100, 1000, 10, [&] { return now; });
  int retry = 0;
  EXPECT_TRUE(l.Take("a", 1000, &retry).ok());  // the full burst
  absl::Status st = l.Take("a", 1, &retry);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_EQ(retry, 1);
  EXPECT_TRUE(l.Take("b", 500, &retry).ok());  // other tenants have their own bucket
  now += 2000;                                 // 200 tokens accrue
  EXPECT_TRUE(l.Take("a", 200, &retry).ok());
  st = l.Take("a", 450, &retry);  // nothing taken on refusal
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(retry, 5);  // 450 tokens at 100/s
  now += 4500;
  EXPECT_TRUE(l.Take("a", 450, &retry).ok());
  st = l.Take("a", 1001, &retry);  // larger than the burst: can never pass
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  // Default burst: 10 s of the rate, at least a maximal request.
  EXPECT_EQ(IngestionRateLimiter(100, 0, 10).burst(), 1000);
  EXPECT_EQ(IngestionRateLimiter(100, 0, 5000).burst(), 5000);
}

// The wait is computed in double and converted to int: with a tiny rate it is
// larger than an int holds (undefined; Retry-After: 1 on x86 before).
TEST(IngestionRateLimiter, TinyRateGivesALongRetryAfterWithoutOverflow) {
  int64_t now = 0;
  IngestionRateLimiter l(0.0001, 0, 1'000'000, [&] { return now; });
  int retry = 0;
  EXPECT_TRUE(l.Take("a", 1'000'000, &retry).ok());
  absl::Status st = l.Take("a", 1'000'000, &retry);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_EQ(retry, 1'000'000'000);  // 1e10 s, clamped
  st = l.Take("a", 1, &retry);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_EQ(retry, 10'000);  // 1 sample at 0.0001/s
}

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/meridian-limits-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    storage_options_.dir = dir_ + "/data";
    storage_options_.sync_wal = false;
    storage_options_.now_ms = [] { return kNow; };
    options_.now_ms = [] { return kNow; };
    options_.monotonic_ms = [this] { return mono_ms_.load(); };
  }
  void TearDown() override {
    rx_.reset();
    storage_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Start() {
    auto s = Storage::Open(storage_options_);
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
    rx_ = std::make_unique<RemoteWriteReceiver>(storage_.get(), options_);
  }
  absl::Status Send(const std::string& body, const std::string& tenant = "tenant-a",
                    const char* type = kV1Type) {
    return rx_->Receive(tenant, type, "snappy", body, &stats_);
  }
  // Number of samples stored for series named `name` of `tenant`.
  size_t Stored(const std::string& name, const std::string& tenant = "tenant-a") {
    auto q = storage_->ForTenant(tenant)->NewQuerier(0, std::numeric_limits<int64_t>::max());
    EXPECT_TRUE(q.ok());
    auto m = Matcher::Make(MatchType::kEqual, "__name__", name);
    auto set = (*q)->Select({*m}, {.start_ms = 0, .end_ms = std::numeric_limits<int64_t>::max()});
    EXPECT_TRUE(set.ok());
    size_t n = 0;
    while ((*set)->Next()) {
      std::vector<Sample> s;
      EXPECT_TRUE((*set)->Samples(&s).ok());
      n += s.size();
    }
    return n;
  }

  std::string dir_;
  StorageOptions storage_options_;
  RemoteWriteOptions options_;
  std::atomic<int64_t> mono_ms_{0};
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<RemoteWriteReceiver> rx_;
  RemoteWriteStats stats_;
};

std::vector<std::pair<std::string, std::string>> ManyLabels(const std::string& name, int n) {
  std::vector<std::pair<std::string, std::string>> ls = {{"__name__", name}};
  for (int i = 1; i < n; ++i) ls.push_back({"l" + std::to_string(100 + i), "v"});
  return ls;
}

// Label limits are data errors for the series concerned: 400 naming the first
// offending series, the request's valid series stored, counted by reason.
TEST_F(LimitsTest, LabelLimitsRejectTheSeriesOnly) {
  Start();
  for (bool v2 : {false, true}) {
    std::vector<TestSeries> series = {
        {{{"__name__", "good"}, {"v", v2 ? "2" : "1"}}, {{kNow, 1}}},
        {ManyLabels("too_many", 31), {{kNow, 1}, {kNow + 1, 2}}},
        {{{"__name__", "long_name"}, {std::string(1025, 'n'), "x"}}, {{kNow, 1}}},
        {{{"__name__", "long_value"}, {"job", std::string(1 << 20, 'v')}}, {{kNow, 1}}},
        {ManyLabels("thirty", 30), {{kNow, 1}}},
        {{{"__name__", "edge"}, {std::string(1024, 'n'), std::string(2048, 'v')}}, {{kNow, 1}}},
    };
    // 2,000 labels, most of them empty-valued (absent): within the limit.
    TestSeries empties{{{"__name__", "empties"}, {"a", "1"}}, {{kNow, 1}}};
    for (int i = 0; i < 2000; ++i) empties.labels.push_back({"e" + std::to_string(i), ""});
    series.push_back(empties);
    absl::Status st = v2 ? Send(V2Body(series), "tenant-a", kV2Type) : Send(V1Body(series));
    ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    std::string msg(st.message());
    EXPECT_EQ(msg.find("series too_many{l101=\"v\","), 0u) << msg.substr(0, 300);
    EXPECT_NE(msg.find("has 31 labels, over the limit of 30 labels per series "
                       "(max-labels-per-series) (4 samples rejected in total)"),
              std::string::npos)
        << msg.substr(0, 1000);
    EXPECT_LT(msg.size(), 2000u);
    EXPECT_EQ(stats_.rejected_too_many_labels, 2u);
    EXPECT_EQ(stats_.rejected_label_name_too_long, 1u);
    EXPECT_EQ(stats_.rejected_label_value_too_long, 1u);
    EXPECT_EQ(stats_.samples_written, 4u);
  }
  EXPECT_EQ(Stored("good"), 2u);
  EXPECT_EQ(Stored("thirty"), 1u);  // one sample, written twice identically
  EXPECT_EQ(Stored("edge"), 1u);
  EXPECT_EQ(Stored("empties"), 1u);
  EXPECT_EQ(Stored("too_many") + Stored("long_name") + Stored("long_value"), 0u);

  // Each limit alone names its series.
  absl::Status st =
      Send(V1Body({{{{"__name__", "n"}, {std::string(2000, 'n'), "x"}}, {{kNow, 1}}}}));
  EXPECT_NE(st.message().find("is 2000 bytes long, over the limit of 1024 bytes "
                              "(max-label-name-bytes)"),
            std::string::npos)
      << st;
  st = Send(V1Body({{{{"__name__", std::string(3000, 'm')}}, {{kNow, 1}}}}));
  EXPECT_NE(st.message().find("value of label \"__name__\" is 3000 bytes long, over the limit of "
                              "2048 bytes (max-label-value-bytes)"),
            std::string::npos)
      << st;
}

TEST_F(LimitsTest, ConfigurableLabelLimits) {
  options_.limits.max_labels_per_series = 3;
  options_.limits.max_label_name_bytes = 8;
  options_.limits.max_label_value_bytes = 5;
  Start();
  EXPECT_TRUE(
      Send(V1Body({{{{"__name__", "abcde"}, {"abcdefgh", "12345"}, {"x", "1"}}, {{kNow, 1}}}}))
          .ok());
  EXPECT_FALSE(Send(V1Body({{ManyLabels("m", 4), {{kNow, 1}}}})).ok());
  EXPECT_FALSE(Send(V1Body({{{{"__name__", "m"}, {"abcdefghi", "1"}}, {{kNow, 1}}}})).ok());
  EXPECT_FALSE(Send(V1Body({{{{"__name__", "abcdef"}}, {{kNow, 1}}}})).ok());
}

// The 2.0 symbol limit derived from the series and label limits saturates
// (it wrapped around to 1 for 2^63 series per request, refusing every request).
TEST_F(LimitsTest, HugeConfiguredLimitsDoNotWrapTheSymbolLimit) {
  options_.limits.max_series_per_request = size_t{1} << 63;
  Start();
  absl::Status st =
      Send(V2Body({{{{"__name__", "a"}, {"x", "y"}}, {{kNow, 1}}}}), "tenant-a", kV2Type);
  EXPECT_TRUE(st.ok()) << st;
}

// Series and samples per request bound the memory of one request: refused as
// a whole (413), nothing stored.
TEST_F(LimitsTest, PerRequestLimitsRefuseTheRequest) {
  options_.limits.max_series_per_request = 3;
  options_.limits.max_samples_per_request = 5;
  Start();
  std::vector<TestSeries> four = {{{{"__name__", "a"}}, {{kNow, 1}}},
                                  {{{"__name__", "b"}}, {{kNow, 1}}},
                                  {{{"__name__", "c"}}, {{kNow, 1}}},
                                  {{{"__name__", "d"}}, {{kNow, 1}}}};
  for (bool v2 : {false, true}) {
    absl::Status st = v2 ? Send(V2Body(four), "tenant-a", kV2Type) : Send(V1Body(four));
    EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
    EXPECT_NE(st.message().find("more than 3 series"), std::string::npos) << st;
    EXPECT_STREQ(stats_.request_rejected, "request_too_large");
    std::vector<TestSeries> six_samples = {
        {{{"__name__", "a"}}, {{kNow, 1}, {kNow + 1, 1}, {kNow + 2, 1}}},
        {{{"__name__", "b"}}, {{kNow, 1}, {kNow + 1, 1}, {kNow + 2, 1}}}};
    st = v2 ? Send(V2Body(six_samples), "tenant-a", kV2Type) : Send(V1Body(six_samples));
    EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
    EXPECT_NE(st.message().find("more than 5 samples"), std::string::npos) << st;
  }
  EXPECT_EQ(Stored("a") + Stored("b"), 0u);
  four.pop_back();
  EXPECT_TRUE(Send(V1Body(four)).ok());
  EXPECT_EQ(stats_.request_rejected, nullptr);
}

// The per-tenant series limit counts series in memory; a tenant at its limit
// keeps writing to its series, new ones get a 400 naming them.
TEST_F(LimitsTest, SeriesLimitPerTenant) {
  options_.limits.max_series_per_tenant = 2;
  Start();
  absl::Status st = Send(V1Body({{{{"__name__", "a"}}, {{kNow, 1}}},
                                 {{{"__name__", "b"}}, {{kNow, 1}}},
                                 {{{"__name__", "c"}, {"x", "y"}}, {{kNow, 1}, {kNow + 1, 2}}}}));
  ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_EQ(std::string(st.message()),
            "series c{x=\"y\"}: new series rejected: tenant \"tenant-a\" holds its limit of 2 "
            "series (max-series-per-tenant) (2 samples rejected in total)");
  EXPECT_EQ(stats_.rejected_series_limit, 2u);
  EXPECT_EQ(stats_.samples_written, 2u);
  EXPECT_TRUE(Send(V1Body({{{{"__name__", "a"}}, {{kNow + 1, 1}}}})).ok());
  EXPECT_EQ(Stored("a"), 2u);
  EXPECT_EQ(Stored("c"), 0u);
  EXPECT_TRUE(Send(V1Body({{{{"__name__", "c"}}, {{kNow, 1}}}}), "tenant-b").ok());
}

TEST_F(LimitsTest, TenantIdAndTenantCount) {
  storage_options_.max_tenants = 2;
  Start();
  std::string body = V1Body({{{{"__name__", "m"}}, {{kNow, 1}}}});
  for (const std::string& bad :
       {std::string("../../etc"), std::string(7000, 't'), std::string(".")}) {
    absl::Status st = Send(body, bad);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_NE(st.message().find("invalid tenant ID"), std::string::npos) << st;
    EXPECT_STREQ(stats_.request_rejected, "invalid_tenant");
  }
  EXPECT_TRUE(Send(body, "t1").ok());
  EXPECT_TRUE(Send(body, "t2").ok());
  absl::Status st = Send(body, "t3");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_EQ(std::string(st.message()),
            "new tenant \"t3\" rejected: tenant limit of 2 reached (max-tenants)");
  EXPECT_STREQ(stats_.request_rejected, "tenant_limit");
  EXPECT_EQ(Stored("m", "t3"), 0u);
  EXPECT_TRUE(Send(body, "t1").ok());
}

// The ingestion rate is back-pressure: 503 with a retry delay, nothing stored;
// the same request passes once the bucket refilled.
TEST_F(LimitsTest, IngestionRateLimit) {
  options_.limits.ingestion_rate = 2;
  options_.limits.ingestion_burst = 3;
  Start();
  std::string two = V1Body({{{{"__name__", "r"}}, {{kNow, 1}, {kNow + 1, 1}}}});
  ASSERT_TRUE(Send(two).ok());
  absl::Status st = Send(V1Body({{{{"__name__", "r2"}}, {{kNow, 1}, {kNow + 1, 1}}}}));
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_EQ(stats_.retry_after_s, 1);
  EXPECT_STREQ(stats_.request_rejected, "rate_limited");
  EXPECT_EQ(Stored("r2"), 0u);
  EXPECT_TRUE(Send(two, "tenant-b").ok());  // per tenant
  mono_ms_ += 1000;
  EXPECT_TRUE(Send(V1Body({{{{"__name__", "r2"}}, {{kNow, 1}, {kNow + 1, 1}}}})).ok());
  EXPECT_EQ(Stored("r2"), 2u);
  st = Send(
      V1Body({{{{"__name__", "big"}}, {{kNow, 1}, {kNow + 1, 1}, {kNow + 2, 1}, {kNow + 3, 1}}}}));
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
}

// A scratch keeps at most kMaxKeptScratchBytes after a request: one request
// with millions of labels must not pin their memory in the pool for good.
TEST_F(LimitsTest, PooledBuffersAreBounded) {
  options_.limits.max_labels_per_series = 1 << 30;
  options_.limits.max_label_name_bytes = 1 << 30;
  Start();
  // 600k labels of 11 bytes on the wire: a 6.6 MB body (below what the old
  // pool freed, 8 MiB) decoding into 19 MB of label views.
  TestSeries big{{{"__name__", "big"}}, {{kNow, 1}}};
  const char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (int i = 0; i < 600'000; ++i) {
    std::string name(4, '0');
    for (int j = 0, n = i; j < 4; ++j, n /= 62) name[3 - j] = kDigits[n % 62];
    big.labels.push_back({name, "v"});
  }
  std::string body = V1Body({big});
  const size_t before = PooledScratchBytes();
  ASSERT_TRUE(Send(body).ok());
  EXPECT_LE(PooledScratchBytes(), before + kMaxKeptScratchBytes);
  EXPECT_EQ(Stored("big"), 1u);
}

}  // namespace
}  // namespace meridian::ingest
