// The k-operators topk, bottomk, limitk and limit_ratio, following
// Prometheus's aggregationK.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "model/gofloat.h"
#include "query/aggregate_internal.h"
#include "query/eval.h"

namespace meridian::promql::eval {
namespace {

// Go's sort.Interface Less for vectorByValueHeap / vectorByReverseValueHeap.
bool LessAsc(double a, double b) { return std::isnan(a) || a < b; }
bool LessDesc(double a, double b) { return std::isnan(a) || a > b; }

// Go's container/heap on a slice of (value, index), with a Less function.
struct Heap {
  std::vector<std::pair<double, int>> items;
  bool (*less)(double, double) = LessAsc;
  bool Less(size_t i, size_t j) const { return less(items[i].first, items[j].first); }
  void Up(size_t j) {
    while (j > 0) {
      size_t i = (j - 1) / 2;
      if (i == j || !Less(j, i)) break;
      std::swap(items[i], items[j]);
      j = i;
    }
  }
  bool Down(size_t i0, size_t n) {
    size_t i = i0;
    while (true) {
      size_t j1 = 2 * i + 1;
      if (j1 >= n) break;
      size_t j = j1;
      if (size_t j2 = j1 + 1; j2 < n && Less(j2, j1)) j = j2;
      if (!Less(j, i)) break;
      std::swap(items[i], items[j]);
      i = j;
    }
    return i > i0;
  }
  void Push(std::pair<double, int> x) {
    items.push_back(x);
    Up(items.size() - 1);
  }
  void Fix(size_t i) {
    if (!Down(i, items.size())) Up(i);
  }
};

}  // namespace

absl::StatusOr<EvalResult> Evaluator::AggregateK(const AggregateExpr& a, EvalMatrix in,
                                                 const std::vector<double>& params) {
  Grouping g = MakeGrouping(in, a, false);
  EvalResult r;
  r.type = ValueType::kVector;
  const AggOp op = a.op;
  // Validate and annotate parameters for all steps first.
  for (int step = 0; step < num_steps_; ++step) {
    const double p = step < static_cast<int>(params.size()) ? params[step] : NAN;
    if (op == AggOp::kLimitRatio) {
      if (std::isnan(p)) return absl::FailedPreconditionError("Ratio value is NaN");
      if (p < -1.0 || p > 1.0) {
        q_->annos.Warn(absl::StrCat("PromQL warning: ratio value should be between -1 and 1, got ",
                                    model::FormatGoFloat(p, 'g'), ", capping to ",
                                    p < 0 ? "-1" : "1", " (", q_->Pos(*a.param), ")"));
      }
    } else {
      if (std::isnan(p)) return absl::FailedPreconditionError("Parameter value is NaN");
      if (p >= 9.223372036854775807e18 || p < -9.223372036854775808e18) {
        return absl::FailedPreconditionError(
            absl::StrCat("Scalar value ", model::FormatGoFloat(p, 'g'), " overflows int64"));
      }
    }
  }
  // Output: one series per input series that is ever selected.
  std::vector<int> out_index(in.size(), -1);
  EvalMatrix out;
  std::vector<Heap> heaps(g.n_groups);
  std::vector<bool> seen(g.n_groups);
  std::vector<int> group_order;
  StepCursor cur(&in);
  std::vector<double> vals(in.size());
  std::vector<bool> present(in.size());
  for (int step = 0; step < num_steps_; ++step) {
    if ((step & 15) == 15) MERIDIAN_RETURN_IF_ERROR(q_->CheckInterrupt());
    const int64_t ts = StepTime(step);
    const double p = params[step];
    int64_t k = 0;
    double ratio = 0;
    if (op == AggOp::kLimitRatio) {
      if (p == 0) continue;
      ratio = std::clamp(p, -1.0, 1.0);
    } else {
      k = static_cast<int64_t>(p);
      if (k > static_cast<int64_t>(in.size())) k = static_cast<int64_t>(in.size());
      if (k < 1) continue;
    }
    for (int gi = 0; gi < g.n_groups; ++gi) {
      seen[gi] = false;
      heaps[gi].items.clear();
      heaps[gi].less = op == AggOp::kBottomk ? LessDesc : LessAsc;
    }
    group_order.clear();
    for (size_t s = 0; s < in.size(); ++s) {
      double f;
      if (!cur.At(s, ts, &f)) continue;
      const int gi = g.group_of[s];
      Heap& h = heaps[gi];
      if (!seen[gi]) {
        seen[gi] = true;
        group_order.push_back(gi);
      }
      switch (op) {
        case AggOp::kTopk:
          if (static_cast<int64_t>(h.items.size()) < k) {
            h.Push({f, static_cast<int>(s)});
          } else if (h.items[0].first < f || (std::isnan(h.items[0].first) && !std::isnan(f))) {
            h.items[0] = {f, static_cast<int>(s)};
            if (k > 1) h.Fix(0);
          }
          break;
        case AggOp::kBottomk:
          if (static_cast<int64_t>(h.items.size()) < k) {
            h.Push({f, static_cast<int>(s)});
          } else if (h.items[0].first > f || (std::isnan(h.items[0].first) && !std::isnan(f))) {
            h.items[0] = {f, static_cast<int>(s)};
            if (k > 1) h.Fix(0);
          }
          break;
        case AggOp::kLimitK:
          if (static_cast<int64_t>(h.items.size()) < k) h.items.push_back({f, static_cast<int>(s)});
          break;
        case AggOp::kLimitRatio: {
          const double offset = static_cast<double>(in[s].metric.Hash()) /
                                static_cast<double>(std::numeric_limits<uint64_t>::max());
          if ((ratio >= 0 && offset < ratio) || (ratio < 0 && offset >= 1.0 + ratio)) {
            h.items.push_back({f, static_cast<int>(s)});
          }
          break;
        }
        default:
          break;
      }
    }
    for (int gi : group_order) {
      auto& items = heaps[gi].items;
      if (op == AggOp::kTopk) {
        std::stable_sort(items.begin(), items.end(), [](const auto& x, const auto& y) {
          return LessAsc(y.first, x.first) && !LessAsc(x.first, y.first);
        });
      } else if (op == AggOp::kBottomk) {
        std::stable_sort(items.begin(), items.end(), [](const auto& x, const auto& y) {
          return LessDesc(y.first, x.first) && !LessDesc(x.first, y.first);
        });
      }
      for (const auto& [v, s] : items) {
        if (out_index[s] < 0) {
          out_index[s] = static_cast<int>(out.size());
          out.push_back(EvalSeries{in[s].metric, {}, in[s].drop_name});
        }
        out[out_index[s]].points.push_back(Point{ts, v});
      }
    }
  }
  const int64_t in_points = CountPoints(in);
  r.matrix = std::move(out);
  MERIDIAN_RETURN_IF_ERROR(q_->AddSamples(CountPoints(r.matrix) - in_points));
  return r;
}

}  // namespace meridian::promql::eval
