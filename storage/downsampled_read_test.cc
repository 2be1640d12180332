// PlanReadSegments: which resolution answers each part of a Select's range
// (docs/downsampling.md "Stitching").
#include <gtest/gtest.h>

#include "storage/querier.h"

namespace meridian {
namespace {

constexpr int64_t kDay = 86'400'000;
constexpr int64_t kT = 20000 * kDay;

std::string Plan(const DownsampleState& ds, int64_t start, int64_t end, int64_t pref, int64_t max) {
  std::string out;
  for (const ReadSegment& s : PlanReadSegments(ds, start, end, pref, max)) {
    if (!out.empty()) out += " ";
    out += std::string(ResolutionName(s.resolution)) + "[" + std::to_string((s.lo - kT) / kDay) +
           "," + std::to_string((s.hi - kT) / kDay) + ")";
  }
  return out;
}

TEST(PlanReadSegmentsTest, CoarsestAtOrBelowThePreferredThenFinerThenCoarser) {
  // 35 days: raw deleted before day 5, 5m kept from day 0 up to day 33,
  // 1h from day 0 up to day 20.
  DownsampleState ds;
  ds.raw_deleted_before = kT + 5 * kDay;
  ds.downsampled_5m_through = kT + 33 * kDay;
  ds.downsampled_1h_through = kT + 20 * kDay;
  const int64_t end = kT + 35 * kDay - 1;
  // 1h preferred: 1h, then 5m where 1h is not written yet, raw since.
  EXPECT_EQ(Plan(ds, kT, end, 3'600'000, 3'600'000), "1h[0,20) 5m[20,33) raw[33,35)");
  // 5m preferred: 5m all along, raw where 5m is not written yet.
  EXPECT_EQ(Plan(ds, kT, end, 300'000, 3'600'000), "5m[0,33) raw[33,35)");
  // Raw preferred, coarser allowed: 5m (the finest) where raw is gone.
  EXPECT_EQ(Plan(ds, kT, end, 0, 3'600'000), "5m[0,5) raw[5,35)");
  // Raw only: raw everywhere (nothing before day 5).
  EXPECT_EQ(Plan(ds, kT, end, 0, 0), "raw[0,35)");
  // 5m deleted before day 10 (below the 1h progress): raw (finer) answers
  // where it is kept, 1h (coarser) before.
  ds.deleted_5m_before = kT + 10 * kDay;
  EXPECT_EQ(Plan(ds, kT, end, 300'000, 3'600'000), "1h[0,5) raw[5,10) 5m[10,33) raw[33,35)");
  EXPECT_EQ(Plan(ds, kT, end, 0, 3'600'000), "1h[0,5) raw[5,35)");
  // At most 5m: nothing coarser, so nothing before day 5 (raw reads none).
  EXPECT_EQ(Plan(ds, kT, end, 0, 300'000), "raw[0,35)");
  // A range inside one part; nothing downsampled yet.
  EXPECT_EQ(Plan(ds, kT + 34 * kDay, end, 3'600'000, 3'600'000), "raw[34,35)");
  EXPECT_EQ(Plan(DownsampleState{}, kT, end, 3'600'000, 3'600'000), "raw[0,35)");
}

}  // namespace
}  // namespace meridian
