#include "tests/promql/expr_walk.h"

#include <functional>

#include "absl/container/flat_hash_set.h"
#include "query/ast.h"
#include "query/parser.h"

namespace meridian::promqltest {
namespace {

using promql::Expr;
using promql::ExprKind;

// Calls `fn` on every direct child of `e`.
void ForEachChild(Expr& e, const std::function<void(Expr&)>& fn) {
  switch (e.kind) {
    case ExprKind::kMatrixSelector: {
      auto& m = static_cast<promql::MatrixSelector&>(e);
      if (m.selector) fn(*m.selector);
      break;
    }
    case ExprKind::kSubquery: {
      auto& s = static_cast<promql::SubqueryExpr&>(e);
      if (s.expr) fn(*s.expr);
      break;
    }
    case ExprKind::kCall:
      for (auto& a : static_cast<promql::Call&>(e).args) {
        if (a) fn(*a);
      }
      break;
    case ExprKind::kAggregate: {
      auto& a = static_cast<promql::AggregateExpr&>(e);
      if (a.param) fn(*a.param);
      if (a.expr) fn(*a.expr);
      break;
    }
    case ExprKind::kBinary: {
      auto& b = static_cast<promql::BinaryExpr&>(e);
      if (b.lhs) fn(*b.lhs);
      if (b.rhs) fn(*b.rhs);
      break;
    }
    case ExprKind::kUnary: {
      auto& u = static_cast<promql::UnaryExpr&>(e);
      if (u.expr) fn(*u.expr);
      break;
    }
    case ExprKind::kParen: {
      auto& p = static_cast<promql::ParenExpr&>(e);
      if (p.expr) fn(*p.expr);
      break;
    }
    case ExprKind::kStepInvariant: {
      auto& p = static_cast<promql::StepInvariantExpr&>(e);
      if (p.expr) fn(*p.expr);
      break;
    }
    case ExprKind::kNumber:
    case ExprKind::kString:
    case ExprKind::kVectorSelector:
      break;
  }
}

bool IsAtUnsafe(std::string_view name) {
  // Prometheus promql.AtModifierUnsafeFunctions.
  static const auto* kUnsafe = new absl::flat_hash_set<std::string_view>{
      "days_in_month", "day_of_month", "day_of_week", "day_of_year", "hour", "minute", "month",
      "year", "predict_linear", "time", "timestamp",
      // The experimental query-range functions vary with the evaluation time too.
      "start", "end"};
  return kUnsafe->contains(name);
}

// Mirrors test.go: selectors and subqueries not below a subquery that has an
// `@` get `@ ts` unless they have an `@ <number>` already; `@ start()` and
// `@ end()` become `@ ts` too (test.go sets the Timestamp field, which wins
// over StartOrEnd when the query is printed). Calls below such a subquery are
// not inspected.
void SetAt(Expr& e, bool below_at_subquery, int64_t ts, bool* unsafe) {
  if (!below_at_subquery) {
    switch (e.kind) {
      case ExprKind::kVectorSelector: {
        auto& v = static_cast<promql::VectorSelector&>(e);
        if (v.at != promql::AtKind::kTimestamp) v.at = promql::AtKind::kTimestamp, v.at_ms = ts;
        break;
      }
      case ExprKind::kSubquery: {
        auto& s = static_cast<promql::SubqueryExpr&>(e);
        if (s.at != promql::AtKind::kTimestamp) s.at = promql::AtKind::kTimestamp, s.at_ms = ts;
        break;
      }
      case ExprKind::kCall: {
        const auto& c = static_cast<promql::Call&>(e);
        if (c.func != nullptr && IsAtUnsafe(c.func->name)) *unsafe = true;
        break;
      }
      default:
        break;
    }
  }
  bool below =
      below_at_subquery || (e.kind == ExprKind::kSubquery &&
                            static_cast<promql::SubqueryExpr&>(e).at != promql::AtKind::kNone);
  ForEachChild(e, [&](Expr& child) { SetAt(child, below, ts, unsafe); });
}

void CollectMatchers(Expr& e, std::vector<std::vector<Matcher>>* out) {
  if (e.kind == ExprKind::kVectorSelector)
    out->push_back(static_cast<promql::VectorSelector&>(e).matchers);
  ForEachChild(e, [&](Expr& child) { CollectMatchers(child, out); });
}

}  // namespace

absl::StatusOr<std::vector<AtVariant>> AtModifierVariants(std::string_view expr, int64_t eval_ms) {
  MERIDIAN_ASSIGN_OR_RETURN(promql::ExprPtr root, promql::ParseExpr(expr));
  bool unsafe = false;
  SetAt(*root, false, eval_ms, &unsafe);
  if (unsafe) return std::vector<AtVariant>{};
  std::string rewritten = promql::Format(*root);
  std::vector<int64_t> times = {-10 * eval_ms, 0, eval_ms / 5, eval_ms, 10 * eval_ms};
  if (eval_ms == 0) times = {-1000, 0, 1000};
  std::vector<AtVariant> out;
  for (int64_t t : times) out.push_back({rewritten, t});
  return out;
}

absl::StatusOr<std::vector<std::vector<Matcher>>> SelectorMatchers(std::string_view expr) {
  MERIDIAN_ASSIGN_OR_RETURN(promql::ExprPtr root, promql::ParseExpr(expr));
  std::vector<std::vector<Matcher>> out;
  CollectMatchers(*root, &out);
  return out;
}

}  // namespace meridian::promqltest
