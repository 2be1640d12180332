#include "query/ast.h"

#include <algorithm>
#include <unordered_map>

#include "absl/strings/str_join.h"
#include "model/gofloat.h"
#include "model/labels.h"
#include "query/lexer.h"

namespace meridian::promql {

std::string_view ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kNone:
      return "none";
    case ValueType::kScalar:
      return "scalar";
    case ValueType::kVector:
      return "instant vector";
    case ValueType::kMatrix:
      return "range vector";
    case ValueType::kString:
      return "string";
  }
  return "none";
}

std::string_view ValueTypeApiName(ValueType t) {
  switch (t) {
    case ValueType::kNone:
      return "none";
    case ValueType::kScalar:
      return "scalar";
    case ValueType::kVector:
      return "vector";
    case ValueType::kMatrix:
      return "matrix";
    case ValueType::kString:
      return "string";
  }
  return "none";
}

std::string_view AggOpName(AggOp op) {
  switch (op) {
    case AggOp::kSum:
      return "sum";
    case AggOp::kAvg:
      return "avg";
    case AggOp::kCount:
      return "count";
    case AggOp::kMin:
      return "min";
    case AggOp::kMax:
      return "max";
    case AggOp::kGroup:
      return "group";
    case AggOp::kStddev:
      return "stddev";
    case AggOp::kStdvar:
      return "stdvar";
    case AggOp::kTopk:
      return "topk";
    case AggOp::kBottomk:
      return "bottomk";
    case AggOp::kQuantile:
      return "quantile";
    case AggOp::kCountValues:
      return "count_values";
    case AggOp::kLimitK:
      return "limitk";
    case AggOp::kLimitRatio:
      return "limit_ratio";
  }
  return "?";
}

std::string_view BinOpName(BinOp op) {
  switch (op) {
    case BinOp::kAdd:
      return "+";
    case BinOp::kSub:
      return "-";
    case BinOp::kMul:
      return "*";
    case BinOp::kDiv:
      return "/";
    case BinOp::kMod:
      return "%";
    case BinOp::kPow:
      return "^";
    case BinOp::kAtan2:
      return "atan2";
    case BinOp::kEql:
      return "==";
    case BinOp::kNeq:
      return "!=";
    case BinOp::kGtr:
      return ">";
    case BinOp::kLss:
      return "<";
    case BinOp::kGte:
      return ">=";
    case BinOp::kLte:
      return "<=";
    case BinOp::kAnd:
      return "and";
    case BinOp::kOr:
      return "or";
    case BinOp::kUnless:
      return "unless";
  }
  return "?";
}

bool IsComparison(BinOp op) {
  switch (op) {
    case BinOp::kEql:
    case BinOp::kNeq:
    case BinOp::kGtr:
    case BinOp::kLss:
    case BinOp::kGte:
    case BinOp::kLte:
      return true;
    default:
      return false;
  }
}

bool IsSetOperator(BinOp op) {
  return op == BinOp::kAnd || op == BinOp::kOr || op == BinOp::kUnless;
}

namespace {

// The printer follows Prometheus's promql/parser/printer.go (String methods).

bool IsLegacyMetricName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// labels.Matcher.shouldQuoteName.
bool ShouldQuoteLabelName(std::string_view s) {
  if (s.empty()) return true;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return true;
  }
  return false;
}

std::string MatcherString(const Matcher& m) {
  std::string out = ShouldQuoteLabelName(m.name()) ? GoQuote(m.name()) : m.name();
  out.append(MatchTypeString(m.type()));
  out.append(GoQuote(m.value()));
  return out;
}

// joinLabels: grouping labels, quoted when not valid legacy names.
std::string JoinGrouping(const std::vector<std::string>& labels) {
  std::string out;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out.append(", ");
    out.append(IsLegacyMetricName(labels[i]) ? labels[i] : GoQuote(labels[i]));
  }
  return out;
}

std::string OffsetString(int64_t offset_ms) {
  if (offset_ms > 0) return " offset " + FormatPromDuration(offset_ms);
  if (offset_ms < 0) return " offset -" + FormatPromDuration(-offset_ms);
  return "";
}

std::string AtString(AtKind at, int64_t at_ms) {
  switch (at) {
    case AtKind::kNone:
      return "";
    case AtKind::kStart:
      return " @ start()";
    case AtKind::kEnd:
      return " @ end()";
    case AtKind::kTimestamp: {
      // printer.go: " @ %.3f" / strconv.AppendFloat(…, 'f', 3, 64).
      return " @ " + model::FormatGoFloat(static_cast<double>(at_ms) / 1000.0, 'f', 3);
    }
  }
  return "";
}

// The selector without its @ and offset (a matrix selector prints them after the range).
std::string SelectorBase(const VectorSelector& vs) {
  std::vector<std::string> parts;
  for (const Matcher& m : vs.matchers) {
    if (m.name() == kMetricName && m.type() == MatchType::kEqual && m.value() == vs.name &&
        !m.value().empty()) {
      continue;
    }
    parts.push_back(MatcherString(m));
  }
  if (parts.empty()) return vs.name;
  std::sort(parts.begin(), parts.end());
  return vs.name + "{" + absl::StrJoin(parts, ",") + "}";
}

