// Freshness of the remotes of a global meridian: the newest sample time a
// remote holds for a tenant (its "watermark"), read from the remote's
// Prometheus HTTP API with one cheap call that works against both kinds of
// remote:
//   GET <api-url>/api/v1/status/tsdb?limit=1  ->  data.headStats.maxTime (ms)
// A regional meridian answers it for the tenant named by the tenant header
// (per-tenant headStats); a plain Prometheus answers it from its head block
// (no PromQL evaluation, no series scan of sample data). A maxTime <= 0 (a
// meridian with no data for the tenant; Prometheus's empty head says
// math.MinInt64) means "no data": no watermark.
//
// The API URL is the remote's `api-url` option, by default its remote-read URL
// without the trailing /api/v1/read.
#ifndef MERIDIAN_REMOTE_WATERMARK_H_
#define MERIDIAN_REMOTE_WATERMARK_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/status.h"
#include "model/sync.h"
#include "remote/client.h"
#include "remote/fanout.h"

namespace meridian::remote {

// Asks `e` for its watermark for the tenant it would be sent (its fixed
// tenant, else `caller_tenant`); nullopt: the remote holds no data for it.
// Gives up after min(e.timeout, max_wait).
absl::StatusOr<std::optional<int64_t>> FetchWatermark(const RemoteEndpoint& e,
                                                      std::string_view caller_tenant,
                                                      std::chrono::milliseconds max_wait);

// The base of a remote's Prometheus HTTP API (api-url, else the remote-read
// URL without /api/v1/read); empty when neither gives one.
std::string ApiBaseUrl(const RemoteEndpoint& e);

// Watermarks by (remote, tenant), refetched when older than `ttl`. Queries
// read it through WatermarkSource (a value at most `ttl` old, fetched at most
// once per ttl per remote and tenant); /api/v1/status/remotes refreshes it.
// Thread-safe; no lock is held while fetching.
class WatermarkCache : public WatermarkSource {
 public:
  explicit WatermarkCache(std::chrono::milliseconds ttl = std::chrono::seconds(10),
                          std::chrono::milliseconds max_wait = std::chrono::seconds(2))
      : ttl_(ttl), max_wait_(max_wait) {}

  std::optional<int64_t> Watermark(const RemoteReadClient& remote,
                                   std::string_view caller_tenant) override;

  // Fetches now and caches the answer.
  absl::StatusOr<std::optional<int64_t>> Refresh(const RemoteReadClient& remote,
                                                 std::string_view caller_tenant);

  // The latest known watermark per (remote name, tenant sent), for /metrics.
  struct Known {
    std::string remote;
    std::string tenant;
    int64_t watermark_ms;
  };
  std::vector<Known> All() const;

 private:
  struct Entry {
    std::chrono::steady_clock::time_point fetched;
    bool ok = false;
    std::optional<int64_t> watermark_ms;
  };
  static std::string TenantSent(const RemoteReadClient& r, std::string_view caller_tenant);

  const std::chrono::milliseconds ttl_;
  const std::chrono::milliseconds max_wait_;
  mutable Mutex mu_;
  std::map<std::pair<std::string, std::string>, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::remote

#endif  // MERIDIAN_REMOTE_WATERMARK_H_
