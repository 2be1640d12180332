// Downsampled reads in the evaluator (docs/downsampling.md): the resolution
// a selector asks for, plain selectors and range functions over aggregate
// windows. The function mapping keeps each function's meaning: rate,
// increase, delta, irate, idelta and resets on the counter aggregate
// (first, last, increase across resets), min/max_over_time on min/max,
// count_over_time as the sum of counts, sum_over_time on sum,
// avg_over_time as sum over count, last/first_over_time and plain
// selectors on last/first.
#include "query/downsampled.h"

#include <algorithm>
#include <cmath>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/strings/str_cat.h"

namespace meridian::promql::eval {

namespace {

// Extrapolate's arithmetic, inlined into the window functions' step loops
// (the same operations in the same order: the same bits). `range_s` is
// range_ms / 1000 (computed once by a step loop). Independent divisions go
// two at a time through one SSE2 division (each lane is an IEEE division
// rounded as the scalar one: the same bits, half the divider's work); the
// quotient first_v / increase is computed whether or not it is used (no
// trap: floating-point exceptions are masked).
inline __attribute__((always_inline)) bool ExtrapolateInline(double increase, int64_t first_t_ms,
                                                             int64_t last_t_ms, double first_v,
                                                             uint64_t n, int64_t range_end_ms,
                                                             int64_t range_ms, double range_s,
                                                             bool counter, bool rate, double* out) {
  const double dt = static_cast<double>(last_t_ms - first_t_ms);
  const double ds = static_cast<double>(first_t_ms - (range_end_ms - range_ms));
  const double de = static_cast<double>(range_end_ms - last_t_ms);
#if defined(__SSE2__)
  const __m128d q1 = _mm_div_pd(_mm_set_pd(first_v, dt), _mm_set_pd(increase, 1000.0));
  const __m128d q2 = _mm_div_pd(_mm_set_pd(de, ds), _mm_set1_pd(1000.0));
  const double sampled = _mm_cvtsd_f64(q1);
  const double first_over_increase = _mm_cvtsd_f64(_mm_unpackhi_pd(q1, q1));
  double to_start = _mm_cvtsd_f64(q2);
  double to_end = _mm_cvtsd_f64(_mm_unpackhi_pd(q2, q2));
#else
  const double sampled = dt / 1000;
  const double first_over_increase = first_v / increase;
  double to_start = ds / 1000;
  double to_end = de / 1000;
#endif
  if (sampled <= 0) return false;
  const double avg = sampled / static_cast<double>(n - 1);
  const double threshold = avg * 1.1;
  if (to_start >= threshold) to_start = avg / 2;
  if (counter) {
    double to_zero = to_start;
    if (increase > 0 && first_v >= 0) to_zero = sampled * first_over_increase;
    if (to_zero < to_start) to_start = to_zero;
  }
  if (to_end >= threshold) to_end = avg / 2;
  double factor = (sampled + to_start + to_end) / sampled;
  if (rate) factor /= range_s;
  *out = increase * factor;
  return true;
}

}  // namespace

bool Extrapolate(double increase, int64_t first_t_ms, int64_t last_t_ms, double first_v, uint64_t n,
                 int64_t range_end_ms, int64_t range_ms, bool counter, bool rate, double* out) {
  return ExtrapolateInline(increase, first_t_ms, last_t_ms, first_v, n, range_end_ms, range_ms,
                           static_cast<double>(range_ms) / 1000, counter, rate, out);
}

namespace {

int64_t Mod(int64_t a, int64_t m) {
  const int64_t r = a % m;
  return r < 0 ? r + m : r;
}

// Prometheus's extrapolatedRate over the windows `w` (each with samples),
// for the range (end - range, end].
// `pre` (optional): the cursor's prefix sums over `all`, w = all[lo, hi).
struct Prefix {
  const WindowsCursor* c = nullptr;
  size_t lo = 0, hi = 0;
};

inline __attribute__((always_inline)) bool WindowsRate(std::span<const DsWindow> w,
                                                       int64_t range_ms, double range_s,
                                                       int64_t end_ms, bool counter, bool rate,
                                                       double* out, const Prefix& pre = {}) {
  uint64_t n = 0;
  if (pre.c != nullptr) {
    n = pre.c->pre_n[pre.hi] - pre.c->pre_n[pre.lo];
  } else {
    for (const DsWindow& x : w) n += x.a->count;
  }
  if (n < 2) return false;
  const AggregateWindow& first = *w.front().a;
  const AggregateWindow& last = *w.back().a;
  double result;
  if (counter && pre.c != nullptr) {
    result = (pre.c->pre_inc[pre.hi] - pre.c->pre_inc[pre.lo]) +
             (pre.c->pre_x[pre.hi] - pre.c->pre_x[pre.lo + 1]);
  } else if (counter) {
    double sum = 0, c = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      if (i > 0) {
        const double prev = w[i - 1].a->clast_v, cur = w[i].a->first_v;
        KahanInc(cur < prev ? cur : cur - prev, &sum, &c);
      }
      KahanInc(w[i].a->counter_inc, &sum, &c);
    }
    result = sum + c;
  } else {
    result = last.clast_v - first.first_v;
  }
  return ExtrapolateInline(result, first.first_t, last.clast_t, first.first_v, n, end_ms, range_ms,
                           range_s, counter, rate, out);
}

// irate/idelta: the last two samples when they are in different windows
// (raw samples are windows of one); inside one window, its mean rate
// (irate) or mean step (idelta) — the window keeps no second-to-last sample.
bool WindowsInstant(std::span<const DsWindow> w, bool is_rate, double* out) {
  const AggregateWindow& l = *w.back().a;
  double inc;
  int64_t dt;
  if (l.count >= 2) {
    inc = is_rate ? l.counter_inc : (l.clast_v - l.first_v) / static_cast<double>(l.count - 1);
    dt = (l.clast_t - l.first_t) / (is_rate ? 1 : static_cast<int64_t>(l.count - 1));
  } else {
    if (w.size() < 2) return false;
    const AggregateWindow& p = *w[w.size() - 2].a;
    inc = is_rate && l.first_v < p.clast_v ? l.first_v : l.first_v - p.clast_v;
    dt = l.first_t - p.clast_t;
  }
  if (dt == 0) return false;
  *out = is_rate ? inc / (static_cast<double>(dt) / 1000) : inc;
  return true;
}

double WindowsResets(std::span<const DsWindow> w) {
  int n = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    const AggregateWindow& a = *w[i].a;
    if (i > 0 && a.first_v < w[i - 1].a->clast_v) ++n;
    // A reset inside a window makes its increase exceed last - first (by
    // the value before the reset): counted once per window.
    const double direct = a.clast_v - a.first_v;
    const double tol = 1e-9 * std::max({std::fabs(a.clast_v), std::fabs(a.first_v), 1.0});
    if (a.count >= 2 && a.counter_inc > direct + tol) ++n;
  }
  return n;
}

}  // namespace

