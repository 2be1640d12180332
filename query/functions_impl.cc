// PromQL function calls, following Prometheus's promql/functions.go.
#include <algorithm>
#include <cmath>
#include <optional>

#include <re2/re2.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/gofloat.h"
#include "query/eval.h"
#include "query/functions_internal.h"

namespace meridian::promql::eval {

Fn LookupFn(std::string_view name) {
  static const auto* table = new absl::flat_hash_map<std::string_view, Fn>{
      {"rate", Fn::kRate}, {"increase", Fn::kIncrease}, {"delta", Fn::kDelta},
      {"irate", Fn::kIrate}, {"idelta", Fn::kIdelta}, {"deriv", Fn::kDeriv},
      {"predict_linear", Fn::kPredictLinear}, {"changes", Fn::kChanges},
      {"resets", Fn::kResets}, {"avg_over_time", Fn::kAvgOT}, {"min_over_time", Fn::kMinOT},
      {"max_over_time", Fn::kMaxOT}, {"sum_over_time", Fn::kSumOT},
      {"count_over_time", Fn::kCountOT}, {"last_over_time", Fn::kLastOT},
      {"first_over_time", Fn::kFirstOT}, {"present_over_time", Fn::kPresentOT},
      {"stddev_over_time", Fn::kStddevOT}, {"stdvar_over_time", Fn::kStdvarOT},
      {"mad_over_time", Fn::kMadOT}, {"quantile_over_time", Fn::kQuantileOT},
      {"ts_of_min_over_time", Fn::kTsMinOT}, {"ts_of_max_over_time", Fn::kTsMaxOT},
      {"ts_of_first_over_time", Fn::kTsFirstOT}, {"ts_of_last_over_time", Fn::kTsLastOT},
      {"absent_over_time", Fn::kAbsentOT},
      {"double_exponential_smoothing", Fn::kDoubleExpSmoothing},
      {"holt_winters", Fn::kDoubleExpSmoothing},
      {"abs", Fn::kAbs}, {"ceil", Fn::kCeil}, {"floor", Fn::kFloor}, {"exp", Fn::kExp},
      {"sqrt", Fn::kSqrt}, {"ln", Fn::kLn}, {"log2", Fn::kLog2}, {"log10", Fn::kLog10},
      {"sgn", Fn::kSgn}, {"sin", Fn::kSin}, {"cos", Fn::kCos}, {"tan", Fn::kTan},
      {"asin", Fn::kAsin}, {"acos", Fn::kAcos}, {"atan", Fn::kAtan}, {"sinh", Fn::kSinh},
      {"cosh", Fn::kCosh}, {"tanh", Fn::kTanh}, {"asinh", Fn::kAsinh}, {"acosh", Fn::kAcosh},
      {"atanh", Fn::kAtanh}, {"deg", Fn::kDeg}, {"rad", Fn::kRad}, {"round", Fn::kRound},
      {"clamp", Fn::kClamp}, {"clamp_min", Fn::kClampMin}, {"clamp_max", Fn::kClampMax},
      {"time", Fn::kTime}, {"pi", Fn::kPi}, {"vector", Fn::kVector}, {"scalar", Fn::kScalar},
      {"absent", Fn::kAbsent}, {"timestamp", Fn::kTimestamp},
      {"days_in_month", Fn::kDaysInMonth}, {"day_of_month", Fn::kDayOfMonth},
      {"day_of_week", Fn::kDayOfWeek}, {"day_of_year", Fn::kDayOfYear}, {"hour", Fn::kHour},
      {"minute", Fn::kMinute}, {"month", Fn::kMonth}, {"year", Fn::kYear},
      {"sort", Fn::kSort}, {"sort_desc", Fn::kSortDesc}, {"sort_by_label", Fn::kSortByLabel},
      {"sort_by_label_desc", Fn::kSortByLabelDesc},
      {"histogram_quantile", Fn::kHistogramQuantile},
      {"histogram_fraction", Fn::kHistogramFraction}, {"label_replace", Fn::kLabelReplace},
      {"label_join", Fn::kLabelJoin}, {"histogram_quantiles", Fn::kHistogramQuantiles},
      {"step", Fn::kStep}, {"range", Fn::kRange}, {"start", Fn::kStart}, {"end", Fn::kEnd},
      {"min_of", Fn::kMinOf}, {"max_of", Fn::kMaxOf},
      {"histogram_avg", Fn::kNativeHistogramOnly}, {"histogram_count", Fn::kNativeHistogramOnly},
      {"histogram_sum", Fn::kNativeHistogramOnly},
      {"histogram_stddev", Fn::kNativeHistogramOnly},
      {"histogram_stdvar", Fn::kNativeHistogramOnly}, {"info", Fn::kInfo},
  };
  auto it = table->find(name);
  return it == table->end() ? Fn::kUnknown : it->second;
}

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

namespace {

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
    case Fn::kDayOfMonth: return c.day;
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
    case Fn::kHour: return static_cast<double>(rem / 3600);
    case Fn::kMinute: return static_cast<double>((rem % 3600) / 60);
    case Fn::kMonth: return c.month;
    case Fn::kYear: return static_cast<double>(c.year);
    default: return NAN;
  }
}

