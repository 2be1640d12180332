// Aggregation operators, following Prometheus's rangeEvalAgg, aggregation
// and aggregationCountValues; the k-ops (aggregationK) are in aggregate_k.cc.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/strings/str_cat.h"
#include "model/gofloat.h"
#include "query/aggregate_internal.h"
#include "query/eval.h"

namespace meridian::promql::eval {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when it is invalid.
size_t Utf8Len(std::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n;
  if (c < 0x80) return 1;
  if ((c >> 5) == 6) {
    n = 2;
  } else if ((c >> 4) == 14) {
    n = 3;
  } else if ((c >> 3) == 30) {
    n = 4;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return 0;
  }
  return n;
}

bool ValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8Len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// Go's %q for a string that may hold invalid UTF-8.
std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8Len(s, i);
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (n == 0) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out.append(buf);
      ++i;
      continue;
    }
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  out.push_back('"');
  return out;
}

bool IsKOp(AggOp op) {
  return op == AggOp::kTopk || op == AggOp::kBottomk || op == AggOp::kLimitK ||
         op == AggOp::kLimitRatio;
}

}  // namespace

// quantile as in Prometheus's quantile(): sorts `values`.
double QuantileOf(double q, std::vector<double>* values) {
  if (values->empty() || std::isnan(q)) return NAN;
  if (q < 0) return -INFINITY;
  if (q > 1) return INFINITY;
  std::sort(values->begin(), values->end(), [](double a, double b) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
    return a < b;
  });
  const double n = static_cast<double>(values->size());
  const double rank = q * (n - 1);
  const double lower = std::max(0.0, std::floor(rank));
  const double upper = std::min(n - 1, lower + 1);
  const double weight = rank - std::floor(rank);
  return (*values)[static_cast<size_t>(lower)] * (1 - weight) +
         (*values)[static_cast<size_t>(upper)] * weight;
}

Labels GroupLabels(const Labels& m, const AggregateExpr& a) {
  LabelsBuilder b(m);
  if (a.without) {
    for (const auto& n : a.grouping) b.Del(n);
    b.Del(kMetricName);
  } else {
    b.Keep(a.grouping);
  }
  return b.Build();
}

uint64_t GroupKey(const Labels& m, const AggregateExpr& a,
                  const std::vector<std::string>& without_names) {
  if (a.without) return m.HashFor(without_names, false);
  return m.HashFor(a.grouping, true);
}

Grouping MakeGrouping(const EvalMatrix& in, const AggregateExpr& a, bool with_labels) {
  Grouping g;
  std::vector<std::string> without_names = a.grouping;
  without_names.push_back(std::string(kMetricName));
  absl::flat_hash_map<uint64_t, int> idx;
  g.group_of.resize(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    uint64_t k = GroupKey(in[i].metric, a, without_names);
    auto [it, inserted] = idx.try_emplace(k, g.n_groups);
    if (inserted) {
      ++g.n_groups;
      if (with_labels) g.group_labels.push_back(GroupLabels(in[i].metric, a));
      g.group_drop.push_back(false);
    }
    g.group_of[i] = it->second;
    if (in[i].drop_name) g.group_drop[it->second] = true;
  }
  return g;
}

