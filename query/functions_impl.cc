// PromQL function calls, following Prometheus's promql/functions.go: the
// function table (LookupFunctionDef, Prometheus's FunctionCalls), EvalCall's
// dispatch through it, and the handlers of the instant-vector and scalar
// functions (the others: functions_internal.h).
#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "query/eval.h"
#include "query/functions_internal.h"

namespace meridian::promql::eval {

// Go's math.Max / math.Min special cases.
double GoMax(double x, double y) {
  if (std::isinf(x) && x > 0) return x;
  if (std::isinf(y) && y > 0) return y;
  if (std::isnan(x) || std::isnan(y)) return NAN;
  if (x == 0 && x == y) return std::signbit(x) ? y : x;
  return x > y ? x : y;
}
double GoMin(double x, double y) {
  if (std::isinf(x) && x < 0) return x;
  if (std::isinf(y) && y < 0) return y;
  if (std::isnan(x) || std::isnan(y)) return NAN;
  if (x == 0 && x == y) return std::signbit(x) ? x : y;
  return x < y ? x : y;
}

Labels AbsentLabels(const Expr& arg) {
  const Expr& a = Unwrap(arg);
  const VectorSelector* vs = nullptr;
  if (a.kind == ExprKind::kVectorSelector) {
    vs = static_cast<const VectorSelector*>(&a);
  } else if (a.kind == ExprKind::kMatrixSelector) {
    vs = static_cast<const MatrixSelector&>(a).selector.get();
  }
  if (vs == nullptr) return Labels();
  LabelsBuilder b;
  absl::flat_hash_set<std::string> has;
  for (const Matcher& m : vs->matchers) {
    if (m.name() == kMetricName) continue;
    if (m.type() == MatchType::kEqual && !has.contains(m.name())) {
      b.Set(m.name(), m.value());
      has.insert(m.name());
    } else {
      b.Del(m.name());
    }
  }
  return b.Build();
}

namespace {

// Civil date from days since the epoch (Howard Hinnant's algorithm).
struct Civil {
  int64_t year;
  int month;  // 1..12
  int day;    // 1..31
};
Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return Civil{y + (m <= 2), m, d};
}
bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

double DateFn(Fn f, int64_t secs) {
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  const Civil c = CivilFromDays(days);
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  switch (f) {
    case Fn::kDaysInMonth:
      return c.month == 2 && IsLeap(c.year) ? 29 : kDays[c.month - 1];
    case Fn::kDayOfMonth:
      return c.day;
    case Fn::kDayOfWeek: {
      int64_t wd = (days + 4) % 7;  // 1970-01-01 was a Thursday
      if (wd < 0) wd += 7;
      return static_cast<double>(wd);
    }
    case Fn::kDayOfYear: {
      int doy = c.day;
      for (int m = 1; m < c.month; ++m) doy += (m == 2 && IsLeap(c.year)) ? 29 : kDays[m - 1];
      return doy;
    }
    case Fn::kHour:
      return static_cast<double>(rem / 3600);
    case Fn::kMinute:
      return static_cast<double>((rem % 3600) / 60);
    case Fn::kMonth:
      return c.month;
    case Fn::kYear:
      return static_cast<double>(c.year);
    default:
      return NAN;
  }
}

int64_t GoFloatToInt64(double v) {
  if (std::isnan(v) || v >= 9.223372036854775807e18 || v < -9.223372036854775808e18) {
    return INT64_MIN;
  }
  return static_cast<int64_t>(v);
}

// time() and pi().
absl::StatusOr<EvalResult> FnTimeOrPi(const FunctionCall& fc) {
  Evaluator* ev = fc.ev;
  EvalResult r;
  r.type = ValueType::kScalar;
  r.scalar.resize(ev->num_steps());
  for (int i = 0; i < ev->num_steps(); ++i) {
    r.scalar[i] = fc.fn == Fn::kPi ? M_PI : static_cast<double>(ev->StepTime(i)) / 1000;
  }
  return r;
}

// step(), range(), start() and end(): the query's own parameters.
absl::StatusOr<EvalResult> FnQueryParam(const FunctionCall& fc) {
  const QueryContext* q = fc.q;
  double v = 0;
  switch (fc.fn) {
    case Fn::kStep:
      v = static_cast<double>(q->query_step_ms) / 1000;
      break;
    case Fn::kRange:
      v = static_cast<double>(q->query_end_ms - q->query_start_ms) / 1000;
      break;
    case Fn::kStart:
      v = static_cast<double>(q->query_start_ms) / 1000;
      break;
    default:
      v = static_cast<double>(q->query_end_ms) / 1000;
      break;
  }
  EvalResult r;
  r.type = ValueType::kScalar;
  r.scalar.assign(fc.ev->num_steps(), v);
  return r;
}

// histogram_avg, histogram_count, ...: these read native histogram samples
// only; float samples are ignored.
absl::StatusOr<EvalResult> FnNativeHistogramOnly(const FunctionCall& fc) {
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult in, fc.ev->Eval(*fc.call.args[0]));
  MERIDIAN_RETURN_IF_ERROR(fc.q->AddSamples(-CountPoints(in.matrix)));
  EvalResult r;
  r.type = ValueType::kVector;
  return r;
}

