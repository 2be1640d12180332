// RemoteWriteReceiver against the real Storage (RocksDB on a temp dir):
// what a remote-write puts in is what a querier reads back.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
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

using testing::V1Body;
using testing::V2Body;

constexpr int64_t kNow = 1'700'000'000'000;

uint64_t Bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}

class RemoteWriteStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/meridian-ingest-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    StorageOptions o;
    o.dir = dir_ + "/data";
    o.sync_wal = false;
    o.out_of_order_window_ms = 60'000;
    o.allow_backfill = false;
    o.now_ms = [] { return kNow; };
    auto s = Storage::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    storage_ = std::move(*s);
    RemoteWriteOptions ro;
    ro.now_ms = [] { return kNow; };
    rx_ = std::make_unique<RemoteWriteReceiver>(storage_.get(), ro);
  }
  void TearDown() override {
    rx_.reset();
    storage_.reset();
    std::filesystem::remove_all(dir_);
  }

  absl::Status Send(const std::string& body, const char* type = "application/x-protobuf") {
    return rx_->Receive("tenant-a", type, "snappy", body, &stats_);
  }

  // Samples of the one series named `name`, with its labels as text.
  std::vector<Sample> Read(const std::string& name, std::string* labels = nullptr) {
    auto q = storage_->ForTenant("tenant-a")->NewQuerier(0, std::numeric_limits<int64_t>::max());
    EXPECT_TRUE(q.ok()) << q.status();
    auto m = Matcher::Make(MatchType::kEqual, "__name__", name);
    auto set = (*q)->Select({*m}, {.start_ms = 0, .end_ms = std::numeric_limits<int64_t>::max()});
    EXPECT_TRUE(set.ok()) << set.status();
    std::vector<Sample> out;
    if ((*set)->Next()) {
      if (labels != nullptr) *labels = (*set)->labels().ToString();
      EXPECT_TRUE((*set)->Samples(&out).ok());
      EXPECT_FALSE((*set)->Next()) << "more than one series named " << name;
    }
    EXPECT_TRUE((*set)->status().ok());
    return out;
  }

  std::string dir_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<RemoteWriteReceiver> rx_;
  RemoteWriteStats stats_;
};

TEST_F(RemoteWriteStorageTest, V1AndV2RoundTrip) {
  ASSERT_TRUE(Send(V1Body({{{{"zone", "z"}, {"__name__", "m1"}, {"gone", ""}},
                            {{kNow - 2000, 1}, {kNow - 1000, 2}}}}))
                  .ok());
  EXPECT_EQ(stats_.samples_written, 2u);
  EXPECT_EQ(stats_.series_created, 1u);
  std::string labels;
  auto got = Read("m1", &labels);
  EXPECT_EQ(labels, "m1{zone=\"z\"}");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].t_ms, kNow - 1000);
  EXPECT_EQ(got[1].v, 2);

  absl::Status st = Send(V2Body({{{{"__name__", "m2"}, {"job", "x"}}, {{kNow, 7}}}}),
                         "application/x-protobuf;proto=io.prometheus.write.v2.Request");
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(stats_.samples_written, 1u);
  EXPECT_EQ(Read("m2").size(), 1u);
}

TEST_F(RemoteWriteStorageTest, SpecialValuesAreBitExact) {
  double stale;
  std::memcpy(&stale, &kStaleNaNBits, 8);
  ASSERT_TRUE(Send(V1Body({{{{"__name__", "special"}},
                            {{kNow - 4, std::numeric_limits<double>::quiet_NaN()},
                             {kNow - 3, std::numeric_limits<double>::infinity()},
                             {kNow - 2, -std::numeric_limits<double>::infinity()},
                             {kNow - 1, stale}}}}))
                  .ok());
  auto got = Read("special");
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(Bits(got[0].v), Bits(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_EQ(Bits(got[1].v), Bits(std::numeric_limits<double>::infinity()));
  EXPECT_EQ(Bits(got[2].v), Bits(-std::numeric_limits<double>::infinity()));
  EXPECT_EQ(Bits(got[3].v), kStaleNaNBits);
}

TEST_F(RemoteWriteStorageTest, RetryConflictAndTooOld) {
  std::string body = V1Body({{{{"__name__", "c"}}, {{kNow - 1000, 1}, {kNow, 2}}}});
  ASSERT_TRUE(Send(body).ok());
  absl::Status st = Send(body);  // identical retry
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(stats_.samples_written, 2u);

  st = Send(V1Body({{{{"__name__", "c"}}, {{kNow, 3}}}}));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("conflicts with a different value"), std::string::npos) << st;
  EXPECT_EQ(stats_.rejected_conflict, 1u);

  // Before the 60 s out-of-order window: too old; the later good sample is kept.
  st = Send(V1Body({{{{"__name__", "c"}}, {{kNow - 120'000, 1}, {kNow + 1000, 4}}}}));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("series c{}: sample at timestamp " + std::to_string(kNow - 120'000) +
                              " is too old"),
            std::string::npos)
      << st;
  EXPECT_EQ(stats_.rejected_too_old, 1u);
  EXPECT_EQ(stats_.samples_written, 1u);
  auto got = Read("c");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1].v, 2);  // the conflicting write did not replace the stored value
  EXPECT_EQ(got[2].v, 4);
}

TEST_F(RemoteWriteStorageTest, MetadataOnlyRequest) {
  prometheus::WriteRequest w;
  auto* md = w.add_metadata();
  md->set_type(prometheus::MetricMetadata::COUNTER);
  md->set_metric_family_name("http_requests_total");
  md->set_help("Requests served.");
  absl::Status st = Send(testing::SnappyCompress(w.SerializeAsString()));
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(stats_.metadata_written, 1u);
  auto got = storage_->Metadata("tenant-a", "http_requests_total", 0);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].type, MetricType::kCounter);
  EXPECT_EQ((*got)[0].help, "Requests served.");
}

TEST_F(RemoteWriteStorageTest, InvalidSeriesDoNotBlockValidOnes) {
  absl::Status st =
      Send(V1Body({{{{"job", "x"}}, {{kNow, 1}}}, {{{"__name__", "good"}}, {{kNow, 1}}}}));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(st.message()), "invalid series {job=\"x\"}: missing metric name __name__");
  EXPECT_EQ(Read("good").size(), 1u);
}

}  // namespace
}  // namespace meridian::ingest
