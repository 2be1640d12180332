// Internal to the query module: the PromQL evaluator behind Engine
// (query/engine.h). Not a public interface.
//
// An Evaluator evaluates an expression at the steps start, start+interval, ...
// <= end. Every instant-vector or scalar node evaluates to all its steps at
// once, the way Prometheus's rangeEval does: a vector becomes an EvalMatrix
// whose series hold one point per step where they have a value (timestamps are
// the step times), a scalar becomes one value per step. Range-vector nodes are
// consumed by the functions that take them without ever being materialised,
// except for a matrix selector or subquery at the top of an instant query.
//
// Storage is read once per selector: one Select over the whole time range the
// selector needs across all steps, then cursors walk the samples step by step.
//
// Not thread-safe: one Evaluator (and QueryContext) per query.
#ifndef MERIDIAN_QUERY_EVAL_H_
#define MERIDIAN_QUERY_EVAL_H_

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "model/aggregate.h"
#include "model/executor.h"
#include "model/labels.h"
#include "model/queryable.h"
#include "model/status.h"
#include "query/ast.h"
#include "query/value.h"

namespace meridian::promql::eval {

// One series of an evaluated node. `drop_name` is Prometheus 3's delayed
// __name__ removal: the name stays on the labels (grouping and matching still
// see it) and is dropped when the query's result is assembled.
struct EvalSeries {
  Labels metric;
  std::vector<Point> points;
  bool drop_name = false;
};
using EvalMatrix = std::vector<EvalSeries>;

// The value of a node over all steps.
struct EvalResult {
  ValueType type = ValueType::kNone;
  EvalMatrix matrix;           // kVector: points at step times; kMatrix: raw samples
  std::vector<double> scalar;  // kScalar: one value per step
  std::string str;             // kString
};

// Downsampled data (query/downsampled.h, docs/downsampling.md): how the
// consumer of a selector may use aggregate windows.
enum class DownsampleUse {
  kRawOnly,     // raw samples only
  kPlain,       // a plain selector: each window's `last`
  kWindows,     // a range function the aggregates answer (rate, *_over_time, ...)
  kPoints,      // a range function they do not answer: raw samples, and where raw
                // data is gone one point per window (its last value)
  kPointsMean,  // the same with the window's mean (quantile, stddev, ...)
};

// One aggregate window (or one raw sample as a window of one sample, where
// raw data answers), attributed to its last millisecond `attr`: it lies in
// a range (a, b] when attr does. `a` points into the Select's SeriesData
// (the source's shared windows, no copy) or into the caller's buffer of
// windows made of raw samples (query/downsampled.h WindowsOf).
struct DsWindow {
  int64_t attr = 0;
  int64_t res_ms = 0;  // 0: a raw sample
  const AggregateWindow* a = nullptr;
};

// Warnings and infos of one query, deduplicated, in order of first report.
class Annotations {
 public:
  void Warn(std::string msg);
  void Info(std::string msg);
  std::vector<std::string> TakeWarnings() { return std::move(warnings_); }
  std::vector<std::string> TakeInfos() { return std::move(infos_); }

 private:
  absl::flat_hash_set<std::string> seen_;
  std::vector<std::string> warnings_;
  std::vector<std::string> infos_;
};

// State shared by all evaluators of one query.
struct QueryContext {
  const Queryable* queryable = nullptr;
  std::string_view query;      // the query text, for annotation positions
  int64_t query_start_ms = 0;  // `@ start()`
  int64_t query_end_ms = 0;    // `@ end()`
  int64_t query_step_ms = 0;   // 0 for instant queries
  int64_t lookback_ms = 0;
  int64_t default_eval_interval_ms = 60'000;
  int64_t max_samples = 0;
  int64_t current_samples = 0;
  int64_t samples_loaded = 0;  // every increase of current_samples, summed (QueryStats)
  int64_t peak_samples = 0;
  std::chrono::steady_clock::time_point deadline;
  const std::atomic<bool>* cancelled = nullptr;
  Annotations annos;
  bool range_query = false;
  // Downsampled reads: -1 auto, 0 raw only, > 0 the coarsest resolution at
  // or below it (max_source_resolution).
  int64_t max_source_resolution_ms = -1;
  // Borrowed, may be null: a second thread for window functions over many
  // series (EngineOptions::executor).
  Executor* executor = nullptr;
  // Resolutions (ms, 0 = raw) of the runs of series that had aggregates.
  std::vector<int64_t> resolutions_used;
  void NoteResolution(int64_t ms) {
    for (int64_t r : resolutions_used) {
      if (r == ms) return;
    }
    resolutions_used.push_back(ms);
  }

