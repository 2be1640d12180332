// Functions over range vectors (matrix selectors and subqueries), following
// Prometheus's promql/functions.go: extrapolatedRate, instantValue,
// linearRegression, the *_over_time family and double_exponential_smoothing.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "model/gofloat.h"
#include "query/downsampled.h"
#include "query/eval.h"
#include "query/functions_internal.h"

namespace meridian::promql::eval {
namespace {

struct Window {
  int64_t ts;
  int64_t range_start;
  int64_t range_end;
  int64_t range_ms;
  double a;  // first scalar argument, if any
  double b;  // second scalar argument, if any
  // For rate/increase: indices k (into `all`) of counter resets inside the
  // window, i.e. all[k].v < all[k-1].v.
  std::span<const uint32_t> resets;
  const Point* all = nullptr;
};

bool ExtrapolatedRate(std::span<const Point> w, const Window& c, bool counter, bool rate,
                      double* out) {
  if (w.size() < 2) return false;
  const Point& first = w.front();
  const Point& last = w.back();
  double result = last.v - first.v;
  if (counter) {
    for (uint32_t k : c.resets) result += c.all[k - 1].v;
  }
  return Extrapolate(result, first.t_ms, last.t_ms, first.v, w.size(), c.range_end, c.range_ms,
                     counter, rate, out);
}

void LinearRegression(std::span<const Point> w, int64_t intercept_t, double* slope,
                      double* intercept) {
  double n = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
  const double init_y = w[0].v;
  bool const_y = true;
  for (size_t i = 0; i < w.size(); ++i) {
    if (const_y && i > 0 && w[i].v != init_y) const_y = false;
    n += 1.0;
    const double x = static_cast<double>(w[i].t_ms - intercept_t) / 1e3;
    KahanInc(x, &sx, &cx);
    KahanInc(w[i].v, &sy, &cy);
    KahanInc(x * w[i].v, &sxy, &cxy);
    KahanInc(x * x, &sx2, &cx2);
  }
  if (const_y) {
    if (std::isinf(init_y)) {
      *slope = NAN;
      *intercept = NAN;
    } else {
      *slope = 0;
      *intercept = init_y;
    }
    return;
  }
  sx += cx;
  sy += cy;
  sxy += cxy;
  sx2 += cx2;
  const double cov = sxy - sx * sy / n;
  const double var = sx2 - sx * sx / n;
  *slope = cov / var;
  *intercept = sy / n - *slope * sx / n;
}

double Variance(std::span<const Point> w) {
  double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
  for (const Point& p : w) {
    count++;
    const double delta = p.v - (mean + cmean);
    KahanInc(delta / count, &mean, &cmean);
    KahanInc(delta * (p.v - (mean + cmean)), &aux, &caux);
  }
  return (aux + caux) / count;
}

// avg_over_time: Kahan summation, switching to an incremental mean when
// the sum overflows.
double AvgOverTime(std::span<const Point> w) {
  double sum = w[0].v, count = 1, mean = 0, kc = 0;
  bool incremental = false;
  for (size_t i = 1; i < w.size(); ++i) {
    const double v = w[i].v;
    count = static_cast<double>(i + 1);
    if (!incremental) {
      double ns = sum, nc = kc;
      KahanInc(v, &ns, &nc);
      if (!std::isinf(ns)) {
        sum = ns;
        kc = nc;
        continue;
      }
      incremental = true;
      mean = sum / (count - 1);
      kc /= (count - 1);
    }
    const double q = (count - 1) / count;
    double m = q * mean, mc = q * kc;
    KahanInc(v / count, &m, &mc);
    mean = m;
    kc = mc;
  }
  return incremental ? mean + kc : sum / count + kc / count;
}

// min_over_time, max_over_time and ts_of_{min,max}_over_time.
double Extremum(Fn f, std::span<const Point> w) {
  double best = w[0].v;
  int64_t best_t = w[0].t_ms;
  for (const Point& p : w) {
    bool take;
    switch (f) {
      case Fn::kMaxOT:
        take = p.v > best || std::isnan(best);
        break;
      case Fn::kMinOT:
        take = p.v < best || std::isnan(best);
        break;
      case Fn::kTsMaxOT:
        take = p.v >= best || std::isnan(best);
        break;
      default:
        take = p.v <= best || std::isnan(best);
        break;
    }
    if (take) {
      best = p.v;
      best_t = p.t_ms;
    }
  }
  return (f == Fn::kMinOT || f == Fn::kMaxOT) ? best : static_cast<double>(best_t) / 1000;
}

// mad_over_time: the median absolute deviation.
double MadOverTime(std::span<const Point> w) {
  for (const Point& p : w) {
    if (std::isnan(p.v)) return NAN;
  }
  std::vector<double> vals;
  vals.reserve(w.size());
  for (const Point& p : w) vals.push_back(p.v);
  const double median = QuantileOf(0.5, &vals);
  vals.clear();
  for (const Point& p : w) vals.push_back(std::fabs(p.v - median));
  return QuantileOf(0.5, &vals);
}

// double_exponential_smoothing (holt_winters): false when it yields no
// sample; *err is set for a bad smoothing or trend factor.
bool DoubleExpSmoothing(std::span<const Point> w, const Window& c, double* out, absl::Status* err) {
  const double sf = c.a, tf = c.b;
  // Go's %f: strconv 'f' with 6 decimals, "+Inf" (printf would say "inf").
  if (sf <= 0 || sf >= 1) {
    *err = absl::FailedPreconditionError(absl::StrCat(
        "invalid smoothing factor. Expected: 0 < sf < 1, got: ", model::FormatGoFloat(sf, 'f', 6)));
    return false;
  }
  if (tf <= 0 || tf >= 1) {
    *err = absl::FailedPreconditionError(absl::StrCat(
        "invalid trend factor. Expected: 0 < tf < 1, got: ", model::FormatGoFloat(tf, 'f', 6)));
    return false;
  }
  const size_t l = w.size();
  if (l < 2) return false;
  double s0 = 0, s1 = w[0].v, b = w[1].v - w[0].v;
  for (size_t i = 1; i < l; ++i) {
    const double x = sf * w[i].v;
    if (i - 1 != 0) b = tf * (s1 - s0) + (1 - tf) * b;
    const double y = (1 - sf) * (s1 + b);
    s0 = s1;
    s1 = x + y;
  }
  *out = s1;
  return true;
}

// Computes a range function over one window. Returns false when the
// function yields no sample; *err is set on an execution error.
bool RangeFn(Fn f, std::span<const Point> w, const Window& c, double* out, absl::Status* err) {
  switch (f) {
    case Fn::kRate:
      return ExtrapolatedRate(w, c, true, true, out);
    case Fn::kIncrease:
      return ExtrapolatedRate(w, c, true, false, out);
    case Fn::kDelta:
      return ExtrapolatedRate(w, c, false, false, out);
    case Fn::kIrate:
    case Fn::kIdelta: {
      if (w.size() < 2) return false;
      const Point& a = w[w.size() - 2];
      const Point& b = w.back();
      const int64_t interval = b.t_ms - a.t_ms;
      if (interval == 0) return false;
      double r = b.v;
      if (f == Fn::kIdelta || !(b.v < a.v)) r = b.v - a.v;
      if (f == Fn::kIrate) r /= static_cast<double>(interval) / 1000;
      *out = r;
      return true;
    }
    case Fn::kDeriv: {
      if (w.size() < 2) return false;
      double slope, icpt;
      LinearRegression(w, w[0].t_ms, &slope, &icpt);
      *out = slope;
      return true;
    }
    case Fn::kPredictLinear: {
      if (w.size() < 2) return false;
      double slope, icpt;
      LinearRegression(w, c.ts, &slope, &icpt);
      *out = slope * c.a + icpt;
      return true;
    }
    case Fn::kChanges: {
      int n = 0;
      for (size_t i = 1; i < w.size(); ++i) {
        const double p = w[i - 1].v, q = w[i].v;
        if (p != q && !(std::isnan(p) && std::isnan(q))) ++n;
      }
      *out = n;
      return true;
    }
    case Fn::kResets: {
      int n = 0;
      for (size_t i = 1; i < w.size(); ++i) {
        if (w[i].v < w[i - 1].v) ++n;
      }
      *out = n;
      return true;
    }
    case Fn::kAvgOT:
      *out = AvgOverTime(w);
      return true;
    case Fn::kMinOT:
    case Fn::kMaxOT:
    case Fn::kTsMinOT:
    case Fn::kTsMaxOT:
      *out = Extremum(f, w);
      return true;
    case Fn::kSumOT: {
      double sum = 0, kc = 0;
      for (const Point& p : w) KahanInc(p.v, &sum, &kc);
      *out = std::isinf(sum) ? sum : sum + kc;
      return true;
    }
    case Fn::kCountOT:
      *out = static_cast<double>(w.size());
      return true;
    case Fn::kLastOT:
      *out = w.back().v;
      return true;
    case Fn::kFirstOT:
      *out = w.front().v;
      return true;
    case Fn::kPresentOT:
      *out = 1;
      return true;
    case Fn::kTsFirstOT:
      *out = static_cast<double>(w.front().t_ms) / 1000;
      return true;
    case Fn::kTsLastOT:
      *out = static_cast<double>(w.back().t_ms) / 1000;
      return true;
    case Fn::kStddevOT:
      *out = std::sqrt(Variance(w));
      return true;
    case Fn::kStdvarOT:
      *out = Variance(w);
      return true;
    case Fn::kMadOT:
      *out = MadOverTime(w);
      return true;
    case Fn::kQuantileOT: {
      std::vector<double> vals;
      vals.reserve(w.size());
      for (const Point& p : w) vals.push_back(p.v);
      *out = QuantileOf(c.a, &vals);
      return true;
    }
    case Fn::kDoubleExpSmoothing:
      return DoubleExpSmoothing(w, c, out, err);
    default:
      return false;
  }
}

}  // namespace

int Evaluator::RangeArgIndex(const Call& c) {
  for (size_t i = 0; i < c.args.size(); ++i) {
    const Expr& a = Unwrap(*c.args[i]);
    if (a.kind == ExprKind::kMatrixSelector || a.kind == ExprKind::kSubquery) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

absl::Status Evaluator::StreamRangeFunction(const Call& c, int matrix_arg, SeriesSink sink) {
  const Fn f = LookupFn(c.func->name);
  std::vector<std::vector<double>> sargs;
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (static_cast<int>(i) == matrix_arg) continue;
    MERIDIAN_ASSIGN_OR_RETURN(auto v, EvalScalarSteps(this, *c.args[i]));
    sargs.push_back(std::move(v));
  }
  if (f == Fn::kQuantileOT && !sargs.empty()) {
    for (double q : sargs[0]) {
      if (std::isnan(q) || q < 0 || q > 1) {
        q_->annos.Warn(
            absl::StrCat("PromQL warning: quantile value should be between 0 and 1, got ",
                         model::FormatGoFloat(q, 'g'), " (", q_->Pos(*c.args[0]), ")"));
      }
    }
  }
  const bool keep_name = f == Fn::kLastOT || f == Fn::kFirstOT;
  const bool counter = f == Fn::kRate || f == Fn::kIncrease;
  RangeSpec spec;
  absl::Status fn_err;
  std::vector<Point> out;
  std::vector<uint32_t> resets;
  auto not_a_counter = [&](const Labels& ls) {
    std::string_view mn = ls.MetricName();
    if (!mn.empty() && !mn.ends_with("_total") && !mn.ends_with("_sum") &&
        !mn.ends_with("_count") && !mn.ends_with("_bucket")) {
      q_->annos.Info(
          absl::StrCat("PromQL info: metric might not be a counter, name does not end in "
                       "_total/_sum/_count/_bucket: \"",
                       std::string(mn), "\" (", q_->Pos(*c.args[matrix_arg]), ")"));
    }
  };
  // Downsampled data (downsampled.cc): functions the aggregates answer
  // read aggregate windows.
  const DownsampleUse use = UseOfFunction(f);
  bool widened = false;
  WindowsSink on_windows;
  // Thread-safe: reads only the function, the range and the steps.
  on_windows.compute = [&](std::span<const DsWindow> w, std::vector<Point>* pts,
                           bool* wide) -> absl::Status {
    WindowSteps steps;
    steps.start_ms = StepTime(0);
    steps.interval_ms = interval_;
    steps.num_steps = num_steps_;
    steps.has_at = spec.has_at;
    steps.at_ms = spec.at_ms;
    steps.offset_ms = spec.offset_ms;
    steps.range_ms = spec.range_ms;
    // Steps wider than the range: storage left out the windows no step
    // reads (SelectHints::range_ms), so no prefix sums (their rounding
    // depends on every window before).
    steps.prefix = spec.has_at || num_steps_ <= 1 || interval_ <= spec.range_ms;
    return WindowsFnSteps(f, w, steps, pts, wide, [&] { return q_->CheckInterrupt(); });
  };
  on_windows.emit = [&](const Labels& ls, bool wide, std::vector<Point>* pts) -> absl::Status {
    widened = widened || wide;
    if (pts->empty()) return absl::OkStatus();
    if (counter) not_a_counter(ls);
    MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(static_cast<int64_t>(pts->size())));
    return sink(ls, !keep_name, pts);
  };
  absl::Status st = ForEachRangeSeries(
      *c.args[matrix_arg], &spec,
      [&](const Labels& ls, bool, std::span<const Point> pts) -> absl::Status {
        out.clear();
        resets.clear();
        if (counter) {
          for (size_t k = 1; k < pts.size(); ++k) {
            if (pts[k].v < pts[k - 1].v) resets.push_back(static_cast<uint32_t>(k));
          }
        }
        size_t lo = 0, hi = 0, rlo = 0, rhi = 0;
        Window win{};
        win.range_ms = spec.range_ms;
        win.all = pts.data();
        for (int i = 0; i < num_steps_; ++i) {
          // One series can be a long job (many steps over wide windows).
          if ((i & 63) == 63) MERIDIAN_RETURN_IF_ERROR(q_->CheckInterrupt());
          const int64_t ts = StepTime(i);
          const int64_t wend = (spec.has_at ? spec.at_ms : ts) - spec.offset_ms;
          const int64_t wstart = wend - spec.range_ms;
          while (hi < pts.size() && pts[hi].t_ms <= wend) ++hi;
          while (lo < pts.size() && pts[lo].t_ms <= wstart) ++lo;
          if (lo >= hi) continue;
          if (counter) {
            // Resets inside the window: indices k with lo < k < hi.
            while (rhi < resets.size() && resets[rhi] < hi) ++rhi;
            while (rlo < resets.size() && resets[rlo] <= lo) ++rlo;
            win.resets = std::span<const uint32_t>(resets.data() + rlo, rhi > rlo ? rhi - rlo : 0);
          }
          win.ts = ts;
          win.range_start = wstart;
          win.range_end = wend;
          win.a = sargs.size() > 0 ? sargs[0][i] : 0;
          win.b = sargs.size() > 1 ? sargs[1][i] : 0;
          double v;
          if (RangeFn(f, pts.subspan(lo, hi - lo), win, &v, &fn_err)) {
            if (out.empty()) out.reserve(num_steps_ - i);
            out.push_back(Point{ts, v});
          }
          if (!fn_err.ok()) return fn_err;
        }
        if (out.empty()) return absl::OkStatus();
        if (counter) not_a_counter(ls);
        MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(static_cast<int64_t>(out.size())));
        return sink(ls, !keep_name, &out);
      },
      use, &on_windows, /*fold_raw=*/f != Fn::kIrate && f != Fn::kIdelta && f != Fn::kResets);
  if (widened) {
    q_->annos.Info(absl::StrCat("PromQL info: range of ", std::string(c.func->name),
                                " widened to the downsampled window where only data coarser than "
                                "the range exists (",
                                q_->Pos(*c.args[matrix_arg]), ")"));
  }
  return st;
}

