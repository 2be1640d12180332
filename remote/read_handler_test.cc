// remote-read server over a real Storage. The streamed response is checked
// with a decoder written here from the protocol's description (frame =
// uvarint length, big-endian CRC32C, message; Prometheus XOR chunk bit
// layout), independently of remote/codec.cc and remote/xor_chunk.cc.
#include "remote/read_handler.h"

#include <gtest/gtest.h>
#include <snappy.h>

#include <cmath>
#include <cstring>
#include <map>

#include "proto/remote.pb.h"
#include "storage/storage.h"
#include "storage/test_util.h"

namespace meridian::remote {
namespace {

using storage_testing::TempDir;

uint64_t BitsOf(double v) {
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}

// ---- the independent decoder ----

uint32_t SpecCrc32c(std::string_view d) {  // bitwise, reflected poly 0x82F63B78
  uint32_t crc = ~0u;
  for (unsigned char c : d) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

struct SpecBits {
  std::string_view d;
  size_t bit = 0;
  uint64_t Take(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i, ++bit) {
      EXPECT_LT(bit / 8, d.size()) << "read past the chunk's end";
      if (bit / 8 >= d.size()) return v;
      v = (v << 1) | ((static_cast<uint8_t>(d[bit / 8]) >> (7 - bit % 8)) & 1u);
    }
    return v;
  }
  uint64_t Uvarint() {
    uint64_t v = 0;
    for (int s = 0;; s += 7) {
      uint64_t b = Take(8);
      v |= (b & 0x7f) << s;
      if (!(b & 0x80)) return v;
    }
  }
};

std::vector<Sample> SpecDecodeXor(std::string_view chunk) {
  std::vector<Sample> out;
  const int n = (static_cast<uint8_t>(chunk[0]) << 8) | static_cast<uint8_t>(chunk[1]);
  SpecBits r{chunk.substr(2)};
  int64_t t = 0, delta = 0;
  uint64_t v = 0;
  int lead = 0, trail = 0;
  auto value = [&] {
    if (r.Take(1) == 0) return;
    if (r.Take(1) == 1) {
      lead = static_cast<int>(r.Take(5));
      int sig = static_cast<int>(r.Take(6));
      if (sig == 0) sig = 64;
      trail = 64 - lead - sig;
    }
    v ^= r.Take(64 - lead - trail) << trail;
  };
  for (int i = 0; i < n; ++i) {
    if (i == 0) {
      uint64_t zz = r.Uvarint();
      t = static_cast<int64_t>(zz >> 1) ^ -static_cast<int64_t>(zz & 1);
      v = r.Take(64);
    } else if (i == 1) {
      delta = static_cast<int64_t>(r.Uvarint());
      t += delta;
      value();
    } else {
      int width = 0;
      if (r.Take(1) == 1) {
        if (r.Take(1) == 0)
          width = 14;
        else if (r.Take(1) == 0)
          width = 17;
        else if (r.Take(1) == 0)
          width = 20;
        else
          width = 64;
      }
      int64_t dod = 0;
      if (width == 64) {
        dod = static_cast<int64_t>(r.Take(64));
      } else if (width > 0) {
        uint64_t raw = r.Take(width);
        dod = raw > (uint64_t{1} << (width - 1)) ? static_cast<int64_t>(raw) - (int64_t{1} << width)
                                                 : static_cast<int64_t>(raw);
      }
      delta += dod;
      t += delta;
      value();
    }
    double dv;
    std::memcpy(&dv, &v, 8);
    out.push_back({t, dv});
  }
  EXPECT_LE((r.bit + 7) / 8, chunk.size() - 2);
  EXPECT_GT(r.bit + 8, (chunk.size() - 2) * 8) << "trailing bytes after the last sample";
  return out;
}

std::vector<prometheus::ChunkedReadResponse> SpecFrames(std::string_view body) {
  std::vector<prometheus::ChunkedReadResponse> out;
  size_t pos = 0;
  while (pos < body.size()) {
    uint64_t len = 0;
    for (int s = 0;; s += 7) {
      uint8_t b = static_cast<uint8_t>(body[pos++]);
      len |= static_cast<uint64_t>(b & 0x7f) << s;
      if (!(b & 0x80)) break;
    }
    uint32_t crc = (static_cast<uint32_t>(static_cast<uint8_t>(body[pos])) << 24) |
                   (static_cast<uint32_t>(static_cast<uint8_t>(body[pos + 1])) << 16) |
                   (static_cast<uint32_t>(static_cast<uint8_t>(body[pos + 2])) << 8) |
                   static_cast<uint32_t>(static_cast<uint8_t>(body[pos + 3]));
    pos += 4;
    EXPECT_LE(pos + len, body.size());
    std::string_view msg = body.substr(pos, len);
    pos += len;
    EXPECT_EQ(crc, SpecCrc32c(msg)) << "frame " << out.size();
    out.emplace_back();
    EXPECT_TRUE(out.back().ParseFromArray(msg.data(), static_cast<int>(msg.size())));
  }
  return out;
}

// ---- fixtures ----

class ReadHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StorageOptions o;
    o.dir = dir_.path();
    o.sync_wal = false;
    storage_ = *Storage::Open(o);
  }