// The [begin, end) of each node's one-line form within the root's: every
// node's String() is a substring of its parent's, so one printing pass gives
// the form of every node (used by Pretty).
using Spans = std::unordered_map<const Expr*, std::pair<size_t, size_t>>;

void Print(const Expr& e, std::string* out, Spans* spans = nullptr);

void PrintNode(const Expr& e, std::string* out, Spans* spans);

void Print(const Expr& e, std::string* out, Spans* spans) {
  if (spans == nullptr) return PrintNode(e, out, nullptr);
  const size_t begin = out->size();
  PrintNode(e, out, spans);
  (*spans)[&e] = {begin, out->size()};
}

void PrintNode(const Expr& e, std::string* out, Spans* spans) {
  switch (e.kind) {
    case ExprKind::kNumber:
      // printer.go (Prometheus 3): strconv.FormatFloat(node.Val, 'f', -1, 64).
      model::AppendGoFloat(out, static_cast<const NumberLiteral&>(e).value, 'f');
      return;
    case ExprKind::kString:
      out->append(GoQuote(static_cast<const StringLiteral&>(e).value));
      return;
    case ExprKind::kVectorSelector: {
      const auto& vs = static_cast<const VectorSelector&>(e);
      out->append(SelectorBase(vs));
      out->append(AtString(vs.at, vs.at_ms));
      out->append(OffsetString(vs.offset_ms));
      return;
    }
    case ExprKind::kMatrixSelector: {
      const auto& m = static_cast<const MatrixSelector&>(e);
      out->append(SelectorBase(*m.selector));
      out->append("[");
      out->append(FormatPromDuration(m.range_ms));
      out->append("]");
      out->append(AtString(m.selector->at, m.selector->at_ms));
      out->append(OffsetString(m.selector->offset_ms));
      return;
    }
    case ExprKind::kSubquery: {
      const auto& s = static_cast<const SubqueryExpr&>(e);
      Print(*s.expr, out, spans);
      out->append("[");  // separate appends: `"[" + std::string` trips GCC 12's -Wrestrict at -O3
      out->append(FormatPromDuration(s.range_ms));
      out->append(":");
      if (s.step_ms != 0) out->append(FormatPromDuration(s.step_ms));
      out->append("]");
      out->append(AtString(s.at, s.at_ms));
      out->append(OffsetString(s.offset_ms));
      return;
    }
    case ExprKind::kCall: {
      const auto& c = static_cast<const Call&>(e);
      out->append(c.func->name);
      out->push_back('(');
      for (size_t i = 0; i < c.args.size(); ++i) {
        if (i > 0) out->append(", ");
        Print(*c.args[i], out, spans);
      }
      out->push_back(')');
      return;
    }
    case ExprKind::kAggregate: {
      const auto& a = static_cast<const AggregateExpr&>(e);
      out->append(AggOpName(a.op));
      if (a.without) {
        out->append(" without (" + JoinGrouping(a.grouping) + ") ");
      } else if (!a.grouping.empty()) {
        out->append(" by (" + JoinGrouping(a.grouping) + ") ");
      }
      out->push_back('(');
      if (a.param != nullptr) {
        Print(*a.param, out, spans);
        out->append(", ");
      }
      Print(*a.expr, out, spans);
      out->push_back(')');
      return;
    }
    case ExprKind::kBinary: {
      // Left-deep chains (a + b + c + ...) are printed without recursion.
      std::vector<const BinaryExpr*> spine;
      for (const Expr* x = &e; x->kind == ExprKind::kBinary;
           x = static_cast<const BinaryExpr*>(x)->lhs.get()) {
        spine.push_back(static_cast<const BinaryExpr*>(x));
      }
      const size_t begin = out->size();
      Print(*spine.back()->lhs, out, spans);
      for (auto it = spine.rbegin(); it != spine.rend(); ++it) {
        const BinaryExpr& b = **it;
        out->push_back(' ');
        out->append(BinOpName(b.op));
        if (b.return_bool) out->append(" bool");
        if (b.matching && (!b.matching->matching_labels.empty() || b.matching->on)) {
          const VectorMatching& vm = *b.matching;
          out->append(vm.on ? " on (" : " ignoring (");
          out->append(absl::StrJoin(vm.matching_labels, ", "));
          out->push_back(')');
          if (vm.card == Cardinality::kManyToOne || vm.card == Cardinality::kOneToMany) {
            out->append(vm.card == Cardinality::kManyToOne ? " group_left (" : " group_right (");
            out->append(absl::StrJoin(vm.include, ", "));
            out->push_back(')');
          }
        }
        out->push_back(' ');
        Print(*b.rhs, out, spans);
        if (spans != nullptr) (*spans)[&b] = {begin, out->size()};
      }
      return;
    }
    case ExprKind::kUnary: {
      const auto& u = static_cast<const UnaryExpr&>(e);
      out->append(u.negate ? "-" : "+");
      Print(*u.expr, out, spans);
      return;
    }
    case ExprKind::kParen:
      out->push_back('(');
      Print(*static_cast<const ParenExpr&>(e).expr, out, spans);
      out->push_back(')');
      return;
    case ExprKind::kStepInvariant:
      Print(*static_cast<const StepInvariantExpr&>(e).expr, out, spans);
      return;
  }
}

