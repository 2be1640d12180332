#include "ingest/remote_write.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "ingest/fake_appender.h"
#include "ingest/test_requests.h"

namespace meridian::ingest {
namespace {

using testing::FakeAppender;
using testing::TestSeries;
using testing::V1Body;
using testing::V2Body;

constexpr int64_t kNow = 1'700'000'000'000;
constexpr char kV2Type[] = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

uint64_t Bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}

class RemoteWriteTest : public ::testing::Test {
 protected:
  RemoteWriteOptions Options() {
    RemoteWriteOptions o;
    o.now_ms = [] { return kNow; };
    return o;
  }
  absl::Status Send(const std::string& body, const char* type = "application/x-protobuf") {
    RemoteWriteReceiver rx(&storage_, Options());
    return rx.Receive("t1", type, "snappy", body, &stats_);
  }
  void TearDown() override { EXPECT_TRUE(storage_.contract_violations().empty()); }

  FakeAppender storage_;
  RemoteWriteStats stats_;
};

TEST_F(RemoteWriteTest, V1WritesSamples) {
  absl::Status st = Send(V1Body({
      {{{"__name__", "up"}, {"job", "a"}}, {{kNow - 1000, 1}, {kNow, 0}}},
      {{{"__name__", "up"}, {"job", "b"}}, {{kNow, 1}}},
  }));
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(stats_.version, RemoteWriteVersion::kV1);
  EXPECT_EQ(stats_.samples_written, 3u);
  EXPECT_EQ(stats_.series_created, 2u);
  EXPECT_EQ(storage_.SeriesSamples("t1|__name__=up,job=a").size(), 2u);
}

TEST_F(RemoteWriteTest, V2WritesSamplesAndMetadata) {
  auto req = testing::ToV2({{{{"__name__", "up"}, {"job", "a"}}, {{kNow, 1}}},
                            {{{"__name__", "up"}, {"job", "b"}}, {{kNow, 2}}}});
  req.add_symbols("Target is up.");
  for (auto& ts : *req.mutable_timeseries()) {
    ts.mutable_metadata()->set_type(io::prometheus::write::v2::Metadata::METRIC_TYPE_GAUGE);
    ts.mutable_metadata()->set_help_ref(req.symbols_size() - 1);
  }
  absl::Status st = Send(testing::SnappyCompress(req.SerializeAsString()), kV2Type);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(stats_.version, RemoteWriteVersion::kV2);
  EXPECT_EQ(stats_.samples_written, 2u);
  EXPECT_EQ(stats_.metadata_written, 1u);  // one family
  auto md = storage_.metadata();
  ASSERT_EQ(md.count("up"), 1u);
  EXPECT_EQ(md["up"].type, MetricType::kGauge);
  EXPECT_EQ(md["up"].help, "Target is up.");
}

TEST_F(RemoteWriteTest, InvalidSeriesAreRejectedAndTheRestAppended) {
  absl::Status st = Send(V1Body({
      {{{"__name__", "ok1"}}, {{kNow, 1}}},
      {{{"job", "x"}}, {{kNow, 1}, {kNow + 1, 2}}},  // first offender
      {{{"__name__", "ok2"}}, {{kNow, 1}}},
      {{{"__name__", "dup"}, {"a", "1"}, {"a", "2"}}, {{kNow, 1}}},
      {{{"__name__", "bad"}, {"", "1"}}, {{kNow, 1}}},
      {{{"__name__", "bad"}, {"a", "\xff"}}, {{kNow, 1}}},
  }));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message().find("invalid series {job=\"x\"}: missing metric name __name__"), 0u)
      << st;
  EXPECT_NE(st.message().find("5 samples rejected in total"), std::string::npos) << st;
  EXPECT_EQ(stats_.rejected_invalid_labels, 5u);
  EXPECT_EQ(stats_.samples_written, 2u);
  EXPECT_EQ(storage_.SeriesKeys(),
            (std::vector<std::string>{"t1|__name__=ok1", "t1|__name__=ok2"}));
}

TEST_F(RemoteWriteTest, EmptyValuesDroppedAndLabelsSorted) {
  ASSERT_TRUE(
      Send(V1Body({{{{"zone", "z"}, {"__name__", "m"}, {"gone", ""}, {"a", "1"}}, {{kNow, 1}}}}))
          .ok());
  EXPECT_EQ(storage_.SeriesKeys(), std::vector<std::string>{"t1|__name__=m,a=1,zone=z"});
}