DownsampleUse UseOfFunction(Fn f) {
  switch (f) {
    case Fn::kRate:
    case Fn::kIncrease:
    case Fn::kDelta:
    case Fn::kIrate:
    case Fn::kIdelta:
    case Fn::kResets:
    case Fn::kAvgOT:
    case Fn::kMinOT:
    case Fn::kMaxOT:
    case Fn::kSumOT:
    case Fn::kCountOT:
    case Fn::kLastOT:
    case Fn::kFirstOT:
    case Fn::kPresentOT:
    case Fn::kTsFirstOT:
    case Fn::kTsLastOT:
      return DownsampleUse::kWindows;
    case Fn::kQuantileOT:
    case Fn::kStddevOT:
    case Fn::kStdvarOT:
    case Fn::kMadOT:
    case Fn::kDeriv:
    case Fn::kPredictLinear:
    case Fn::kDoubleExpSmoothing:
      return DownsampleUse::kPointsMean;
    default:
      return DownsampleUse::kPoints;  // changes, ts_of_min/max_over_time, absent_over_time
  }
}

ResolutionChoice ChooseResolution(DownsampleUse use, std::span<const int64_t> available,
                                  int64_t max_source, int64_t range_ms, int64_t step_ms,
                                  int64_t ref_ms) {
  if (use == DownsampleUse::kRawOnly || available.empty() || max_source == 0) return {};
  ResolutionChoice rc;
  for (int64_t r : available) {
    if (r > 0 && (max_source < 0 || r <= max_source)) rc.max_ms = std::max(rc.max_ms, r);
  }
  if (rc.max_ms == 0) return {};
  if (use == DownsampleUse::kPoints || use == DownsampleUse::kPointsMean) return rc;
  for (auto it = available.rbegin(); it != available.rend(); ++it) {
    const int64_t r = *it;
    if (r <= 0 || r > rc.max_ms) continue;
    if (use == DownsampleUse::kWindows && (range_ms <= 0 || range_ms % r != 0)) continue;
    if (step_ms > 0 && step_ms % r != 0) continue;
    if (Mod(ref_ms, r) != 0) continue;
    rc.preferred_ms = r;
    break;
  }
  return rc;
}

