// The read interface every data source offers the query engine, the HTTP
// label/series endpoints and the rules engine: local storage (one tenant's
// data), and a remote region (remote-read) behind the same interface. It knows
// nothing of HTTP, PromQL or RocksDB.
//
// Usage:
//   std::unique_ptr<Queryable> q = storage->ForTenant("default");
//   auto querier = q->NewQuerier(mint_ms, maxt_ms);
//   auto set = (*querier)->Select(matchers, {.start_ms = mint, .end_ms = maxt});
//   std::vector<Sample> samples;
//   while (set->Next()) {
//     const Labels& ls = set->labels();
//     set->Samples(&samples);
//   }
//   if (!set->status().ok()) ...
#ifndef MERIDIAN_MODEL_QUERYABLE_H_
#define MERIDIAN_MODEL_QUERYABLE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/aggregate.h"
#include "model/labels.h"
#include "model/matcher.h"
#include "model/sample.h"
#include "model/status.h"

namespace meridian {

// What a query asks of every Querier it opens: when to give up, and a flag
// that becomes true when the client went away. Implementations that wait
// (remote reads, a queue, a long scan) return kDeadlineExceeded or kCancelled
// when either fires; in-memory ones may ignore both (the engine checks them
// between steps too).
struct ReadContext {
  // steady_clock::time_point::max(): no deadline.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // Borrowed; may be null. Must outlive the Querier.
  const std::atomic<bool>* cancelled = nullptr;

  bool Cancelled() const {
    return cancelled != nullptr && cancelled->load(std::memory_order_relaxed);
  }
  bool Expired() const { return std::chrono::steady_clock::now() >= deadline; }
};

// Time range and hints for one Select. Samples returned lie in [start_ms, end_ms].
struct SelectHints {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  // Optional, for implementations that can use them (e.g. downsampled reads).
  int64_t step_ms = 0;
  std::string func;
  // When false, the SeriesSet may return series in any order (storage
  // order, which is cheaper to produce), as Prometheus's Select(sortSeries=false).
  bool sorted = true;
  // Downsampled data (docs/downsampling.md). With max_resolution_ms 0 (the
  // default) the set yields raw samples only. Otherwise SeriesSet::Data()
  // may yield aggregate windows: at each time, of the coarsest resolution
  // at or below `resolution_ms` that holds data there; where none does, of
  // the finest one up to `max_resolution_ms`. A source that has no
  // aggregates (a remote region) ignores both and yields raw samples.
  int64_t resolution_ms = 0;
  int64_t max_resolution_ms = 0;
  // The consumer folds raw samples into windows of resolution_ms itself
  // (every function but irate/idelta/resets, and plain selectors), so a
  // source may return closed windows of 5m (or coarser, up to
  // resolution_ms) made of raw samples with the compactor's arithmetic
  // instead of those samples: the answers are the same.
  bool fold_raw = false;
  // A range function evaluated at steps (as Prometheus's SelectHints.Range):
  // at each step time T = first_step_ms + k * step_ms <= end_ms (offset
  // applied) the consumer reads the range (T - range_ms, T]. When the step
  // is wider than the range (rate(x[5m]) at a 1 h step), a source may leave
  // out of its runs of aggregate windows those no step reads: the windows
  // with their last millisecond in some step's range, and the newest window
  // at or before each step, are kept, over the step's range widened to that
  // window's resolution when it is coarser than the range (the engine
  // widens so, query/downsampled.h). Raw samples are never left out. 0: no
  // range function (every window in [start_ms, end_ms] is read).
  int64_t range_ms = 0;
  int64_t first_step_ms = 0;
};

// Iterates the series of one Select, sorted by labels (Labels::Compare)
// unless the hints allowed any order. Not thread-safe. Valid while the Querier that made it lives.
class SeriesSet {
 public:
  virtual ~SeriesSet() = default;
  // Advances to the next series; false at the end or on error (see status()).
  virtual bool Next() = 0;
  // Labels of the current series. REQUIRES: Next() returned true.
  virtual const Labels& labels() const = 0;
  // Replaces *out with the current series' samples in the hinted range, sorted
  // by time, no duplicate timestamps. The old contents of *out may be reused
  // as a buffer. REQUIRES: Next() returned true; at most one call per Next().
  virtual absl::Status Samples(std::vector<Sample>* out) = 0;
  // The current series' data as runs of raw samples and aggregate windows
  // (model/aggregate.h), for a Select whose hints allowed aggregates.
  // Replaces *out (whose buffers may be reused). The default: the raw
  // samples as one run. REQUIRES: Next() returned true; at most one call
  // of Samples() or Data() per Next().
  virtual absl::Status Data(SeriesData* out) {
    out->Clear();
    MERIDIAN_RETURN_IF_ERROR(Samples(&out->samples));
    if (!out->samples.empty()) out->runs.push_back({0, 0, out->samples.size()});
    return absl::OkStatus();
  }
  // The first error met, if any.
  virtual absl::Status status() const = 0;
  // Problems that did not stop the iteration, for the query's "warnings":
  // a series whose stored data is corrupt is skipped and named here (a
  // partial result, as with Prometheus's storage warnings and Thanos's
  // partial response). Complete once Next() returned false.
  virtual std::vector<std::string> warnings() const { return {}; }
};

// A read view over a fixed time range. Sees a consistent snapshot of the data
// as of its creation for data older than that; not thread-safe.
// Aggregation pushdown (a global meridian over regional ones, as Thanos's
// distributed query engine): the engine offers a querier an aggregation it
// can split (sum/min/max/count/group by|without over per-series expressions);
// a querier over remotes that evaluate PromQL may have each of them evaluate
// it on its own data and return their partial aggregates, which the engine
// merges. Everything the querier cannot push (a remote without a query API,
// local data, overlapping remotes) makes it decline, and the engine evaluates
// the aggregation itself over Select as always.
struct PushdownQuery {
  // The matchers of every selector the aggregation reads (which remotes to
  // ask; whether local data takes part).
  std::vector<std::vector<Matcher>> selectors;
  // How many queries each asked remote evaluates (avg: a sum and a count),
  // sent at the same time.
  size_t queries = 1;
  // Query number `query` (< queries) as PromQL for a remote whose series get
  // `external` attached where they lack them; nullopt when it cannot be
  // written so.
  std::function<std::optional<std::string>(const Labels& external, size_t query)> text;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  int64_t step_ms = 0;  // 0: an instant query at end_ms
  int64_t lookback_ms = 0;
  int64_t max_source_resolution_ms = -1;  // -1 auto, 0 raw, > 0 (as QueryOptions)
  // Labels the reader deduplicates replicas by (the remote must do the same);
  // empty: no deduplication.
  std::vector<std::string> replica_labels;
};

// One remote's answer to a PushdownQuery: its result series (labels without
// the remote's external labels) with one point per evaluation step.
struct PushdownPart {
  size_t query = 0;  // which of PushdownQuery's queries
  Labels external;
  std::vector<std::pair<Labels, std::vector<Sample>>> series;
};

class Querier {
 public:
  virtual ~Querier() = default;

