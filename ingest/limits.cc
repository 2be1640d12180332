#include "ingest/limits.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "ingest/error_message.h"
#include "ingest/labels_check.h"
#include "model/sync.h"

namespace meridian::ingest {
namespace {

// Cortex/Mimir's tenant ID charset.
bool TenantChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '-':
    case '_':
    case '.':
    case '*':
    case '\'':
    case '(':
    case ')':
      return true;
    default:
      return false;
  }
}

// Buckets beyond this many are pruned of those that refilled completely
// (a full bucket is the state of a tenant never seen).
constexpr size_t kMaxIdleBuckets = 4096;

}  // namespace

absl::Status ValidateTenant(std::string_view tenant, size_t max_bytes) {
  if (tenant.empty()) return absl::InvalidArgumentError("invalid tenant ID: empty");
  if (tenant.size() > max_bytes) {
    return absl::InvalidArgumentError(
        ErrorMessage("invalid tenant ID \"", EscapeForMessage(tenant, 64), "...\": ", tenant.size(),
                     " bytes, over the limit of ", max_bytes, " bytes"));
  }
  if (tenant == "." || tenant == "..") {
    return absl::InvalidArgumentError(
        ErrorMessage("invalid tenant ID \"", tenant, "\": \".\" and \"..\" are not allowed"));
  }
  for (char c : tenant) {
    if (!TenantChar(c)) {
      return absl::InvalidArgumentError(
          ErrorMessage("invalid tenant ID \"", EscapeForMessage(tenant, 160),
                       "\": unsupported character '", EscapeForMessage(std::string_view(&c, 1), 1),
                       "' (allowed: A-Z a-z 0-9 and ! - _ . * ' ( ))"));
    }
  }
  return absl::OkStatus();
}

IngestionRateLimiter::IngestionRateLimiter(double rate, double burst,
                                           size_t max_samples_per_request,
                                           std::function<int64_t()> now_ms)
    : rate_(rate > 0 ? rate : 0),
      burst_(burst > 0 ? burst : std::max(rate * 10, static_cast<double>(max_samples_per_request))),
      now_ms_(std::move(now_ms)) {}

int64_t IngestionRateLimiter::NowMs() const {
  if (now_ms_) return now_ms_();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

absl::Status IngestionRateLimiter::Take(std::string_view tenant, uint64_t samples,
                                        int* retry_after_s) {
  *retry_after_s = 0;
  if (!enabled() || samples == 0) return absl::OkStatus();
  const double n = static_cast<double>(samples);
  if (n > burst_) {
    return absl::ResourceExhaustedError(
        ErrorMessage("remote write request of ", samples, " samples exceeds tenant \"", tenant,
                     "\"'s ingestion burst of ", static_cast<uint64_t>(burst_),
                     " samples (ingestion-burst); send smaller requests"));
  }
  const int64_t now = NowMs();
  MutexLock lock(&mu_);
  if (buckets_.size() > kMaxIdleBuckets) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      const Bucket& b = it->second;
      if (b.tokens + static_cast<double>(now - b.last_ms) / 1000.0 * rate_ >= burst_) {
        buckets_.erase(it++);
      } else {
        ++it;
      }
    }
  }
  auto [it, inserted] = buckets_.try_emplace(std::string(tenant), Bucket{burst_, now});
  Bucket& b = it->second;
  if (now > b.last_ms) {
    b.tokens = std::min(burst_, b.tokens + static_cast<double>(now - b.last_ms) / 1000.0 * rate_);
    b.last_ms = now;
  }
  if (b.tokens >= n) {
    b.tokens -= n;
    return absl::OkStatus();
  }
  // Clamped before the conversion: a tiny rate (--ingestion-rate 0.0001)
  // makes the wait larger than an int holds.
  *retry_after_s = static_cast<int>(std::clamp(std::ceil((n - b.tokens) / rate_), 1.0, 1e9));
  return absl::UnavailableError(ErrorMessage(
      "tenant \"", tenant, "\" is over its ingestion rate limit of ", static_cast<uint64_t>(rate_),
      " samples/s (burst ", static_cast<uint64_t>(burst_), "); retry in ", *retry_after_s, " s"));
}

}  // namespace meridian::ingest