namespace {

// Running state of one (group, step) of sum/avg/count/min/max/group/stddev/
// stdvar/quantile, updated exactly as Prometheus's aggregation().
struct Acc {
  double value = 0, mean = 0, c = 0, count = 0;
  bool seen = false, incremental = false;
};

inline void AccFirst(AggOp op, Acc* x, double f) {
  *x = Acc{};
  x->seen = true;
  x->value = f;
  x->mean = f;
  x->count = 1;
  if (op == AggOp::kStddev || op == AggOp::kStdvar) {
    x->value = (std::isnan(f) || std::isinf(f)) ? NAN : 0;
  } else if (op == AggOp::kGroup) {
    x->value = 1;
  }
}

inline void AccAdd(AggOp op, Acc* x, double f) {
  switch (op) {
    case AggOp::kSum:
      KahanInc(f, &x->value, &x->c);
      break;
    case AggOp::kAvg: {
      x->count++;
      if (!x->incremental) {
        double nv = x->value, nc = x->c;
        KahanInc(f, &nv, &nc);
        if (!std::isinf(nv)) {
          x->value = nv;
          x->c = nc;
          break;
        }
        x->incremental = true;
        x->mean = x->value / (x->count - 1);
        x->c /= (x->count - 1);
      }
      if (std::isinf(x->mean)) {
        if (std::isinf(f) && (x->mean > 0) == (f > 0)) break;
        if (!std::isinf(f) && !std::isnan(f)) break;
      }
      const double current = x->mean + x->c;
      KahanInc(f / x->count - current / x->count, &x->mean, &x->c);
      break;
    }
    case AggOp::kMax:
      if (x->value < f || std::isnan(x->value)) x->value = f;
      break;
    case AggOp::kMin:
      if (x->value > f || std::isnan(x->value)) x->value = f;
      break;
    case AggOp::kCount:
      x->count++;
      break;
    case AggOp::kStddev:
    case AggOp::kStdvar: {
      x->count++;
      const double delta = f - x->mean;
      x->mean += delta / x->count;
      x->value += delta * (f - x->mean);
      break;
    }
    default:
      break;
  }
}

inline double AccFinal(AggOp op, const Acc& x) {
  switch (op) {
    case AggOp::kAvg:
      return x.incremental ? x.mean + x.c : (x.value + x.c) / x.count;
    case AggOp::kCount:
      return x.count;
    case AggOp::kStdvar:
      return x.value / x.count;
    case AggOp::kStddev:
      return std::sqrt(x.value / x.count);
    case AggOp::kSum:
      return x.value + x.c;
    default:
      return x.value;
  }
}

// Series-major aggregation for the ops whose per-step state is an Acc
// (everything but quantile and the k-ops): input series are added one at a
// time, in input order, so each (group, step) sees its values in the same
// order as Prometheus's step-major loop.
class SeriesAggregator {
 public:
  SeriesAggregator(const AggregateExpr& a, Evaluator* ev, QueryContext* q)
      : a_(a), ev_(ev), q_(q), steps_(ev->num_steps()) {
    without_names_ = a.grouping;
    without_names_.push_back(std::string(kMetricName));
  }

  absl::Status Add(const Labels& ls, bool drop, std::span<const Point> pts) {
    const uint64_t key = GroupKey(ls, a_, without_names_);
    auto [it, inserted] = index_.try_emplace(key, static_cast<int>(labels_.size()));
    const int g = it->second;
    if (inserted) {
      labels_.push_back(GroupLabels(ls, a_));
      drop_.push_back(drop);
      acc_.resize(acc_.size() + steps_);
      MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(steps_));
    } else if (drop) {
      drop_[g] = true;
    }
    Acc* row = acc_.data() + static_cast<size_t>(g) * steps_;
    const AggOp op = a_.op;
    // Points are on the step grid, in time order: a point one step after
    // the previous one needs no division.
    const int64_t interval = ev_->interval();
    int64_t prev_t = 0;
    int idx = -1;
    for (const Point& p : pts) {
      idx = idx >= 0 && p.t_ms - prev_t == interval ? idx + 1 : ev_->StepIndex(p.t_ms);
      prev_t = p.t_ms;
      Acc* x = row + idx;
      if (!x->seen) {
        AccFirst(op, x, p.v);
      } else {
        AccAdd(op, x, p.v);
      }
    }
    return q_->AddSamples(-static_cast<int64_t>(pts.size()));
  }

  absl::StatusOr<EvalResult> Finish() {
    EvalResult r;
    r.type = ValueType::kVector;
    r.matrix.reserve(labels_.size());
    for (size_t g = 0; g < labels_.size(); ++g) {
      const Acc* row = acc_.data() + g * steps_;
      EvalSeries s;
      for (int i = 0; i < steps_; ++i) {
        if (!row[i].seen) continue;
        if (s.points.empty()) s.points.reserve(steps_ - i);
        s.points.push_back(Point{ev_->StepTime(i), AccFinal(a_.op, row[i])});
      }
      if (s.points.empty()) continue;
      s.metric = std::move(labels_[g]);
      s.drop_name = drop_[g];
      r.matrix.push_back(std::move(s));
    }
    MERIDIAN_RETURN_IF_ERROR(
        q_->AddSamples(CountPoints(r.matrix) - static_cast<int64_t>(acc_.size())));
    return r;
  }

 private:
  const AggregateExpr& a_;
  Evaluator* ev_;
  QueryContext* q_;
  const int steps_;
  std::vector<std::string> without_names_;
  absl::flat_hash_map<uint64_t, int> index_;
  std::vector<Labels> labels_;
  std::vector<bool> drop_;
  std::vector<Acc> acc_;  // group-major: acc_[g * steps_ + step]
};

}  // namespace