  // Series that match all `matchers` and have at least one sample in the
  // hinted range. REQUIRES: at least one matcher; a selector whose matchers
  // all match the empty string is the caller's error to reject.
  virtual absl::StatusOr<std::unique_ptr<SeriesSet>> Select(const std::vector<Matcher>& matchers,
                                                            const SelectHints& hints) = 0;

  // Sorted, unique label names of series that match `matchers` (all series
  // when empty) within the querier's range.
  virtual absl::StatusOr<std::vector<std::string>> LabelNames(
      const std::vector<Matcher>& matchers) = 0;

  // Sorted, unique values of label `name` on matching series within range.
  virtual absl::StatusOr<std::vector<std::string>> LabelValues(
      const std::string& name, const std::vector<Matcher>& matchers) = 0;

  // The resolutions (ms, ascending) this querier can answer with aggregate
  // windows (SelectHints::max_resolution_ms). Empty: raw samples only, as
  // for a remote region.
  virtual std::vector<int64_t> AggregateResolutions() const { return {}; }

  // Problems met so far by this querier's calls that did not fail them, for
  // the answer's "warnings": e.g. a remote region that failed or timed out
  // while the others answered (a partial response). Select's problems are
  // reported by its SeriesSet; these are the querier's own (LabelNames,
  // LabelValues, and anything found while opening it).
  virtual std::vector<std::string> Warnings() const { return {}; }

  // Notes for the answer's "infos" (not problems): e.g. that a remote
  // region's data ends before the range this querier reads (a global
  // meridian's freshness check). Asked once the querier's Selects are done.
  virtual std::vector<std::string> Infos() const { return {}; }

  // Evaluates `q` where the data lives (see PushdownQuery); nullopt: not
  // here, the caller evaluates it over Select. Failed remotes are handled as
  // in Select (warnings, or kUnavailable without partial responses).
  virtual std::optional<absl::StatusOr<std::vector<PushdownPart>>> Pushdown(
      const PushdownQuery& q) {
    (void)q;
    return std::nullopt;
  }
};

// Makes Queriers. Thread-safe.
class Queryable {
 public:
  virtual ~Queryable() = default;
  // A read view over [mint_ms, maxt_ms] for one query.
  virtual absl::StatusOr<std::unique_ptr<Querier>> NewQuerier(int64_t mint_ms, int64_t maxt_ms,
                                                              const ReadContext& ctx) const = 0;
  // Whether its queriers may take a PushdownQuery (Querier::Pushdown): the
  // engine asks before preparing one.
  virtual bool MayPushdown() const { return false; }
  // The same without a deadline or cancellation (tests, maintenance).
  absl::StatusOr<std::unique_ptr<Querier>> NewQuerier(int64_t mint_ms, int64_t maxt_ms) const {
    return NewQuerier(mint_ms, maxt_ms, ReadContext{});
  }
};

// Hands out each tenant's read view: the local storage, or a fan-out over
// remote regions merged with it. Thread-safe.
class TenantReader {
 public:
  virtual ~TenantReader() = default;
  // The reader must outlive the Queryable.
  virtual std::unique_ptr<Queryable> ForTenant(std::string_view tenant) = 0;
};

}  // namespace meridian

#endif  // MERIDIAN_MODEL_QUERYABLE_H_