// Without info-metric enrichment (experimental), info() is the identity.
absl::StatusOr<EvalResult> FnInfo(const FunctionCall& fc) { return fc.ev->Eval(*fc.call.args[0]); }

// min_of(a, b) and max_of(a, b) of two scalars.
absl::StatusOr<EvalResult> FnMinMaxOf(const FunctionCall& fc) {
  Evaluator* ev = fc.ev;
  MERIDIAN_ASSIGN_OR_RETURN(auto a, EvalScalarSteps(ev, *fc.call.args[0]));
  MERIDIAN_ASSIGN_OR_RETURN(auto b, EvalScalarSteps(ev, *fc.call.args[1]));
  EvalResult r;
  r.type = ValueType::kScalar;
  r.scalar.resize(ev->num_steps());
  for (int i = 0; i < ev->num_steps(); ++i) {
    r.scalar[i] = fc.fn == Fn::kMinOf ? GoMin(a[i], b[i]) : GoMax(a[i], b[i]);
  }
  return r;
}

absl::StatusOr<EvalResult> FnVector(const FunctionCall& fc) {
  Evaluator* ev = fc.ev;
  MERIDIAN_ASSIGN_OR_RETURN(auto v, EvalScalarSteps(ev, *fc.call.args[0]));
  EvalSeries s;
  for (int i = 0; i < ev->num_steps(); ++i) s.points.push_back(Point{ev->StepTime(i), v[i]});
  MERIDIAN_RETURN_IF_ERROR(fc.q->AddSamples(ev->num_steps()));
  EvalResult r;
  r.type = ValueType::kVector;
  r.matrix.push_back(std::move(s));
  return r;
}

absl::StatusOr<EvalResult> FnScalar(const FunctionCall& fc) {
  Evaluator* ev = fc.ev;
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult in, ev->Eval(*fc.call.args[0]));
  EvalResult r;
  r.type = ValueType::kScalar;
  r.scalar.assign(ev->num_steps(), NAN);
  std::vector<int> count(ev->num_steps(), 0);
  for (const auto& s : in.matrix) {
    for (const Point& p : s.points) {
      const int i = ev->StepIndex(p.t_ms);
      if (++count[i] == 1) {
        r.scalar[i] = p.v;
      } else {
        r.scalar[i] = NAN;
      }
    }
  }
  MERIDIAN_RETURN_IF_ERROR(fc.q->AddSamples(-CountPoints(in.matrix)));
  return r;
}

