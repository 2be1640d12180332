// Aggregation pushdown (model/queryable.h PushdownQuery): an aggregation
// sum/min/max/count/group/avg by|without over a per-series expression
// (selectors, per-series functions such as rate, arithmetic with numbers) is
// offered to the querier; a global meridian's querier has each regional
// meridian evaluate it and returns their partial aggregates, merged here:
// sums are summed (Kahan, as the engine sums), counts summed, min/max as the
// engine compares (NaN loses), group is 1, avg is the merged sum divided by
// the merged count (two pushed queries). The remotes' series never leave
// them. Anything else, or a querier that declines, is evaluated as always.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "query/eval.h"
#include "query/parser.h"

namespace meridian::promql::eval {
namespace {

// Functions whose output series depends on one input series alone, and whose
// labels are the input's (minus the name): their result over a remote's data
// is the same wherever they are evaluated.
const std::set<std::string>& PerSeriesFunctions() {
  static const std::set<std::string> kFns = {"rate",
                                             "irate",
                                             "increase",
                                             "delta",
                                             "idelta",
                                             "deriv",
                                             "resets",
                                             "changes",
                                             "avg_over_time",
                                             "min_over_time",
                                             "max_over_time",
                                             "sum_over_time",
                                             "count_over_time",
                                             "last_over_time",
                                             "present_over_time",
                                             "stddev_over_time",
                                             "stdvar_over_time",
                                             "quantile_over_time",
                                             "abs",
                                             "ceil",
                                             "floor",
                                             "round",
                                             "exp",
                                             "ln",
                                             "log2",
                                             "log10",
                                             "sqrt",
                                             "sgn",
                                             "clamp",
                                             "clamp_min",
                                             "clamp_max",
                                             "predict_linear",
                                             "timestamp"};
  return kFns;
}

bool IsNumber(const Expr& e) { return Unwrap(e).kind == ExprKind::kNumber; }

// True when `e` is a per-series expression; collects its selectors.
bool PerSeries(const Expr& e, std::vector<const VectorSelector*>* sels) {
  switch (e.kind) {
    case ExprKind::kVectorSelector: {
      const auto& vs = static_cast<const VectorSelector&>(e);
      if (vs.at == AtKind::kStart || vs.at == AtKind::kEnd) return false;
      sels->push_back(&vs);
      return true;
    }
    case ExprKind::kMatrixSelector:
      return PerSeries(*static_cast<const MatrixSelector&>(e).selector, sels);
    case ExprKind::kParen:
      return PerSeries(*static_cast<const ParenExpr&>(e).expr, sels);
    case ExprKind::kStepInvariant:
      return PerSeries(*static_cast<const StepInvariantExpr&>(e).expr, sels);
    case ExprKind::kUnary:
      return PerSeries(*static_cast<const UnaryExpr&>(e).expr, sels);
    case ExprKind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      if (IsSetOperator(b.op)) return false;
      if (IsNumber(*b.lhs)) return PerSeries(*b.rhs, sels);
      if (IsNumber(*b.rhs)) return PerSeries(*b.lhs, sels);
      return false;
    }
    case ExprKind::kCall: {
      const auto& c = static_cast<const Call&>(e);
      if (PerSeriesFunctions().count(c.func->name) == 0) return false;
      bool vector_arg = false;
      for (const auto& arg : c.args) {
        if (IsNumber(*arg)) continue;
        if (!PerSeries(*arg, sels)) return false;
        vector_arg = true;
      }
      return vector_arg;
    }
    default:
      return false;
  }
}

void CollectSelectors(Expr* e, std::vector<VectorSelector*>* out) {
  switch (e->kind) {
    case ExprKind::kVectorSelector:
      out->push_back(static_cast<VectorSelector*>(e));
      return;
    case ExprKind::kMatrixSelector:
      out->push_back(static_cast<MatrixSelector*>(e)->selector.get());
      return;
    case ExprKind::kParen:
      return CollectSelectors(static_cast<ParenExpr*>(e)->expr.get(), out);
    case ExprKind::kStepInvariant:
      return CollectSelectors(static_cast<StepInvariantExpr*>(e)->expr.get(), out);
    case ExprKind::kUnary:
      return CollectSelectors(static_cast<UnaryExpr*>(e)->expr.get(), out);
    case ExprKind::kBinary:
      CollectSelectors(static_cast<BinaryExpr*>(e)->lhs.get(), out);
      return CollectSelectors(static_cast<BinaryExpr*>(e)->rhs.get(), out);
    case ExprKind::kCall:
      for (auto& a : static_cast<Call*>(e)->args) CollectSelectors(a.get(), out);
      return;
    case ExprKind::kAggregate:
      return CollectSelectors(static_cast<AggregateExpr*>(e)->expr.get(), out);
    default:
      return;
  }
}

std::string RegexQuote(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (std::strchr("\\.+*?()|[]{}^$", ch) != nullptr) out += '\\';
    out += ch;
  }
  return out;
}