int64_t GoFloatToInt64(double v) {
  if (std::isnan(v) || v >= 9.223372036854775807e18 || v < -9.223372036854775808e18) {
    return INT64_MIN;
  }
  return static_cast<int64_t>(v);
}

// facette/natsort.Compare: true when a sorts before b.
bool NatLess(std::string_view a, std::string_view b) {
  auto chunks = [](std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
      const bool digit = std::isdigit(static_cast<unsigned char>(s[i]));
      size_t j = i;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) != 0) == digit) ++j;
      out.push_back(s.substr(i, j - i));
      i = j;
    }
    return out;
  };
  auto atoi = [](std::string_view s, int64_t* v) {
    if (s.empty() || s.size() > 18) return false;
    int64_t n = 0;
    for (char ch : s) {
      if (ch < '0' || ch > '9') return false;
      n = n * 10 + (ch - '0');
    }
    *v = n;
    return true;
  };
  const auto ca = chunks(a), cb = chunks(b);
  for (size_t i = 0; i < ca.size(); ++i) {
    if (i >= cb.size()) return false;
    int64_t ai, bi;
    if (atoi(ca[i], &ai) && atoi(cb[i], &bi)) {
      if (ai == bi) {
        if (i == ca.size() - 1) return true;
        if (i == cb.size() - 1) return false;
        continue;
      }
      return ai < bi;
    }
    if (ca[i] == cb[i]) {
      if (i == ca.size() - 1) return true;
      if (i == cb.size() - 1) return false;
      continue;
    }
    return ca[i] < cb[i];
  }
  return false;
}

// Go's regexp.Expand template semantics.
std::string ExpandTemplate(const RE2& re, std::string_view tmpl,
                           const std::vector<re2::StringPiece>& groups,
                           const std::vector<bool>& matched) {
  std::string out;
  const auto& named = re.NamedCapturingGroups();
  size_t i = 0;
  while (i < tmpl.size()) {
    size_t d = tmpl.find('$', i);
    if (d == std::string_view::npos) {
      out.append(tmpl.substr(i));
      break;
    }
    out.append(tmpl.substr(i, d - i));
    std::string_view rest = tmpl.substr(d + 1);
    if (!rest.empty() && rest[0] == '$') {
      out.push_back('$');
      i = d + 2;
      continue;
    }
    bool brace = false;
    size_t k = 0;
    if (!rest.empty() && rest[0] == '{') {
      brace = true;
      k = 1;
    }
    size_t name_start = k;
    while (k < rest.size()) {
      unsigned char ch = static_cast<unsigned char>(rest[k]);
      if (std::isalnum(ch) || ch == '_' || ch >= 0x80) {
        ++k;
      } else {
        break;
      }
    }
    if (k == name_start || (brace && (k >= rest.size() || rest[k] != '}'))) {
      out.push_back('$');
      i = d + 1;
      continue;
    }
    std::string_view name = rest.substr(name_start, k - name_start);
    if (brace) ++k;
    i = d + 1 + k;
    int num = 0;
    for (char ch : name) {
      if (ch < '0' || ch > '9' || num >= 100000000) {
        num = -1;
        break;
      }
      num = num * 10 + (ch - '0');
    }
    if (name.size() > 1 && name[0] == '0') num = -1;
    int idx = -1;
    if (num >= 0) {
      idx = num;
    } else {
      auto it = named.find(std::string(name));
      if (it != named.end()) idx = it->second;
    }
    if (idx >= 0 && idx < static_cast<int>(groups.size()) && matched[idx]) {
      out.append(groups[idx].data(), groups[idx].size());
    }
  }
  return out;
}

