// histogram_quantile and histogram_fraction over classic (`le` bucket)
// histograms, as Prometheus's BucketQuantile / BucketFraction.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "model/gofloat.h"
#include "query/eval.h"
#include "query/functions_internal.h"

namespace meridian::promql::eval {
namespace {

struct Bucket {
  double upper;
  double count;
};

void SortAndCoalesce(std::vector<Bucket>* b) {
  std::stable_sort(b->begin(), b->end(),
                   [](const Bucket& x, const Bucket& y) { return x.upper < y.upper; });
  size_t i = 0;
  Bucket last = (*b)[0];
  for (size_t k = 1; k < b->size(); ++k) {
    if ((*b)[k].upper == last.upper) {
      last.count += (*b)[k].count;
    } else {
      (*b)[i++] = last;
      last = (*b)[k];
    }
  }
  (*b)[i++] = last;
  b->resize(i);
}

bool AlmostEqual(double a, double b, double eps) {
  if (std::isnan(a) && std::isnan(b)) return true;
  if (a == b) return true;
  constexpr double kMinNormal = 2.2250738585072014e-308;
  const double abs_sum = std::fabs(a) + std::fabs(b);
  const double diff = std::fabs(a - b);
  if (a == 0 || b == 0 || abs_sum < kMinNormal) return diff < eps * kMinNormal;
  return diff / std::min(abs_sum, 1.7976931348623157e308) < eps;
}

// Returns whether monotonicity had to be forced.
bool EnsureMonotonic(std::vector<Bucket>* b) {
  bool forced = false;
  double prev = (*b)[0].count;
  for (size_t i = 1; i < b->size(); ++i) {
    const double curr = (*b)[i].count;
    if (curr == prev) continue;
    if (AlmostEqual(prev, curr, 1e-12)) {
      (*b)[i].count = prev;
      continue;
    }
    if (curr < prev) {
      (*b)[i].count = prev;
      forced = true;
      continue;
    }
    prev = curr;
  }
  return forced;
}

double BucketQuantile(double q, std::vector<Bucket> b, bool* forced) {
  *forced = false;
  if (std::isnan(q)) return NAN;
  if (q < 0) return -INFINITY;
  if (q > 1) return INFINITY;
  std::stable_sort(b.begin(), b.end(),
                   [](const Bucket& x, const Bucket& y) { return x.upper < y.upper; });
  if (!std::isinf(b.back().upper) || b.back().upper < 0) return NAN;
  SortAndCoalesce(&b);
  *forced = EnsureMonotonic(&b);
  if (b.size() < 2) return NAN;
  const double observations = b.back().count;
  if (observations == 0) return NAN;
  double rank = q * observations;
  size_t idx = 0;
  {
    // sort.Search over [0, len-1)
    size_t lo = 0, hi = b.size() - 1;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (!(b[mid].count >= rank)) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    idx = lo;
  }
  if (idx == b.size() - 1) return b[b.size() - 2].upper;
  if (idx == 0 && b[0].upper <= 0) return b[0].upper;
  double start = 0;
  const double end = b[idx].upper;
  double count = b[idx].count;
  if (idx > 0) {
    start = b[idx - 1].upper;
    count -= b[idx - 1].count;
    rank -= b[idx - 1].count;
  }
  return start + (end - start) * (rank / count);
}

double BucketFraction(double lower, double upper, std::vector<Bucket> b) {
  SortAndCoalesce(&b);
  if (b.empty() || !std::isinf(b.back().upper) || b.back().upper < 0) return NAN;
  EnsureMonotonic(&b);
  const double count = b.back().count;
  if (count == 0 || std::isnan(lower) || std::isnan(upper)) return NAN;
  if (lower >= upper) return 0;
  double rank = 0, lower_rank = 0, upper_rank = 0;
  bool lower_set = false, upper_set = false;
  for (size_t i = 0; i < b.size(); ++i) {
    double lb;
    if (i > 0) {
      lb = b[i - 1].upper;
    } else {
      lb = b[0].upper > 0 ? 0 : -INFINITY;
    }
    const double ub = b[i].upper;
    // Infinite-width buckets contribute nothing to a boundary inside them.
    // Infinite-width buckets are not interpolated: a boundary in the -Inf
    // bucket sits at its end, one in the +Inf bucket at its start.
    auto interp = [&](double v) {
      if (std::isinf(lb)) return b[i].count;
      if (std::isinf(ub)) return rank;
      return rank + (b[i].count - rank) * (v - lb) / (ub - lb);
    };
    if (!lower_set && lb >= lower) {
      lower_rank = rank;
      lower_set = true;
    }
    if (!upper_set && lb >= upper) {
      upper_rank = rank;
      upper_set = true;
    }
    if (lower_set && upper_set) break;
    if (!lower_set && lb < lower && ub > lower) {
      lower_rank = interp(lower);
      lower_set = true;
    }
    if (!upper_set && lb < upper && ub > upper) {
      upper_rank = interp(upper);
      upper_set = true;
    }
    if (lower_set && upper_set) break;
    rank = b[i].count;
  }
  if (!lower_set || lower_rank > count) lower_rank = count;
  if (!upper_set || upper_rank > count) upper_rank = count;
  return (upper_rank - lower_rank) / count;
}

}  // namespace

namespace {

// prometheus/common's FormatOpenMetricsFloat.
std::string FormatOpenMetricsFloat(double f) {
  if (f == 1) return "1.0";
  if (f == 0) return "0.0";
  if (f == -1) return "-1.0";
  std::string s = model::FormatGoFloat(f, 'g');
  if (std::isnan(f) || std::isinf(f)) return s;
  if (s.find_first_of("e.") == std::string::npos) s += ".0";
  return s;
}

}  // namespace

absl::StatusOr<EvalResult> EvalClassicHistogramFunc(Evaluator* ev, QueryContext* q, HistFunc kind,
                                                    const Expr& vec_arg,
                                                    const std::vector<std::vector<double>>& params,
                                                    const std::string& quantile_label,
                                                    EvalMatrix in) {
  // Group bucket series by their labels without `le`.
  const std::vector<std::string> le = {"le"};
  std::vector<int> group_of(in.size(), -1);
  std::vector<double> upper(in.size());
  absl::flat_hash_map<uint64_t, int> index;
  std::vector<Labels> group_labels;
  for (size_t s = 0; s < in.size(); ++s) {
    std::string_view lv = in[s].metric.Get("le");
    double u;
    if (!model::ParseGoFloatOk(lv, &u)) {
      q->annos.Warn(absl::StrCat(
          "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"",
          std::string(lv), "\" for metric name \"", std::string(in[s].metric.MetricName()), "\" (",
          q->Pos(vec_arg), ")"));
      continue;
    }
    upper[s] = u;
    uint64_t key = in[s].metric.HashFor(le, false);
    auto [it, inserted] = index.try_emplace(key, static_cast<int>(group_labels.size()));
    if (inserted) group_labels.push_back(LabelsBuilder(in[s].metric).Del("le").Build());
    group_of[s] = it->second;
  }
  SeriesAccumulator acc;
  std::vector<uint64_t> group_hash(group_labels.size());
  for (size_t g = 0; g < group_labels.size(); ++g) group_hash[g] = group_labels[g].Hash();
  // (group, quantile index) -> output series and the q it was made for.
  absl::flat_hash_map<uint64_t, std::pair<int, double>> qseries;
  std::vector<std::vector<Bucket>> buckets(group_labels.size());
  StepCursor cur(&in);
  bool forced_any = false;
  std::string forced_name;
  const size_t nq = kind == HistFunc::kFraction ? 1 : params.size();
  for (int step = 0; step < ev->num_steps(); ++step) {
    const int64_t ts = ev->StepTime(step);
    for (auto& b : buckets) b.clear();
    for (size_t s = 0; s < in.size(); ++s) {
      double v;
      if (group_of[s] < 0 || !cur.At(s, ts, &v)) continue;
      buckets[group_of[s]].push_back(Bucket{upper[s], v});
    }
    for (size_t qi = 0; qi < nq; ++qi) {
      for (size_t g = 0; g < group_labels.size(); ++g) {
        if (buckets[g].empty()) continue;
        double v;
        int out;
        if (kind == HistFunc::kFraction) {
          v = BucketFraction(params[0][step], params[1][step], buckets[g]);
          out = acc.SeriesFor(group_hash[g], true, [&] { return group_labels[g]; });
        } else {
          const double qv = params[qi][step];
          bool forced;
          v = BucketQuantile(qv, buckets[g], &forced);
          if (forced && !forced_any) {
            forced_any = true;
            forced_name = std::string(group_labels[g].MetricName());
          }
          if (kind == HistFunc::kQuantile) {
            out = acc.SeriesFor(group_hash[g], true, [&] { return group_labels[g]; });
          } else {
            const uint64_t key = static_cast<uint64_t>(g) * nq + qi;
            auto it = qseries.find(key);
            if (it == qseries.end() || !(it->second.second == qv)) {
              Labels ls = LabelsBuilder(group_labels[g])
                              .Set(quantile_label, FormatOpenMetricsFloat(qv))
                              .Build();
              const uint64_t h = ls.Hash();
              int idx = acc.SeriesFor(h, true, [&] { return std::move(ls); });
              it = qseries.insert_or_assign(key, std::make_pair(idx, qv)).first;
            }
            out = it->second.first;
          }
        }
        MERIDIAN_RETURN_IF_ERROR(acc.Add(out, ts, v));
      }
    }
  }
  if (forced_any) {
    q->annos.Info(absl::StrCat(
        "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see "
        "https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) "
        "for metric name \"",
        forced_name, "\" (", q->Pos(vec_arg), ")"));
  }
  EvalResult r;
  r.type = ValueType::kVector;
  r.matrix = acc.Take();
  MERIDIAN_RETURN_IF_ERROR(q->AddSamples(CountPoints(r.matrix) - CountPoints(in)));
  return r;
}

namespace {

// The quantile arguments `qargs` of histogram_quantile(s), one value per
// step each, with a warning for each value outside [0, 1].
absl::StatusOr<std::vector<std::vector<double>>> QuantileParams(
    const FunctionCall& fc, const std::vector<const Expr*>& qargs) {
  std::vector<std::vector<double>> params;
  for (const Expr* qa : qargs) {
    MERIDIAN_ASSIGN_OR_RETURN(auto v, EvalScalarSteps(fc.ev, *qa));
    for (double q : v) {
      if (std::isnan(q) || q < 0 || q > 1) {
        fc.q->annos.Warn(
            absl::StrCat("PromQL warning: quantile value should be between 0 and 1, got ",
                         model::FormatGoFloat(q, 'g'), " (", fc.q->Pos(*qa), ")"));
      }
    }
    params.push_back(std::move(v));
  }
  return params;
}

}  // namespace

// histogram_quantile(q, v) and histogram_quantiles(v, label, q...).
absl::StatusOr<EvalResult> FnHistogramQuantile(const FunctionCall& fc) {
  const Call& c = fc.call;
  std::string qlabel;
  const Expr* vec_arg;
  std::vector<const Expr*> qargs;
  HistFunc kind;
  if (fc.fn == Fn::kHistogramQuantile) {
    kind = HistFunc::kQuantile;
    vec_arg = c.args[1].get();
    qargs.push_back(c.args[0].get());
  } else {
    kind = HistFunc::kQuantiles;
    vec_arg = c.args[0].get();
    qlabel = StringArg(*c.args[1]);
    for (size_t i = 2; i < c.args.size(); ++i) qargs.push_back(c.args[i].get());
  }
  MERIDIAN_ASSIGN_OR_RETURN(auto params, QuantileParams(fc, qargs));
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult in, fc.ev->Eval(*vec_arg));
  return EvalClassicHistogramFunc(fc.ev, fc.q, kind, *vec_arg, params, qlabel,
                                  std::move(in.matrix));
}

// histogram_fraction(lower, upper, v).
absl::StatusOr<EvalResult> FnHistogramFraction(const FunctionCall& fc) {
  const Call& c = fc.call;
  std::vector<std::vector<double>> params;
  const Expr* vec_arg = c.args[2].get();
  for (int i = 0; i < 2; ++i) {
    MERIDIAN_ASSIGN_OR_RETURN(auto v, EvalScalarSteps(fc.ev, *c.args[i]));
    params.push_back(std::move(v));
  }
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult in, fc.ev->Eval(*vec_arg));
  return EvalClassicHistogramFunc(fc.ev, fc.q, HistFunc::kFraction, *vec_arg, params, "",
                                  std::move(in.matrix));
}

}  // namespace meridian::promql::eval