// prettier.go.
class Prettifier {
 public:
  Prettifier(const Expr& root, size_t max_line) : max_line_(max_line) {
    Print(root, &flat_, &spans_);
  }

  std::string Pretty(const Expr& e, int level) {
    switch (e.kind) {
      case ExprKind::kAggregate: {
        if (!NeedsSplit(e)) return Indent(level) + Flat(e);
        const auto& a = static_cast<const AggregateExpr&>(e);
        std::string s = Indent(level);
        s.append(AggOpName(a.op));
        if (a.without) {
          s += " without (" + JoinGrouping(a.grouping) + ") ";
        } else if (!a.grouping.empty()) {
          s += " by (" + JoinGrouping(a.grouping) + ") ";
        }
        s += "(\n";
        if (a.param != nullptr) s += Pretty(*a.param, level + 1) + ",\n";
        s += Pretty(*a.expr, level + 1) + "\n" + Indent(level) + ")";
        return s;
      }
      case ExprKind::kBinary: {
        if (!NeedsSplit(e)) return Indent(level) + Flat(e);
        const auto& b = static_cast<const BinaryExpr&>(e);
        std::string s = Pretty(*b.lhs, level + 1) + "\n" + Indent(level);
        s.append(BinOpName(b.op));
        if (b.return_bool) s += " bool";
        s += MatchingString(b);
        s += "\n";
        s += Pretty(*b.rhs, level + 1);
        return s;
      }
      case ExprKind::kCall: {
        if (!NeedsSplit(e)) return Indent(level) + Flat(e);
        const auto& c = static_cast<const Call&>(e);
        std::string s = Indent(level) + c.func->name + "(\n";
        for (size_t i = 0; i < c.args.size(); ++i) {
          if (i > 0) s += ",\n";
          s += Pretty(*c.args[i], level + 1);
        }
        s += "\n";
        s += Indent(level);
        s += ")";
        return s;
      }
      case ExprKind::kParen: {
        if (!NeedsSplit(e)) return Indent(level) + Flat(e);
        return Indent(level) + "(\n" + Pretty(*static_cast<const ParenExpr&>(e).expr, level + 1) +
               "\n" + Indent(level) + ")";
      }
      case ExprKind::kStepInvariant:
        return Pretty(*static_cast<const StepInvariantExpr&>(e).expr, level);
      case ExprKind::kSubquery: {
        // As in Prometheus, an unsplit subquery is not indented.
        if (!NeedsSplit(e)) return Flat(e);
        const auto& sq = static_cast<const SubqueryExpr&>(e);
        const std::string inner = Flat(*sq.expr);
        return Pretty(*sq.expr, level) + Flat(e).substr(inner.size());
      }
      case ExprKind::kUnary: {
        const auto& u = static_cast<const UnaryExpr&>(e);
        std::string child = Pretty(*u.expr, level);
        size_t b = child.find_first_not_of(" \t\n\r\v\f");
        size_t end = child.find_last_not_of(" \t\n\r\v\f");
        child = b == std::string::npos ? "" : child.substr(b, end - b + 1);
        return Indent(level) + (u.negate ? "-" : "+") + child;
      }
      default:
        return Indent(level) + Flat(e);
    }
  }

 private:
  static std::string Indent(int level) { return std::string(2 * static_cast<size_t>(level), ' '); }
  std::string Flat(const Expr& e) const {
    auto it = spans_.find(&e);
    return flat_.substr(it->second.first, it->second.second - it->second.first);
  }
  bool NeedsSplit(const Expr& e) const {
    auto it = spans_.find(&e);
    return it->second.second - it->second.first > max_line_;
  }
  static std::string MatchingString(const BinaryExpr& b) {
    std::string out;
    if (b.matching && (!b.matching->matching_labels.empty() || b.matching->on)) {
      const VectorMatching& vm = *b.matching;
      out += vm.on ? " on (" : " ignoring (";
      out += absl::StrJoin(vm.matching_labels, ", ") + ")";
      if (vm.card == Cardinality::kManyToOne || vm.card == Cardinality::kOneToMany) {
        out += vm.card == Cardinality::kManyToOne ? " group_left (" : " group_right (";
        out += absl::StrJoin(vm.include, ", ") + ")";
      }
    }
    return out;
  }

  const size_t max_line_;
  std::string flat_;
  Spans spans_;
};

}  // namespace

std::string PrettyWithLineLimit(const Expr& e, size_t max_line) {
  return Prettifier(e, max_line).Pretty(e, 0);
}

std::string Pretty(const Expr& e) { return PrettyWithLineLimit(e, 100); }

std::string Format(const Expr& e) {
  std::string out;
  Print(e, &out);
  return out;
}

}  // namespace meridian::promql
