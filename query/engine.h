// Engine: evaluates PromQL with Prometheus 3 semantics over a Queryable.
//
//   Engine engine(EngineOptions{});
//   auto r = engine.InstantQuery(*queryable, "sum by (job) (rate(x[5m]))", t_ms, {});
//   if (r.ok()) use(r->value);      // Scalar | Vector | String (Matrix for a range selector)
//   auto m = engine.RangeQuery(*queryable, "up", start_ms, end_ms, step_ms, {});
//   // m->value is a Matrix (or Scalar-free: scalars become a one-series Matrix)
//
// Errors (absl status codes; the HTTP layer maps them to Prometheus errorType):
//   kInvalidArgument    parse errors and bad parameters      -> bad_data (400)
//   kFailedPrecondition execution errors (duplicate series,
//                       many-to-many matching, ...)           -> execution (422)
//   kResourceExhausted  too many samples loaded               -> execution (422)
//   kDeadlineExceeded   query timeout                         -> timeout (503)
//   kCancelled          the client went away                  -> canceled (499)
//   kUnavailable        no query slot freed up in time        -> unavailable (503)
// Admission: every query takes a slot of its priority class's lane first
// (query/admission.h): dashboard queries beyond EngineOptions::admission's
// slots wait in a bounded queue; the priority lane has slots of its own.
//   kInternal, others   storage faults                        -> internal (500)
// Thread-safety: an Engine is thread-safe; each call evaluates independently.
#ifndef MERIDIAN_QUERY_ENGINE_H_
#define MERIDIAN_QUERY_ENGINE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/executor.h"
#include "model/queryable.h"
#include "model/status.h"
#include "query/admission.h"
#include "query/value.h"

namespace meridian::promql {

// What one admitted query cost (EngineOptions::on_query_done).
struct QueryStats {
  QueryPriority priority = QueryPriority::kDashboard;
  bool range = false;        // a range query
  bool ok = false;           // evaluated without error
  double queue_seconds = 0;  // waiting for an admission slot
  double eval_seconds = 0;   // from admission to the result
  // Samples taken into memory over the query: every increase of the count
  // that max_samples bounds, summed (selectors' samples, intermediate results).
  int64_t samples_loaded = 0;
  int64_t peak_samples = 0;  // most samples held at once (bounded by max_samples)
};

struct EngineOptions {
  int64_t lookback_delta_ms = 5 * 60 * 1000;
  // Maximum number of samples held in memory by one query at once.
  int64_t max_samples = 50'000'000;
  // The longest a query may run; QueryOptions::timeout can only shorten it
  // (as Prometheus's timeout parameter is capped by --query.timeout).
  std::chrono::milliseconds timeout{120'000};
  // Most steps a range query may have (Prometheus's API limit).
  int64_t max_points_per_series = 11'000;
  AdmissionOptions admission;
  // Default subquery resolution when a subquery has no step.
  int64_t default_eval_interval_ms = 60'000;
  bool enable_experimental_functions = true;
  // Called after every query that was admitted (evaluated or failed), on the
  // query's thread; may be called concurrently. Null: nothing is reported.
  std::function<void(const QueryStats&)> on_query_done;
  // Borrowed, may be null: window functions over downsampled data of many
  // series run on this executor's threads while the query's thread reads and
  // emits the series around them (the query's thread does the work of a task
  // that has not started).
  Executor* executor = nullptr;
};

struct QueryOptions {
  // When > 0, the query's timeout: the smaller of this and EngineOptions::timeout.
  std::chrono::milliseconds timeout{0};
  // The lane the query waits in for admission.
  QueryPriority priority = QueryPriority::kDashboard;
  // Overrides EngineOptions::lookback_delta_ms when > 0.
  int64_t lookback_delta_ms = 0;
  // Polled during evaluation; when it becomes true the query stops with kCancelled.
  const std::atomic<bool>* cancelled = nullptr;
  // Downsampled data (docs/downsampling.md), Thanos's max_source_resolution:
  // -1 auto (the engine picks per selector from the step and range), 0 raw
  // only, > 0 the coarsest resolution at or below it. An answer that used
  // downsampled data names the resolutions in its infos.
  int64_t max_source_resolution_ms = -1;
};

struct QueryResult {
  Value value;
  std::vector<std::string> warnings;
  std::vector<std::string> infos;
  // The resolutions (ms, 0 raw) that answered, descending, when downsampled
  // data did; then the last of `infos` is ResolutionsInfo(resolutions).
  std::vector<int64_t> resolutions;
};

// The infos entry naming the resolutions that answered ("PromQL info:
// answered from downsampled data, resolutions 1h, 5m"); empty when none is
// downsampled. `resolutions`: descending.
std::string ResolutionsInfo(const std::vector<int64_t>& resolutions);

class Engine {
 public:
  explicit Engine(EngineOptions options);

  // Evaluates `query` at `t_ms`.
  absl::StatusOr<QueryResult> InstantQuery(const Queryable& queryable, std::string_view query,
                                           int64_t t_ms, const QueryOptions& opts) const;

  // Evaluates `query` at start, start+step, ... <= end. The result is always a
  // Matrix (series sorted by labels); a scalar result becomes one series with
  // empty labels. REQUIRES: step_ms > 0, end_ms >= start_ms.
  absl::StatusOr<QueryResult> RangeQuery(const Queryable& queryable, std::string_view query,
                                         int64_t start_ms, int64_t end_ms, int64_t step_ms,
                                         const QueryOptions& opts) const;

  const EngineOptions& options() const { return options_; }
  const QueryAdmission& admission() const { return *admission_; }

 private:
  EngineOptions options_;
  std::shared_ptr<QueryAdmission> admission_;
};

}  // namespace meridian::promql

#endif  // MERIDIAN_QUERY_ENGINE_H_
