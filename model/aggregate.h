// Downsampled data as the read interface carries it: the aggregates of one
// series over one window (docs/format/downsampled.md), and one series' data
// from a Select that allowed aggregates (SelectHints::max_resolution_ms),
// as runs of windows of one resolution and runs of raw samples, in time
// order; runs of windows may point into windows the source shares
// (SeriesData::SharedWindows) instead of copying them. Plain data: no
// meridian dependency beyond model/sample.h.
#ifndef MERIDIAN_MODEL_AGGREGATE_H_
#define MERIDIAN_MODEL_AGGREGATE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/sample.h"

namespace meridian {

// The aggregates of one series over one window [t_ms, t_ms + resolution).
// Stale markers are not samples of the aggregates (as Prometheus's range
// functions drop them) except for `last`. NaN values are samples.
struct AggregateWindow {
  int64_t t_ms = 0;                  // window start, a multiple of the resolution
  uint64_t count = 0;                // samples other than stale markers
  double sum = 0, min = 0, max = 0;  // over those (min/max as Prometheus's *_over_time)
  int64_t first_t = 0;               // first and last of those (the counter aggregate's ends)
  double first_v = 0;
  int64_t clast_t = 0;
  double clast_v = 0;
  // Increase from first_v to clast_v over the window's samples, a value
  // lower than its predecessor counting as a reset (Prometheus's increase
  // without extrapolation).
  double counter_inc = 0;
  // The last sample of any kind, a stale marker included (plain selectors).
  int64_t last_t = 0;
  double last_v = 0;
};

// One series' data from a Select that allowed aggregates. Runs are in time
// order and disjoint in time: every sample of the series in the selected
// range is in exactly one run (as a raw sample or inside a window), so
// nothing is counted twice where resolutions meet. A run of windows need
// not hold every window of its span (SelectHints::range_ms).
struct SeriesData {
  // Windows held by the source and shared with the reader (e.g. a read
  // cache's): immutable, kept alive by every run that points into them, so
  // a source may drop its reference (evict) while a reader holds the run.
  using SharedWindows = std::shared_ptr<const std::vector<AggregateWindow>>;
  struct Run {
    int64_t resolution_ms = 0;  // 0: raw samples
    // [begin, end) of `samples` (raw), of `windows`, or of *shared when set.
    size_t begin = 0;
    size_t end = 0;
    // >= 0: windows made on read, with the compactor's arithmetic, of data
    // of this finer resolution (0: raw samples); what answers name.
    int64_t source_ms = -1;
    SharedWindows shared;  // null: the windows are in `windows`
    int64_t SourceMs() const { return source_ms >= 0 ? source_ms : resolution_ms; }
  };
  std::vector<Run> runs;
  std::vector<AggregateWindow> windows;  // sorted by t_ms
  std::vector<Sample> samples;           // sorted by t_ms, unique

  // The windows of a run of windows, the samples of a raw run.
  std::span<const AggregateWindow> Windows(const Run& r) const {
    const std::vector<AggregateWindow>& w = r.shared != nullptr ? *r.shared : windows;
    return std::span<const AggregateWindow>(w.data() + r.begin, r.end - r.begin);
  }
  std::span<const Sample> Samples(const Run& r) const {
    return std::span<const Sample>(samples.data() + r.begin, r.end - r.begin);
  }

  void Clear() {
    runs.clear();
    windows.clear();
    samples.clear();
  }
  // True when some run holds aggregate windows.
  bool HasAggregates() const {
    for (const Run& r : runs) {
      if (r.resolution_ms > 0 && r.end > r.begin) return true;
    }
    return false;
  }
};

}  // namespace meridian

#endif  // MERIDIAN_MODEL_AGGREGATE_H_
