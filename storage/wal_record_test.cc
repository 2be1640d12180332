#include "storage/wal_record.h"

#include "gtest/gtest.h"

namespace meridian {
namespace {

TEST(WalRecordTest, RoundTrip) {
  std::string buf;
  WalRecordWriter w(&buf, 7);
  std::vector<Sample> a = {{100, 1.0}, {90, StaleNaN()}, {-5, -2.5}};
  std::vector<Sample> b = {{1'700'000'000'000, 42}};
  w.AddSeries(3, a);
  w.AddSeries(4, {});
  w.AddSeries(1ull << 40, b);
  EXPECT_EQ(w.num_series(), 2u);
  WalRecordReader r(w.record());
  EXPECT_EQ(r.tenant_id(), 7u);
  uint64_t id;
  std::vector<Sample> got;
  ASSERT_TRUE(r.Next(&id, &got));
  EXPECT_EQ(id, 3u);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1].t_ms, 90);
  EXPECT_TRUE(IsStaleNaN(got[1].v));
  EXPECT_EQ(got[2].v, -2.5);
  ASSERT_TRUE(r.Next(&id, &got));
  EXPECT_EQ(id, 1ull << 40);
  EXPECT_EQ(got[0].t_ms, 1'700'000'000'000);
  EXPECT_FALSE(r.Next(&id, &got));
  EXPECT_TRUE(r.status().ok());
}

TEST(WalRecordTest, TruncationIsDataLoss) {
  std::string buf;
  WalRecordWriter w(&buf, 1);
  std::vector<Sample> a = {{1, 1}, {2, 2}};
  w.AddSeries(9, a);
  for (size_t n = 2; n < w.record().size(); ++n) {  // 1 byte: an empty record
    WalRecordReader r(w.record().substr(0, n));
    uint64_t id;
    std::vector<Sample> got;
    while (r.Next(&id, &got)) {
    }
    EXPECT_FALSE(r.status().ok()) << n;
  }
}

}  // namespace
}  // namespace meridian
