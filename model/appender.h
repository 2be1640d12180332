// Appender: the write interface every producer of samples speaks — remote-write
// ingest, the rules engine, federation pulls, the compactor's backfill — so
// none of them depends on the whole Storage. Storage implements it; tests can
// implement it with a few lines.
//
//   AppendBatch batch;
//   batch.series.push_back({.labels = labels, .samples = samples});
//   AppendResult result;
//   absl::Status s = appender->Append("tenant-a", batch, &result);
//   // s: a server fault or back-pressure; result.errors: per-sample rejections.
#ifndef MERIDIAN_MODEL_APPENDER_H_
#define MERIDIAN_MODEL_APPENDER_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/labels.h"
#include "model/sample.h"
#include "model/status.h"

namespace meridian {

// One series' worth of samples in an append. Labels are borrowed views,
// sorted by name, unique, with non-empty values (ingest validates them).
struct AppendSeries {
  std::span<const LabelView> labels;
  std::span<const Sample> samples;  // any order
};

struct AppendBatch {
  std::vector<AppendSeries> series;
  // When > 0, a series that does not exist yet is created only while the
  // tenant holds fewer than this many series in memory; otherwise its samples
  // are rejected with AppendErrorKind::kSeriesLimit (existing series are
  // still appended).
  uint64_t max_series_per_tenant = 0;
};

enum class AppendErrorKind {
  kTooOld,             // before the out-of-order window or the retention cut-off
  kDuplicateConflict,  // same timestamp already stored with a different value
  kSeriesLimit,        // a new series over AppendBatch::max_series_per_tenant
};

struct AppendError {
  size_t series_index;  // index into AppendBatch::series
  AppendErrorKind kind;
  int64_t t_ms;
};

struct AppendResult {
  uint64_t samples_appended = 0;
  uint64_t samples_duplicate = 0;  // identical retries, accepted silently
  uint64_t series_created = 0;
  std::vector<AppendError> errors;  // rejected samples, at most one per series
  uint64_t samples_rejected = 0;
};

enum class MetricType {
  kUnknown,
  kCounter,
  kGauge,
  kHistogram,
  kGaugeHistogram,
  kSummary,
  kInfo,
  kStateset
};
std::string_view MetricTypeString(MetricType t);  // "counter", "gauge", ...

struct MetricMetadata {
  std::string metric_family;
  MetricType type = MetricType::kUnknown;
  std::string help;
  std::string unit;
};

// Thread-safe. See Storage::Append for the durability contract of the storage
// implementation.
class Appender {
 public:
  virtual ~Appender() = default;

  // Appends `batch` to `tenant`. Per-sample rejections are reported in
  // *result, never as an error status; a non-OK status is a server fault
  // (kInternal, kDataLoss), back-pressure (kUnavailable) or a tenant limit
  // (kResourceExhausted), and then nothing of the batch is stored. When it
  // returns OK, the samples it counted as appended are durable and visible.
  virtual absl::Status Append(std::string_view tenant, const AppendBatch& batch,
                              AppendResult* result) = 0;

  // Keeps the latest metadata per metric family.
  virtual absl::Status PutMetadata(std::string_view tenant,
                                   std::span<const MetricMetadata> metadata) = 0;
};

}  // namespace meridian

#endif  // MERIDIAN_MODEL_APPENDER_H_