bool ValidLabelName(std::string_view s) {
  if (s.empty()) return false;
  // Prometheus 3 accepts any valid UTF-8 label name.
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    }
    i += n;
  }
  return true;
}

std::string StringArg(const Expr& e) {
  const Expr& a = Unwrap(e);
  if (a.kind == ExprKind::kString) return static_cast<const StringLiteral&>(a).value;
  return "";
}

}  // namespace


// Merges series that ended up with the same labels (Prometheus's
// mergeSeriesWithSameLabelset); overlapping points are an error.
absl::StatusOr<EvalMatrix> MergeSameLabelset(EvalMatrix m) {
  if (m.size() < 2) return m;
  absl::flat_hash_map<uint64_t, size_t> first;
  EvalMatrix out;
  out.reserve(m.size());
  for (auto& s : m) {
    uint64_t h = s.metric.Hash();
    auto [it, inserted] = first.try_emplace(h, out.size());
    if (inserted) {
      out.push_back(std::move(s));
      continue;
    }
    EvalSeries& t = out[it->second];
    std::vector<Point> pts;
    pts.reserve(t.points.size() + s.points.size());
    std::merge(t.points.begin(), t.points.end(), s.points.begin(), s.points.end(),
               std::back_inserter(pts),
               [](const Point& a, const Point& b) { return a.t_ms < b.t_ms; });
    for (size_t i = 1; i < pts.size(); ++i) {
      if (pts[i].t_ms == pts[i - 1].t_ms) {
        return absl::FailedPreconditionError(
            "vector cannot contain metrics with the same labelset");
      }
    }
    t.points = std::move(pts);
  }
  return out;
}

std::string EscapeInvalidUtf8(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) ok = false;
    }
    if (!ok) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out.append(buf);
      ++i;
      continue;
    }
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

