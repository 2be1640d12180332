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

TEST(DecoderV1, KnownFieldWithWrongWireTypeIsSkipped) {
  // Sample{value as varint (wrong), timestamp=7}; Label{name, value as fixed32 (wrong)}.
  std::string sample;
  PutTag(&sample, 1, 0);
  PutVarint(&sample, 3);
  PutTag(&sample, 2, 0);
  PutVarint(&sample, 7);
  std::string label;
  PutLen(&label, 1, "__name__");
  PutTag(&label, 2, 5);
  label.append("abcd");
  std::string ts;
  PutLen(&ts, 1, label);
  PutLen(&ts, 2, sample);
  std::string raw;
  PutLen(&raw, 1, ts);
  DecodedRequest req;
  ASSERT_TRUE(DecodeWriteRequestV1(raw, &req).ok());
  ASSERT_EQ(req.samples.size(), 1u);
  EXPECT_EQ(req.samples[0].t_ms, 7);
  EXPECT_EQ(req.samples[0].v, 0.0);
  ASSERT_EQ(req.labels.size(), 1u);
  EXPECT_EQ(req.labels[0].value, "");
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

struct BadCase {
  const char* name;
  std::string raw;
  const char* want;  // substring of the message
};

TEST(DecoderV1, MalformedInputIsInvalidArgument) {
  std::string long_varint;
  PutTag(&long_varint, 1, 0);
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

TEST(DecoderV2, V1BodyDecodesAsEmptyV2) {
  // Fields 1-3 are reserved in v2: a v1 body is an empty v2 request (hence
  // the Content-Type negotiation).
  std::string raw = testing::ToV1(SampleSeries()).SerializeAsString();
  DecodedRequest req;
  ASSERT_TRUE(DecodeWriteRequestV2(raw, &req).ok());
  EXPECT_TRUE(req.series.empty());
}

}  // namespace
}  // namespace meridian::ingest
