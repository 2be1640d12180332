#include "storage/rocks_status.h"

#include <gtest/gtest.h>

namespace meridian {
namespace {

TEST(FromRocksTest, MapsCodesAndKeepsContext) {
  EXPECT_TRUE(FromRocks(rocksdb::Status::OK(), "writing").ok());

  // Corruption is data loss wherever it is met (reads, writes, compactions,
  // checkpoints): the same code from every storage path.
  absl::Status c = FromRocks(rocksdb::Status::Corruption("block checksum mismatch"), "compacting");
  EXPECT_EQ(c.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(c.message(), "compacting: Corruption: block checksum mismatch");

  for (const rocksdb::Status& s :
       {rocksdb::Status::IOError("disk"), rocksdb::Status::NoSpace("full"), rocksdb::Status::Busy(),
        rocksdb::Status::Aborted(), rocksdb::Status::InvalidArgument("x")}) {
    absl::Status a = FromRocks(s, "writing checkpoint");
    EXPECT_EQ(a.code(), absl::StatusCode::kInternal) << s.ToString();
    EXPECT_EQ(a.message(), "writing checkpoint: " + s.ToString());
  }
}

}  // namespace
}  // namespace meridian