absl::StatusOr<EvalResult> Evaluator::EvalAggregate(const AggregateExpr& a) {
  if (auto pushed = TryPushdown(a)) return *std::move(pushed);
  if (a.op == AggOp::kCountValues) {
    const Expr& p = Unwrap(*a.param);
    if (p.kind != ExprKind::kString) {
      return absl::InvalidArgumentError("count_values requires a string parameter");
    }
    const std::string& label = static_cast<const StringLiteral&>(p).value;
    if (label.empty() || !ValidUtf8(label)) {
      return absl::FailedPreconditionError(absl::StrCat("invalid label name ", GoQuote(label)));
    }
    MERIDIAN_ASSIGN_OR_RETURN(EvalResult in, Eval(*a.expr));
    return AggregateCountValues(a, std::move(in.matrix), label);
  }
  std::vector<double> params;
  if (a.param != nullptr) {
    MERIDIAN_ASSIGN_OR_RETURN(params, EvalScalarSteps(this, *a.param));
  }
  if ((IsKOp(a.op) || a.op == AggOp::kQuantile) &&
      params.size() < static_cast<size_t>(num_steps_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter required for aggregation ", std::string(AggOpName(a.op))));
  }
  if (!IsKOp(a.op) && a.op != AggOp::kQuantile) {
    SeriesAggregator agg(a, this, q_);
    auto sink = [&](const Labels& ls, bool drop, std::vector<Point>* pts) {
      return agg.Add(ls, drop, *pts);
    };
    const Expr& inner = Unwrap(*a.expr);
    const int mi =
        inner.kind == ExprKind::kCall ? RangeArgIndex(static_cast<const Call&>(inner)) : -1;
    if (mi >= 0 && static_cast<const Call&>(inner).func->name != "absent_over_time") {
      MERIDIAN_RETURN_IF_ERROR(StreamRangeFunction(static_cast<const Call&>(inner), mi, sink));
    } else if (inner.kind == ExprKind::kVectorSelector) {
      MERIDIAN_RETURN_IF_ERROR(
          StreamVectorSelector(static_cast<const VectorSelector&>(inner), false, sink));
    } else {
      MERIDIAN_ASSIGN_OR_RETURN(EvalResult in, Eval(*a.expr));
      for (const auto& s : in.matrix) {
        MERIDIAN_RETURN_IF_ERROR(agg.Add(s.metric, s.drop_name, s.points));
      }
    }
    return agg.Finish();
  }
  MERIDIAN_ASSIGN_OR_RETURN(EvalResult in, Eval(*a.expr));
  if (IsKOp(a.op)) return AggregateK(a, std::move(in.matrix), params);
  if (a.op == AggOp::kQuantile) {
    for (double q : params) {
      if (std::isnan(q) || q < 0 || q > 1) {
        q_->annos.Warn(
            absl::StrCat("PromQL warning: quantile value should be between 0 and 1, got ",
                         model::FormatGoFloat(q, 'g'), " (", q_->Pos(*a.param), ")"));
      }
    }
  }
  return AggregateSimple(a, std::move(in.matrix), params);
}

absl::StatusOr<EvalResult> Evaluator::AggregateSimple(const AggregateExpr& a, EvalMatrix in,
                                                      const std::vector<double>& params) {
  Grouping g = MakeGrouping(in, a, true);
  std::vector<Acc> acc(g.n_groups);
  std::vector<std::vector<double>> qvals(a.op == AggOp::kQuantile ? g.n_groups : 0);
  EvalMatrix out(g.n_groups);
  for (int i = 0; i < g.n_groups; ++i) {
    out[i].metric = std::move(g.group_labels[i]);
    out[i].drop_name = g.group_drop[i];
  }
  StepCursor cur(&in);
  const AggOp op = a.op;
  for (int step = 0; step < num_steps_; ++step) {
    if ((step & 15) == 15) MERIDIAN_RETURN_IF_ERROR(q_->CheckInterrupt());
    const int64_t ts = StepTime(step);
    for (auto& x : acc) x.seen = false;
    for (size_t s = 0; s < in.size(); ++s) {
      double f;
      if (!cur.At(s, ts, &f)) continue;
      const int gi = g.group_of[s];
      Acc& x = acc[gi];
      if (!x.seen) {
        x = Acc{};
        x.seen = true;
        x.value = f;
        x.mean = f;
        x.count = 1;
        switch (op) {
          case AggOp::kStddev:
          case AggOp::kStdvar:
            x.value = (std::isnan(f) || std::isinf(f)) ? NAN : 0;
            break;
          case AggOp::kQuantile:
            qvals[gi].clear();
            qvals[gi].push_back(f);
            break;
          case AggOp::kGroup:
            x.value = 1;
            break;
          default:
            break;
        }
        continue;
      }
      switch (op) {
        case AggOp::kSum:
          KahanInc(f, &x.value, &x.c);
          break;
        case AggOp::kAvg: {
          x.count++;
          if (!x.incremental) {
            double nv = x.value, nc = x.c;
            KahanInc(f, &nv, &nc);
            if (!std::isinf(nv)) {
              x.value = nv;
              x.c = nc;
              break;
            }
            x.incremental = true;
            x.mean = x.value / (x.count - 1);
            x.c /= (x.count - 1);
          }
          if (std::isinf(x.mean)) {
            if (std::isinf(f) && (x.mean > 0) == (f > 0)) break;
            if (!std::isinf(f) && !std::isnan(f)) break;
          }
          const double current = x.mean + x.c;
          KahanInc(f / x.count - current / x.count, &x.mean, &x.c);
          break;
        }
        case AggOp::kGroup:
          break;
        case AggOp::kMax:
          if (x.value < f || std::isnan(x.value)) x.value = f;
          break;
        case AggOp::kMin:
          if (x.value > f || std::isnan(x.value)) x.value = f;
          break;
        case AggOp::kCount:
          x.count++;
          break;
        case AggOp::kStddev:
        case AggOp::kStdvar: {
          x.count++;
          const double delta = f - x.mean;
          x.mean += delta / x.count;
          x.value += delta * (f - x.mean);
          break;
        }
        case AggOp::kQuantile:
          qvals[gi].push_back(f);
          break;
        default:
          break;
      }
    }
    for (int gi = 0; gi < g.n_groups; ++gi) {
      Acc& x = acc[gi];
      if (!x.seen) continue;
      double v = x.value;
      switch (op) {
        case AggOp::kAvg:
          v = x.incremental ? x.mean + x.c : (x.value + x.c) / x.count;
          break;
        case AggOp::kCount:
          v = x.count;
          break;
        case AggOp::kStdvar:
          v = x.value / x.count;
          break;
        case AggOp::kStddev:
          v = std::sqrt(x.value / x.count);
          break;
        case AggOp::kQuantile:
          v = QuantileOf(params[step], &qvals[gi]);
          break;
        case AggOp::kSum:
          v = x.value + x.c;
          break;
        default:
          break;
      }
      out[gi].points.push_back(Point{ts, v});
    }
  }
  const int64_t in_points = CountPoints(in);
  std::erase_if(out, [](const EvalSeries& s) { return s.points.empty(); });
  EvalResult r;
  r.type = ValueType::kVector;
  r.matrix = std::move(out);
  MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(CountPoints(r.matrix) - in_points));
  return r;
}

