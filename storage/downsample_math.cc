// Downsampling arithmetic (declared in storage/compaction.h): shared by the
// compactor and the read path's cache of windows folded from raw data.
#include <cmath>

#include "storage/compaction.h"

namespace meridian {
namespace {

// As Prometheus's min_over_time/max_over_time: NaN only when all are NaN.
inline double Min(double acc, double v) { return (v < acc || std::isnan(acc)) ? v : acc; }
inline double Max(double acc, double v) { return (v > acc || std::isnan(acc)) ? v : acc; }

// Increase from `prev` to `cur`, a lower value counting as a reset (the
// counter restarted from 0), as Prometheus's increase does between samples.
inline double Step(double prev, double cur) { return cur < prev ? cur : cur - prev; }

}  // namespace

void AddSample(const Sample& s, AggregateWindow* w) {
  w->last_t = s.t_ms;
  w->last_v = s.v;
  if (IsStaleNaN(s.v)) return;
  if (w->count == 0) {
    w->sum = s.v;
    w->min = s.v;
    w->max = s.v;
    w->first_t = s.t_ms;
    w->first_v = s.v;
    w->counter_inc = 0;
  } else {
    w->sum += s.v;
    w->min = Min(w->min, s.v);
    w->max = Max(w->max, s.v);
    w->counter_inc += Step(w->clast_v, s.v);
  }
  w->clast_t = s.t_ms;
  w->clast_v = s.v;
  ++w->count;
}

void DownsampleRaw(std::span<const Sample> samples, int64_t res_ms,
                   std::vector<AggregateWindow>* out) {
  bool open = false;
  AggregateWindow w;
  for (const Sample& s : samples) {
    const int64_t start = AlignDown(s.t_ms, res_ms);
    if (!open || start != w.t_ms) {
      if (open) out->push_back(w);
      w = AggregateWindow{};
      w.t_ms = start;
      open = true;
    }
    AddSample(s, &w);
  }
  if (open) out->push_back(w);
}

void MergeWindows(std::span<const AggregateWindow> fine, int64_t res_ms,
                  std::vector<AggregateWindow>* out) {
  bool open = false;
  AggregateWindow a;
  for (const AggregateWindow& f : fine) {
    const int64_t start = AlignDown(f.t_ms, res_ms);
    if (!open || start != a.t_ms) {
      if (open) out->push_back(a);
      a = AggregateWindow{};
      a.t_ms = start;
      open = true;
    }
    if (f.count > 0) {
      if (a.count == 0) {
        a.sum = f.sum;
        a.min = f.min;
        a.max = f.max;
        a.first_t = f.first_t;
        a.first_v = f.first_v;
        a.counter_inc = f.counter_inc;
      } else {
        a.sum += f.sum;
        a.min = Min(a.min, f.min);
        a.max = Max(a.max, f.max);
        // Between the windows, then inside the finer one.
        a.counter_inc += Step(a.clast_v, f.first_v) + f.counter_inc;
      }
      a.clast_t = f.clast_t;
      a.clast_v = f.clast_v;
      a.count += f.count;
    }
    a.last_t = f.last_t;
    a.last_v = f.last_v;
  }
  if (open) out->push_back(a);
}

}  // namespace meridian