// The aggregation `text` for a remote whose series get `external` attached
// where they lack them. A matcher on an external label holds for a series
// when the series has the label and it matches, or lacks it (the external
// value, which matches: else the remote is not asked): "value or empty".
std::optional<std::string> TextFor(const std::string& text, const Labels& external) {
  if (external.empty()) return text;
  auto parsed = ParseExpr(text);
  if (!parsed.ok()) return std::nullopt;
  std::vector<VectorSelector*> sels;
  CollectSelectors(parsed->get(), &sels);
  for (VectorSelector* vs : sels) {
    std::vector<Matcher> out;
    bool selective = false;
    for (const Matcher& m : vs->matchers) {
      if (!external.Has(m.name()) || m.MatchesEmpty()) {
        // Matches empty: it holds for a series lacking the label as for the
        // external value only if that matches too, which it does.
        if (!external.Has(m.name()) || m.Matches(std::string(external.Get(m.name())))) {
          selective |= !m.MatchesEmpty();
          out.push_back(m);
          continue;
        }
        return std::nullopt;
      }
      std::string re;
      switch (m.type()) {
        case MatchType::kEqual:
          re = "(?:" + RegexQuote(m.value()) + ")|";
          break;
        case MatchType::kRegexMatch:
          re = "(?:" + m.value() + ")|";
          break;
        default:
          return std::nullopt;  // a negative matcher that fails on "": not expressible
      }
      auto rm = Matcher::Make(MatchType::kRegexMatch, m.name(), re);
      if (!rm.ok()) return std::nullopt;
      out.push_back(*std::move(rm));
    }
    if (!selective) return std::nullopt;
    vs->matchers = std::move(out);
  }
  return Format(**parsed);
}

struct Merged {
  double value = 0, c = 0;
  bool set = false;
};

}  // namespace