  // kDeadlineExceeded / kCancelled when the query must stop.
  absl::Status CheckInterrupt() const;
  // Accounts `n` more samples held (n may be negative); kResourceExhausted
  // when over max_samples.
  absl::Status AddSamples(int64_t n);
  // "line:col" of the start of `e` in the query text, as Prometheus prints it.
  std::string Pos(const Expr& e) const;
};

// Formats labels the way Go's labels.Labels.String() does:
// {__name__="a", job="b"}.
std::string LabelsString(const Labels& ls);

// IsStaleNaN, inlined for hot loops.
inline bool IsStaleMarker(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits == kStaleNaNBits;
}

// Kahan-Babuska (Neumaier) summation step, as Prometheus's kahansum.Inc.
inline void KahanInc(double inc, double* sum, double* c) {
  double t = *sum + inc;
  if (std::isinf(t)) {
    *c = 0;
  } else if (std::fabs(*sum) >= std::fabs(inc)) {
    *c += (*sum - t) + inc;
  } else {
    *c += (inc - t) + *sum;
  }
  *sum = t;
}

// Accumulates per-step output samples into series keyed by label hash, as
// Prometheus's rangeEval does. Two samples of the same labels at one step
// are the "vector cannot contain metrics with the same labelset" error.
class SeriesAccumulator {
 public:
  // Index of the output series for `hash`, creating it with `make_labels()`
  // when new.
  template <typename MakeLabels>
  int SeriesFor(uint64_t hash, bool drop_name, MakeLabels&& make_labels) {
    auto [it, inserted] = index_.try_emplace(hash, static_cast<int>(out_.size()));
    if (inserted) {
      out_.push_back(EvalSeries{make_labels(), {}, drop_name});
      last_t_.push_back(INT64_MIN);
    }
    return it->second;
  }
  absl::Status Add(int series, int64_t t_ms, double v);
  EvalMatrix Take() { return std::move(out_); }
  size_t size() const { return out_.size(); }

 private:
  absl::flat_hash_map<uint64_t, int> index_;
  EvalMatrix out_;
  std::vector<int64_t> last_t_;
};

// Walks an EvalMatrix step by step. At() gives the value of series s at the
// current step, if it has one.
class StepCursor {
 public:
  explicit StepCursor(const EvalMatrix* m) : m_(m), pos_(m->size(), 0) {}
  // Returns true and sets *v when series `s` has a point at `t_ms`. Calls for
  // one series must come with non-decreasing t_ms.
  bool At(size_t s, int64_t t_ms, double* v) {
    const auto& pts = (*m_)[s].points;
    size_t& p = pos_[s];
    while (p < pts.size() && pts[p].t_ms < t_ms) ++p;
    if (p < pts.size() && pts[p].t_ms == t_ms) {
      *v = pts[p].v;
      return true;
    }
    return false;
  }

 private:
  const EvalMatrix* m_;
  std::vector<size_t> pos_;
};

class Evaluator {
 public:
  Evaluator(QueryContext* q, int64_t start_ms, int64_t end_ms, int64_t interval_ms);

  absl::StatusOr<EvalResult> Eval(const Expr& e);

  int64_t start() const { return start_; }
  int64_t end() const { return end_; }
  int64_t interval() const { return interval_; }
  int num_steps() const { return num_steps_; }
  bool too_many_steps() const { return too_many_steps_; }
  // In unsigned arithmetic: i * interval_ alone may exceed int64 when start_
  // is far negative, although the step time itself (<= end_) fits.
  int64_t StepTime(int i) const {
    return static_cast<int64_t>(static_cast<uint64_t>(start_) +
                                static_cast<uint64_t>(i) * static_cast<uint64_t>(interval_));
  }
  // REQUIRES: t >= start_ (the difference then fits in uint64).
  int StepIndex(int64_t t) const {
    return static_cast<int>((static_cast<uint64_t>(t) - static_cast<uint64_t>(start_)) /
                            static_cast<uint64_t>(interval_));
  }