namespace {

// WindowsFn of one function (f), inlined into the step loops below;
// `range_s` is range_ms / 1000.
template <Fn f>
inline __attribute__((always_inline)) bool WindowsFnOf(std::span<const DsWindow> all,
                                                       int64_t range_ms, double range_s,
                                                       int64_t end_ms, double* out, bool* widened,
                                                       WindowsCursor* cursor) {
  auto after = [&](int64_t t) {  // index of the first window with attr > t
    return static_cast<size_t>(
        std::upper_bound(all.begin(), all.end(), t,
                         [](int64_t x, const DsWindow& w) { return x < w.attr; }) -
        all.begin());
  };
  size_t hi;
  if (cursor != nullptr && end_ms >= cursor->end_ms) {
    hi = cursor->hi;
    while (hi < all.size() && all[hi].attr <= end_ms) ++hi;
    cursor->hi = hi;
    cursor->end_ms = end_ms;
  } else {
    hi = after(end_ms);
  }
  if (hi == 0) return false;
  int64_t range = range_ms;
  const DsWindow& newest = all[hi - 1];
  if (newest.res_ms > range && newest.attr > end_ms - newest.res_ms) {
    // Only data coarser than the range is here: the range is widened to
    // one window (never an empty answer).
    range = newest.res_ms;
    *widened = true;
  }
  size_t lo;
  if (cursor != nullptr && range == range_ms && end_ms - range >= cursor->start_ms) {
    // Steps move forward with a fixed range: both ends only advance.
    lo = cursor->lo;
    while (lo < all.size() && all[lo].attr <= end_ms - range) ++lo;
    cursor->lo = lo;
    cursor->start_ms = end_ms - range;
  } else {
    lo = after(end_ms - range);
  }
  if (lo >= hi) return false;
  std::span<const DsWindow> w = all.subspan(lo, hi - lo);
  // Long ranges: prefix sums instead of a sum per step.
  Prefix pre;
  if (cursor != nullptr && cursor->prefix && hi - lo > 16 &&
      (f == Fn::kRate || f == Fn::kIncrease || f == Fn::kDelta || f == Fn::kCountOT)) {
    if (cursor->pre_n.size() != all.size() + 1) {
      cursor->pre_n.assign(all.size() + 1, 0);
      cursor->pre_inc.assign(all.size() + 1, 0);
      cursor->pre_x.assign(all.size() + 1, 0);
      for (size_t i = 0; i < all.size(); ++i) {
        cursor->pre_n[i + 1] = cursor->pre_n[i] + all[i].a->count;
        cursor->pre_inc[i + 1] = cursor->pre_inc[i] + all[i].a->counter_inc;
        double x = 0;
        if (i > 0) {
          const double prev = all[i - 1].a->clast_v, cur = all[i].a->first_v;
          x = cur < prev ? cur : cur - prev;
        }
        cursor->pre_x[i + 1] = cursor->pre_x[i] + x;
      }
    }
    pre = Prefix{cursor, lo, hi};
  }
  switch (f) {
    case Fn::kRate:
      return WindowsRate(w, range, range == range_ms ? range_s : static_cast<double>(range) / 1000,
                         end_ms, true, true, out, pre);
    case Fn::kIncrease:
    case Fn::kDelta:
      if (!WindowsRate(w, range, 0, end_ms, f == Fn::kIncrease, false, out, pre)) return false;
      // Increase and delta are per range: a widened range answers for the
      // asked one (unwidened, the factor is 1: x * 1 is x).
      if (range != range_ms) *out *= static_cast<double>(range_ms) / static_cast<double>(range);
      return true;
    case Fn::kIrate:
    case Fn::kIdelta:
      return WindowsInstant(w, f == Fn::kIrate, out);
    case Fn::kResets:
      *out = WindowsResets(w);
      return true;
    case Fn::kSumOT: {
      double sum = 0, c = 0;
      for (const DsWindow& x : w) KahanInc(x.a->sum, &sum, &c);
      *out = std::isinf(sum) ? sum : sum + c;
      return true;
    }
    case Fn::kAvgOT: {
      double sum = 0, c = 0, n = 0;
      for (const DsWindow& x : w) {
        KahanInc(x.a->sum, &sum, &c);
        n += static_cast<double>(x.a->count);
      }
      *out = std::isinf(sum) ? sum / n : (sum + c) / n;
      return true;
    }
    case Fn::kCountOT: {
      if (pre.c != nullptr) {
        *out = static_cast<double>(pre.c->pre_n[hi] - pre.c->pre_n[lo]);
        return true;
      }
      double n = 0;
      for (const DsWindow& x : w) n += static_cast<double>(x.a->count);
      *out = n;
      return true;
    }
    case Fn::kMinOT:
    case Fn::kMaxOT: {
      double best = f == Fn::kMinOT ? w[0].a->min : w[0].a->max;
      for (const DsWindow& x : w) {
        const double v = f == Fn::kMinOT ? x.a->min : x.a->max;
        if ((f == Fn::kMinOT ? v < best : v > best) || std::isnan(best)) best = v;
      }
      *out = best;
      return true;
    }
    case Fn::kLastOT:
      *out = w.back().a->clast_v;
      return true;
    case Fn::kFirstOT:
      *out = w.front().a->first_v;
      return true;
    case Fn::kTsLastOT:
      *out = static_cast<double>(w.back().a->clast_t) / 1000;
      return true;
    case Fn::kTsFirstOT:
      *out = static_cast<double>(w.front().a->first_t) / 1000;
      return true;
    case Fn::kPresentOT:
      *out = 1;
      return true;
    default:
      return false;
  }
}

// StepTime of the evaluator (query/eval.h), in unsigned arithmetic.
inline int64_t StepAt(const WindowSteps& s, int i) {
  return static_cast<int64_t>(static_cast<uint64_t>(s.start_ms) +
                              static_cast<uint64_t>(i) * static_cast<uint64_t>(s.interval_ms));
}

template <Fn f>
absl::Status StepsOf(std::span<const DsWindow> w, const WindowSteps& s, std::vector<Point>* out,
                     bool* widened, absl::FunctionRef<absl::Status()> check) {
  WindowsCursor cursor;
  cursor.prefix = s.prefix;
  const double range_s = static_cast<double>(s.range_ms) / 1000;
  for (int i = 0; i < s.num_steps; ++i) {
    if ((i & 63) == 63) MERIDIAN_RETURN_IF_ERROR(check());
    const int64_t ts = StepAt(s, i);
    const int64_t wend = (s.has_at ? s.at_ms : ts) - s.offset_ms;
    double v;
    if (WindowsFnOf<f>(w, s.range_ms, range_s, wend, &v, widened, &cursor)) {
      if (out->empty()) out->reserve(static_cast<size_t>(s.num_steps - i));
      out->push_back(Point{ts, v});
    }
  }
  return absl::OkStatus();
}

// Calls CALL(fn) with fn the template argument for f (a window function).
#define MERIDIAN_WINDOWS_DISPATCH(f, CALL) \
  switch (f) {                             \
    case Fn::kRate:                        \
      return CALL(Fn::kRate);              \
    case Fn::kIncrease:                    \
      return CALL(Fn::kIncrease);          \
    case Fn::kDelta:                       \
      return CALL(Fn::kDelta);             \
    case Fn::kIrate:                       \
      return CALL(Fn::kIrate);             \
    case Fn::kIdelta:                      \
      return CALL(Fn::kIdelta);            \
    case Fn::kResets:                      \
      return CALL(Fn::kResets);            \
    case Fn::kSumOT:                       \
      return CALL(Fn::kSumOT);             \
    case Fn::kAvgOT:                       \
      return CALL(Fn::kAvgOT);             \
    case Fn::kCountOT:                     \
      return CALL(Fn::kCountOT);           \
    case Fn::kMinOT:                       \
      return CALL(Fn::kMinOT);             \
    case Fn::kMaxOT:                       \
      return CALL(Fn::kMaxOT);             \
    case Fn::kLastOT:                      \
      return CALL(Fn::kLastOT);            \
    case Fn::kFirstOT:                     \
      return CALL(Fn::kFirstOT);           \
    case Fn::kTsLastOT:                    \
      return CALL(Fn::kTsLastOT);          \
    case Fn::kTsFirstOT:                   \
      return CALL(Fn::kTsFirstOT);         \
    case Fn::kPresentOT:                   \
      return CALL(Fn::kPresentOT);         \
    default:                               \
      break;                               \
  }

}  // namespace

