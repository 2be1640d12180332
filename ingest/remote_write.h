// RemoteWriteReceiver: decodes Prometheus remote-write requests (1.0
// prometheus.WriteRequest and 2.0 io.prometheus.write.v2.Request, snappy block
// compressed), validates them and appends their samples through an Appender
// (model/appender.h; the Storage in production).
//
// It knows nothing of HTTP: the caller passes the request's headers and body
// and maps the returned status to a response:
//   OK                  -> 204
//   kInvalidArgument    -> 400 (bad snappy/protobuf, invalid labels, samples too
//                          far in the future, too old or conflicting, series
//                          over a label or series limit); the valid samples
//                          of the request are still stored. Also an invalid
//                          tenant ID or a new tenant over the tenant limit
//                          (nothing stored).
//   kResourceExhausted  -> 413 (body or decoded size, series or samples per
//                          request over the limit; nothing stored)
//   kUnimplemented      -> 415 (wrong Content-Encoding or Content-Type, or a
//                          1.0 body sent with the 2.0 Content-Type)
//   kUnavailable        -> 503 with Retry-After (back-pressure: the tenant's
//                          ingestion rate; stats->retry_after_s seconds)
// Limits: ingest/limits.h.
//   others              -> 500
// The message names the first offending series.
//
// Thread-safety: Receive() may be called concurrently.
//
// Implementation notes (ingest/decoder.h, ingest/labels_check.h): the body is
// decoded without copying strings; scratch buffers (decompressed body, label
// views, samples) come from a small pool shared by all threads, so a warmed-up
// receiver does no per-sample allocation and its memory follows the number of
// concurrent requests; after each request a scratch keeps at most
// kMaxKeptScratchBytes (larger buffers are freed). Semantics: series without __name__, with empty
// or duplicate label names or invalid UTF-8 are rejected (the rest of the request is still
// appended); empty-valued labels are dropped; unsorted labels are sorted;
// native histograms and exemplars are counted as dropped, never an error; 2.0
// requests with bad symbol references are rejected as a whole.
#ifndef MERIDIAN_INGEST_REMOTE_WRITE_H_
#define MERIDIAN_INGEST_REMOTE_WRITE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "ingest/limits.h"
#include "model/appender.h"
#include "model/status.h"

namespace meridian::ingest {

struct RemoteWriteOptions {
  size_t max_body_bytes = 64 << 20;        // compressed request body
  size_t max_decoded_bytes = 256 << 20;    // as announced by the snappy header
  int64_t max_future_ms = 10 * 60 * 1000;  // samples newer than now + this are rejected
  std::function<int64_t()> now_ms;         // wall clock, injectable for tests
  IngestLimits limits;
  std::function<int64_t()> monotonic_ms;  // for the rate limiter; injectable for tests
};

// Bytes a pooled scratch may keep between requests (decompressed body and
// decode vectors together); anything larger is freed after the request.
inline constexpr size_t kMaxKeptScratchBytes = 16 << 20;

// Bytes held by idle pooled scratches now (tests).
size_t PooledScratchBytes();

enum class RemoteWriteVersion { kV1, kV2 };

// What one request did. Filled even when Receive() returns an error.
struct RemoteWriteStats {
  RemoteWriteVersion version = RemoteWriteVersion::kV1;
  uint64_t samples_written = 0;     // appended or identical retries
  uint64_t histograms_written = 0;  // native histograms stored
  uint64_t exemplars_written = 0;   // exemplars stored
  uint64_t histograms_dropped = 0;  // native histograms not stored (unsupported)
  uint64_t exemplars_dropped = 0;   // exemplars not stored (unsupported)
  uint64_t series_created = 0;
  uint64_t metadata_written = 0;
  // Rejected samples by reason.
  uint64_t rejected_invalid_labels = 0;
  uint64_t rejected_too_far_in_future = 0;
  uint64_t rejected_too_old = 0;
  uint64_t rejected_conflict = 0;
  uint64_t rejected_too_many_labels = 0;       // max_labels_per_series
  uint64_t rejected_label_name_too_long = 0;   // max_label_name_bytes
  uint64_t rejected_label_value_too_long = 0;  // max_label_value_bytes
  uint64_t rejected_series_limit = 0;          // max_series_per_tenant
  // When the request was refused as a whole: why ("invalid_tenant",
  // "tenant_limit", "request_too_large", "rate_limited"), else null.
  const char* request_rejected = nullptr;
  int retry_after_s = 0;  // with kUnavailable: seconds before a retry can pass
};

class RemoteWriteReceiver {
 public:
  // `appender` is borrowed and must outlive the receiver.
  RemoteWriteReceiver(Appender* appender, RemoteWriteOptions options);
  ~RemoteWriteReceiver();

  // Handles one request body for `tenant`. `content_type` and
  // `content_encoding` are the raw header values ("" when absent).
  absl::Status Receive(std::string_view tenant, std::string_view content_type,
                       std::string_view content_encoding, std::string_view body,
                       RemoteWriteStats* stats) const;

 private:
  Appender* appender_;
  RemoteWriteOptions options_;
  std::unique_ptr<IngestionRateLimiter> rate_limiter_;
};

}  // namespace meridian::ingest

#endif  // MERIDIAN_INGEST_REMOTE_WRITE_H_
