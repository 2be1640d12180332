// Label-set validation and normalization for ingested series, following the
// remote-write specs and Prometheus 3 semantics:
//   - a label with an empty value is absent: it is dropped;
//   - unsorted labels are sorted by name (bytewise);
//   - the set must contain __name__ (non-empty), no empty names, no duplicate
//     names, and valid UTF-8 in every name and value;
//   - any UTF-8 metric or label name is accepted (no legacy regex).
//
// Thread-safety: all functions are thread-safe (they touch only their arguments).
#ifndef MERIDIAN_INGEST_LABELS_CHECK_H_
#define MERIDIAN_INGEST_LABELS_CHECK_H_

#include <span>
#include <string>
#include <string_view>

#include "model/labels.h"

namespace meridian::ingest {

enum class LabelsProblem {
  kNone,
  kMissingMetricName,
  kEmptyLabelName,
  kDuplicateLabelName,
  kInvalidUtf8Name,
  kInvalidUtf8Value,
};

struct LabelsCheck {
  LabelsProblem problem = LabelsProblem::kNone;
  std::string_view label_name;  // the offending name, when there is one
};

// Normalizes `labels` in place: drops empty-valued labels (compacting the
// span's prefix), sorts by name, then validates. Sets *size to the number of
// labels kept (a prefix of `labels`). On a problem the prefix holds the
// labels as far as they were normalized, usable for an error message.
// `ascii`: the caller knows every name and value is ASCII (IsAscii over the
// bytes holding them), so the UTF-8 checks are skipped. Allocation-free.
LabelsCheck NormalizeLabels(std::span<LabelView> labels, size_t* size, bool ascii = false);

// True when every byte of `s` is below 0x80. Eight bytes at a time.
bool IsAscii(std::string_view s);

// Human-readable reason, e.g. "missing metric name __name__".
std::string DescribeProblem(const LabelsCheck& check);

// Formats a label set for error messages as Prometheus does, metric{a="b"}
// ({a="b"} without a name), escaping quotes and invalid UTF-8 (as \xNN) and
// cutting it off after about `max_bytes`.
std::string FormatSeries(std::span<const LabelView> labels, size_t max_bytes = 512);

// `s` escaped as inside a quoted label value (\" \\ \n, invalid UTF-8 as
// \xNN), cut to at most `max_bytes` input bytes.
std::string EscapeForMessage(std::string_view s, size_t max_bytes);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points
// over U+10FFFF). ASCII runs are checked 8 bytes at a time.
bool IsValidUtf8(std::string_view s);

}  // namespace meridian::ingest

#endif  // MERIDIAN_INGEST_LABELS_CHECK_H_
