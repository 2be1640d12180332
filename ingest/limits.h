// Limits on what remote-write clients control: label sets, request sizes,
// tenants, series per tenant and the ingestion rate. Defaults follow Mimir's
// where Mimir has one (30 labels per series, 1024-byte label names,
// 2048-byte label values; tenant IDs as Cortex/Mimir validate them).
//
// How each limit answers (RemoteWriteReceiver maps them to statuses):
//   - labels per series, label name/value length, series per tenant: a data
//     error for that series only: 400 naming the first offending series, the
//     request's other series are stored (a 5xx would make Prometheus retry
//     the same batch forever; a 429 is dropped unless retry_on_http_429);
//   - series/samples per request: the request is refused as a whole with 413
//     before anything is stored (the sender must send smaller requests);
//   - tenant name (length, charset, "." and ".."), number of tenants: 400,
//     nothing stored;
//   - ingestion rate per tenant: back-pressure, 503 + Retry-After (a request
//     larger than the burst can never pass: 413).
//
// Thread-safety: ValidateTenant is pure; IngestionRateLimiter is thread-safe.
#ifndef MERIDIAN_INGEST_LIMITS_H_
#define MERIDIAN_INGEST_LIMITS_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "model/status.h"
#include "model/sync.h"

namespace meridian::ingest {

struct IngestLimits {
  size_t max_labels_per_series = 30;    // non-empty labels, __name__ included (Mimir)
  size_t max_label_name_bytes = 1024;   // Mimir
  size_t max_label_value_bytes = 2048;  // Mimir; applies to the metric name too
  // Prometheus sends at most queue_config.max_samples_per_send (default
  // 2000) samples per request, vmagent 10000 rows; these leave ample room.
  size_t max_series_per_request = 100'000;
  size_t max_samples_per_request = 1'000'000;
  // Series a tenant may hold in memory (active series); new series beyond it
  // are rejected. ~1.5 KB of memory each: 2M series is ~3 GB. 0: no limit.
  uint64_t max_series_per_tenant = 2'000'000;
  // Tenant IDs: at most this many bytes of [A-Za-z0-9!-_.*'()], not "." or
  // ".." (Cortex/Mimir's rules).
  size_t max_tenant_id_bytes = 150;
  // Samples per second per tenant (token bucket); 0: no limit. The bucket
  // holds `ingestion_burst` samples (0: 10 s worth of `ingestion_rate`, at
  // least max_samples_per_request).
  double ingestion_rate = 0;
  double ingestion_burst = 0;
};

// OK, or kInvalidArgument explaining what is wrong with `tenant`.
absl::Status ValidateTenant(std::string_view tenant, size_t max_bytes);

// Per-tenant token buckets of samples.
class IngestionRateLimiter {
 public:
  // `now_ms` (monotonic milliseconds) is injectable for tests.
  IngestionRateLimiter(double rate, double burst, size_t max_samples_per_request,
                       std::function<int64_t()> now_ms = nullptr);

  bool enabled() const { return rate_ > 0; }
  double burst() const { return burst_; }

  // Takes `samples` tokens from `tenant`'s bucket. OK when they were there;
  // kUnavailable when not (nothing taken; *retry_after_s is when enough will
  // have accrued, at least 1); kResourceExhausted when `samples` exceeds the
  // burst, so the request can never pass.
  absl::Status Take(std::string_view tenant, uint64_t samples, int* retry_after_s);

 private:
  struct Bucket {
    double tokens;
    int64_t last_ms;
  };
  int64_t NowMs() const;

  const double rate_;   // tokens per second
  const double burst_;  // bucket size
  std::function<int64_t()> now_ms_;
  Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::ingest

#endif  // MERIDIAN_INGEST_LIMITS_H_