absl::StatusOr<EvalResult> Evaluator::AggregateCountValues(const AggregateExpr& a, EvalMatrix in,
                                                           const std::string& label) {
  AggregateExpr grouping_expr;  // only grouping/without are used
  grouping_expr.without = a.without;
  grouping_expr.grouping = a.grouping;
  if (!a.without) grouping_expr.grouping.push_back(label);
  std::vector<std::string> without_names = grouping_expr.grouping;
  without_names.push_back(std::string(kMetricName));
  SeriesAccumulator acc;
  StepCursor cur(&in);
  struct Group {
    int series;
    double count;
  };
  absl::flat_hash_map<uint64_t, Group> groups;
  std::vector<uint64_t> order;
  for (int step = 0; step < num_steps_; ++step) {
    if ((step & 15) == 15) MERIDIAN_RETURN_IF_ERROR(q_->CheckInterrupt());
    const int64_t ts = StepTime(step);
    groups.clear();
    order.clear();
    for (size_t s = 0; s < in.size(); ++s) {
      double f;
      if (!cur.At(s, ts, &f)) continue;
      Labels m = LabelsBuilder(in[s].metric).Set(label, model::FormatGoFloat(f, 'f')).Build();
      uint64_t key = GroupKey(m, grouping_expr, without_names);
      auto it = groups.find(key);
      if (it == groups.end()) {
        Labels gl = GroupLabels(m, grouping_expr);
        int idx = acc.SeriesFor(gl.Hash(), false, [&] { return gl; });
        groups.emplace(key, Group{idx, 1});
        order.push_back(key);
      } else {
        it->second.count++;
      }
    }
    for (uint64_t key : order) {
      const Group& gr = groups[key];
      MERIDIAN_RETURN_IF_ERROR(acc.Add(gr.series, ts, gr.count));
    }
  }
  EvalResult r;
  r.type = ValueType::kVector;
  r.matrix = acc.Take();
  MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(CountPoints(r.matrix) - CountPoints(in)));
  return r;
}

}  // namespace meridian::promql::eval
