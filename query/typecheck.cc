// The PromQL parser's type checker: a port of Prometheus's checkAST
// (promql/parser/parse.go). It runs over the whole tree once parsing
// succeeded, reports the first error with Prometheus's message and position,
// and normalises as Prometheus does (set operators become many-to-many,
// vector matching is dropped where an operand is a scalar, a unary '+' is
// folded away).
#include <string>
#include <vector>

#include "model/labels.h"
#include "query/functions.h"
#include "query/parser_internal.h"

namespace meridian::promql::parser_internal {
namespace {

// Prometheus's DocumentedType.
std::string_view DocumentedType(ValueType t) {
  switch (t) {
    case ValueType::kVector:
      return "instant vector";
    case ValueType::kMatrix:
      return "range vector";
    default:
      return ValueTypeApiName(t);
  }
}

}  // namespace

void Parser::ExpectType(ExprPtr& node, ValueType want, std::string_view context) {
  ValueType t = Check(node);
  if (t != want) {
    Fail(node->pos.start,
         Cat("expected type ", DocumentedType(want), " in ", context, ", got ", DocumentedType(t)));
  }
}

void Parser::CheckBinary(BinaryExpr& n, ValueType lt, ValueType rt) {
  // Prometheus's opRange(): the first non-space byte after the left operand.
  int op_pos = n.lhs->pos.end;
  while (op_pos < static_cast<int>(in_.size()) && (in_[op_pos] == ' ' || in_[op_pos] == '\t' ||
                                                   in_[op_pos] == '\n' || in_[op_pos] == '\r')) {
    ++op_pos;
  }
  const std::string op_name = GoQuote(BinOpName(n.op));
  if (n.return_bool && !IsComparison(n.op)) {
    Fail(op_pos, "bool modifier can only be used on comparison operators");
  }
  if (IsComparison(n.op) && !n.return_bool && lt == ValueType::kScalar &&
      rt == ValueType::kScalar) {
    Fail(op_pos, "comparisons between scalars must use BOOL modifier");
  }
  VectorMatching& vm = *n.matching;
  if (IsSetOperator(n.op) && vm.card == Cardinality::kOneToOne) vm.card = Cardinality::kManyToMany;
  if (vm.on) {
    for (const auto& l1 : vm.matching_labels) {
      for (const auto& l2 : vm.include) {
        if (l1 == l2)
          Fail(op_pos,
               Cat("label ", GoQuote(l1), " must not occur in ON and GROUP clause at once"));
      }
    }
  }
  if (lt != ValueType::kScalar && lt != ValueType::kVector) {
    Fail(n.lhs->pos.start, "binary expression must contain only scalar and instant vector types");
  }
  if (rt != ValueType::kScalar && rt != ValueType::kVector) {
    Fail(n.rhs->pos.start, "binary expression must contain only scalar and instant vector types");
  }
  if (lt != ValueType::kVector || rt != ValueType::kVector) {
    if (!vm.matching_labels.empty())
      Fail(n.pos.start, "vector matching only allowed between instant vectors");
    n.matching.reset();
  } else if (IsSetOperator(n.op)) {
    if (vm.card == Cardinality::kOneToMany || vm.card == Cardinality::kManyToOne) {
      Fail(n.pos.start, Cat("no grouping allowed for ", op_name, " operation"));
    }
    if (vm.card != Cardinality::kManyToMany)
      Fail(n.pos.start, "set operations must always be many-to-many");
  }
  if ((lt == ValueType::kScalar || rt == ValueType::kScalar) && IsSetOperator(n.op)) {
    Fail(n.pos.start, Cat("set operator ", op_name, " not allowed in binary scalar expression"));
  }
}

// The argument count and types of a function call (and info()'s second
// argument, which must be a selector of labels only).
void Parser::CheckCall(Call& n) {
  const FunctionInfo& f = *n.func;
  const auto nargs = static_cast<int>(f.arg_types.size());
  const auto given = static_cast<int>(n.args.size());
  const std::string fname = GoQuote(f.name);
  if (f.variadic == 0) {
    if (nargs != given) {
      Fail(n.pos.start,
           Cat("expected ", nargs, " argument(s) in call to ", fname, ", got ", given));
    }
  } else {
    const int na = nargs - 1;
    if (na > given) {
      Fail(n.pos.start,
           Cat("expected at least ", na, " argument(s) in call to ", fname, ", got ", given));
    } else if (f.variadic > 0 && na + f.variadic < given) {
      Fail(n.pos.start, Cat("expected at most ", na + f.variadic, " argument(s) in call to ", fname,
                            ", got ", given));
    }
  }
  bool bypass_arg1 = false;
  if (f.name == "info" && given > 1) {
    Expr& a1 = *n.args[1];
    if (a1.type() != ValueType::kVector) {
      Fail(n.pos.start, Cat("expected type instant vector in call to function ", fname, ", got ",
                            DocumentedType(a1.type())));
    }
    if (a1.kind == ExprKind::kVectorSelector && !static_cast<VectorSelector&>(a1).name.empty()) {
      Fail(a1.pos.start, "expected label selectors only, got vector selector instead");
    } else if (a1.kind == ExprKind::kVectorSelector) {
      bypass_arg1 = true;
    } else {
      Fail(a1.pos.start, "expected label selectors only");
    }
  }
  for (int i = 0; i < given; ++i) {
    int ti = i;
    if (i >= nargs) {
      if (f.variadic == 0) break;
      ti = nargs - 1;
    }
    const ValueType t = Check(n.args[i], bypass_arg1 && i == 1);
    if (t != f.arg_types[ti]) {
      Fail(n.args[i]->pos.start, Cat("expected type ", DocumentedType(f.arg_types[ti]),
                                     " in call to function ", fname, ", got ", DocumentedType(t)));
    }
  }
}

// A selector names its metric once and has a matcher that does not match
// the empty string (unless `bypass_empty_matcher_check`: info()'s labels).
void Parser::CheckVectorSelector(VectorSelector& n, bool bypass_empty_matcher_check) {
  if (!n.name.empty()) {
    // The last matcher is the one for the name given outside the braces.
    for (size_t i = 0; i + 1 < n.matchers.size(); ++i) {
      if (n.matchers[i].name() == kMetricName) {
        Fail(n.pos.start, Cat("metric name must not be set twice: ", GoQuote(n.name), " or ",
                              GoQuote(n.matchers[i].value())));
      }
    }
    return;
  }
  if (!bypass_empty_matcher_check) {
    bool not_empty = false;
    for (const Matcher& m : n.matchers) not_empty = not_empty || !m.MatchesEmpty();
    if (!not_empty)
      Fail(n.pos.start, "vector selector must contain at least one non-empty matcher");
  }
}

ValueType Parser::Check(ExprPtr& node, bool bypass_empty_matcher_check) {
  if (node->kind == ExprKind::kBinary) {
    // Left-deep operator chains (a + b + c + ...) are checked iteratively,
    // innermost first, which is the order of Prometheus's recursion. Types
    // are computed bottom-up here: BinaryExpr::type() recurses.
    std::vector<BinaryExpr*> spine;
    for (Expr* e = node.get(); e->kind == ExprKind::kBinary;
         e = static_cast<BinaryExpr*>(e)->lhs.get()) {
      spine.push_back(static_cast<BinaryExpr*>(e));
    }
    ValueType lt = Check(spine.back()->lhs);
    for (auto it = spine.rbegin(); it != spine.rend(); ++it) {
      BinaryExpr& n = **it;
      const ValueType rt = Check(n.rhs);
      CheckBinary(n, lt, rt);
      lt = lt == ValueType::kScalar && rt == ValueType::kScalar ? ValueType::kScalar
                                                                : ValueType::kVector;
    }
    return lt;
  }
  const ValueType typ = node->type();
  switch (node->kind) {
    case ExprKind::kAggregate: {
      auto& n = static_cast<AggregateExpr&>(*node);
      ExpectType(n.expr, ValueType::kVector, "aggregation expression");
      if (n.op == AggOp::kTopk || n.op == AggOp::kBottomk || n.op == AggOp::kQuantile ||
          n.op == AggOp::kLimitK || n.op == AggOp::kLimitRatio) {
        ExpectType(n.param, ValueType::kScalar, "aggregation parameter");
      }
      if (n.op == AggOp::kCountValues)
        ExpectType(n.param, ValueType::kString, "aggregation parameter");
      break;
    }
    case ExprKind::kBinary:
      break;  // handled above
    case ExprKind::kCall:
      CheckCall(static_cast<Call&>(*node));
      break;
    case ExprKind::kParen:
      Check(static_cast<ParenExpr&>(*node).expr);
      break;
    case ExprKind::kStepInvariant:
      Check(static_cast<StepInvariantExpr&>(*node).expr);
      break;
    case ExprKind::kUnary: {
      auto& n = static_cast<UnaryExpr&>(*node);
      const ValueType t = Check(n.expr);
      if (t != ValueType::kScalar && t != ValueType::kVector) {
        Fail(n.pos.start,
             Cat("unary expression only allowed on expressions of type scalar or instant "
                 "vector, got ",
                 GoQuote(DocumentedType(t))));
      }
      if (!n.negate) {  // fold a unary '+' away
        ExprPtr inner = std::move(n.expr);
        inner->pos.start = n.pos.start;
        node = std::move(inner);
      }
      break;
    }
    case ExprKind::kSubquery: {
      auto& n = static_cast<SubqueryExpr&>(*node);
      const ValueType t = Check(n.expr);
      if (t != ValueType::kVector) {
        Fail(n.pos.start, Cat("subquery is only allowed on instant vector, got ",
                              ValueTypeApiName(t), " instead"));
      }
      break;
    }
    case ExprKind::kMatrixSelector: {
      auto& n = static_cast<MatrixSelector&>(*node);
      ExprPtr vs = std::move(n.selector);
      Check(vs);
      n.selector.reset(static_cast<VectorSelector*>(vs.release()));
      break;
    }
    case ExprKind::kVectorSelector:
      CheckVectorSelector(static_cast<VectorSelector&>(*node), bypass_empty_matcher_check);
      break;
    case ExprKind::kNumber:
    case ExprKind::kString:
      break;
  }
  return typ;
}

}  // namespace meridian::promql::parser_internal