  void Write(const std::string& tenant, std::vector<LabelView> ls, std::vector<Sample> ss) {
    AppendBatch b;
    b.series.push_back({ls, ss});
    AppendResult r;
    ASSERT_TRUE(storage_->Append(tenant, b, &r).ok());
    ASSERT_TRUE(r.errors.empty());
  }

  static std::string Request(const prometheus::ReadRequest& req) {
    std::string raw = req.SerializeAsString(), out;
    snappy::Compress(raw.data(), raw.size(), &out);
    return out;
  }

  static prometheus::Query* AddQuery(
      prometheus::ReadRequest* req, int64_t from, int64_t to, const std::string& name,
      const std::string& value,
      prometheus::LabelMatcher::Type type = prometheus::LabelMatcher::EQ) {
    auto* q = req->add_queries();
    q->set_start_timestamp_ms(from);
    q->set_end_timestamp_ms(to);
    auto* m = q->add_matchers();
    m->set_type(type);
    m->set_name(name);
    m->set_value(value);
    return q;
  }

  static prometheus::ReadResponse Samples(const ReadReply& r) {
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.content_type, "application/x-protobuf");
    EXPECT_EQ(r.content_encoding, "snappy");
    std::string raw;
    EXPECT_TRUE(snappy::Uncompress(r.body.data(), r.body.size(), &raw));
    prometheus::ReadResponse resp;
    EXPECT_TRUE(resp.ParseFromString(raw));
    return resp;
  }

  TempDir dir_;
  std::unique_ptr<Storage> storage_;
};

// Values that exercise every branch of the XOR encoding: repeats, small and
// large changes, NaN payloads, the stale marker, +-Inf, irregular intervals.
std::vector<Sample> TrickySamples(int n, int64_t t0) {
  std::vector<Sample> s;
  int64_t t = t0;
  for (int i = 0; i < n; ++i) {
    static const int64_t kSteps[] = {15000, 15000, 15001, 14000, 1, 70000, 600000, 3600000, 15000};
    t += kSteps[i % 9] + (i % 37 == 0 ? 123456789 : 0);
    double v;
    switch (i % 11) {
      case 0:
        v = i;
        break;
      case 1:
        v = i;
        break;  // same as before when i%11==0 was i-1... varies
      case 2:
        v = 1e300 * (i % 2 ? 1 : -1);
        break;
      case 3:
        v = std::nan("");
        break;
      case 4: {
        uint64_t stale = kStaleNaNBits;
        std::memcpy(&v, &stale, 8);
        break;
      }
      case 5:
        v = INFINITY;
        break;
      case 6:
        v = -0.0;
        break;
      case 7:
        v = 0.1 * i;
        break;
      case 8:
        v = 0.1 * i;
        break;
      default:
        v = static_cast<double>(i) * 1.5 + 1e-9;
    }
    s.push_back({t, v});
  }
  return s;
}

