// FanoutQueryable: a Queryable over the local storage (optional) and any
// number of remote-read endpoints, for a global meridian over regional ones.
// Each Select asks every remote whose external labels can match the
// selector, concurrently, each with its own timeout; the query's
// cancellation aborts every call. Series with equal labels merge: the union
// of their samples (on equal timestamps the local sample, then the first
// remote's in configuration order, wins).
//
// Partial answers: a remote that fails or times out is left out and named in
// the SeriesSet's warnings ("remote NAME: error"); with partial_response off
// the Select fails with kUnavailable instead.
//
// Label names/values: remote-read has no label API, so they come from a
// series-only read (ReadHints.func "series") of the querier's range; their
// failed remotes are named by Querier::Warnings().
#ifndef MERIDIAN_REMOTE_FANOUT_H_
#define MERIDIAN_REMOTE_FANOUT_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/queryable.h"
#include "remote/client.h"

namespace meridian::remote {

// The outcome of the last call to each remote, for /api/v1/status/remotes.
class RemoteHealth {
 public:
  virtual ~RemoteHealth() = default;
  // One call to the remote `name` ended with `status` after `seconds`.
  virtual void Record(const std::string& name, const absl::Status& status, double seconds) = 0;
};

// The newest sample time each remote holds for a tenant (remote/watermark.h).
class WatermarkSource {
 public:
  virtual ~WatermarkSource() = default;
  // Unix ms; nullopt when unknown or the remote holds no data for the tenant.
  virtual std::optional<int64_t> Watermark(const RemoteReadClient& remote,
                                           std::string_view caller_tenant) = 0;
};

struct FanoutOptions {
  std::string tenant;              // the caller's tenant, sent unless a remote fixes one
  bool partial_response = true;    // false: any failed remote fails the Select
  RemoteHealth* health = nullptr;  // optional
  // Freshness (optional): a querier whose range ends more than
  // freshness_lag_ms after the watermark of a remote that answered it reports
  // "remote NAME: data ends at T ..." in Infos().
  WatermarkSource* watermarks = nullptr;
  int64_t freshness_lag_ms = 120'000;
};

// The info a querier reports for a remote whose data ends at `watermark_ms`,
// before the queried range ending at `end_ms`:
// "remote NAME: data ends at 2026-12-05T22:30:00Z (1764973800.000), 7m30s
// before the end of the queried range".
std::string FreshnessInfo(const std::string& remote, int64_t watermark_ms, int64_t end_ms);

class FanoutQueryable : public Queryable {
 public:
  // `local` may be null. The clients are shared, immutable.
  FanoutQueryable(std::unique_ptr<Queryable> local,
                  std::vector<std::shared_ptr<const RemoteReadClient>> remotes,
                  FanoutOptions options);
  // The context's cancellation aborts every remote call; its deadline ends
  // the wait (kDeadlineExceeded), as does each remote's own timeout (a
  // partial answer).
  absl::StatusOr<std::unique_ptr<Querier>> NewQuerier(int64_t mint_ms, int64_t maxt_ms,
                                                      const ReadContext& ctx) const override;
  using Queryable::NewQuerier;
  // True when a remote takes pushdowns (RemoteEndpoint::pushdown).
  bool MayPushdown() const override;

 private:
  std::unique_ptr<Queryable> local_;
  std::vector<std::shared_ptr<const RemoteReadClient>> remotes_;
  FanoutOptions options_;
};

}  // namespace meridian::remote

#endif  // MERIDIAN_REMOTE_FANOUT_H_