  // How a range argument (matrix selector or subquery) windows its samples:
  // at step time t the window is (end - range_ms, end] with
  // end = (has_at ? at_ms : t) - offset_ms.
  struct RangeSpec {
    int64_t range_ms = 0;
    int64_t offset_ms = 0;
    bool has_at = false;
    int64_t at_ms = 0;
    const VectorSelector* selector = nullptr;  // set for matrix selectors
  };
  // Calls fn(labels, drop_name, samples) for each series of the range
  // argument `arg`, with all samples any step's window needs, stale markers
  // removed. Storage series are streamed: `samples` is valid during the call.
  // `use`: how the consumer may use downsampled data; for kWindows, a series
  // that has aggregate windows goes to *on_windows instead of `fn`, with the
  // windows (stale markers and empty windows dropped) sorted by attr; with
  // `fold_raw` raw samples come folded into windows of the selector's
  // preferred resolution (query/downsampled.h WindowsOf).
  // In two parts: `compute` makes a series' points from its windows (and
  // says whether a range was widened). It may run on another thread (the
  // engine's executor), for several series at the same time: it must only
  // read shared state. `emit` then takes each series' points on the
  // evaluating thread, in the order of the series.
  struct WindowsSink {
    std::function<absl::Status(std::span<const DsWindow>, std::vector<Point>*, bool* widened)>
        compute;
    std::function<absl::Status(const Labels&, bool widened, std::vector<Point>*)> emit;
  };
  absl::Status ForEachRangeSeries(
      const Expr& arg, RangeSpec* spec,
      absl::FunctionRef<absl::Status(const Labels&, bool, std::span<const Point>)> fn,
      DownsampleUse use = DownsampleUse::kRawOnly, const WindowsSink* on_windows = nullptr,
      bool fold_raw = false);

  // Receives the output series of a streaming evaluation one at a time;
  // `points` may be moved from.
  using SeriesSink =
      absl::FunctionRef<absl::Status(const Labels&, bool drop_name, std::vector<Point>* points)>;

  // Used by the function handlers (functions_*.cc) as well.
  absl::StatusOr<EvalResult> EvalVectorSelector(const VectorSelector& vs, bool want_timestamps);
  // Index of the range-vector argument of `c`, or -1.
  static int RangeArgIndex(const Call& c);
  // Evaluates a function with a range-vector argument (not absent_over_time),
  // one output series at a time.
  absl::Status StreamRangeFunction(const Call& c, int matrix_arg, SeriesSink sink);

 private:
  absl::Status StreamVectorSelector(const VectorSelector& vs, bool want_timestamps,
                                    SeriesSink sink);
  absl::StatusOr<EvalResult> EvalMatrixSelectorTop(const MatrixSelector& ms);
  absl::StatusOr<EvalResult> EvalSubquery(const SubqueryExpr& sq);
  absl::StatusOr<EvalResult> EvalUnary(const UnaryExpr& u);
  absl::StatusOr<EvalResult> EvalStepInvariant(const StepInvariantExpr& e);
  absl::StatusOr<EvalResult> EvalBinary(const BinaryExpr& b);
  absl::StatusOr<EvalResult> EvalAggregate(const AggregateExpr& a);
  // The aggregation evaluated where its data lives (pushdown.cc,
  // Querier::Pushdown); nullopt when it is evaluated here.
  std::optional<absl::StatusOr<EvalResult>> TryPushdown(const AggregateExpr& a);
  // Dispatches through the function table (functions_impl.cc).
  absl::StatusOr<EvalResult> EvalCall(const Call& c);

  // Binary operators (binop.cc).
  absl::StatusOr<EvalResult> ScalarScalarBinop(const BinaryExpr& b, EvalResult l, EvalResult r);
  absl::StatusOr<EvalResult> VectorScalarBinop(const BinaryExpr& b, EvalResult vec,
                                               const EvalResult& sc, bool scalar_left);
  absl::StatusOr<EvalResult> VectorVectorBinop(const BinaryExpr& b, EvalResult l, EvalResult r);
  absl::StatusOr<EvalResult> SetBinop(const BinaryExpr& b, EvalResult l, EvalResult r);

