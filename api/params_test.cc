#include "api/params.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace meridian::api {
namespace {

TEST(ParseTimeTest, UnixSecondsAndRfc3339) {
  EXPECT_EQ(*ParseTimeMs("4"), 4000);
  EXPECT_EQ(*ParseTimeMs("1435781451.781"), 1435781451781);
  EXPECT_EQ(*ParseTimeMs("-1.5"), -1500);
  EXPECT_EQ(*ParseTimeMs("1e3"), 1000000);
  EXPECT_EQ(*ParseTimeMs("2015-07-01T20:10:51.781Z"), 1435781451781);
  EXPECT_EQ(*ParseTimeMs("2015-07-01T22:10:51.781+02:00"), 1435781451781);
  EXPECT_EQ(*ParseTimeMs("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseTimeMs("2000-02-29T00:00:00.5Z"), 951782400500);
}

TEST(ParseTimeTest, Errors) {
  for (const char* bad : {"", "abc", "2015-07-01", "2015-13-01T00:00:00Z", "1.5x", "NaN"}) {
    auto t = ParseTimeMs(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.status().message(),
              "cannot parse \"" + std::string(bad) + "\" to a valid timestamp");
  }
}

// strconv.ParseFloat's syntax, not strtod's: the real Prometheus 2.42
// accepts and rejects these as the `time` of /api/v1/query.
TEST(ParseTimeTest, GoParseFloatSyntax) {
  EXPECT_EQ(ParseTimeMs("1_000").value_or(-1), 1000000);
  EXPECT_EQ(ParseTimeMs("0x1p10").value_or(-1), 1024000);
  EXPECT_EQ(ParseTimeMs("0X1P-2").value_or(-1), 250);
  EXPECT_EQ(ParseTimeMs("+.5e1").value_or(-1), 5000);
  EXPECT_EQ(ParseTimeMs("1e-400").value_or(-1), 0);
  for (const char* bad :
       {"0x10", " 1", "1 ", "1__000", "_1000", "1000_", "+nan", "1e400", "infin"}) {
    auto t = ParseTimeMs(bad);
    EXPECT_FALSE(t.ok()) << bad;
    if (!t.ok()) {
      EXPECT_EQ(t.status().message(),
                "cannot parse \"" + std::string(bad) + "\" to a valid timestamp");
    }
  }
  EXPECT_EQ(ParseDurationMs("1_5").value_or(-1), 15000);
  EXPECT_FALSE(ParseDurationMs("0x10").ok());
}

TEST(ParseDurationTest, SecondsAndPromDurations) {
  EXPECT_EQ(*ParseDurationMs("15"), 15000);
  EXPECT_EQ(*ParseDurationMs("0.5"), 500);
  EXPECT_EQ(*ParseDurationMs("-1"), -1000);
  EXPECT_EQ(*ParseDurationMs("1m30s"), 90000);
  EXPECT_EQ(*ParseDurationMs("1h"), 3600000);
  EXPECT_EQ(*ParseDurationMs("100ms"), 100);
  auto bad = ParseDurationMs("abc");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "cannot parse \"abc\" to a valid duration");
}

TEST(ErrorForTest, MapsToPrometheusTypes) {
  EXPECT_EQ(ErrorFor(absl::InvalidArgumentError("x")).type, "bad_data");
  EXPECT_EQ(ErrorFor(absl::InvalidArgumentError("x")).http_status, 400);
  EXPECT_EQ(ErrorFor(absl::FailedPreconditionError("x")).type, "execution");
  EXPECT_EQ(ErrorFor(absl::FailedPreconditionError("x")).http_status, 422);
  EXPECT_EQ(ErrorFor(absl::ResourceExhaustedError("x")).http_status, 422);
  EXPECT_EQ(ErrorFor(absl::DeadlineExceededError("x")).type, "timeout");
  EXPECT_EQ(ErrorFor(absl::DeadlineExceededError("x")).http_status, 503);
  EXPECT_EQ(ErrorFor(absl::CancelledError("x")).type, "canceled");
  EXPECT_EQ(ErrorFor(absl::InternalError("x")).type, "internal");
  EXPECT_EQ(ErrorFor(absl::InternalError("x")).http_status, 500);
}

// Thanos's max_source_resolution values (its API accepts any non-negative
// duration; 0 and raw mean raw data).
TEST(ParseMaxSourceResolutionTest, Table) {
  const std::vector<std::pair<std::string, int64_t>> good = {
      {"auto", -1},    {"raw", 0},       {"0", 0},          {"0s", 0},      {"300", 300'000},
      {"5m", 300'000}, {"10m", 600'000}, {"1h", 3'600'000}, {"1.5", 1'500}, {"2h30m", 9'000'000}};
  for (const auto& [in, want] : good) {
    auto r = ParseMaxSourceResolutionMs(in);
    ASSERT_TRUE(r.ok()) << in << ": " << r.status();
    EXPECT_EQ(*r, want) << in;
  }
  for (const char* bad : {"garbage", "", "-5m", "-1", "5x", "AUTO", "1h ", "NaN", "Inf"}) {
    auto r = ParseMaxSourceResolutionMs(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace meridian::api