TEST_F(ReadHandlerTest, SamplesAnswersEveryQueryInOrderForTheTenant) {
  std::vector<LabelView> a = {{"__name__", "up"}, {"job", "a"}};
  std::vector<LabelView> b = {{"__name__", "up"}, {"job", "b"}};
  std::vector<LabelView> c = {{"__name__", "other"}};
  Write("t1", a, {{1000, 1}, {2000, 2}, {3000, 3}});
  Write("t1", b, {{1000, 10}, {5000, 50}});
  Write("t1", c, {{1000, 7}});
  Write("t2", a, {{2000, 99}});

  prometheus::ReadRequest req;
  AddQuery(&req, 1500, 5000, "__name__", "up");
  AddQuery(&req, 0, 9000, "__name__", "oth.*", prometheus::LabelMatcher::RE);
  auto resp = Samples(ServeRemoteRead(*storage_->ForTenant("t1"), Request(req), {}));
  ASSERT_EQ(resp.results_size(), 2);
  const auto& r0 = resp.results(0);
  ASSERT_EQ(r0.timeseries_size(), 2);
  EXPECT_EQ(r0.timeseries(0).labels(1).value(), "a");
  ASSERT_EQ(r0.timeseries(0).samples_size(), 2);  // 2000, 3000 in [1500, 5000]
  EXPECT_EQ(r0.timeseries(0).samples(0).timestamp(), 2000);
  EXPECT_EQ(r0.timeseries(0).samples(1).value(), 3);
  EXPECT_EQ(r0.timeseries(1).labels(1).value(), "b");
  ASSERT_EQ(r0.timeseries(1).samples_size(), 1);
  EXPECT_EQ(r0.timeseries(1).samples(0).timestamp(), 5000);
  ASSERT_EQ(resp.results(1).timeseries_size(), 1);
  EXPECT_EQ(resp.results(1).timeseries(0).labels(0).value(), "other");

  // Another tenant sees its own data only.
  auto t2 = Samples(ServeRemoteRead(*storage_->ForTenant("t2"), Request(req), {}));
  ASSERT_EQ(t2.results(0).timeseries_size(), 1);
  EXPECT_EQ(t2.results(0).timeseries(0).samples(0).value(), 99);
  EXPECT_EQ(t2.results(1).timeseries_size(), 0);
}

TEST_F(ReadHandlerTest, StreamedFramesDecodeBitExactWithTheSpecDecoder) {
  const std::vector<Sample> data = TrickySamples(500, 1'700'000'000'000);
  std::vector<LabelView> a = {{"__name__", "g"}, {"i", "1"}};
  std::vector<LabelView> b = {{"__name__", "g"}, {"i", "2"}};
  Write("t", a, data);
  Write("t", b, {{data[0].t_ms, -5}});

  prometheus::ReadRequest req;
  req.add_accepted_response_types(prometheus::ReadRequest::STREAMED_XOR_CHUNKS);
  req.add_accepted_response_types(prometheus::ReadRequest::SAMPLES);
  AddQuery(&req, 0, INT64_MAX / 2, "__name__", "g");
  AddQuery(&req, 0, INT64_MAX / 2, "i", "2");
  ReadReply r = ServeRemoteRead(*storage_->ForTenant("t"), Request(req), {});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type,
            "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse");
  EXPECT_EQ(r.content_encoding, "");
  auto frames = SpecFrames(r.body);
  ASSERT_EQ(frames.size(), 3u);  // one per series, each small enough for one frame
  std::map<std::pair<int64_t, std::string>, std::vector<Sample>> got;
  for (const auto& f : frames) {
    ASSERT_EQ(f.chunked_series_size(), 1);
    const auto& cs = f.chunked_series(0);
    int64_t prev_max = INT64_MIN;
    for (const auto& c : cs.chunks()) {
      EXPECT_EQ(c.type(), prometheus::Chunk::XOR);
      auto s = SpecDecodeXor(c.data());
      ASSERT_FALSE(s.empty());
      EXPECT_LE(s.size(), 120u);
      EXPECT_EQ(c.min_time_ms(), s.front().t_ms);
      EXPECT_EQ(c.max_time_ms(), s.back().t_ms);
      EXPECT_GT(c.min_time_ms(), prev_max);
      prev_max = c.max_time_ms();
      auto& dst = got[{f.query_index(), cs.labels(1).value()}];
      dst.insert(dst.end(), s.begin(), s.end());
    }
  }
  const auto& g1 = got[std::make_pair(int64_t{0}, std::string("1"))];
  ASSERT_EQ(g1.size(), data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    ASSERT_EQ(g1[i].t_ms, data[i].t_ms) << i;
    ASSERT_EQ(BitsOf(g1[i].v), BitsOf(data[i].v)) << i;
  }
  const auto& g02 = got[std::make_pair(int64_t{0}, std::string("2"))];
  const auto& g12 = got[std::make_pair(int64_t{1}, std::string("2"))];
  EXPECT_EQ(g02.size(), 1u);
  ASSERT_EQ(g12.size(), 1u);
  EXPECT_EQ(g12[0].v, -5);
}

