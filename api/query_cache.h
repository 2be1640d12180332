// RangeQueryCache: a results cache for /api/v1/query_range, in the spirit of
// Thanos's query-frontend and VictoriaMetrics' rollup result cache
// (docs/query-cache.md).
//
// Per key (tenant, the query's text, the step,
// the start modulo the step, the lookback, max_source_resolution and the
// request parameters that change an answer) it keeps one extent: the answer's
// points at the steps [start, end] of some earlier request, per series, with
// that evaluation's infos. A later request reuses the steps it shares with
// the extent and evaluates only the steps before and after it (a dashboard
// over "the last 30 days" that refreshes evaluates one new step), then the
// extent grows to the union.
//
// Never wrong, by these rules:
//  - Only steps at or before now - offset are kept: newer samples arrive
//    all the time, and a step's value depends only on samples at or before
//    it (expressions with `@` or a negative offset are not kept at all).
//  - Every extent carries the tenant's data generation read before its
//    evaluation (Storage::DataGeneration): storage bumps it after any
//    change to data older than now - offset (late or backfilled samples,
//    the compactor's downsampling and deletes, retention); an extent of
//    another generation is dropped, never used.
//  - An evaluation with warnings (a partial or degraded answer) is
//    answered but not kept.
//  - A step's value does not depend on the range it was evaluated in, only
//    on the step and the start modulo the step (both in the key); see
//    docs/query-cache.md for the engine's part of that.
//
// Memory: at most max_bytes over all extents, least recently used first
// out. Thread-safe; evaluations run outside its lock.
#ifndef MERIDIAN_API_QUERY_CACHE_H_
#define MERIDIAN_API_QUERY_CACHE_H_

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "model/status.h"
#include "model/sync.h"
#include "query/ast.h"
#include "query/engine.h"

namespace meridian::api {

struct QueryCacheOptions {
  // Memory for kept answers (estimated); 0 keeps nothing.
  size_t max_bytes = 0;
  // Steps newer than now - offset_ms are never kept (VictoriaMetrics'
  // -search.cacheTimestampOffset). Storage's late_write_ms must not exceed it.
  int64_t offset_ms = 5 * 60 * 1000;
  // Wall clock in ms since the epoch; empty: the system clock.
  std::function<int64_t()> now_ms;
};

// Everything besides the steps that makes a range query's answer.
struct RangeCacheKey {
  std::string tenant;
  // The query as sent: two spellings of one expression are two keys (the
  // infos name positions in the text).
  std::string expr;
  int64_t step_ms = 0;
  int64_t lookback_ms = 0;                // the effective lookback delta
  int64_t max_source_resolution_ms = -1;  // -1 auto, 0 raw, > 0 (QueryOptions)
  // Other parameters that change an answer (e.g. dedup, replicaLabels[]),
  // as the caller spells them.
  std::string extra;
};

struct QueryCacheStats {
  uint64_t hits = 0;           // answered from kept steps alone
  uint64_t partial_hits = 0;   // kept steps plus evaluated ones
  uint64_t misses = 0;         // nothing kept was usable
  uint64_t invalidations = 0;  // extents dropped: their data generation changed
  uint64_t evictions = 0;      // extents dropped for memory
  uint64_t bytes = 0;          // estimated memory of the kept extents
  uint64_t entries = 0;
};

class RangeQueryCache {
 public:
  // The tenant's data generation (Storage::DataGeneration); nullopt: the
  // data behind the tenant has none, and nothing is kept for it.
  using GenerationFn = std::function<std::optional<uint64_t>(std::string_view tenant)>;
  // Evaluates the query over the steps [start_ms, end_ms] (same step, same
  // start modulo the step).
  using EvalFn =
      std::function<absl::StatusOr<promql::QueryResult>(int64_t start_ms, int64_t end_ms)>;

  RangeQueryCache(QueryCacheOptions options, GenerationFn generation);

  // Whether the value of `expr` at a step depends only on the data at or
  // before that step and on nothing of the query's range: no `@` (start(),
  // end() or a time), no negative offset, and none of the experimental
  // functions start(), end() and range() anywhere.
  static bool Cacheable(const promql::Expr& expr);

  // The answer over the steps start_ms, start_ms + key.step_ms, ... <=
  // end_ms: kept steps where they are valid, the rest from `eval` (at most
  // two calls: the steps before and after the kept ones). Its series are
  // sorted by labels, as the engine's. REQUIRES: Cacheable(the expression),
  // key.step_ms > 0, start_ms <= end_ms.
  absl::StatusOr<promql::QueryResult> RangeQuery(const RangeCacheKey& key, int64_t start_ms,
                                                 int64_t end_ms, const EvalFn& eval);

  QueryCacheStats Stats() const;

 private:
  struct Extent;
  struct Entry {
    std::shared_ptr<const Extent> extent;
    std::list<std::string>::iterator lru;
  };

  // The key's extent when its generation is `generation` (dropped
  // otherwise); marks it recently used.
  std::shared_ptr<const Extent> Find(const std::string& key, uint64_t generation);
  // Keeps `e` under `key` (replacing what is there), then evicts down to the bound.
  void Keep(const std::string& key, std::shared_ptr<const Extent> e);
  void EraseLocked(absl::flat_hash_map<std::string, Entry>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t NowMs() const;

  const QueryCacheOptions options_;
  const GenerationFn generation_;
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // most recent first
  QueryCacheStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::api

#endif  // MERIDIAN_API_QUERY_CACHE_H_