absl::StatusOr<EvalResult> FnAbsent(const FunctionCall& fc) {
  Evaluator* ev = fc.ev;
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult in, ev->Eval(*fc.call.args[0]));
  std::vector<bool> present(ev->num_steps(), false);
  for (const auto& s : in.matrix) {
    for (const Point& p : s.points) present[ev->StepIndex(p.t_ms)] = true;
  }
  MERIDIAN_RETURN_IF_ERROR(fc.q->AddSamples(-CountPoints(in.matrix)));
  EvalSeries s;
  for (int i = 0; i < ev->num_steps(); ++i) {
    if (!present[i]) s.points.push_back(Point{ev->StepTime(i), 1});
  }
  EvalResult r;
  r.type = ValueType::kVector;
  if (!s.points.empty()) {
    s.metric = AbsentLabels(*fc.call.args[0]);
    r.matrix.push_back(std::move(s));
  }
  return r;
}

absl::StatusOr<EvalResult> FnTimestamp(const FunctionCall& fc) {
  const Expr& a = Unwrap(*fc.call.args[0]);
  EvalResult r;
  if (a.kind == ExprKind::kVectorSelector) {
    MERIDIAN_ASSIGN_OR_RETURN(
        r, fc.ev->EvalVectorSelector(static_cast<const VectorSelector&>(a), true));
  } else {
    MERIDIAN_ASSIGN_OR_RETURN(r, fc.ev->Eval(*fc.call.args[0]));
    for (auto& s : r.matrix) {
      for (auto& p : s.points) p.v = static_cast<double>(p.t_ms) / 1000;
    }
  }
  for (auto& s : r.matrix) s.drop_name = true;
  return r;
}

// days_in_month, day_of_month, day_of_week, day_of_year, hour, minute,
// month, year: of the step time without an argument.
absl::StatusOr<EvalResult> FnDate(const FunctionCall& fc) {
  Evaluator* ev = fc.ev;
  const Fn f = fc.fn;
  EvalResult r;
  r.type = ValueType::kVector;
  if (fc.call.args.empty()) {
    EvalSeries s;
    for (int i = 0; i < ev->num_steps(); ++i) {
      s.points.push_back(Point{ev->StepTime(i), DateFn(f, ev->StepTime(i) / 1000)});
    }
    MERIDIAN_RETURN_IF_ERROR(fc.q->AddSamples(ev->num_steps()));
    r.matrix.push_back(std::move(s));
    return r;
  }
  MERIDIAN_ASSIGN_OR_RETURN(r, ev->Eval(*fc.call.args[0]));
  for (auto& s : r.matrix) {
    s.drop_name = true;
    for (auto& p : s.points) p.v = DateFn(f, GoFloatToInt64(p.v));
  }
  return r;
}

// Applies `op(v, step, &out)` to every sample of the instant vector that is
// the first argument, after evaluating the scalar arguments that follow it
// (one value per step each, in *sargs). A sample for which op returns false
// is dropped.
template <typename Op>
absl::StatusOr<EvalResult> MapSamples(const FunctionCall& fc,
                                      std::vector<std::vector<double>>* sargs, Op op) {
  const Call& c = fc.call;
  for (size_t i = 1; i < c.args.size(); ++i) {
    MERIDIAN_ASSIGN_OR_RETURN(auto v, EvalScalarSteps(fc.ev, *c.args[i]));
    sargs->push_back(std::move(v));
  }
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult r, fc.ev->Eval(*c.args[0]));
  int64_t removed = 0;
  for (auto& s : r.matrix) {
    s.drop_name = true;
    size_t w = 0;
    for (size_t k = 0; k < s.points.size(); ++k) {
      double o;
      if (!op(s.points[k].v, s.points[k].t_ms, &o)) continue;
      s.points[w++] = Point{s.points[k].t_ms, o};
    }
    removed += static_cast<int64_t>(s.points.size() - w);
    s.points.resize(w);
  }
  std::erase_if(r.matrix, [](const EvalSeries& s) { return s.points.empty(); });
  MERIDIAN_RETURN_IF_ERROR(fc.q->AddSamples(-removed));
  return r;
}