TEST_F(ReadHandlerTest, StreamedSplitsALargeSeriesOverFramesAsPrometheus) {
  std::vector<Sample> data;
  for (int i = 0; i < 1200; ++i) data.push_back({1000LL * i, std::sin(i) * 1e6});
  Write("t", {{"__name__", "big"}}, data);
  prometheus::ReadRequest req;
  req.add_accepted_response_types(prometheus::ReadRequest::STREAMED_XOR_CHUNKS);
  AddQuery(&req, 0, 10'000'000, "__name__", "big");
  ReadLimits lim;
  lim.max_bytes_in_frame = 2000;  // a chunk of 120 such samples is ~1 KiB
  ReadReply r = ServeRemoteRead(*storage_->ForTenant("t"), Request(req), lim);
  ASSERT_EQ(r.status, 200) << r.body;
  auto frames = SpecFrames(r.body);
  ASSERT_GE(frames.size(), 3u);
  size_t n = 0;
  for (const auto& f : frames) {
    ASSERT_EQ(f.chunked_series_size(), 1);
    EXPECT_EQ(f.chunked_series(0).labels(0).value(), "big");  // labels repeated in every frame
    for (const auto& c : f.chunked_series(0).chunks()) n += SpecDecodeXor(c.data()).size();
  }
  EXPECT_EQ(n, data.size());
}

TEST_F(ReadHandlerTest, SampleAndByteLimitsAreClearErrors) {
  std::vector<Sample> data;
  for (int i = 0; i < 100; ++i) data.push_back({1000LL * i, 1.0 * i});
  Write("t", {{"__name__", "m"}, {"k", "1"}}, data);
  Write("t", {{"__name__", "m"}, {"k", "2"}}, data);
  for (auto type :
       {prometheus::ReadRequest::SAMPLES, prometheus::ReadRequest::STREAMED_XOR_CHUNKS}) {
    prometheus::ReadRequest req;
    req.add_accepted_response_types(type);
    AddQuery(&req, 0, 1'000'000, "__name__", "m");
    ReadLimits lim;
    lim.max_samples = 150;
    ReadReply r = ServeRemoteRead(*storage_->ForTenant("t"), Request(req), lim);
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body, "exceeded sample limit (150)\n");
    lim.max_samples = 200;
    EXPECT_EQ(ServeRemoteRead(*storage_->ForTenant("t"), Request(req), lim).status, 200);
    lim.max_bytes = 100;
    r = ServeRemoteRead(*storage_->ForTenant("t"), Request(req), lim);
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("exceeded bytes limit"), std::string::npos) << r.body;
  }
}