// Series whose label bytes are all ASCII skip the UTF-8 check of each name
// and value (one pass over the bytes instead); invalid UTF-8 at either end
// of a series' labels, or in a long value (its length is not ASCII), is still
// found, and valid non-ASCII UTF-8 still passes.
TEST_F(RemoteWriteTest, Utf8IsCheckedWhereverTheLabelBytesAreNotAscii) {
  const std::string long_value(200, 'v');
  absl::Status st = Send(V1Body({
      {{{"__name__", "ok"}, {"long", long_value}, {"z", "caf\xc3\xa9"}}, {{kNow, 1}}},
      {{{"\xff", "first"}, {"__name__", "bad1"}}, {{kNow, 1}}},
      {{{"__name__", "bad2"}, {"zz", "last\xff"}}, {{kNow, 1}}},
      {{{"__name__", "bad3"}, {"long", long_value + "\xc0\x80"}}, {{kNow, 1}}},
  }));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(stats_.rejected_invalid_labels, 3u);
  EXPECT_EQ(stats_.samples_written, 1u);
  EXPECT_EQ(storage_.SeriesKeys().size(), 1u);
}

TEST_F(RemoteWriteTest, Utf8NamesAccepted) {
  ASSERT_TRUE(Send(V1Body({{{{"__name__", "http.server.duration"}, {"service.name", "caché"}},
                            {{kNow, 1}}}}))
                  .ok());
}

TEST_F(RemoteWriteTest, FutureSamplesRejectedLaterGoodOnesKept) {
  const int64_t too_far = kNow + 10 * 60 * 1000 + 1;
  absl::Status st = Send(V1Body({
      {{{"__name__", "m"}}, {{kNow - 10, 1}, {too_far, 2}, {kNow, 3}}},
      {{{"__name__", "n"}}, {{kNow + 10 * 60 * 1000, 1}}},  // exactly at the limit: fine
  }));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("series m{}: sample timestamp " + std::to_string(too_far) +
                              " is too far in the future"),
            std::string::npos)
      << st;
  EXPECT_EQ(stats_.rejected_too_far_in_future, 1u);
  EXPECT_EQ(stats_.samples_written, 3u);
  EXPECT_EQ(storage_.SeriesSamples("t1|__name__=m").size(), 2u);
}

TEST_F(RemoteWriteTest, TooOldAndConflictNameSeriesAndTimestamp) {
  storage_.set_too_old_before_ms(kNow - 100);
  ASSERT_TRUE(Send(V1Body({{{{"__name__", "c"}}, {{kNow, 1}}}})).ok());
  absl::Status st = Send(V1Body({
      {{{"__name__", "a"}, {"job", "j"}}, {{kNow - 200, 1}, {kNow - 50, 2}}},
      {{{"__name__", "c"}}, {{kNow, 2}, {kNow + 1, 3}}},
  }));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("series a{job=\"j\"}: sample at timestamp " +
                              std::to_string(kNow - 200) + " is too old"),
            std::string::npos)
      << st;
  EXPECT_EQ(stats_.rejected_too_old, 1u);
  EXPECT_EQ(stats_.rejected_conflict, 1u);
  EXPECT_EQ(stats_.samples_written, 2u);  // the good samples after the bad ones
  EXPECT_EQ(storage_.SeriesSamples("t1|__name__=c").size(), 2u);

  storage_.set_too_old_before_ms(std::numeric_limits<int64_t>::min());
  st = Send(V1Body({{{{"__name__", "c"}}, {{kNow, 5}}}}));
  EXPECT_NE(st.message().find("series c{}: sample at timestamp " + std::to_string(kNow) +
                              " conflicts with a different value"),
            std::string::npos)
      << st;
}

TEST_F(RemoteWriteTest, IdenticalRetryIsSilentSuccess) {
  std::string body = V1Body({{{{"__name__", "m"}}, {{kNow, 1}, {kNow + 1, 2}}}});
  ASSERT_TRUE(Send(body).ok());
  absl::Status st = Send(body);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(stats_.samples_written, 2u);
  EXPECT_EQ(stats_.series_created, 0u);
}

TEST_F(RemoteWriteTest, SpecialFloatsBitExact) {
  const uint64_t payload_nan = 0x7ff8000000000abcULL;
  double stale, nan;
  std::memcpy(&stale, &kStaleNaNBits, 8);
  std::memcpy(&nan, &payload_nan, 8);
  ASSERT_TRUE(Send(V1Body({{{{"__name__", "m"}},
                            {{1, stale},
                             {2, nan},
                             {3, std::numeric_limits<double>::infinity()},
                             {4, -std::numeric_limits<double>::infinity()},
                             {5, -0.0}}}}))
                  .ok());
  auto got = storage_.SeriesSamples("t1|__name__=m");
  EXPECT_EQ(got[1], kStaleNaNBits);
  EXPECT_EQ(got[2], payload_nan);
  EXPECT_EQ(got[3], Bits(std::numeric_limits<double>::infinity()));
  EXPECT_EQ(got[4], Bits(-std::numeric_limits<double>::infinity()));
  EXPECT_EQ(got[5], Bits(-0.0));
}