absl::StatusOr<EvalResult> Evaluator::EvalCall(const Call& c) {
  const std::string& name = c.func->name;
  const Fn f = LookupFn(name);
  if (f == Fn::kUnknown) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported function \"", name, "\""));
  }
  EvalResult r;
  r.type = ValueType::kVector;

  // Range-vector functions.
  const int matrix_arg = RangeArgIndex(c);
  if (matrix_arg >= 0 && f == Fn::kAbsentOT) {
    std::vector<bool> found(num_steps_);
    RangeSpec spec;
    MERIDIAN_RETURN_IF_ERROR(ForEachRangeSeries(
        *c.args[matrix_arg], &spec,
        [&](const Labels&, bool, std::span<const Point> pts) -> absl::Status {
          size_t lo = 0, hi = 0;
          for (int i = 0; i < num_steps_; ++i) {
            const int64_t wend = (spec.has_at ? spec.at_ms : StepTime(i)) - spec.offset_ms;
            while (hi < pts.size() && pts[hi].t_ms <= wend) ++hi;
            while (lo < pts.size() && pts[lo].t_ms <= wend - spec.range_ms) ++lo;
            if (lo < hi) found[i] = true;
          }
          return absl::OkStatus();
        }));
    EvalSeries s;
    for (int i = 0; i < num_steps_; ++i) {
      if (!found[i]) s.points.push_back(Point{StepTime(i), 1});
    }
    if (!s.points.empty()) {
      s.metric = AbsentLabels(*c.args[matrix_arg]);
      s.drop_name = true;
      r.matrix.push_back(std::move(s));
    }
    return r;
  }
  if (matrix_arg >= 0) {
    MERIDIAN_RETURN_IF_ERROR(StreamRangeFunction(
        c, matrix_arg, [&](const Labels& ls, bool drop, std::vector<Point>* pts) -> absl::Status {
          r.matrix.push_back(EvalSeries{ls, std::move(*pts), drop});
          return absl::OkStatus();
        }));
    return r;
  }

  switch (f) {
    case Fn::kTime:
    case Fn::kPi: {
      r.type = ValueType::kScalar;
      r.scalar.resize(num_steps_);
      for (int i = 0; i < num_steps_; ++i) {
        r.scalar[i] = f == Fn::kPi ? M_PI : static_cast<double>(StepTime(i)) / 1000;
      }
      return r;
    }
    case Fn::kStep:
    case Fn::kRange:
    case Fn::kStart:
    case Fn::kEnd: {
      double v = 0;
      switch (f) {
        case Fn::kStep: v = static_cast<double>(q_->query_step_ms) / 1000; break;
        case Fn::kRange:
          v = static_cast<double>(q_->query_end_ms - q_->query_start_ms) / 1000;
          break;
        case Fn::kStart: v = static_cast<double>(q_->query_start_ms) / 1000; break;
        default: v = static_cast<double>(q_->query_end_ms) / 1000; break;
      }
      r.type = ValueType::kScalar;
      r.scalar.assign(num_steps_, v);
      return r;
    }
    case Fn::kNativeHistogramOnly: {
      // These read native histogram samples only; float samples are ignored.
      MERIDIAN_ASSIGN_OR_RETURN(EvalResult in, Eval(*c.args[0]));
      MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(-CountPoints(in.matrix)));
      return r;
    }
    case Fn::kInfo:
      // Without info-metric enrichment (experimental), info() is the identity.
      return Eval(*c.args[0]);
    case Fn::kMinOf:
    case Fn::kMaxOf: {
      MERIDIAN_ASSIGN_OR_RETURN(auto a, EvalScalarSteps(this, *c.args[0]));
      MERIDIAN_ASSIGN_OR_RETURN(auto b, EvalScalarSteps(this, *c.args[1]));
      r.type = ValueType::kScalar;
      r.scalar.resize(num_steps_);
      for (int i = 0; i < num_steps_; ++i) {
        r.scalar[i] = f == Fn::kMinOf ? GoMin(a[i], b[i]) : GoMax(a[i], b[i]);
      }
      return r;
    }
    case Fn::kVector: {
      MERIDIAN_ASSIGN_OR_RETURN(auto v, EvalScalarSteps(this, *c.args[0]));
      EvalSeries s;
      for (int i = 0; i < num_steps_; ++i) s.points.push_back(Point{StepTime(i), v[i]});
      MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(num_steps_));
      r.matrix.push_back(std::move(s));
      return r;
    }
    case Fn::kScalar: {
      MERIDIAN_ASSIGN_OR_RETURN(EvalResult in, Eval(*c.args[0]));
      r.type = ValueType::kScalar;
      r.scalar.assign(num_steps_, NAN);
      std::vector<int> count(num_steps_, 0);
      for (const auto& s : in.matrix) {
        for (const Point& p : s.points) {
          const int i = StepIndex(p.t_ms);
          if (++count[i] == 1) {
            r.scalar[i] = p.v;
          } else {
            r.scalar[i] = NAN;
          }
        }
      }
      MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(-CountPoints(in.matrix)));
      return r;
    }
    case Fn::kAbsent: {
      MERIDIAN_ASSIGN_OR_RETURN(EvalResult in, Eval(*c.args[0]));
      std::vector<bool> present(num_steps_, false);
      for (const auto& s : in.matrix) {
        for (const Point& p : s.points) present[StepIndex(p.t_ms)] = true;
      }
      MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(-CountPoints(in.matrix)));
      EvalSeries s;
      for (int i = 0; i < num_steps_; ++i) {
        if (!present[i]) s.points.push_back(Point{StepTime(i), 1});
      }
      if (!s.points.empty()) {
        s.metric = AbsentLabels(*c.args[0]);
        r.matrix.push_back(std::move(s));
      }
      return r;
    }
    case Fn::kTimestamp: {
      const Expr& a = Unwrap(*c.args[0]);
      if (a.kind == ExprKind::kVectorSelector) {
        MERIDIAN_ASSIGN_OR_RETURN(r, EvalVectorSelector(static_cast<const VectorSelector&>(a), true));
      } else {
        MERIDIAN_ASSIGN_OR_RETURN(r, Eval(*c.args[0]));
        for (auto& s : r.matrix) {
          for (auto& p : s.points) p.v = static_cast<double>(p.t_ms) / 1000;
        }
      }
      for (auto& s : r.matrix) s.drop_name = true;
      return r;
    }
    case Fn::kDaysInMonth:
    case Fn::kDayOfMonth:
    case Fn::kDayOfWeek:
    case Fn::kDayOfYear:
    case Fn::kHour:
    case Fn::kMinute:
    case Fn::kMonth:
    case Fn::kYear: {
      if (c.args.empty()) {
        EvalSeries s;
        for (int i = 0; i < num_steps_; ++i) {
          s.points.push_back(Point{StepTime(i), DateFn(f, StepTime(i) / 1000)});
        }
        MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(num_steps_));
        r.matrix.push_back(std::move(s));
        return r;
      }
      MERIDIAN_ASSIGN_OR_RETURN(r, Eval(*c.args[0]));
      for (auto& s : r.matrix) {
        s.drop_name = true;
        for (auto& p : s.points) p.v = DateFn(f, GoFloatToInt64(p.v));
      }
      return r;
    }
    case Fn::kSort:
    case Fn::kSortDesc:
    case Fn::kSortByLabel:
    case Fn::kSortByLabelDesc: {
      if (q_->range_query) {
        q_->annos.Warn(absl::StrCat(
            "PromQL warning: sort is ineffective for range queries since results are always "
            "ordered by labels (",
            q_->Pos(c), ")"));
      }
      MERIDIAN_ASSIGN_OR_RETURN(r, Eval(*c.args[0]));
      if (num_steps_ != 1) return r;
      auto& m = r.matrix;
      auto val = [](const EvalSeries& s) { return s.points[0].v; };
      if (f == Fn::kSort) {
        std::stable_sort(m.begin(), m.end(), [&](const EvalSeries& x, const EvalSeries& y) {
          const double a = val(x), b = val(y);
          return (std::isnan(b) && !std::isnan(a)) || a < b;
        });
      } else if (f == Fn::kSortDesc) {
        std::stable_sort(m.begin(), m.end(), [&](const EvalSeries& x, const EvalSeries& y) {
          const double a = val(x), b = val(y);
          return (std::isnan(b) && !std::isnan(a)) || a > b;
        });
      } else {
        std::vector<std::string> names;
        for (size_t i = 1; i < c.args.size(); ++i) names.push_back(StringArg(*c.args[i]));
        const bool desc = f == Fn::kSortByLabelDesc;
        std::stable_sort(m.begin(), m.end(), [&](const EvalSeries& x, const EvalSeries& y) {
          for (const auto& n : names) {
            std::string_view a = x.metric.Get(n), b = y.metric.Get(n);
            if (a == b) continue;
            return desc ? !NatLess(a, b) : NatLess(a, b);
          }
          int cmp = Labels::Compare(x.metric, y.metric);
          return desc ? cmp > 0 : cmp < 0;
        });
      }
      return r;
    }
    case Fn::kHistogramQuantile:
    case Fn::kHistogramFraction:
    case Fn::kHistogramQuantiles: {
      std::vector<std::vector<double>> params;
      std::string qlabel;
      const Expr* vec_arg;
      std::vector<const Expr*> qargs;
      HistFunc kind;
      if (f == Fn::kHistogramFraction) {
        kind = HistFunc::kFraction;
        vec_arg = c.args[2].get();
        for (int i = 0; i < 2; ++i) {
          MERIDIAN_ASSIGN_OR_RETURN(auto v, EvalScalarSteps(this, *c.args[i]));
          params.push_back(std::move(v));
        }
      } else {
        if (f == Fn::kHistogramQuantile) {
          kind = HistFunc::kQuantile;
          vec_arg = c.args[1].get();
          qargs.push_back(c.args[0].get());
        } else {
          kind = HistFunc::kQuantiles;
          vec_arg = c.args[0].get();
          qlabel = StringArg(*c.args[1]);
          for (size_t i = 2; i < c.args.size(); ++i) qargs.push_back(c.args[i].get());
        }
        for (const Expr* qa : qargs) {
          MERIDIAN_ASSIGN_OR_RETURN(auto v, EvalScalarSteps(this, *qa));
          for (double q : v) {
            if (std::isnan(q) || q < 0 || q > 1) {
              q_->annos.Warn(absl::StrCat(
                  "PromQL warning: quantile value should be between 0 and 1, got ",
                  model::FormatGoFloat(q, 'g'), " (", q_->Pos(*qa), ")"));
            }
          }
          params.push_back(std::move(v));
        }
      }
      MERIDIAN_ASSIGN_OR_RETURN(EvalResult in, Eval(*vec_arg));
      return EvalClassicHistogramFunc(this, q_, kind, *vec_arg, params, qlabel,
                                      std::move(in.matrix));
    }
    case Fn::kLabelReplace: {
      const std::string dst = StringArg(*c.args[1]);
      const std::string repl = StringArg(*c.args[2]);
      const std::string src = StringArg(*c.args[3]);
      const std::string regex = StringArg(*c.args[4]);
      RE2::Options opts;
      opts.set_log_errors(false);
      opts.set_dot_nl(true);
      RE2 re("^(?s:" + regex + ")$", opts);
      if (!re.ok()) {
        return absl::FailedPreconditionError(
            absl::StrCat("invalid regular expression in label_replace(): ", EscapeInvalidUtf8(regex)));
      }
      if (!ValidLabelName(dst)) {
        return absl::FailedPreconditionError(
            absl::StrCat("invalid destination label name in label_replace(): ", EscapeInvalidUtf8(dst)));
      }
      MERIDIAN_ASSIGN_OR_RETURN(r, Eval(*c.args[0]));
      const int ngroups = re.NumberOfCapturingGroups() + 1;
      std::vector<re2::StringPiece> groups(ngroups);
      std::vector<bool> matched_vec(ngroups);
      for (auto& s : r.matrix) {
        std::string_view sv = s.metric.Get(src);
        if (!re.Match(re2::StringPiece(sv.data(), sv.size()), 0, sv.size(), RE2::UNANCHORED,
                      groups.data(), ngroups)) {
          continue;
        }
        for (int g = 0; g < ngroups; ++g) matched_vec[g] = groups[g].data() != nullptr;
        std::string res = ExpandTemplate(re, repl, groups, matched_vec);
        s.metric = LabelsBuilder(s.metric).Set(dst, res).Build();
        if (dst == kMetricName) s.drop_name = false;
      }
      MERIDIAN_ASSIGN_OR_RETURN(r.matrix, MergeSameLabelset(std::move(r.matrix)));
      return r;
    }
    case Fn::kLabelJoin: {
      const std::string dst = StringArg(*c.args[1]);
      const std::string sep = StringArg(*c.args[2]);
      std::vector<std::string> srcs;
      for (size_t i = 3; i < c.args.size(); ++i) {
        std::string s = StringArg(*c.args[i]);
        if (!ValidLabelName(s)) {
          return absl::FailedPreconditionError(
              absl::StrCat("invalid source label name in label_join(): ", EscapeInvalidUtf8(s)));
        }
        srcs.push_back(std::move(s));
      }
      if (!ValidLabelName(dst)) {
        return absl::FailedPreconditionError(
            absl::StrCat("invalid destination label name in label_join(): ", EscapeInvalidUtf8(dst)));
      }
      MERIDIAN_ASSIGN_OR_RETURN(r, Eval(*c.args[0]));
      std::vector<std::string> vals(srcs.size());
      for (auto& s : r.matrix) {
        for (size_t i = 0; i < srcs.size(); ++i) vals[i] = std::string(s.metric.Get(srcs[i]));
        s.metric = LabelsBuilder(s.metric).Set(dst, absl::StrJoin(vals, sep)).Build();
        if (dst == kMetricName) s.drop_name = false;
      }
      MERIDIAN_ASSIGN_OR_RETURN(r.matrix, MergeSameLabelset(std::move(r.matrix)));
      return r;
    }
    default:
      break;
  }

  // Element-wise float functions over an instant vector.
  std::vector<std::vector<double>> sargs;
  for (size_t i = 1; i < c.args.size(); ++i) {
    MERIDIAN_ASSIGN_OR_RETURN(auto v, EvalScalarSteps(this, *c.args[i]));
    sargs.push_back(std::move(v));
  }
  MERIDIAN_ASSIGN_OR_RETURN(r, Eval(*c.args[0]));
  int64_t removed = 0;
  for (auto& s : r.matrix) {
    s.drop_name = true;
    size_t w = 0;
    for (size_t k = 0; k < s.points.size(); ++k) {
      const double v = s.points[k].v;
      const int step = (f == Fn::kRound || f == Fn::kClamp || f == Fn::kClampMin ||
                        f == Fn::kClampMax)
                           ? StepIndex(s.points[k].t_ms)
                           : 0;
      double o;
      switch (f) {
        case Fn::kAbs: o = std::fabs(v); break;
        case Fn::kCeil: o = std::ceil(v); break;
        case Fn::kFloor: o = std::floor(v); break;
        case Fn::kExp: o = std::exp(v); break;
        case Fn::kSqrt: o = std::sqrt(v); break;
        case Fn::kLn: o = std::log(v); break;
        case Fn::kLog2: o = std::log2(v); break;
        case Fn::kLog10: o = std::log10(v); break;
        case Fn::kSgn: o = v < 0 ? -1 : v > 0 ? 1 : v; break;
        case Fn::kSin: o = std::sin(v); break;
        case Fn::kCos: o = std::cos(v); break;
        case Fn::kTan: o = std::tan(v); break;
        case Fn::kAsin: o = std::asin(v); break;
        case Fn::kAcos: o = std::acos(v); break;
        case Fn::kAtan: o = std::atan(v); break;
        case Fn::kSinh: o = std::sinh(v); break;
        case Fn::kCosh: o = std::cosh(v); break;
        case Fn::kTanh: o = std::tanh(v); break;
        case Fn::kAsinh: o = std::asinh(v); break;
        case Fn::kAcosh: o = std::acosh(v); break;
        case Fn::kAtanh: o = std::atanh(v); break;
        case Fn::kDeg: o = v * 180 / M_PI; break;
        case Fn::kRad: o = v * M_PI / 180; break;
        case Fn::kRound: {
          const double to_nearest = sargs.empty() ? 1 : sargs[0][step];
          const double inv = 1.0 / to_nearest;
          o = std::floor(v * inv + 0.5) / inv;
          break;
        }
        case Fn::kClamp:
        case Fn::kClampMin:
        case Fn::kClampMax: {
          double lo = -INFINITY, hi = INFINITY;
          if (f == Fn::kClamp) {
            lo = sargs[0][step];
            hi = sargs[1][step];
          } else if (f == Fn::kClampMin) {
            lo = sargs[0][step];
          } else {
            hi = sargs[0][step];
          }
          if (hi < lo) continue;
          o = GoMax(lo, GoMin(hi, v));
          break;
        }
        default:
          return absl::InvalidArgumentError(absl::StrCat("unsupported function \"", name, "\""));
      }
      s.points[w++] = Point{s.points[k].t_ms, o};
    }
    removed += static_cast<int64_t>(s.points.size() - w);
    s.points.resize(w);
  }
  std::erase_if(r.matrix, [](const EvalSeries& s) { return s.points.empty(); });
  MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(-removed));
  return r;
}

}  // namespace meridian::promql::eval
