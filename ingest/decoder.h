// Zero-copy decoders for Prometheus remote-write bodies (already snappy
// decompressed): 1.0 prometheus.WriteRequest and 2.0
// io.prometheus.write.v2.Request. Wire facts: docs interfaces notes section 1;
// field numbers in proto/types.proto, proto/remote.proto, proto/write_v2.proto.
//
// The decoders check structure only (bounds, wire types, v2 symbol
// references); label semantics (names, UTF-8, order) are checked afterwards by
// NormalizeLabels (ingest/labels_check.h). Unknown fields are skipped; a known
// field with another wire type than its declared one is malformed (as in
// Prometheus's gogo-generated decoders), except that repeated scalars accept
// both packed and unpacked encodings. A 2.0 body using the fields 1-3 reserved
// in 2.0 is a 1.0 WriteRequest sent with a 2.0 Content-Type: kUnimplemented.
// Labels with an empty value are absent: they are not kept (as
// NormalizeLabels would drop them). Native histograms and exemplars are
// counted, not decoded.
//
// Memory: DecodeLimits bound what one request can make the decoder hold
// (series, samples, symbols; labels kept per series), whatever the body's
// size: past a count limit decoding stops with kResourceExhausted.
//
// Ownership: every string_view in a DecodedRequest points into the buffer
// passed to the decoder, which must outlive the DecodedRequest's use.
// Reuse one DecodedRequest across calls: its vectors keep their capacity, so a
// warmed-up decoder does no heap allocation.
//
//   DecodedRequest req;
//   absl::Status s = DecodeWriteRequestV1(decompressed, &req);
//   for (const DecodedSeries& ts : req.series) { auto labels = req.Labels(ts); ... }
//
// Thread-safety: the functions are thread-safe; a DecodedRequest is not.
#ifndef MERIDIAN_INGEST_DECODER_H_
#define MERIDIAN_INGEST_DECODER_H_

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "model/appender.h"
#include "model/labels.h"
#include "model/queryable.h"
#include "model/status.h"

namespace meridian::ingest {

// Bounds on what one request may hold; see the file comment.
struct DecodeLimits {
  size_t max_series = SIZE_MAX;       // TimeSeries (and 1.0 metadata entries)
  size_t max_samples = SIZE_MAX;      // samples, all series together
  size_t max_symbols = SIZE_MAX;      // 2.0 symbol table entries
  size_t max_labels_kept = SIZE_MAX;  // labels kept per series; the rest are only counted
};

// One TimeSeries of a request: index ranges into DecodedRequest's vectors.
struct DecodedSeries {
  uint32_t labels_begin = 0;  // [labels_begin, labels_end) in DecodedRequest::labels
  uint32_t labels_end = 0;
  // Non-empty-valued labels on the wire; more than labels_end - labels_begin
  // when DecodeLimits::max_labels_kept cut the series' labels off.
  uint32_t labels_total = 0;
  uint32_t samples_begin = 0;  // [samples_begin, samples_end) in DecodedRequest::samples
  uint32_t samples_end = 0;
  // 1.0 only: bytes of the request spanning every label of the series
  // (their tags and lengths, and any field between them, included), so that
  // one pass can tell that all names and values are ASCII. Empty when not
  // known (2.0, or a series without labels).
  std::string_view label_bytes;
  uint32_t histograms = 0;  // native histograms carried (not decoded)
  uint32_t exemplars = 0;   // exemplars carried (not decoded)
  // 2.0 only: the series' Metadata message, when present.
  bool has_metadata = false;
  MetricType metadata_type = MetricType::kUnknown;
  std::string_view metadata_help;
  std::string_view metadata_unit;
};

// One 1.0 MetricMetadata entry.
struct DecodedMetadata {
  MetricType type = MetricType::kUnknown;
  std::string_view metric_family;
  std::string_view help;
  std::string_view unit;
};

struct DecodedRequest {
  std::vector<DecodedSeries> series;
  std::vector<LabelView> labels;          // labels of all series, as they came on the wire
  std::vector<Sample> samples;            // samples of all series, bit-exact values
  std::vector<DecodedMetadata> metadata;  // 1.0 WriteRequest.metadata

  // Scratch for the 2.0 decoder.
  std::vector<std::string_view> symbols;
  std::vector<std::string_view> raw_series;

  // Empties the request, keeping capacity.
  void Clear();

  std::span<LabelView> Labels(const DecodedSeries& s) {
    return {labels.data() + s.labels_begin, labels.data() + s.labels_end};
  }
  std::span<const Sample> Samples(const DecodedSeries& s) const {
    return {samples.data() + s.samples_begin, samples.data() + s.samples_end};
  }
  uint64_t NumSamples() const { return samples.size(); }
};

// Decodes a 1.0 WriteRequest from `buf` into *out (cleared first).
// Returns kInvalidArgument on malformed protobuf (message names the field and
// the reason); *out is then unspecified. REQUIRES: buf.size() < 4 GiB.
absl::Status DecodeWriteRequestV1(std::string_view buf, DecodedRequest* out,
                                  const DecodeLimits& limits = {});

// Decodes a 2.0 Request from `buf` into *out (cleared first), resolving
// symbol references into views of the symbol strings. Besides malformed
// protobuf, returns kInvalidArgument when symbols[0] is not "", when a series
// has an odd number of label references, or when any reference (labels,
// metadata help/unit) is out of range; kUnimplemented for a 1.0 body (see
// above). REQUIRES: buf.size() < 4 GiB.
absl::Status DecodeWriteRequestV2(std::string_view buf, DecodedRequest* out,
                                  const DecodeLimits& limits = {});

}  // namespace meridian::ingest

#endif  // MERIDIAN_INGEST_DECODER_H_
