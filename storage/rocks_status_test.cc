#include "storage/rocks_status.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "rocksdb/db.h"
#include "storage/rocks_storage.h"
#include "storage/storage.h"

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

// A real corrupt SST met by maintenance (a compaction of the chunk family)
// is DataLoss, as the same corruption met by open or by a write is;
// it used to be Internal on the maintenance paths only.
TEST(FromRocksTest, CorruptChunkFileFoundByRetentionIsDataLoss) {
  char tmpl[] = "/tmp/meridian_rocks_status_test_XXXXXX";
  const std::string dir = std::string(mkdtemp(tmpl)) + "/data";
  constexpr int64_t now = 10'000'000'000;
  StorageOptions o;
  o.dir = dir;
  o.sync_wal = false;
  o.retention_ms = 3'600'000;
  o.now_ms = [] { return now; };
  {
    auto st = Storage::Open(o);
    ASSERT_TRUE(st.ok()) << st.status();
    const std::vector<LabelView> labels = {{"__name__", "m"}};
    std::vector<Sample> samples;
    for (int i = 0; i < 2000; ++i) samples.push_back({now - 1'000'000 + i * 100, i * 1.5});
    AppendBatch b;
    b.series.push_back({labels, samples});
    AppendResult r;
    ASSERT_TRUE((*st)->Append("t", b, &r).ok());
    ASSERT_TRUE((*st)->Flush().ok());
  }
  // Flip bytes inside the first data block of the chunk family's SST files.
  {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{rocksdb::kDefaultColumnFamilyName, {}},
                                                        {"chunks", {}},
                                                        {"wal", {}},
                                                        {"downsampled", {}},
                                                        {"index", {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir, cfs, &handles, &db).ok());
    rocksdb::ColumnFamilyMetaData md;
    db->GetColumnFamilyMetaData(handles[1], &md);
    std::vector<std::string> files;
    for (const auto& level : md.levels) {
      for (const auto& f : level.files) files.push_back(f.db_path + "/" + f.name);
    }
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
    ASSERT_FALSE(files.empty());
    for (const std::string& f : files) {
      std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
      ASSERT_TRUE(io.good()) << f;
      io.seekp(16);
      io.write("\xde\xad\xbe\xef\xde\xad\xbe\xef", 8);
    }
  }
  auto st = Storage::Open(o);
  ASSERT_TRUE(st.ok()) << st.status();
  // Nothing expired: retention reads and rewrites nothing (it no longer
  // compacts the whole family every pass), so it does not meet the damage.
  EXPECT_TRUE((*st)->EnforceRetention().ok());
  // A compaction over the file does, and reports DataLoss.
  absl::Status s = static_cast<RocksStorage*>(st->get())->CompactAll();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  st->reset();
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

}  // namespace
}  // namespace meridian