// The element-wise float functions of one argument: abs, ceil, ..., rad.
absl::StatusOr<EvalResult> FnMath(const FunctionCall& fc) {
  double (*fn)(double);
  switch (fc.fn) {
    case Fn::kAbs:
      fn = [](double v) { return std::fabs(v); };
      break;
    case Fn::kCeil:
      fn = [](double v) { return std::ceil(v); };
      break;
    case Fn::kFloor:
      fn = [](double v) { return std::floor(v); };
      break;
    case Fn::kExp:
      fn = [](double v) { return std::exp(v); };
      break;
    case Fn::kSqrt:
      fn = [](double v) { return std::sqrt(v); };
      break;
    case Fn::kLn:
      fn = [](double v) { return std::log(v); };
      break;
    case Fn::kLog2:
      fn = [](double v) { return std::log2(v); };
      break;
    case Fn::kLog10:
      fn = [](double v) { return std::log10(v); };
      break;
    case Fn::kSgn:
      fn = [](double v) { return v < 0 ? -1 : v > 0 ? 1 : v; };
      break;
    case Fn::kSin:
      fn = [](double v) { return std::sin(v); };
      break;
    case Fn::kCos:
      fn = [](double v) { return std::cos(v); };
      break;
    case Fn::kTan:
      fn = [](double v) { return std::tan(v); };
      break;
    case Fn::kAsin:
      fn = [](double v) { return std::asin(v); };
      break;
    case Fn::kAcos:
      fn = [](double v) { return std::acos(v); };
      break;
    case Fn::kAtan:
      fn = [](double v) { return std::atan(v); };
      break;
    case Fn::kSinh:
      fn = [](double v) { return std::sinh(v); };
      break;
    case Fn::kCosh:
      fn = [](double v) { return std::cosh(v); };
      break;
    case Fn::kTanh:
      fn = [](double v) { return std::tanh(v); };
      break;
    case Fn::kAsinh:
      fn = [](double v) { return std::asinh(v); };
      break;
    case Fn::kAcosh:
      fn = [](double v) { return std::acosh(v); };
      break;
    case Fn::kAtanh:
      fn = [](double v) { return std::atanh(v); };
      break;
    case Fn::kDeg:
      fn = [](double v) { return v * 180 / M_PI; };
      break;
    case Fn::kRad:
      fn = [](double v) { return v * M_PI / 180; };
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported function \"", fc.call.func->name, "\""));
  }
  std::vector<std::vector<double>> sargs;
  return MapSamples(fc, &sargs, [fn](double v, int64_t, double* o) {
    *o = fn(v);
    return true;
  });
}

// round(v, to_nearest = 1).
absl::StatusOr<EvalResult> FnRound(const FunctionCall& fc) {
  std::vector<std::vector<double>> sargs;
  Evaluator* ev = fc.ev;
  return MapSamples(fc, &sargs, [&](double v, int64_t t_ms, double* o) {
    const double to_nearest = sargs.empty() ? 1 : sargs[0][ev->StepIndex(t_ms)];
    const double inv = 1.0 / to_nearest;
    *o = std::floor(v * inv + 0.5) / inv;
    return true;
  });
}

// clamp(v, min, max), clamp_min(v, min), clamp_max(v, max); clamp drops
// every sample of a step where max < min.
absl::StatusOr<EvalResult> FnClamp(const FunctionCall& fc) {
  std::vector<std::vector<double>> sargs;
  Evaluator* ev = fc.ev;
  const Fn f = fc.fn;
  return MapSamples(fc, &sargs, [&](double v, int64_t t_ms, double* o) {
    const int step = ev->StepIndex(t_ms);
    double lo = -INFINITY, hi = INFINITY;
    if (f == Fn::kClamp) {
      lo = sargs[0][step];
      hi = sargs[1][step];
    } else if (f == Fn::kClampMin) {
      lo = sargs[0][step];
    } else {
      hi = sargs[0][step];
    }
    if (hi < lo) return false;
    *o = GoMax(lo, GoMin(hi, v));
    return true;
  });
}

}  // namespace

