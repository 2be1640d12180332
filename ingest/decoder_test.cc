#include "ingest/decoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "google/protobuf/unknown_field_set.h"
#include "ingest/test_requests.h"

namespace meridian::ingest {
namespace {

using testing::PutLen;
using testing::PutTag;
using testing::PutVarint;
using testing::TestSeries;

uint64_t Bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}

double FromBits(uint64_t b) {
  double d;
  std::memcpy(&d, &b, 8);
  return d;
}

std::vector<TestSeries> SampleSeries() {
  const double nan_payload = FromBits(0x7ff8000000000123ULL);
  return {
      {{{"__name__", "http_requests_total"}, {"job", "api"}, {"region", "us-west-2"}},
       {{1000, 1.5}, {2000, 2.5}, {3000, FromBits(kStaleNaNBits)}}},
      {{{"__name__", "temp"}, {"zone", "ü-ñ"}},
       {{-5, std::numeric_limits<double>::infinity()},
        {std::numeric_limits<int64_t>::max(), -std::numeric_limits<double>::infinity()},
        {std::numeric_limits<int64_t>::min(), nan_payload}}},
      {{{"__name__", "empty"}}, {}},
  };
}

// Checks that `req` holds exactly `want`, labels in wire order, values bit-exact.
void ExpectDecoded(DecodedRequest& req, const std::vector<TestSeries>& want) {
  ASSERT_EQ(req.series.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const DecodedSeries& ts = req.series[i];
    auto labels = req.Labels(ts);
    ASSERT_EQ(labels.size(), want[i].labels.size()) << "series " << i;
    for (size_t j = 0; j < labels.size(); ++j) {
      EXPECT_EQ(labels[j].name, want[i].labels[j].first);
      EXPECT_EQ(labels[j].value, want[i].labels[j].second);
    }
    auto samples = req.Samples(ts);
    ASSERT_EQ(samples.size(), want[i].samples.size()) << "series " << i;
    for (size_t j = 0; j < samples.size(); ++j) {
      EXPECT_EQ(samples[j].t_ms, want[i].samples[j].t_ms);
      EXPECT_EQ(Bits(samples[j].v), Bits(want[i].samples[j].v));
    }
    EXPECT_EQ(ts.histograms, static_cast<uint32_t>(want[i].histograms));
    EXPECT_EQ(ts.exemplars, static_cast<uint32_t>(want[i].exemplars));
  }
}

TEST(DecoderV1, RoundTripIsBitExact) {
  auto series = SampleSeries();
  series[0].histograms = 2;
  series[1].exemplars = 3;
  std::string raw = testing::ToV1(series).SerializeAsString();
  DecodedRequest req;
  ASSERT_TRUE(DecodeWriteRequestV1(raw, &req).ok());
  ExpectDecoded(req, series);
  // Labels are views into the input buffer (zero-copy).
  EXPECT_GE(req.labels[0].name.data(), raw.data());
  EXPECT_LT(req.labels[0].name.data(), raw.data() + raw.size());
}

TEST(DecoderV1, FastPathEdges) {
  // Long strings (2-byte length varints), zero values and timestamps (fields
  // omitted by the serializer), negative timestamps (10-byte varints).
  std::vector<TestSeries> series = {
      {{{"__name__", std::string(300, 'm')}, {std::string(128, 'n'), std::string(127, 'v')}},
       {{0, 0.0}, {-1, 1.0}, {std::numeric_limits<int64_t>::min(), 0.0}, {1, -0.0}}},
  };
  std::string raw = testing::ToV1(series).SerializeAsString();
  DecodedRequest req;
  ASSERT_TRUE(DecodeWriteRequestV1(raw, &req).ok());
  ExpectDecoded(req, series);
}

TEST(DecoderV1, EmptyRequestAndReuse) {
  DecodedRequest req;
  std::string raw = testing::ToV1(SampleSeries()).SerializeAsString();
  ASSERT_TRUE(DecodeWriteRequestV1(raw, &req).ok());
  ASSERT_TRUE(DecodeWriteRequestV1("", &req).ok());
  EXPECT_TRUE(req.series.empty());
  EXPECT_TRUE(req.labels.empty());
  EXPECT_TRUE(req.samples.empty());
}

TEST(DecoderV1, Metadata) {
  prometheus::WriteRequest w;
  auto* md = w.add_metadata();
  md->set_type(prometheus::MetricMetadata::COUNTER);
  md->set_metric_family_name("http_requests_total");
  md->set_help("Requests.");
  md->set_unit("requests");
  auto* md2 = w.add_metadata();
  md2->set_type(static_cast<prometheus::MetricMetadata::MetricType>(42));  // unknown enum value
  md2->set_metric_family_name("x");
  std::string raw = w.SerializeAsString();  // outlives the views
  DecodedRequest req;
  ASSERT_TRUE(DecodeWriteRequestV1(raw, &req).ok());
  ASSERT_EQ(req.metadata.size(), 2u);
  EXPECT_EQ(req.metadata[0].type, MetricType::kCounter);
  EXPECT_EQ(req.metadata[0].metric_family, "http_requests_total");
  EXPECT_EQ(req.metadata[0].help, "Requests.");
  EXPECT_EQ(req.metadata[0].unit, "requests");
  EXPECT_EQ(req.metadata[1].type, MetricType::kUnknown);
  EXPECT_TRUE(req.series.empty());
}

// Adds unknown fields of every wire type to `fields`.
void AddUnknowns(google::protobuf::UnknownFieldSet* fields) {
  fields->AddVarint(99, 12345678901234ULL);
  fields->AddFixed32(100, 7);
  fields->AddFixed64(101, 9);
  fields->AddLengthDelimited(102, "junk\xff");
  google::protobuf::UnknownFieldSet* group = fields->AddGroup(103);
  group->AddVarint(1, 5);
  group->AddGroup(2)->AddFixed32(3, 4);
}

TEST(DecoderV1, UnknownFieldsAreSkippedAtEveryLevel) {
  auto series = SampleSeries();
  prometheus::WriteRequest w = testing::ToV1(series);
  const auto* refl = w.GetReflection();
  AddUnknowns(refl->MutableUnknownFields(&w));
  for (auto& ts : *w.mutable_timeseries()) {
    AddUnknowns(ts.GetReflection()->MutableUnknownFields(&ts));
    for (auto& l : *ts.mutable_labels()) AddUnknowns(l.GetReflection()->MutableUnknownFields(&l));
    for (auto& s : *ts.mutable_samples()) AddUnknowns(s.GetReflection()->MutableUnknownFields(&s));
  }
  std::string raw = w.SerializeAsString();
  prometheus::WriteRequest check;
  ASSERT_TRUE(check.ParseFromString(raw));
  DecodedRequest req;
  absl::Status st = DecodeWriteRequestV1(raw, &req);
  ASSERT_TRUE(st.ok()) << st;
  ExpectDecoded(req, series);
}

struct BadCase {
  const char* name;
  std::string raw;
  const char* want;  // substring of the message
};

// Prometheus's gogo-generated decoders reject a known field carrying another
// wire type ("proto: wrong wireType"), at every level; so does meridian.
TEST(DecoderV1, KnownFieldWithWrongWireTypeIsMalformed) {
  auto wrap_ts = [](const std::string& ts) {
    std::string raw;
    PutLen(&raw, 1, ts);
    return raw;
  };
  auto wrap_sample = [&](const std::string& sample) {
    std::string ts;
    PutLen(&ts, 2, sample);
    return wrap_ts(ts);
  };
  std::string value_as_varint;  // Sample.value (double) sent as a varint
  PutTag(&value_as_varint, 1, 0);
  PutVarint(&value_as_varint, 3);
  PutTag(&value_as_varint, 2, 0);
  PutVarint(&value_as_varint, 7);
  std::string ts_as_fixed64;  // Sample.timestamp (int64) sent as fixed64
  PutTag(&ts_as_fixed64, 2, 1);
  ts_as_fixed64.append(8, '\0');
  std::string label;  // Label.value sent as fixed32
  PutLen(&label, 1, "__name__");
  PutTag(&label, 2, 5);
  label.append("abcd");
  std::string label_ts;
  PutLen(&label_ts, 1, label);
  std::string samples_as_varint;  // TimeSeries.samples sent as a varint
  PutTag(&samples_as_varint, 2, 0);
  PutVarint(&samples_as_varint, 1);
  std::string top_varint;  // WriteRequest.timeseries sent as a varint
  PutTag(&top_varint, 1, 0);
  PutVarint(&top_varint, 5);
  std::string metadata_fixed32;  // WriteRequest.metadata sent as fixed32
  PutTag(&metadata_fixed32, 3, 5);
  metadata_fixed32.append("abcd");
  std::string md;  // MetricMetadata.type sent length-delimited
  PutLen(&md, 1, "x");
  std::string md_raw;
  PutLen(&md_raw, 3, md);
  std::vector<BadCase> cases = {
      {"sample value as varint", wrap_sample(value_as_varint),
       "timeseries[0].samples: wrong wire type"},
      {"sample timestamp as fixed64", wrap_sample(ts_as_fixed64),
       "timeseries[0].samples: wrong wire type"},
      {"label value as fixed32", wrap_ts(label_ts), "timeseries[0].labels: wrong wire type"},
      {"samples as varint", wrap_ts(samples_as_varint), "timeseries[0]: wrong wire type"},
      {"timeseries as varint", top_varint, "WriteRequest.timeseries: wrong wire type"},
      {"metadata as fixed32", metadata_fixed32, "WriteRequest.metadata: wrong wire type"},
      {"metadata type as bytes", md_raw, "WriteRequest.metadata: wrong wire type"},
  };
  for (const BadCase& c : cases) {
    DecodedRequest req;
    absl::Status st = DecodeWriteRequestV1(c.raw, &req);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(st.message().find(c.want), std::string::npos) << c.name << ": " << st;
  }
  // Unknown fields keep being skipped whatever their wire type.
  std::string sample;
  PutTag(&sample, 9, 0);
  PutVarint(&sample, 1);
  PutTag(&sample, 2, 0);
  PutVarint(&sample, 7);
  DecodedRequest req;
  ASSERT_TRUE(DecodeWriteRequestV1(wrap_sample(sample), &req).ok());
  EXPECT_EQ(req.samples.at(0).t_ms, 7);
}

TEST(DecoderV2, KnownFieldWithWrongWireTypeIsMalformed) {
  std::string head;
  for (const char* s : {"", "__name__", "up"}) PutLen(&head, 4, s);
  std::string refs;
  PutVarint(&refs, 1);
  PutVarint(&refs, 2);
  auto with_ts = [&](const std::string& extra) {
    std::string ts;
    PutLen(&ts, 1, refs);
    ts += extra;
    std::string raw = head;
    PutLen(&raw, 5, ts);
    return raw;
  };
  std::string value_as_varint;
  PutTag(&value_as_varint, 1, 0);
  PutVarint(&value_as_varint, 3);
  std::string sample_bad;
  PutLen(&sample_bad, 2, value_as_varint);
  std::string samples_fixed32;
  PutTag(&samples_fixed32, 2, 5);
  samples_fixed32.append("abcd");
  std::string refs_fixed64;
  PutTag(&refs_fixed64, 1, 1);
  refs_fixed64.append(8, '\0');
  std::string md_bad;
  {
    std::string md;
    PutTag(&md, 3, 1);  // help_ref as fixed64
    md.append(8, '\0');
    PutLen(&md_bad, 5, md);
  }
  std::string symbols_varint = head;
  PutTag(&symbols_varint, 4, 0);
  PutVarint(&symbols_varint, 1);
  std::string created_ts;  // reserved 6 (created_timestamp <= 3.7): still skipped
  PutTag(&created_ts, 6, 0);
  PutVarint(&created_ts, 1234);
  std::vector<BadCase> cases = {
      {"sample value as varint", with_ts(sample_bad), "timeseries[0].samples: wrong wire type"},
      {"samples as fixed32", with_ts(samples_fixed32), "timeseries[0]: wrong wire type"},
      {"labels_refs as fixed64", with_ts(refs_fixed64), "labels_refs: wrong wire type"},
      {"metadata help_ref as fixed64", with_ts(md_bad), "metadata: wrong wire type"},
      {"symbols as varint", symbols_varint, "Request.symbols: wrong wire type"},
  };
  for (const BadCase& c : cases) {
    DecodedRequest req;
    absl::Status st = DecodeWriteRequestV2(c.raw, &req);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(st.message().find(c.want), std::string::npos) << c.name << ": " << st;
  }
  DecodedRequest req;
  const std::string raw = with_ts(created_ts);  // outlives the views into it
  absl::Status st = DecodeWriteRequestV2(raw, &req);
  ASSERT_TRUE(st.ok()) << st;
  ExpectDecoded(req, {{{{"__name__", "up"}}, {}}});
}

TEST(DecoderV1, RepeatedScalarFieldLastWins) {
  std::string sample;
  PutTag(&sample, 2, 0);
  PutVarint(&sample, 1);
  PutTag(&sample, 2, 0);
  PutVarint(&sample, static_cast<uint64_t>(int64_t{-2}));  // negative int64: 10-byte varint
  std::string ts;
  PutLen(&ts, 2, sample);
  std::string raw;
  PutLen(&raw, 1, ts);
  DecodedRequest req;
  ASSERT_TRUE(DecodeWriteRequestV1(raw, &req).ok());
  EXPECT_EQ(req.samples[0].t_ms, -2);
}

TEST(DecoderV1, MalformedInputIsInvalidArgument) {
  std::string long_varint;
  PutTag(&long_varint, 9, 0);
  long_varint.append(11, '\xff');
  long_varint.push_back(0);
  std::string bad_len;
  PutTag(&bad_len, 1, 2);
  PutVarint(&bad_len, 1000);
  bad_len.append("xx");
  std::string bad_inner;  // timeseries containing a truncated sample
  {
    std::string sample;
    PutTag(&sample, 1, 1);
    sample.append("\x01\x02\x03", 3);
    std::string ts;
    PutLen(&ts, 2, sample);
    PutLen(&bad_inner, 1, ts);
  }
  std::string field0;
  PutTag(&field0, 0, 0);
  PutVarint(&field0, 1);
  std::string wt7;
  PutTag(&wt7, 5, 7);
  std::string unterminated_group;
  PutTag(&unterminated_group, 9, 3);
  PutTag(&unterminated_group, 1, 0);
  PutVarint(&unterminated_group, 1);
  std::string stray_end_group;
  PutTag(&stray_end_group, 9, 4);
  std::string deep_groups;
  for (int i = 0; i < 40; ++i) PutTag(&deep_groups, 9, 3);
  std::vector<BadCase> cases = {
      {"varint too long", long_varint, "varint longer than 10 bytes"},
      {"length past end", bad_len, "length past end of message"},
      {"truncated fixed64 in sample", bad_inner, "WriteRequest.timeseries[0].samples"},
      {"field number 0", field0, "field number 0"},
      {"wire type 7", wt7, "invalid wire type"},
      {"unterminated group", unterminated_group, "unterminated group"},
      {"stray end group", stray_end_group, "unexpected end-group"},
      {"deep groups", deep_groups, "nested too deep"},
      {"truncated tag", std::string("\x80", 1), "truncated varint"},
  };
  for (const BadCase& c : cases) {
    DecodedRequest req;
    absl::Status st = DecodeWriteRequestV1(c.raw, &req);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(st.message().find(c.want), std::string::npos) << c.name << ": " << st;
  }
}

TEST(DecoderV2, RoundTripIsBitExact) {
  auto series = SampleSeries();
  series[0].histograms = 1;
  series[2].exemplars = 2;
  std::string raw = testing::ToV2(series).SerializeAsString();
  DecodedRequest req;
  absl::Status st = DecodeWriteRequestV2(raw, &req);
  ASSERT_TRUE(st.ok()) << st;
  ExpectDecoded(req, series);
}

TEST(DecoderV2, PackedAndUnpackedRefsAgree) {
  // symbols: "", "__name__", "up", "job", "x"
  std::string head;
  for (const char* s : {"", "__name__", "up", "job", "x"}) PutLen(&head, 4, s);
  std::string sample;
  PutTag(&sample, 1, 1);
  double v = 1.25;
  sample.append(reinterpret_cast<const char*>(&v), 8);
  PutTag(&sample, 2, 0);
  PutVarint(&sample, 77);
  PutTag(&sample, 3, 0);  // start_timestamp: ignored
  PutVarint(&sample, 5);

  std::string packed_ts;
  std::string refs;
  for (uint32_t r : {1, 2, 3, 4}) PutVarint(&refs, r);
  PutLen(&packed_ts, 1, refs);
  PutLen(&packed_ts, 2, sample);

  std::string unpacked_ts;
  for (uint32_t r : {1, 2}) {
    PutTag(&unpacked_ts, 1, 0);
    PutVarint(&unpacked_ts, r);
  }
  PutLen(&unpacked_ts, 2, sample);
  std::string two;  // mixed: the second pair packed
  PutVarint(&two, 3);
  PutVarint(&two, 4);
  PutLen(&unpacked_ts, 1, two);

  for (const std::string* ts : {&packed_ts, &unpacked_ts}) {
    std::string raw = head;
    PutLen(&raw, 5, *ts);
    DecodedRequest req;
    absl::Status st = DecodeWriteRequestV2(raw, &req);
    ASSERT_TRUE(st.ok()) << st;
    ExpectDecoded(req, {{{{"__name__", "up"}, {"job", "x"}}, {{77, 1.25}}}});
  }
  // Symbols may come after the series.
  std::string reordered;
  PutLen(&reordered, 5, packed_ts);
  reordered += head;
  DecodedRequest req;
  ASSERT_TRUE(DecodeWriteRequestV2(reordered, &req).ok());
  ExpectDecoded(req, {{{{"__name__", "up"}, {"job", "x"}}, {{77, 1.25}}}});
}

TEST(DecoderV2, Metadata) {
  auto w = testing::ToV2({{{{"__name__", "up"}}, {{1, 1}}}});
  auto* md = w.mutable_timeseries(0)->mutable_metadata();
  md->set_type(io::prometheus::write::v2::Metadata::METRIC_TYPE_GAUGE);
  w.add_symbols("Whether up.");
  w.add_symbols("bool");
  md->set_help_ref(w.symbols_size() - 2);
  md->set_unit_ref(w.symbols_size() - 1);
  std::string raw = w.SerializeAsString();
  DecodedRequest req;
  ASSERT_TRUE(DecodeWriteRequestV2(raw, &req).ok());
  const DecodedSeries& ts = req.series[0];
  EXPECT_TRUE(ts.has_metadata);
  EXPECT_EQ(ts.metadata_type, MetricType::kGauge);
  EXPECT_EQ(ts.metadata_help, "Whether up.");
  EXPECT_EQ(ts.metadata_unit, "bool");
}

TEST(DecoderV2, BadSymbolsAndRefs) {
  auto base = testing::ToV2({{{{"__name__", "up"}, {"job", "x"}}, {{1, 1}}}});
  struct Case {
    const char* name;
    io::prometheus::write::v2::Request req;
    const char* want;
  };
  std::vector<Case> cases;
  {
    Case c{"symbols[0] not empty", base, "symbols[0] must be the empty string"};
    c.req.set_symbols(0, "oops");
    cases.push_back(c);
  }
  {
    Case c{"odd refs", base, "odd number of label references (5)"};
    c.req.mutable_timeseries(0)->add_labels_refs(1);
    cases.push_back(c);
  }
  {
    Case c{"ref out of range", base, "label symbol reference 99 out of range (5 symbols)"};
    c.req.mutable_timeseries(0)->set_labels_refs(3, 99);
    cases.push_back(c);
  }
  {
    Case c{"help ref out of range", base, "metadata: symbol reference 50 out of range"};
    c.req.mutable_timeseries(0)->mutable_metadata()->set_help_ref(50);
    cases.push_back(c);
  }
  {
    Case c{"refs without symbols", base, "out of range (0 symbols)"};
    c.req.clear_symbols();
    cases.push_back(c);
  }
  for (const Case& c : cases) {
    DecodedRequest req;
    absl::Status st = DecodeWriteRequestV2(c.req.SerializeAsString(), &req);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(st.message().find(c.want), std::string::npos) << c.name << ": " << st;
  }
}

// Fields 1-3 are reserved in 2.0 so that a 1.0 body is recognized: a 1.0
// WriteRequest sent with the 2.0 Content-Type is refused (415), not read as
// an empty 2.0 request that stores nothing.
TEST(DecoderV2, V1BodyIsUnsupportedMediaType) {
  std::string raw = testing::ToV1(SampleSeries()).SerializeAsString();
  DecodedRequest req;
  absl::Status st = DecodeWriteRequestV2(raw, &req);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnimplemented) << st;
  EXPECT_NE(st.message().find("prometheus.WriteRequest protobuf message sent as "
                              "io.prometheus.write.v2.Request"),
            std::string::npos)
      << st;
  // Metadata-only 1.0 body (field 3).
  std::string md;
  PutLen(&md, 2, "up");
  std::string md_raw;
  PutLen(&md_raw, 3, md);
  EXPECT_EQ(DecodeWriteRequestV2(md_raw, &req).code(), absl::StatusCode::kUnimplemented);
  // An empty body is an empty request in both versions.
  EXPECT_TRUE(DecodeWriteRequestV2("", &req).ok());
}