bool WindowsFn(Fn f, std::span<const DsWindow> all, int64_t range_ms, int64_t end_ms, double* out,
               bool* widened, WindowsCursor* cursor) {
#define MERIDIAN_ONE(fn) \
  WindowsFnOf<fn>(all, range_ms, static_cast<double>(range_ms) / 1000, end_ms, out, widened, cursor)
  MERIDIAN_WINDOWS_DISPATCH(f, MERIDIAN_ONE)
#undef MERIDIAN_ONE
  return false;
}

absl::Status WindowsFnSteps(Fn f, std::span<const DsWindow> w, const WindowSteps& steps,
                            std::vector<Point>* out, bool* widened,
                            absl::FunctionRef<absl::Status()> check) {
#define MERIDIAN_STEPS(fn) StepsOf<fn>(w, steps, out, widened, check)
  MERIDIAN_WINDOWS_DISPATCH(f, MERIDIAN_STEPS)
#undef MERIDIAN_STEPS
  return absl::OkStatus();
}

#undef MERIDIAN_WINDOWS_DISPATCH

std::string ResolutionText(int64_t ms) {
  if (ms <= 0) return "raw";
  if (ms % 3'600'000 == 0) return absl::StrCat(ms / 3'600'000, "h");
  if (ms % 60'000 == 0) return absl::StrCat(ms / 60'000, "m");
  if (ms % 1000 == 0) return absl::StrCat(ms / 1000, "s");
  return absl::StrCat(ms, "ms");
}

