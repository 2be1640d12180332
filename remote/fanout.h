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
#include <string>
#include <vector>

#include "model/queryable.h"
#include "remote/client.h"

namespace meridian::remote {

// The outcome of the last call to each remote, for /api/v1/status/remotes.
class RemoteHealth {
 public:
  virtual ~RemoteHealth() = default;
  virtual void Record(const std::string& name, const absl::Status& status) = 0;
};

struct FanoutOptions {
  std::string tenant;              // the caller's tenant, sent unless a remote fixes one
  bool partial_response = true;    // false: any failed remote fails the Select
  RemoteHealth* health = nullptr;  // optional
};

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

 private:
  std::unique_ptr<Queryable> local_;
  std::vector<std::shared_ptr<const RemoteReadClient>> remotes_;
  FanoutOptions options_;
};

}  // namespace meridian::remote

#endif  // MERIDIAN_REMOTE_FANOUT_H_
