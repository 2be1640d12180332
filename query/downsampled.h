// Internal to the query module: how selectors read downsampled data
// (docs/downsampling.md). Which resolution a selector asks for, and the
// range functions computed from aggregate windows. Not a public interface.
#ifndef MERIDIAN_QUERY_DOWNSAMPLED_H_
#define MERIDIAN_QUERY_DOWNSAMPLED_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "query/eval.h"
#include "query/functions_internal.h"

namespace meridian::promql::eval {

// How the consumer of a range selector uses downsampled data.
DownsampleUse UseOfFunction(Fn f);

// What one selector asks of storage (SelectHints::resolution_ms and
// max_resolution_ms): 0/0 reads raw samples only.
struct ResolutionChoice {
  int64_t preferred_ms = 0;
  int64_t max_ms = 0;
};

// The rule (docs/downsampling.md):
//  - `max_source` < 0 (auto): any resolution the source has; 0: raw only;
//    > 0: resolutions at or below it.
//  - The preferred resolution is the coarsest allowed one whose windows tile
//    every step's window exactly: it divides the range (range functions),
//    the step (range queries) and the first step's time minus the offset
//    (`ref_ms`). Plain selectors need no range: a window's `last` answers a
//    step at its end exactly (the lookback is checked on its time).
//  - Where the preferred resolution holds no data, storage falls back to a
//    finer one, then to the finest coarser one up to `max_ms` (the engine
//    then widens the window to it and says so).
//  - Functions no aggregate answers prefer raw data and fall back to the
//    finest resolution holding the range.
// `available`: the source's aggregate resolutions, ascending.
ResolutionChoice ChooseResolution(DownsampleUse use, std::span<const int64_t> available,
                                  int64_t max_source, int64_t range_ms, int64_t step_ms,
                                  int64_t ref_ms);

// A range function over the windows with `attr` in (end - range, end]. When
// the newest of them is coarser than the range, the range is widened to its
// resolution (*widened set). Returns false when there is no sample.
// REQUIRES: UseOfFunction(f) == kWindows; `w` sorted by attr.
// `cursor` (optional, one per series): where the previous step's range
// was, so that steps moving forward cost no search.
// It also keeps prefix sums of the counts and counter increments (built on
// first use) so that rate/increase/delta/count_over_time cost O(1) per
// step whatever the range ([1d] over 5m windows: 288 windows a step).
struct WindowsCursor {
  // Whether prefix sums may be used: only when the steps' ranges overlap
  // (the step is at most the range). Otherwise every window is in at most
  // one step's range, direct sums cost as much, and they give the same bits
  // whichever windows storage left out (SelectHints::range_ms).
  bool prefix = true;
  size_t lo = 0, hi = 0;
  int64_t start_ms = INT64_MIN, end_ms = INT64_MIN;
  std::vector<uint64_t> pre_n;  // Σ count of windows [0, i)
  std::vector<double> pre_inc;  // Σ counter_inc of windows [0, i)
  std::vector<double> pre_x;    // Σ steps between windows k-1 and k, 1 <= k < i
};
bool WindowsFn(Fn f, std::span<const DsWindow> w, int64_t range_ms, int64_t end_ms, double* out,
               bool* widened, WindowsCursor* cursor = nullptr);

// The steps of a range function: step i is at start_ms + i * interval_ms
// (Evaluator::StepTime), its range ends at (has_at ? at_ms : step) -
// offset_ms. `prefix`: WindowsCursor::prefix.
struct WindowSteps {
  int64_t start_ms = 0, interval_ms = 0;
  int num_steps = 0;
  bool has_at = false;
  int64_t at_ms = 0, offset_ms = 0, range_ms = 0;
  bool prefix = true;
};
// WindowsFn at every step with one cursor, as one loop per function (the
// same code inlined: the same values); appends {step, value} for the steps
// that have one. `check` runs every 64 steps (CheckInterrupt); its error
// ends the loop.
absl::Status WindowsFnSteps(Fn f, std::span<const DsWindow> w, const WindowSteps& steps,
                            std::vector<Point>* out, bool* widened,
                            absl::FunctionRef<absl::Status()> check);

// The runs of `data` as windows sorted by attr (stale markers and windows
// without samples dropped), pointing into `data` (no copy). Raw samples
// become windows of one sample, or with `fold_ms` > 0 (the preferred
// resolution, to which every step's range is aligned) windows of fold_ms as
// the compactor would make them: the same answers from far fewer windows;
// those windows are made in `own`. *out is valid while `data` and `own`
// are unchanged. Notes the resolutions in q->resolutions_used (q may be
// null: then nothing is noted and WindowsOf may run on any thread).
void WindowsOf(const SeriesData& data, int64_t fold_ms, QueryContext* q,
               std::vector<AggregateWindow>* own, std::vector<DsWindow>* out);
// The runs of `data` as points: raw samples as they are, a window as one
// point at its last sample's time with its last value (or its mean).
void PointsOf(const SeriesData& data, bool mean, QueryContext* q, std::vector<Point>* out);

// "5m", "1h", "raw".
std::string ResolutionText(int64_t ms);

// Prometheus's extrapolation (extrapolatedRate in promql/functions.go) of a
// window's `increase` (or delta), shared by raw and downsampled reads: `n` >= 2
// samples from first_t_ms to last_t_ms (the first valued first_v) within the
// range (range_end_ms - range_ms, range_end_ms]. False if they span no time.
bool Extrapolate(double increase, int64_t first_t_ms, int64_t last_t_ms, double first_v, uint64_t n,
                 int64_t range_end_ms, int64_t range_ms, bool counter, bool rate, double* out);

}  // namespace meridian::promql::eval

#endif  // MERIDIAN_QUERY_DOWNSAMPLED_H_