TEST_F(RemoteWriteTest, MetadataOnlyV1Request) {
  prometheus::WriteRequest w;
  auto* md = w.add_metadata();
  md->set_type(prometheus::MetricMetadata::HISTOGRAM);
  md->set_metric_family_name("http_request_duration_seconds");
  md->set_help("Latency.");
  md->set_unit("seconds");
  absl::Status st = Send(testing::SnappyCompress(w.SerializeAsString()));
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(stats_.metadata_written, 1u);
  EXPECT_EQ(storage_.append_calls(), 0);
  auto got = storage_.metadata();
  EXPECT_EQ(got["http_request_duration_seconds"].type, MetricType::kHistogram);
  EXPECT_EQ(got["http_request_duration_seconds"].unit, "seconds");
}

TEST_F(RemoteWriteTest, EmptyRequestIsOk) {
  ASSERT_TRUE(Send(testing::SnappyCompress("")).ok());
  ASSERT_TRUE(Send(testing::SnappyCompress(""), kV2Type).ok());
}

TEST_F(RemoteWriteTest, HistogramsAndExemplarsAreCountedAndDropped) {
  TestSeries floats{{{"__name__", "m"}}, {{kNow, 1}}, 0, 2};
  TestSeries hist{{{"__name__", "h"}}, {}, 3, 0};
  for (bool v2 : {false, true}) {
    absl::Status st = v2 ? Send(V2Body({floats, hist}), kV2Type) : Send(V1Body({floats, hist}));
    ASSERT_TRUE(st.ok()) << st;
    EXPECT_EQ(stats_.histograms_dropped, 3u);
    EXPECT_EQ(stats_.exemplars_dropped, 2u);
    EXPECT_EQ(stats_.histograms_written, 0u);
    EXPECT_EQ(stats_.exemplars_written, 0u);
    EXPECT_EQ(stats_.samples_written, 1u);
  }
}

TEST_F(RemoteWriteTest, SizeLimitsBeforeDecompression) {
  RemoteWriteOptions o = Options();
  o.max_body_bytes = 100;
  o.max_decoded_bytes = 1000;
  RemoteWriteReceiver rx(&storage_, o);
  std::string big(101, 'x');
  EXPECT_EQ(rx.Receive("t", "", "", big, &stats_).code(), absl::StatusCode::kResourceExhausted);
  std::string bomb;
  testing::PutVarint(&bomb, 1 << 30);  // announces 1 GiB
  bomb += "garbage";
  absl::Status st = rx.Receive("t", "", "", bomb, &stats_);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
}

TEST_F(RemoteWriteTest, BadSnappyAndBadProtobuf) {
  absl::Status st = Send("");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("snappy"), std::string::npos) << st;
  std::string corrupt = V1Body({{{{"__name__", "m"}}, {{kNow, 1}}}});
  corrupt.resize(corrupt.size() - 3);
  st = Send(corrupt);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("corrupt snappy"), std::string::npos) << st;
  st = Send(testing::SnappyCompress("\x0a\x05\x0a"));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("malformed WriteRequest"), std::string::npos) << st;
  EXPECT_EQ(storage_.append_calls(), 0);
}

TEST_F(RemoteWriteTest, UnsupportedTypeOrEncodingIs415) {
  RemoteWriteReceiver rx(&storage_, Options());
  std::string body = V1Body({{{{"__name__", "m"}}, {{kNow, 1}}}});
  EXPECT_EQ(rx.Receive("t", "application/json", "snappy", body, &stats_).code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(rx.Receive("t", "application/x-protobuf", "gzip", body, &stats_).code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(rx.Receive("t", "application/x-protobuf;proto=foo.Bar", "snappy", body, &stats_).code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(rx.Receive("t", "", "", body, &stats_).ok());
}

TEST_F(RemoteWriteTest, V2BadRefsAre400AndNothingAppended) {
  auto req = testing::ToV2({{{{"__name__", "m"}}, {{kNow, 1}}}});
  req.mutable_timeseries(0)->add_labels_refs(1);
  absl::Status st = Send(testing::SnappyCompress(req.SerializeAsString()), kV2Type);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(storage_.append_calls(), 0);
}

TEST_F(RemoteWriteTest, StorageErrorReturnedAsIs) {
  storage_.set_fail_with(absl::UnavailableError("wal group commit queue full"));
  absl::Status st = Send(V1Body({{{{"__name__", "m"}}, {{kNow, 1}}}}));
  EXPECT_EQ(st, absl::UnavailableError("wal group commit queue full"));
  storage_.set_fail_with(absl::InternalError("rocksdb: io error"));
  st = Send(V1Body({{{{"__name__", "m"}}, {{kNow, 1}}}}));
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal);
}

TEST_F(RemoteWriteTest, ConcurrentReceivers) {
  RemoteWriteReceiver rx(&storage_, Options());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string body = V1Body({{{{"__name__", "m"}, {"t", std::to_string(t)}},
                                    {{kNow - 1000 + i, static_cast<double>(i)}}}});
        RemoteWriteStats stats;
        EXPECT_TRUE(rx.Receive("t1", "", "snappy", body, &stats).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(storage_.SeriesSamples("t1|__name__=m,t=" + std::to_string(t)).size(), 50u);
  }
}

}  // namespace
}  // namespace meridian::ingest
