// Replica deduplication (as Thanos's --query.replica-label): series that
// differ only in the replica labels are one logical series, returned without
// those labels. Every point is one a replica stored (nothing is averaged or
// synthesised); the algorithm follows one replica at a time and fills its
// gaps from the others:
//
// Penalty rule (Thanos's dedupSeriesIterator, pkg/dedup/iter.go): two
// replicas a and b are walked together; the sample with the smaller
// timestamp is taken, and the replica not taken must skip ahead by a penalty
// of twice the interval just taken (5 s before the first interval is known)
// before it may be chosen again. While the followed replica keeps its
// rhythm, the other one's samples always fall inside the penalty, so one
// replica is followed; when it stops (a gap longer than the penalty) the
// other one takes over, and after it the first may take over again the same
// way. More than two replicas fold pairwise in label order: ((r1, r2), r3).
// So a replica's gap is filled from the other once the penalty has passed:
// the answer has a hole of at most twice the scrape interval (plus the
// replicas' offset), which PromQL's 5 m lookback bridges.
//
// Counters across a failover: replicas scrape at different moments, so the
// replica taken over may be a little behind: its first values can be lower
// than the last value taken, which PromQL would read as a counter reset (a
// spike in rate/increase). For counter-like series (name ending in _total,
// _count, _sum or _bucket) a sample of the other replica lower than the last
// value taken is skipped while that replica is catching up (its own values
// rising); a drop within the replica's own samples is a real reset and is
// taken. Edge cases: a gauge named like a counter may lose the lower points
// of a failover (never more than until the new replica passes the old value
// or resets); a counter named otherwise may show one reset at a failover.
#ifndef MERIDIAN_REMOTE_DEDUP_H_
#define MERIDIAN_REMOTE_DEDUP_H_

#include <memory>
#include <string>
#include <vector>

#include "model/queryable.h"

namespace meridian::remote {

class DedupQueryable : public Queryable {
 public:
  // REQUIRES: replica_labels not empty.
  DedupQueryable(std::unique_ptr<Queryable> inner, std::vector<std::string> replica_labels);
  absl::StatusOr<std::unique_ptr<Querier>> NewQuerier(int64_t mint_ms, int64_t maxt_ms,
                                                      const ReadContext& ctx) const override;
  using Queryable::NewQuerier;
  bool MayPushdown() const override { return inner_->MayPushdown(); }

 private:
  std::unique_ptr<Queryable> inner_;
  std::vector<std::string> replica_labels_;
};

// The merge of two replicas' samples (each sorted, unique timestamps) by the
// rules above. Exposed for tests.
std::vector<Sample> MergeReplicas(const std::vector<Sample>& a, const std::vector<Sample>& b,
                                  bool counter);

}  // namespace meridian::remote

#endif  // MERIDIAN_REMOTE_DEDUP_H_