// The function table, as Prometheus's FunctionCalls: name -> handler. The
// parser's table (functions.cc) gives each function's signature; a function
// it knows and this table does not is "unsupported".
const FunctionDef* LookupFunctionDef(std::string_view name) {
  struct Entry {
    std::string_view name;
    Fn fn;
    FunctionHandler handler;
  };
  static const Entry kEntries[] = {
      // Functions of a range vector.
      {"rate", Fn::kRate, FnRangeVector},
      {"increase", Fn::kIncrease, FnRangeVector},
      {"delta", Fn::kDelta, FnRangeVector},
      {"irate", Fn::kIrate, FnRangeVector},
      {"idelta", Fn::kIdelta, FnRangeVector},
      {"deriv", Fn::kDeriv, FnRangeVector},
      {"predict_linear", Fn::kPredictLinear, FnRangeVector},
      {"changes", Fn::kChanges, FnRangeVector},
      {"resets", Fn::kResets, FnRangeVector},
      {"avg_over_time", Fn::kAvgOT, FnRangeVector},
      {"min_over_time", Fn::kMinOT, FnRangeVector},
      {"max_over_time", Fn::kMaxOT, FnRangeVector},
      {"sum_over_time", Fn::kSumOT, FnRangeVector},
      {"count_over_time", Fn::kCountOT, FnRangeVector},
      {"last_over_time", Fn::kLastOT, FnRangeVector},
      {"first_over_time", Fn::kFirstOT, FnRangeVector},
      {"present_over_time", Fn::kPresentOT, FnRangeVector},
      {"stddev_over_time", Fn::kStddevOT, FnRangeVector},
      {"stdvar_over_time", Fn::kStdvarOT, FnRangeVector},
      {"mad_over_time", Fn::kMadOT, FnRangeVector},
      {"quantile_over_time", Fn::kQuantileOT, FnRangeVector},
      {"ts_of_min_over_time", Fn::kTsMinOT, FnRangeVector},
      {"ts_of_max_over_time", Fn::kTsMaxOT, FnRangeVector},
      {"ts_of_first_over_time", Fn::kTsFirstOT, FnRangeVector},
      {"ts_of_last_over_time", Fn::kTsLastOT, FnRangeVector},
      {"double_exponential_smoothing", Fn::kDoubleExpSmoothing, FnRangeVector},
      {"holt_winters", Fn::kDoubleExpSmoothing, FnRangeVector},
      {"absent_over_time", Fn::kAbsentOT, FnAbsentOverTime},
      // Element-wise float functions.
      {"abs", Fn::kAbs, FnMath},
      {"ceil", Fn::kCeil, FnMath},
      {"floor", Fn::kFloor, FnMath},
      {"exp", Fn::kExp, FnMath},
      {"sqrt", Fn::kSqrt, FnMath},
      {"ln", Fn::kLn, FnMath},
      {"log2", Fn::kLog2, FnMath},
      {"log10", Fn::kLog10, FnMath},
      {"sgn", Fn::kSgn, FnMath},
      {"sin", Fn::kSin, FnMath},
      {"cos", Fn::kCos, FnMath},
      {"tan", Fn::kTan, FnMath},
      {"asin", Fn::kAsin, FnMath},
      {"acos", Fn::kAcos, FnMath},
      {"atan", Fn::kAtan, FnMath},
      {"sinh", Fn::kSinh, FnMath},
      {"cosh", Fn::kCosh, FnMath},
      {"tanh", Fn::kTanh, FnMath},
      {"asinh", Fn::kAsinh, FnMath},
      {"acosh", Fn::kAcosh, FnMath},
      {"atanh", Fn::kAtanh, FnMath},
      {"deg", Fn::kDeg, FnMath},
      {"rad", Fn::kRad, FnMath},
      {"round", Fn::kRound, FnRound},
      {"clamp", Fn::kClamp, FnClamp},
      {"clamp_min", Fn::kClampMin, FnClamp},
      {"clamp_max", Fn::kClampMax, FnClamp},
      // Scalars of the step and of the query.
      {"time", Fn::kTime, FnTimeOrPi},
      {"pi", Fn::kPi, FnTimeOrPi},
      {"step", Fn::kStep, FnQueryParam},
      {"range", Fn::kRange, FnQueryParam},
      {"start", Fn::kStart, FnQueryParam},
      {"end", Fn::kEnd, FnQueryParam},
      {"min_of", Fn::kMinOf, FnMinMaxOf},
      {"max_of", Fn::kMaxOf, FnMinMaxOf},
      // Conversions and presence.
      {"vector", Fn::kVector, FnVector},
      {"scalar", Fn::kScalar, FnScalar},
      {"absent", Fn::kAbsent, FnAbsent},
      {"timestamp", Fn::kTimestamp, FnTimestamp},
      // Dates.
      {"days_in_month", Fn::kDaysInMonth, FnDate},
      {"day_of_month", Fn::kDayOfMonth, FnDate},
      {"day_of_week", Fn::kDayOfWeek, FnDate},
      {"day_of_year", Fn::kDayOfYear, FnDate},
      {"hour", Fn::kHour, FnDate},
      {"minute", Fn::kMinute, FnDate},
      {"month", Fn::kMonth, FnDate},
      {"year", Fn::kYear, FnDate},
      // Order and labels (functions_label.cc).
      {"sort", Fn::kSort, FnSort},
      {"sort_desc", Fn::kSortDesc, FnSort},
      {"sort_by_label", Fn::kSortByLabel, FnSortByLabel},
      {"sort_by_label_desc", Fn::kSortByLabelDesc, FnSortByLabel},
      {"label_replace", Fn::kLabelReplace, FnLabelReplace},
      {"label_join", Fn::kLabelJoin, FnLabelJoin},
      // Classic histograms (histogram.cc).
      {"histogram_quantile", Fn::kHistogramQuantile, FnHistogramQuantile},
      {"histogram_quantiles", Fn::kHistogramQuantiles, FnHistogramQuantile},
      {"histogram_fraction", Fn::kHistogramFraction, FnHistogramFraction},
      // Native histograms, which this store does not hold.
      {"histogram_avg", Fn::kNativeHistogramOnly, FnNativeHistogramOnly},
      {"histogram_count", Fn::kNativeHistogramOnly, FnNativeHistogramOnly},
      {"histogram_sum", Fn::kNativeHistogramOnly, FnNativeHistogramOnly},
      {"histogram_stddev", Fn::kNativeHistogramOnly, FnNativeHistogramOnly},
      {"histogram_stdvar", Fn::kNativeHistogramOnly, FnNativeHistogramOnly},
      {"info", Fn::kInfo, FnInfo},
  };
  static const auto* table = [] {
    auto* t = new absl::flat_hash_map<std::string_view, FunctionDef>();
    for (const Entry& e : kEntries) t->emplace(e.name, FunctionDef{e.fn, e.handler});
    return t;
  }();
  auto it = table->find(name);
  return it == table->end() ? nullptr : &it->second;
}

Fn LookupFn(std::string_view name) {
  const FunctionDef* def = LookupFunctionDef(name);
  return def == nullptr ? Fn::kUnknown : def->fn;
}

absl::StatusOr<EvalResult> Evaluator::EvalCall(const Call& c) {
  const FunctionDef* def = LookupFunctionDef(c.func->name);
  if (def == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported function \"", c.func->name, "\""));
  }
  return def->handler(FunctionCall{this, q_, c, def->fn});
}

}  // namespace meridian::promql::eval
