// Test and benchmark helpers: remote-write request bodies built with the
// generated protobuf classes (proto/), the reference the hand-written decoder
// is checked against. Header-only; not part of meridian_ingest.
#ifndef MERIDIAN_INGEST_TEST_REQUESTS_H_
#define MERIDIAN_INGEST_TEST_REQUESTS_H_

#include <snappy.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/queryable.h"
#include "proto/remote.pb.h"
#include "proto/types.pb.h"
#include "proto/write_v2.pb.h"

namespace meridian::ingest::testing {

struct TestSeries {
  std::vector<std::pair<std::string, std::string>> labels;  // in wire order
  std::vector<Sample> samples;
  int histograms = 0;
  int exemplars = 0;
};

inline prometheus::WriteRequest ToV1(const std::vector<TestSeries>& series) {
  prometheus::WriteRequest req;
  for (const TestSeries& s : series) {
    prometheus::TimeSeries* ts = req.add_timeseries();
    for (const auto& [n, v] : s.labels) {
      prometheus::Label* l = ts->add_labels();
      l->set_name(n);
      l->set_value(v);
    }
    for (const Sample& x : s.samples) {
      prometheus::Sample* ps = ts->add_samples();
      ps->set_value(x.v);
      ps->set_timestamp(x.t_ms);
    }
    for (int i = 0; i < s.histograms; ++i) {
      prometheus::Histogram* h = ts->add_histograms();
      h->set_count_int(10 + i);
      h->set_sum(1.5);
      h->set_schema(-2);
      h->add_positive_spans()->set_length(2);
      h->add_positive_deltas(3);
      h->add_positive_deltas(-1);
      h->set_timestamp(1000 + i);
    }
    for (int i = 0; i < s.exemplars; ++i) {
      prometheus::Exemplar* e = ts->add_exemplars();
      prometheus::Label* l = e->add_labels();
      l->set_name("trace_id");
      l->set_value("abc123");
      e->set_value(0.5);
      e->set_timestamp(1000 + i);
    }
  }
  return req;
}

// Builds a 2.0 request with a deduplicated symbol table ("" first).
inline io::prometheus::write::v2::Request ToV2(const std::vector<TestSeries>& series) {
  io::prometheus::write::v2::Request req;
  std::map<std::string, uint32_t> index;
  auto sym = [&](const std::string& s) -> uint32_t {
    auto [it, inserted] = index.emplace(s, static_cast<uint32_t>(req.symbols_size()));
    if (inserted) req.add_symbols(s);
    return it->second;
  };
  sym("");
  for (const TestSeries& s : series) {
    io::prometheus::write::v2::TimeSeries* ts = req.add_timeseries();
    for (const auto& [n, v] : s.labels) {
      ts->add_labels_refs(sym(n));
      ts->add_labels_refs(sym(v));
    }
    for (const Sample& x : s.samples) {
      auto* ps = ts->add_samples();
      ps->set_value(x.v);
      ps->set_timestamp(x.t_ms);
    }
    for (int i = 0; i < s.histograms; ++i) {
      auto* h = ts->add_histograms();
      h->set_count_float(10 + i);
      h->set_schema(3);
      h->add_positive_counts(4);
      h->set_timestamp(1000 + i);
    }
    for (int i = 0; i < s.exemplars; ++i) {
      auto* e = ts->add_exemplars();
      e->add_labels_refs(sym("trace_id"));
      e->add_labels_refs(sym("abc123"));
      e->set_value(0.5);
      e->set_timestamp(1000 + i);
    }
  }
  return req;
}

inline std::string SnappyCompress(const std::string& raw) {
  std::string out;
  snappy::Compress(raw.data(), raw.size(), &out);
  return out;
}

inline std::string V1Body(const std::vector<TestSeries>& series) {
  return SnappyCompress(ToV1(series).SerializeAsString());
}

inline std::string V2Body(const std::vector<TestSeries>& series) {
  return SnappyCompress(ToV2(series).SerializeAsString());
}

// Raw wire-format writers for hand-crafted inputs (unpacked fields, bad data).
inline void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
inline void PutTag(std::string* out, uint32_t field, int wire_type) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
}
inline void PutLen(std::string* out, uint32_t field, const std::string& bytes) {
  PutTag(out, field, 2);
  PutVarint(out, bytes.size());
  out->append(bytes);
}

}  // namespace meridian::ingest::testing

#endif  // MERIDIAN_INGEST_TEST_REQUESTS_H_