TEST_F(ReadHandlerTest, BadRequestsAre400) {
  auto q = storage_->ForTenant("t");
  EXPECT_EQ(ServeRemoteRead(*q, "not snappy at all \xff\xff\xff\xff\xff", {}).status, 400);
  std::string junk = "\x01\x02\x03garbage", compressed;
  snappy::Compress(junk.data(), junk.size(), &compressed);
  EXPECT_EQ(ServeRemoteRead(*q, compressed, {}).status, 400);

  prometheus::ReadRequest req;
  req.add_accepted_response_types(static_cast<prometheus::ReadRequest::ResponseType>(7));
  AddQuery(&req, 0, 1, "__name__", "x");
  ReadReply r = ServeRemoteRead(*q, Request(req), {});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("does not support any of the requested response types"), std::string::npos);

  prometheus::ReadRequest empty_match;
  AddQuery(&empty_match, 0, 1, "job", "");
  EXPECT_EQ(ServeRemoteRead(*q, Request(empty_match), {}).status, 400);

  prometheus::ReadRequest bad_re;
  AddQuery(&bad_re, 0, 1, "job", "(", prometheus::LabelMatcher::RE);
  EXPECT_EQ(ServeRemoteRead(*q, Request(bad_re), {}).status, 400);
}

// Records the hints of every Select and forwards to the real storage.
class HintRecorder : public Queryable {
 public:
  explicit HintRecorder(std::unique_ptr<Queryable> q) : q_(std::move(q)) {}
  absl::StatusOr<std::unique_ptr<Querier>> NewQuerier(int64_t mint, int64_t maxt,
                                                      const ReadContext& ctx) const override {
    MERIDIAN_ASSIGN_OR_RETURN(auto inner, q_->NewQuerier(mint, maxt, ctx));
    return std::unique_ptr<Querier>(new Recording(std::move(inner), &hints));
  }
  mutable std::vector<SelectHints> hints;

 private:
  class Recording : public Querier {
   public:
    Recording(std::unique_ptr<Querier> q, std::vector<SelectHints>* out)
        : q_(std::move(q)), out_(out) {}
    absl::StatusOr<std::unique_ptr<SeriesSet>> Select(const std::vector<Matcher>& m,
                                                      const SelectHints& h) override {
      out_->push_back(h);
      return q_->Select(m, h);
    }
    absl::StatusOr<std::vector<std::string>> LabelNames(const std::vector<Matcher>& m) override {
      return q_->LabelNames(m);
    }
    absl::StatusOr<std::vector<std::string>> LabelValues(const std::string& n,
                                                         const std::vector<Matcher>& m) override {
      return q_->LabelValues(n, m);
    }

   private:
    std::unique_ptr<Querier> q_;
    std::vector<SelectHints>* out_;
  };
  std::unique_ptr<Queryable> q_;
};

TEST_F(ReadHandlerTest, ReadHintsReachTheStorageAndSeriesFuncOmitsSamples) {
  Write("t", {{"__name__", "up"}}, {{1000, 1}, {2000, 2}});
  HintRecorder rec(storage_->ForTenant("t"));
  prometheus::ReadRequest req;
  auto* q = AddQuery(&req, 500, 2500, "__name__", "up");
  q->mutable_hints()->set_step_ms(60000);
  q->mutable_hints()->set_func("rate");
  q->mutable_hints()->set_range_ms(300000);
  auto* s = AddQuery(&req, 500, 2500, "__name__", "up");
  s->mutable_hints()->set_func("series");
  auto resp = Samples(ServeRemoteRead(rec, Request(req), {}));
  ASSERT_EQ(rec.hints.size(), 2u);
  EXPECT_EQ(rec.hints[0].start_ms, 500);
  EXPECT_EQ(rec.hints[0].end_ms, 2500);
  EXPECT_EQ(rec.hints[0].step_ms, 60000);
  EXPECT_EQ(rec.hints[0].func, "rate");
  EXPECT_EQ(rec.hints[1].func, "series");
  EXPECT_EQ(resp.results(0).timeseries(0).samples_size(), 2);
  ASSERT_EQ(resp.results(1).timeseries_size(), 1);
  EXPECT_EQ(resp.results(1).timeseries(0).samples_size(), 0);
}

}  // namespace
}  // namespace meridian::remote