namespace {

// Raw samples folded into windows of `res` with the compactor's arithmetic
// (docs/format/downsampled.md), stale markers dropped, into `own`.
// REQUIRES: `own` has capacity for one window per sample.
void FoldRaw(std::span<const Sample> samples, int64_t res, std::vector<AggregateWindow>* own,
             std::vector<DsWindow>* out) {
  AggregateWindow* w = nullptr;
  for (const Sample& s : samples) {
    if (IsStaleMarker(s.v)) continue;
    const int64_t t0 = s.t_ms - ((s.t_ms % res) + res) % res;
    if (w == nullptr || w->t_ms != t0) {
      own->push_back(
          AggregateWindow{t0, 1, s.v, s.v, s.v, s.t_ms, s.v, s.t_ms, s.v, 0, s.t_ms, s.v});
      w = &own->back();
      out->push_back(DsWindow{t0 + res - 1, res, w});
      continue;
    }
    AggregateWindow& a = *w;
    ++a.count;
    a.sum += s.v;
    if (s.v < a.min || std::isnan(a.min)) a.min = s.v;
    if (s.v > a.max || std::isnan(a.max)) a.max = s.v;
    a.counter_inc += s.v < a.clast_v ? s.v : s.v - a.clast_v;
    a.clast_t = a.last_t = s.t_ms;
    a.clast_v = a.last_v = s.v;
  }
}

}  // namespace

void WindowsOf(const SeriesData& data, int64_t fold_ms, QueryContext* q,
               std::vector<AggregateWindow>* own, std::vector<DsWindow>* out) {
  out->clear();
  own->clear();
  size_t raw = 0, n = 0;
  for (const SeriesData::Run& run : data.runs) {
    if (run.end <= run.begin) continue;
    (run.resolution_ms == 0 ? raw : n) += run.end - run.begin;
  }
  own->reserve(raw);  // never reallocated below: `out` points into it
  out->reserve(raw + n);
  for (const SeriesData::Run& run : data.runs) {
    if (run.end <= run.begin) continue;
    if (q != nullptr) q->NoteResolution(run.SourceMs());
    if (run.resolution_ms == 0 && fold_ms > 0) {
      FoldRaw(data.Samples(run), fold_ms, own, out);
      continue;
    }
    if (run.resolution_ms == 0) {
      for (const Sample& s : data.Samples(run)) {
        if (IsStaleMarker(s.v)) continue;
        own->push_back(
            AggregateWindow{s.t_ms, 1, s.v, s.v, s.v, s.t_ms, s.v, s.t_ms, s.v, 0, s.t_ms, s.v});
        out->push_back(DsWindow{s.t_ms, 0, &own->back()});
      }
      continue;
    }
    const int64_t res = run.resolution_ms;
    const std::span<const AggregateWindow> ws = data.Windows(run);
    for (size_t i = 0; i < ws.size(); ++i) {
      if (i + 8 < ws.size()) {
        const char* ahead = reinterpret_cast<const char*>(&ws[i + 8]);
        __builtin_prefetch(ahead);
        __builtin_prefetch(ahead + 64);
      }
      const AggregateWindow& a = ws[i];
      if (a.count == 0) continue;  // stale markers only
      out->push_back(DsWindow{a.t_ms + res - 1, res, &a});
    }
  }
}