// rate, increase, *_over_time and every other function of a range vector
// but absent_over_time.
absl::StatusOr<EvalResult> FnRangeVector(const FunctionCall& fc) {
  EvalResult r;
  r.type = ValueType::kVector;
  MERIDIAN_RETURN_IF_ERROR(fc.ev->StreamRangeFunction(
      fc.call, Evaluator::RangeArgIndex(fc.call),
      [&](const Labels& ls, bool drop, std::vector<Point>* pts) -> absl::Status {
        r.matrix.push_back(EvalSeries{ls, std::move(*pts), drop});
        return absl::OkStatus();
      }));
  return r;
}

absl::StatusOr<EvalResult> FnAbsentOverTime(const FunctionCall& fc) {
  Evaluator* ev = fc.ev;
  const int num_steps = ev->num_steps();
  const int matrix_arg = Evaluator::RangeArgIndex(fc.call);
  EvalResult r;
  r.type = ValueType::kVector;
  std::vector<bool> found(num_steps);
  Evaluator::RangeSpec spec;
  MERIDIAN_RETURN_IF_ERROR(ev->ForEachRangeSeries(
      *fc.call.args[matrix_arg], &spec,
      [&](const Labels&, bool, std::span<const Point> pts) -> absl::Status {
        size_t lo = 0, hi = 0;
        for (int i = 0; i < num_steps; ++i) {
          const int64_t wend = (spec.has_at ? spec.at_ms : ev->StepTime(i)) - spec.offset_ms;
          while (hi < pts.size() && pts[hi].t_ms <= wend) ++hi;
          while (lo < pts.size() && pts[lo].t_ms <= wend - spec.range_ms) ++lo;
          if (lo < hi) found[i] = true;
        }
        return absl::OkStatus();
      },
      DownsampleUse::kPoints));
  EvalSeries s;
  for (int i = 0; i < num_steps; ++i) {
    if (!found[i]) s.points.push_back(Point{ev->StepTime(i), 1});
  }
  if (!s.points.empty()) {
    s.metric = AbsentLabels(*fc.call.args[matrix_arg]);
    s.drop_name = true;
    r.matrix.push_back(std::move(s));
  }
  return r;
}

}  // namespace meridian::promql::eval
