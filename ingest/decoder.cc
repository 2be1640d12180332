#include "ingest/decoder.h"

#include <cstring>
#include <limits>

#include "ingest/error_message.h"
#include "ingest/wire.h"

namespace meridian::ingest {
namespace {

// Builds the error for malformed input; only runs on the error path.
absl::Status Malformed(std::string_view message, size_t ts_index, std::string_view where,
                       const WireReader& r) {
  return absl::InvalidArgumentError(ErrorMessage("malformed ", message, ".timeseries[", ts_index,
                                                 "]", where, ": ", r.error(), " at byte ",
                                                 r.offset()));
}

absl::Status MalformedTop(std::string_view message, std::string_view where, const WireReader& r) {
  return absl::InvalidArgumentError(
      ErrorMessage("malformed ", message, where, ": ", r.error(), " at byte ", r.offset()));
}

MetricType ToMetricType(uint64_t v) {
  // 1.0 MetricMetadata.MetricType and 2.0 Metadata.MetricType share numbering.
  return v <= 7 ? static_cast<MetricType>(v) : MetricType::kUnknown;
}

// Sample (1.0 and 2.0): value = 1 (double), timestamp = 2 (int64); 2.0's
// start_timestamp = 3 is skipped as unknown.
inline __attribute__((always_inline)) bool DecodeSample(std::string_view buf, Sample* out,
                                                        WireReader* err) {
  // Fast path for the canonical encoding: 0x09 <8-byte double> 0x10 <varint>
  // with the varint ending exactly at the end of the message.
  const auto* b = reinterpret_cast<const uint8_t*>(buf.data());
  if (buf.size() >= 11 && buf.size() <= 20 && b[0] == 0x09 && b[9] == 0x10) {
    uint64_t t = 0;
    size_t i = 10;
    for (int shift = 0; i < buf.size() && shift < 70; shift += 7, ++i) {
      t |= static_cast<uint64_t>(b[i] & 0x7F) << shift;
      if (b[i] < 0x80) break;
    }
    if (i + 1 == buf.size() && b[i] < 0x80) {
      std::memcpy(&out->v, b + 1, 8);
      out->t_ms = static_cast<int64_t>(t);
      return true;
    }
  }
  WireReader r(buf);
  out->t_ms = 0;
  out->v = 0;
  while (!r.done()) {
    uint32_t field;
    WireType wt;
    if (!r.ReadTag(&field, &wt)) break;
    if (field == 1) {
      if (wt != WireType::kFixed64) {
        r.FailWrongWireType();
        break;
      }
      if (!r.ReadDouble(&out->v)) break;
    } else if (field == 2) {
      if (wt != WireType::kVarint) {
        r.FailWrongWireType();
        break;
      }
      uint64_t t;
      if (!r.ReadVarint(&t)) break;
      out->t_ms = static_cast<int64_t>(t);
    } else if (!r.Skip(field, wt)) {
      break;
    }
  }
  if (r.done() && *r.error() == '\0') return true;
  *err = r;
  return false;
}

// 1.0 Label: name = 1, value = 2.
inline __attribute__((always_inline)) bool DecodeLabel(std::string_view buf, LabelView* out,
                                                       WireReader* err) {
  // Fast path for the canonical encoding every sender emits:
  // 0x0A len name 0x12 len value, both lengths < 128.
  const auto* b = reinterpret_cast<const uint8_t*>(buf.data());
  const size_t n = buf.size();
  if (n >= 4 && b[0] == 0x0A && b[1] < 0x80) {
    const size_t name_len = b[1];
    if (name_len + 4 <= n && b[2 + name_len] == 0x12 && b[3 + name_len] < 0x80 &&
        name_len + 4 + b[3 + name_len] == n) {
      out->name = std::string_view(buf.data() + 2, name_len);
      out->value = std::string_view(buf.data() + 4 + name_len, b[3 + name_len]);
      return true;
    }
  }
  WireReader r(buf);
  *out = LabelView{};
  while (!r.done()) {
    uint32_t field;
    WireType wt;
    if (!r.ReadTag(&field, &wt)) break;
    if (field == 1 || field == 2) {
      if (wt != WireType::kLen) {
        r.FailWrongWireType();
        break;
      }
      if (!r.ReadBytes(field == 1 ? &out->name : &out->value)) break;
    } else if (!r.Skip(field, wt)) {
      break;
    }
  }
  if (r.done() && *r.error() == '\0') return true;
  *err = r;
  return false;
}

[[gnu::cold, gnu::noinline]] absl::Status TooManySamples(const DecodeLimits& limits) {
  return absl::ResourceExhaustedError(
      ErrorMessage("remote write request holds more than ", limits.max_samples,
                   " samples, the limit per request; send smaller requests (Prometheus: "
                   "queue_config.max_samples_per_send)"));
}

// Keeps a decoded label unless its value is empty (an empty-valued label is
// absent); keeps at most limits.max_labels_kept per series, counting all.
void KeepLabel(const LabelView& l, const DecodeLimits& limits, DecodedSeries* ts,
               DecodedRequest* out) {
  if (l.value.empty()) return;
  if (ts->labels_total++ < limits.max_labels_kept) out->labels.push_back(l);
}

absl::Status DecodeSeriesV1(std::string_view buf, size_t index, const DecodeLimits& limits,
                            DecodedRequest* out) {
  // Limits and counters in locals: the hot loop runs once per label and sample.
  std::vector<LabelView>& labels = out->labels;
  std::vector<Sample>& samples = out->samples;
  const size_t max_labels = limits.max_labels_kept;
  size_t sample_room = limits.max_samples - std::min(limits.max_samples, samples.size());
  uint32_t labels_total = 0;
  DecodedSeries ts;
  ts.labels_begin = static_cast<uint32_t>(labels.size());
  ts.samples_begin = static_cast<uint32_t>(samples.size());
  const char* labels_from = nullptr;
  const char* labels_to = nullptr;
  WireReader r(buf);
  WireReader err(std::string_view{});
  while (!r.done()) {
    uint32_t field;
    WireType wt;
    if (!r.ReadTag(&field, &wt)) return Malformed("WriteRequest", index, "", r);
    if (field > 4) {
      if (!r.Skip(field, wt)) return Malformed("WriteRequest", index, "", r);
      continue;
    }
    if (wt != WireType::kLen) {
      r.FailWrongWireType();
      return Malformed("WriteRequest", index, "", r);
    }
    std::string_view sub;
    if (!r.ReadBytes(&sub)) return Malformed("WriteRequest", index, "", r);
    switch (field) {
      case 1: {
        // Decoded in place; dropped again when empty-valued (absent) or
        // beyond max_labels (only counted).
        LabelView& label = labels.emplace_back();
        if (!DecodeLabel(sub, &label, &err)) {
          return Malformed("WriteRequest", index, ".labels", err);
        }
        if (labels_from == nullptr) labels_from = sub.data();
        labels_to = sub.data() + sub.size();
        if (label.value.empty()) {
          labels.pop_back();
        } else if (labels_total++ >= max_labels) {
          labels.pop_back();
        }
        break;
      }
      case 2:
        if (sample_room == 0) return TooManySamples(limits);
        --sample_room;
        if (!DecodeSample(sub, &samples.emplace_back(), &err)) {
          return Malformed("WriteRequest", index, ".samples", err);
        }
        break;
      case 3:
        ++ts.exemplars;
        break;
      case 4:
        ++ts.histograms;
        break;
    }
  }
  ts.labels_total = labels_total;
  if (labels_from != nullptr) {
    ts.label_bytes = std::string_view(labels_from, static_cast<size_t>(labels_to - labels_from));
  }
  ts.labels_end = static_cast<uint32_t>(labels.size());
  ts.samples_end = static_cast<uint32_t>(samples.size());
  out->series.push_back(ts);
  return absl::OkStatus();
}

// 1.0 MetricMetadata: type = 1, metric_family_name = 2, help = 4, unit = 5.
absl::Status DecodeMetadataV1(std::string_view buf, DecodedRequest* out) {
  DecodedMetadata md;
  WireReader r(buf);
  while (!r.done()) {
    uint32_t field;
    WireType wt;
    bool ok = r.ReadTag(&field, &wt);
    if (ok && (field == 1 || field == 2 || field == 4 || field == 5) &&
        wt != (field == 1 ? WireType::kVarint : WireType::kLen)) {
      ok = r.FailWrongWireType();
    } else if (ok && field == 1) {
      uint64_t v;
      ok = r.ReadVarint(&v);
      md.type = ToMetricType(v);
    } else if (ok && field == 2) {
      ok = r.ReadBytes(&md.metric_family);
    } else if (ok && field == 4) {
      ok = r.ReadBytes(&md.help);
    } else if (ok && field == 5) {
      ok = r.ReadBytes(&md.unit);
    } else if (ok) {
      ok = r.Skip(field, wt);
    }
    if (!ok) return MalformedTop("WriteRequest", ".metadata", r);
  }
  out->metadata.push_back(md);
  return absl::OkStatus();
}

// Reads the elements of one occurrence of a repeated uint32 field, packed or
// not, calling fn(value) for each; fn returns false to stop with an error.
template <typename Fn>
bool ReadRefs(WireReader* r, WireType wt, Fn&& fn) {
  uint64_t v;
  if (wt == WireType::kVarint) {
    if (!r->ReadVarint(&v)) return false;
    return fn(static_cast<uint32_t>(v));
  }
  std::string_view packed;
  if (!r->ReadBytes(&packed)) return false;
  WireReader p(packed);
  while (!p.done()) {
    if (!p.ReadVarint(&v)) {
      *r = p;
      return false;
    }
    if (!fn(static_cast<uint32_t>(v))) return false;
  }
  return true;
}

// 2.0 Metadata: type = 1, help_ref = 3, unit_ref = 4.
bool DecodeMetadataV2(std::string_view buf, uint64_t* type, uint64_t* help_ref, uint64_t* unit_ref,
                      WireReader* err) {
  WireReader r(buf);
  while (!r.done()) {
    uint32_t field;
    WireType wt;
    bool ok = r.ReadTag(&field, &wt);
    if (ok && (field == 1 || field == 3 || field == 4)) {
      ok = wt == WireType::kVarint ? r.ReadVarint(field == 1   ? type
                                                  : field == 3 ? help_ref
                                                               : unit_ref)
                                   : r.FailWrongWireType();
    } else if (ok) {
      ok = r.Skip(field, wt);
    }
    if (!ok) {
      *err = r;
      return false;
    }
  }
  return true;
}

absl::Status DecodeSeriesV2(std::string_view buf, size_t index, const DecodeLimits& limits,
                            DecodedRequest* out) {
  DecodedSeries ts;
  ts.labels_begin = static_cast<uint32_t>(out->labels.size());
  ts.samples_begin = static_cast<uint32_t>(out->samples.size());
  uint64_t md_type = 0, help_ref = 0, unit_ref = 0;
  const size_t nsym = out->symbols.size();
  // Label references are resolved as they come (the symbol table is complete
  // in pass 2), so a series with millions of references holds no memory.
  uint64_t num_refs = 0;
  uint32_t name_ref = 0;
  uint32_t bad_ref = 0;
  bool bad = false;
  auto on_ref = [&](uint32_t ref) {
    if (ref >= nsym) {
      bad = true;
      bad_ref = ref;
      return false;
    }
    if (num_refs++ % 2 == 0) {
      name_ref = ref;
    } else {
      KeepLabel(LabelView{out->symbols[name_ref], out->symbols[ref]}, limits, &ts, out);
    }
    return true;
  };
  WireReader r(buf);
  WireReader err(std::string_view{});
  while (!r.done()) {
    uint32_t field;
    WireType wt;
    if (!r.ReadTag(&field, &wt)) return Malformed("Request", index, "", r);
    if (field == 1) {
      if (wt != WireType::kVarint && wt != WireType::kLen) {
        r.FailWrongWireType();
        return Malformed("Request", index, ".labels_refs", r);
      }
      if (!ReadRefs(&r, wt, on_ref)) {
        if (bad) {
          return absl::InvalidArgumentError(ErrorMessage("invalid Request.timeseries[", index,
                                                         "]: label symbol reference ", bad_ref,
                                                         " out of range (", nsym, " symbols)"));
        }
        return Malformed("Request", index, ".labels_refs", r);
      }
      continue;
    }
    if (field > 5) {  // 6: created_timestamp of Prometheus <= 3.7, now reserved
      if (!r.Skip(field, wt)) return Malformed("Request", index, "", r);
      continue;
    }
    if (wt != WireType::kLen) {
      r.FailWrongWireType();
      return Malformed("Request", index, "", r);
    }
    std::string_view sub;
    if (!r.ReadBytes(&sub)) return Malformed("Request", index, "", r);
    switch (field) {
      case 2:
        if (out->samples.size() >= limits.max_samples) return TooManySamples(limits);
        if (!DecodeSample(sub, &out->samples.emplace_back(), &err)) {
          return Malformed("Request", index, ".samples", err);
        }
        break;
      case 3:
        ++ts.histograms;
        break;
      case 4:
        ++ts.exemplars;
        break;
      case 5:
        // Repeated occurrences merge: later fields overwrite earlier ones.
        ts.has_metadata = true;
        if (!DecodeMetadataV2(sub, &md_type, &help_ref, &unit_ref, &err)) {
          return Malformed("Request", index, ".metadata", err);
        }
        break;
    }
  }
  if (num_refs % 2 != 0) {
    return absl::InvalidArgumentError(ErrorMessage("invalid Request.timeseries[", index,
                                                   "]: odd number of label references (", num_refs,
                                                   ")"));
  }
  if (ts.has_metadata) {
    if (help_ref >= nsym || unit_ref >= nsym) {
      return absl::InvalidArgumentError(ErrorMessage(
          "invalid Request.timeseries[", index, "].metadata: symbol reference ",
          help_ref >= nsym ? help_ref : unit_ref, " out of range (", nsym, " symbols)"));
    }
    ts.metadata_type = ToMetricType(md_type);
    ts.metadata_help = out->symbols[help_ref];
    ts.metadata_unit = out->symbols[unit_ref];
  }
  ts.labels_end = static_cast<uint32_t>(out->labels.size());
  ts.samples_end = static_cast<uint32_t>(out->samples.size());
  out->series.push_back(ts);
  return absl::OkStatus();
}

absl::Status TooManySeries(const DecodeLimits& limits) {
  return absl::ResourceExhaustedError(
      ErrorMessage("remote write request holds more than ", limits.max_series,
                   " series, the limit per request; send smaller requests"));
}

}  // namespace

void DecodedRequest::Clear() {
  series.clear();
  labels.clear();
  samples.clear();
  metadata.clear();
  symbols.clear();
  raw_series.clear();
}

absl::Status DecodeWriteRequestV1(std::string_view buf, DecodedRequest* out,
                                  const DecodeLimits& limits) {
  out->Clear();
  if (buf.size() >= std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("remote-write request over 4 GiB");
  }
  WireReader r(buf);
  size_t index = 0;
  while (!r.done()) {
    uint32_t field;
    WireType wt;
    if (!r.ReadTag(&field, &wt)) return MalformedTop("WriteRequest", "", r);
    std::string_view sub;
    if ((field == 1 || field == 3) && wt != WireType::kLen) {
      r.FailWrongWireType();
      return MalformedTop("WriteRequest", field == 1 ? ".timeseries" : ".metadata", r);
    } else if (field == 1) {
      if (!r.ReadBytes(&sub)) return MalformedTop("WriteRequest", ".timeseries", r);
      if (index >= limits.max_series) return TooManySeries(limits);
      MERIDIAN_RETURN_IF_ERROR(DecodeSeriesV1(sub, index++, limits, out));
    } else if (field == 3) {
      if (!r.ReadBytes(&sub)) return MalformedTop("WriteRequest", ".metadata", r);
      if (out->metadata.size() >= limits.max_series) {
        return absl::ResourceExhaustedError(
            ErrorMessage("remote write request holds more than ", limits.max_series,
                         " metadata entries, the limit per request"));
      }
      MERIDIAN_RETURN_IF_ERROR(DecodeMetadataV1(sub, out));
    } else if (!r.Skip(field, wt)) {
      return MalformedTop("WriteRequest", "", r);
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeWriteRequestV2(std::string_view buf, DecodedRequest* out,
                                  const DecodeLimits& limits) {
  out->Clear();
  if (buf.size() >= std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("remote-write request over 4 GiB");
  }
  // Pass 1: the symbol table and the series' extents, in whatever order the
  // fields come; pass 2 resolves each series against the complete table.
  WireReader r(buf);
  while (!r.done()) {
    uint32_t field;
    WireType wt;
    if (!r.ReadTag(&field, &wt)) return MalformedTop("Request", "", r);
    std::string_view sub;
    if (field >= 1 && field <= 3) {
      // Reserved in 2.0 so that a 1.0 WriteRequest (timeseries = 1,
      // metadata = 3) never parses as an empty 2.0 Request.
      return absl::UnimplementedError(ErrorMessage(
          "prometheus.WriteRequest protobuf message sent as io.prometheus.write.v2.Request: "
          "the body has field ",
          field,
          ", reserved in io.prometheus.write.v2.Request (a remote-write 1.0 body); send it "
          "with Content-Type: application/x-protobuf;proto=prometheus.WriteRequest"));
    }
    if ((field == 4 || field == 5) && wt != WireType::kLen) {
      r.FailWrongWireType();
      return MalformedTop("Request", field == 4 ? ".symbols" : ".timeseries", r);
    } else if (field == 4 || field == 5) {
      if (!r.ReadBytes(&sub)) {
        return MalformedTop("Request", field == 4 ? ".symbols" : ".timeseries", r);
      }
      if (field == 5 && out->raw_series.size() >= limits.max_series) {
        return TooManySeries(limits);
      }
      if (field == 4 && out->symbols.size() >= limits.max_symbols) {
        return absl::ResourceExhaustedError(
            ErrorMessage("remote write request holds more than ", limits.max_symbols,
                         " symbols, the limit per request; send smaller requests"));
      }
      (field == 4 ? out->symbols : out->raw_series).push_back(sub);
    } else if (!r.Skip(field, wt)) {
      return MalformedTop("Request", "", r);
    }
  }
  if (!out->symbols.empty() && !out->symbols[0].empty()) {
    return absl::InvalidArgumentError("invalid Request: symbols[0] must be the empty string");
  }
  for (size_t i = 0; i < out->raw_series.size(); ++i) {
    MERIDIAN_RETURN_IF_ERROR(DecodeSeriesV2(out->raw_series[i], i, limits, out));
  }
  return absl::OkStatus();
}

}  // namespace meridian::ingest