std::optional<absl::StatusOr<EvalResult>> Evaluator::TryPushdown(const AggregateExpr& a) {
  const AggOp op = a.op;
  if (op != AggOp::kSum && op != AggOp::kMin && op != AggOp::kMax && op != AggOp::kCount &&
      op != AggOp::kGroup && op != AggOp::kAvg) {
    return std::nullopt;
  }
  if (a.param != nullptr || q_->queryable == nullptr || !q_->queryable->MayPushdown()) {
    return std::nullopt;
  }
  if (!a.without &&
      std::find(a.grouping.begin(), a.grouping.end(), "__name__") != a.grouping.end()) {
    return std::nullopt;
  }
  std::vector<const VectorSelector*> sels;
  if (!PerSeries(Unwrap(*a.expr), &sels) || sels.empty()) return std::nullopt;
  const bool instant = start_ == end_;
  if (!instant && num_steps_ > 11'000) return std::nullopt;  // a remote's range limit

  PushdownQuery pq;
  int64_t reach = 0;
  for (const VectorSelector* vs : sels) {
    pq.selectors.push_back(vs->matchers);
    reach = std::max(reach, std::max<int64_t>(vs->offset_ms, 0));
  }
  pq.start_ms = start_;
  pq.end_ms = end_;
  pq.step_ms = instant ? 0 : interval_;
  pq.lookback_ms = q_->lookback_ms;
  pq.max_source_resolution_ms = q_->max_source_resolution_ms;
  ReadContext rctx;
  rctx.deadline = q_->deadline;
  rctx.cancelled = q_->cancelled;
  auto querier = q_->queryable->NewQuerier(start_ - q_->lookback_ms - reach, end_, rctx);
  if (!querier.ok()) return absl::StatusOr<EvalResult>(querier.status());

  // avg: the sum and the count, merged separately (asked at the same time).
  std::vector<AggOp> ops = {op};
  if (op == AggOp::kAvg) ops = {AggOp::kSum, AggOp::kCount};
  pq.queries = ops.size();
  // Written out only for a querier that pushes it (per remote).
  pq.text = [&a, &ops](const Labels& external, size_t k) -> std::optional<std::string> {
    auto copy = ParseExpr(Format(a));
    if (!copy.ok()) return std::nullopt;
    Expr* top = copy->get();
    while (top->kind == ExprKind::kParen) top = static_cast<ParenExpr*>(top)->expr.get();
    if (top->kind != ExprKind::kAggregate) return std::nullopt;
    static_cast<AggregateExpr*>(top)->op = ops[k];
    return TextFor(Format(*top), external);
  };
  auto parts = (*querier)->Pushdown(pq);
  if (!parts.has_value()) return std::nullopt;
  if (!parts->ok()) return absl::StatusOr<EvalResult>(parts->status());
  std::vector<std::vector<PushdownPart>> answers(ops.size());
  for (PushdownPart& part : **parts) {
    if (part.query < ops.size()) answers[part.query].push_back(std::move(part));
  }

  // Merge the partial aggregates per group (labels with the remote's
  // external labels attached as the grouping keeps them) and step.
  const size_t steps = static_cast<size_t>(num_steps_);
  std::vector<std::map<Labels, std::vector<Merged>>> merged(answers.size());
  for (size_t k = 0; k < answers.size(); ++k) {
    const AggOp mop = ops[k];
    for (const PushdownPart& part : answers[k]) {
      for (const auto& [ls, points] : part.series) {
        LabelsBuilder b(ls);
        for (const Label& l : part.external) {
          const bool kept =
              a.without
                  ? std::find(a.grouping.begin(), a.grouping.end(), l.name) == a.grouping.end()
                  : std::find(a.grouping.begin(), a.grouping.end(), l.name) != a.grouping.end();
          if (kept && !ls.Has(l.name)) b.Set(l.name, l.value);
        }
        auto& acc = merged[k][b.Build()];
        acc.resize(steps);
        for (const Sample& p : points) {
          if (p.t_ms < start_ || p.t_ms > end_) continue;
          if (!instant && (p.t_ms - start_) % interval_ != 0) continue;
          Merged& m = acc[instant ? 0 : StepIndex(p.t_ms)];
          const double f = p.v;
          if (!m.set) {
            m.set = true;
            m.value = mop == AggOp::kGroup ? 1 : f;
            continue;
          }
          switch (mop) {
            case AggOp::kSum:
              KahanInc(f, &m.value, &m.c);
              break;
            case AggOp::kCount:
              m.value += f;
              break;
            case AggOp::kMax:
              if (m.value < f || std::isnan(m.value)) m.value = f;
              break;
            case AggOp::kMin:
              if (m.value > f || std::isnan(m.value)) m.value = f;
              break;
            default:
              break;
          }
        }
      }
    }
  }
  EvalResult r;
  r.type = ValueType::kVector;
  for (auto& [ls, acc] : merged[0]) {
    EvalSeries s{ls, {}, false};
    const std::vector<Merged>* counts = nullptr;
    if (op == AggOp::kAvg) {
      auto it = merged[1].find(ls);
      if (it == merged[1].end()) continue;
      counts = &it->second;
    }
    for (size_t i = 0; i < steps; ++i) {
      if (!acc[i].set) continue;
      double v = acc[i].value + acc[i].c;
      if (counts != nullptr) {
        if (!(*counts)[i].set || (*counts)[i].value == 0) continue;
        // The engine's avg turns to an incremental mean when the sum
        // overflows: let it evaluate such a query itself.
        if (std::isinf(v)) return std::nullopt;
        v /= (*counts)[i].value;
      }
      s.points.push_back(Point{instant ? end_ : StepTime(static_cast<int>(i)), v});
    }
    if (!s.points.empty()) r.matrix.push_back(std::move(s));
  }
  for (std::string& w : (*querier)->Warnings()) q_->annos.Warn(std::move(w));
  for (std::string& i : (*querier)->Infos()) q_->annos.Info(std::move(i));
  absl::Status st = q_->AddSamples(CountPoints(r.matrix));
  if (!st.ok()) return absl::StatusOr<EvalResult>(st);
  return absl::StatusOr<EvalResult>(std::move(r));
}

}  // namespace meridian::promql::eval