// Labels with empty values are not kept; DecodeLimits bound what is held.
TEST(DecoderLimits, EmptyValuesDroppedAndCountsBounded) {
  std::vector<TestSeries> series = {
      {{{"__name__", "a"}, {"x", ""}, {"b", "1"}, {"c", "2"}, {"d", "3"}}, {{1, 1}, {2, 2}}},
      {{{"__name__", "b"}}, {{1, 1}}},
  };
  for (bool v2 : {false, true}) {
    std::string raw =
        v2 ? testing::ToV2(series).SerializeAsString() : testing::ToV1(series).SerializeAsString();
    auto decode = [&](const DecodeLimits& l, DecodedRequest* req) {
      return v2 ? DecodeWriteRequestV2(raw, req, l) : DecodeWriteRequestV1(raw, req, l);
    };
    DecodedRequest req;
    DecodeLimits l;
    l.max_labels_kept = 2;
    ASSERT_TRUE(decode(l, &req).ok());
    EXPECT_EQ(req.series[0].labels_total, 4u);  // x="" is absent
    ASSERT_EQ(req.Labels(req.series[0]).size(), 2u);
    EXPECT_EQ(req.Labels(req.series[0])[1].name, "b");
    EXPECT_EQ(req.series[1].labels_total, 1u);
    l = {};
    l.max_series = 1;
    absl::Status st = decode(l, &req);
    EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
    EXPECT_NE(st.message().find("more than 1 series"), std::string::npos) << st;
    l = {};
    l.max_samples = 2;
    st = decode(l, &req);
    EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
    EXPECT_NE(st.message().find("more than 2 samples"), std::string::npos) << st;
    l.max_samples = 3;
    EXPECT_TRUE(decode(l, &req).ok());
    if (v2) {
      l = {};
      l.max_symbols = 3;
      EXPECT_EQ(decode(l, &req).code(), absl::StatusCode::kResourceExhausted);
    }
  }
}

}  // namespace
}  // namespace meridian::ingest