void PointsOf(const SeriesData& data, bool mean, QueryContext* q, std::vector<Point>* out) {
  out->clear();
  for (const SeriesData::Run& run : data.runs) {
    if (run.end <= run.begin) continue;
    q->NoteResolution(run.SourceMs());
    if (run.resolution_ms == 0) {
      const std::span<const Sample> s = data.Samples(run);
      out->insert(out->end(), s.begin(), s.end());
      continue;
    }
    for (const AggregateWindow& a : data.Windows(run)) {
      if (a.count == 0) continue;
      out->push_back(Point{a.clast_t, mean ? a.sum / static_cast<double>(a.count) : a.clast_v});
    }
  }
}

absl::Status Evaluator::PlainFromWindows(const VectorSelector& vs, bool want_timestamps,
                                         const SeriesData& data, int64_t preferred_ms,
                                         std::vector<Point>* points) {
  // Each raw sample, and each window's last sample (a stale marker
  // included) usable from the window's last millisecond on.
  struct Entry {
    int64_t avail, t;
    double v;
    int64_t res;
  };
  std::vector<Entry> entries;
  for (const SeriesData::Run& run : data.runs) {
    if (run.end <= run.begin) continue;
    q_->NoteResolution(run.SourceMs());
    if (run.resolution_ms == 0) {
      for (const Sample& s : data.Samples(run)) entries.push_back({s.t_ms, s.t_ms, s.v, 0});
    } else {
      for (const AggregateWindow& a : data.Windows(run)) {
        entries.push_back({a.t_ms + run.resolution_ms - 1, a.last_t, a.last_v, run.resolution_ms});
      }
    }
  }
  const bool has_at = vs.at != AtKind::kNone;
  const int64_t at = AtTime(vs.at, vs.at_ms);
  const int64_t lookback = q_->lookback_ms;
  size_t j = 0;  // entries usable at the current step
  bool widened = false;
  auto pick = [&](int64_t ref, Sample* s) -> bool {
    while (j < entries.size() && entries[j].avail <= ref) ++j;
    if (j == 0) return false;
    const Entry& e = entries[j - 1];
    // Windows coarser than asked for (only they hold data here) answer
    // for a whole window after theirs: the lookback widens to them.
    int64_t lb = lookback;
    if (e.res > preferred_ms && e.res > 0) {
      lb = lookback + e.res;
      if (e.t <= ref - lookback) widened = true;
    }
    if (e.t <= ref - lb || IsStaleMarker(e.v)) return false;
    *s = Sample{e.t, e.v};
    return true;
  };
  if (has_at) {
    Sample s;
    if (pick(at - vs.offset_ms, &s)) {
      const double v = want_timestamps ? static_cast<double>(s.t_ms) / 1000.0 : s.v;
      for (int i = 0; i < num_steps_; ++i) points->push_back(Point{StepTime(i), v});
    }
  } else {
    for (int i = 0; i < num_steps_; ++i) {
      const int64_t ts = StepTime(i);
      Sample s;
      if (!pick(ts - vs.offset_ms, &s)) continue;
      points->push_back(Point{ts, want_timestamps ? static_cast<double>(s.t_ms) / 1000.0 : s.v});
    }
  }
  if (widened) {
    q_->annos.Info(absl::StrCat(
        "PromQL info: lookback widened to the downsampled window where only coarser data exists (",
        q_->Pos(vs), ")"));
  }
  return absl::OkStatus();
}

}  // namespace meridian::promql::eval
