// Corruption tests: random truncations and byte flips of valid protobuf and
// snappy bodies must never crash or over-read (run under ASan), must give
// kInvalidArgument when rejected, and for 1.0 the decoder must agree with the
// generated protobuf parser whenever that parser accepts the input.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "google/protobuf/stubs/logging.h"
#include "ingest/decoder.h"
#include "ingest/fake_appender.h"
#include "ingest/remote_write.h"
#include "ingest/test_requests.h"

namespace meridian::ingest {
namespace {

using testing::TestSeries;

std::vector<TestSeries> Corpus() {
  std::vector<TestSeries> out;
  for (int i = 0; i < 6; ++i) {
    TestSeries s;
    s.labels = {{"__name__", "metric_" + std::to_string(i)},
                {"instance", "10.0.0." + std::to_string(i) + ":9100"},
                {"job", "node"},
                {"region", "eu-west-1"}};
    for (int j = 0; j < 3; ++j) s.samples.push_back({1000L * j - 5, 0.5 * i * j});
    s.histograms = i % 3 == 0 ? 1 : 0;
    s.exemplars = i % 2;
    out.push_back(s);
  }
  return out;
}

std::string Mutate(const std::string& in, std::mt19937_64& rng) {
  std::string s = in;
  switch (rng() % 4) {
    case 0:  // truncate
      s.resize(rng() % (s.size() + 1));
      break;
    case 1:  // flip some bits
      for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n && !s.empty(); ++k) {
        s[rng() % s.size()] ^= static_cast<char>(1 << (rng() % 8));
      }
      break;
    case 2:  // overwrite a byte with a random one
      if (!s.empty()) s[rng() % s.size()] = static_cast<char>(rng());
      break;
    case 3:  // insert random bytes
      s.insert(rng() % (s.size() + 1), std::string(1 + rng() % 4, static_cast<char>(rng())));
      break;
  }
  return s;
}

// Compares a decoded 1.0 request with the generated parser's view of it.
void ExpectSameAsGenerated(const prometheus::WriteRequest& w, DecodedRequest& req) {
  ASSERT_EQ(req.series.size(), static_cast<size_t>(w.timeseries_size()));
  for (int i = 0; i < w.timeseries_size(); ++i) {
    const auto& ts = w.timeseries(i);
    auto labels = req.Labels(req.series[i]);
    // The decoder does not keep empty-valued labels (they are absent).
    std::vector<const prometheus::Label*> want;
    for (const auto& l : ts.labels()) {
      if (!l.value().empty()) want.push_back(&l);
    }
    ASSERT_EQ(labels.size(), want.size());
    for (size_t j = 0; j < want.size(); ++j) {
      EXPECT_EQ(labels[j].name, want[j]->name());
      EXPECT_EQ(labels[j].value, want[j]->value());
    }
    auto samples = req.Samples(req.series[i]);
    ASSERT_EQ(samples.size(), static_cast<size_t>(ts.samples_size()));
    for (int j = 0; j < ts.samples_size(); ++j) {
      EXPECT_EQ(samples[j].t_ms, ts.samples(j).timestamp());
      double v = ts.samples(j).value();
      EXPECT_EQ(std::memcmp(&samples[j].v, &v, 8), 0);
    }
    EXPECT_EQ(req.series[i].histograms, static_cast<uint32_t>(ts.histograms_size()));
    EXPECT_EQ(req.series[i].exemplars, static_cast<uint32_t>(ts.exemplars_size()));
  }
}

TEST(Robustness, EveryTruncationOfV1AgreesWithGeneratedParser) {
  std::string raw = testing::ToV1(Corpus()).SerializeAsString();
  DecodedRequest req;
  for (size_t n = 0; n <= raw.size(); ++n) {
    // Copy into an exact-size heap buffer so ASan catches any over-read.
    std::unique_ptr<char[]> buf(new char[n + 1]);
    std::memcpy(buf.get(), raw.data(), n);
    std::string_view in(buf.get(), n);
    absl::Status st = DecodeWriteRequestV1(in, &req);
    prometheus::WriteRequest w;
    bool generated_ok = w.ParseFromArray(in.data(), static_cast<int>(n));
    EXPECT_EQ(st.ok(), generated_ok) << "prefix " << n << ": " << st;
    if (!st.ok()) {
      EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    } else if (generated_ok) {
      ExpectSameAsGenerated(w, req);
    }
  }
}

TEST(Robustness, RandomMutationsOfV1AndV2NeverCrash) {
  std::string v1 = testing::ToV1(Corpus()).SerializeAsString();
  std::string v2 = testing::ToV2(Corpus()).SerializeAsString();
  std::mt19937_64 rng(42);
  DecodedRequest req;
  google::protobuf::LogSilencer quiet;  // invalid UTF-8 complaints of the generated parser
  int agreed = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    bool is_v1 = iter % 2 == 0;
    std::string m = Mutate(is_v1 ? v1 : v2, rng);
    std::unique_ptr<char[]> buf(new char[m.size() + 1]);
    std::memcpy(buf.get(), m.data(), m.size());
    std::string_view in(buf.get(), m.size());
    absl::Status st = is_v1 ? DecodeWriteRequestV1(in, &req) : DecodeWriteRequestV2(in, &req);
    if (!st.ok()) {
      // kUnimplemented: a mutation produced a field reserved in 2.0 (a 1.0 body).
      ASSERT_TRUE(st.code() == absl::StatusCode::kInvalidArgument ||
                  (!is_v1 && st.code() == absl::StatusCode::kUnimplemented))
          << st;
      continue;
    }
    if (is_v1) {
      prometheus::WriteRequest w;
      // The generated parser also rejects invalid UTF-8 in strings, which the
      // decoder leaves to label validation; compare only when it accepts.
      if (w.ParseFromArray(in.data(), static_cast<int>(in.size()))) {
        ExpectSameAsGenerated(w, req);
        ++agreed;
      }
    }
  }
  EXPECT_GT(agreed, 100);
}

TEST(Robustness, RandomMutationsOfSnappyBodiesThroughReceiver) {
  testing::FakeAppender storage;
  RemoteWriteOptions opts;
  opts.now_ms = [] { return int64_t{1'700'000'000'000}; };
  RemoteWriteReceiver rx(&storage, opts);
  std::string v1 = testing::V1Body(Corpus());
  std::string v2 = testing::V2Body(Corpus());
  std::mt19937_64 rng(7);
  for (int iter = 0; iter < 20000; ++iter) {
    bool is_v1 = iter % 2 == 0;
    std::string m = Mutate(is_v1 ? v1 : v2, rng);
    std::unique_ptr<char[]> buf(new char[m.size() + 1]);
    std::memcpy(buf.get(), m.data(), m.size());
    RemoteWriteStats stats;
    absl::Status st =
        rx.Receive("t", is_v1 ? "" : "application/x-protobuf;proto=io.prometheus.write.v2.Request",
                   "", std::string_view(buf.get(), m.size()), &stats);
    if (!st.ok()) {
      ASSERT_TRUE(st.code() == absl::StatusCode::kInvalidArgument ||
                  st.code() == absl::StatusCode::kResourceExhausted ||
                  (!is_v1 && st.code() == absl::StatusCode::kUnimplemented))
          << st;
    }
  }
}

}  // namespace
}  // namespace meridian::ingest