  // Aggregations (aggregate.cc).
  absl::StatusOr<EvalResult> AggregateSimple(const AggregateExpr& a, EvalMatrix in,
                                             const std::vector<double>& params);
  absl::StatusOr<EvalResult> AggregateK(const AggregateExpr& a, EvalMatrix in,
                                        const std::vector<double>& params);
  absl::StatusOr<EvalResult> AggregateCountValues(const AggregateExpr& a, EvalMatrix in,
                                                  const std::string& label);

  // Resolves the time an `@` modifier pins to.
  int64_t AtTime(AtKind k, int64_t at_ms) const;

  // What a selector may read of downsampled data (downsampled.cc).
  struct DownsampleAsk {
    DownsampleUse use = DownsampleUse::kRawOnly;
    int64_t range_ms = 0;  // range functions
    int64_t ref_ms = 0;    // the first step's time (or the @ time) minus the offset
    bool pinned = false;   // @: one window for every step
    bool fold_raw = true;  // raw samples may come folded into windows (SelectHints)
    std::string_view func;
  };
  // Opens a querier and selects; with `ask` the hints may allow aggregates
  // (*max_ms: the coarsest resolution the set may yield, 0: raw only;
  // *preferred_ms: the resolution the selector asked for).
  absl::Status SelectSeries(const VectorSelector& vs, int64_t mint_ms, int64_t maxt_ms,
                            std::unique_ptr<Querier>* querier, std::unique_ptr<SeriesSet>* set,
                            const DownsampleAsk* ask = nullptr, int64_t* preferred_ms = nullptr,
                            int64_t* max_ms = nullptr);
  // A plain selector's series that has aggregate windows (downsampled.cc).
  absl::Status PlainFromWindows(const VectorSelector& vs, bool want_timestamps,
                                const SeriesData& data, int64_t preferred_ms,
                                std::vector<Point>* points);

  QueryContext* q_;
  int64_t start_;
  int64_t end_;
  int64_t interval_;
  int num_steps_;
  // More steps than any query may hold (a subquery over an extreme range or
  // a tiny step): Eval() refuses instead of allocating per step.
  bool too_many_steps_ = false;
};

// Unwraps parentheses and step-invariant wrappers.
const Expr& Unwrap(const Expr& e);

// Number of points held by a matrix.
int64_t CountPoints(const EvalMatrix& m);

// Prometheus's quantile() over `values` (sorts them in place).
double QuantileOf(double q, std::vector<double>* values);

// Classic-histogram (`le` bucket) functions, in histogram.cc:
//   kQuantile:  histogram_quantile, params[0] = q per step
//   kFraction:  histogram_fraction, params[0] = lower, params[1] = upper
//   kQuantiles: histogram_quantiles, params = one q per step each; the
//               output carries `quantile_label` = the q.
enum class HistFunc { kQuantile, kFraction, kQuantiles };
absl::StatusOr<EvalResult> EvalClassicHistogramFunc(Evaluator* ev, QueryContext* q, HistFunc kind,
                                                    const Expr& vec_arg,
                                                    const std::vector<std::vector<double>>& params,
                                                    const std::string& quantile_label,
                                                    EvalMatrix in);

// Merges series with identical labels whose points do not overlap
// (Prometheus's mergeSeriesWithSameLabelset); overlap is the "vector cannot
// contain metrics with the same labelset" error.
absl::StatusOr<EvalMatrix> MergeSameLabelset(EvalMatrix m);

// Escapes bytes that are not valid UTF-8 as \xNN (for error texts).
std::string EscapeInvalidUtf8(std::string_view s);

// Value of a scalar expression that must be a literal-ish parameter at step i.
absl::StatusOr<std::vector<double>> EvalScalarSteps(Evaluator* ev, const Expr& e);

}  // namespace meridian::promql::eval

#endif  // MERIDIAN_QUERY_EVAL_H_
