// histogram_quantile and histogram_fraction over classic (`le` bucket)
// histograms, as Prometheus's BucketQuantile / BucketFraction.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "query/eval.h"

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
    auto interp = [&](double v) {
      if (std::isinf(ub)) return rank;  // nothing known inside the +Inf bucket
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
      lower_rank = std::isinf(lb) ? rank : interp(lower);
      lower_set = true;
    }
    if (!upper_set && lb < upper && ub > upper) {
      upper_rank = std::isinf(lb) ? rank : interp(upper);
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

absl::StatusOr<EvalResult> EvalClassicHistogramFunc(Evaluator* ev, QueryContext* q,
                                                    bool is_fraction, const Expr& vec_arg,
                                                    const std::vector<double>& p1,
                                                    const std::vector<double>& p2,
                                                    const Expr& pos_arg, EvalMatrix in) {
  // Group bucket series by their labels without `le`.
  const std::vector<std::string> le = {"le"};
  struct Group {
    int out;
    std::vector<Bucket> buckets;
  };
  std::vector<int> group_of(in.size(), -1);
  std::vector<double> upper(in.size());
  absl::flat_hash_map<uint64_t, int> index;
  EvalMatrix out;
  for (size_t s = 0; s < in.size(); ++s) {
    std::string_view lv = in[s].metric.Get("le");
    double u;
    if (!ParseGoFloat(lv, &u)) {
      q->annos.Warn(absl::StrCat(
          "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"", std::string(lv),
          "\" for metric name \"", std::string(in[s].metric.MetricName()), "\" (", q->Pos(vec_arg), ")"));
      continue;
    }
    upper[s] = u;
    uint64_t key = in[s].metric.HashFor(le, false);
    auto [it, inserted] = index.try_emplace(key, static_cast<int>(out.size()));
    if (inserted) {
      out.push_back(EvalSeries{LabelsBuilder(in[s].metric).Del("le").Build(), {}, true});
    }
    group_of[s] = it->second;
  }
  std::vector<std::vector<Bucket>> buckets(out.size());
  StepCursor cur(&in);
  bool forced_any = false;
  std::string forced_name;
  for (int step = 0; step < ev->num_steps(); ++step) {
    const int64_t ts = ev->StepTime(step);
    for (auto& b : buckets) b.clear();
    for (size_t s = 0; s < in.size(); ++s) {
      double v;
      if (group_of[s] < 0 || !cur.At(s, ts, &v)) continue;
      buckets[group_of[s]].push_back(Bucket{upper[s], v});
    }
    for (size_t g = 0; g < out.size(); ++g) {
      if (buckets[g].empty()) continue;
      double v;
      if (is_fraction) {
        v = BucketFraction(p1[step], p2[step], buckets[g]);
      } else {
        bool forced;
        v = BucketQuantile(p1[step], buckets[g], &forced);
        if (forced && !forced_any) {
          forced_any = true;
          forced_name = std::string(out[g].metric.MetricName());
        }
      }
      out[g].points.push_back(Point{ts, v});
    }
  }
  if (forced_any) {
    q->annos.Info(absl::StrCat(
        "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see "
        "https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) "
        "for metric name \"",
        forced_name, "\" (", q->Pos(vec_arg), ")"));
  }
  std::erase_if(out, [](const EvalSeries& s) { return s.points.empty(); });
  EvalResult r;
  r.type = ValueType::kVector;
  r.matrix = std::move(out);
  MERIDIAN_RETURN_IF_ERROR(q->AddSamples(CountPoints(r.matrix) - CountPoints(in)));
  return r;
}

}  // namespace meridian::promql::eval
