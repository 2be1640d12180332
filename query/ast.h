// The PromQL abstract syntax tree, produced by the parser (query/parser.h) and
// evaluated by the engine (query/engine.h). Nodes own their children.
// Times and durations are in milliseconds.
#ifndef MERIDIAN_QUERY_AST_H_
#define MERIDIAN_QUERY_AST_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/matcher.h"

namespace meridian::promql {

enum class ValueType { kNone, kScalar, kVector, kMatrix, kString };
// "scalar", "instant vector", "range vector", "string" as in Prometheus errors.
std::string_view ValueTypeName(ValueType t);
// "scalar", "vector", "matrix", "string" as in the HTTP API's resultType.
std::string_view ValueTypeApiName(ValueType t);

// Byte offsets [start, end) into the query text, for error messages.
struct PosRange {
  int start = 0;
  int end = 0;
};

enum class ExprKind {
  kNumber,
  kString,
  kVectorSelector,
  kMatrixSelector,
  kSubquery,
  kCall,
  kAggregate,
  kBinary,
  kUnary,
  kParen,
  kStepInvariant,  // wraps a subtree whose value is the same at every step
};

struct Expr {
  explicit Expr(ExprKind k) : kind(k) {}
  virtual ~Expr() = default;
  ExprKind kind;
  PosRange pos;
  // The static type of the expression's value.
  virtual ValueType type() const = 0;
};
using ExprPtr = std::unique_ptr<Expr>;

struct NumberLiteral : Expr {
  NumberLiteral() : Expr(ExprKind::kNumber) {}
  double value = 0;
  ValueType type() const override { return ValueType::kScalar; }
};

struct StringLiteral : Expr {
  StringLiteral() : Expr(ExprKind::kString) {}
  std::string value;
  ValueType type() const override { return ValueType::kString; }
};

// The `@` modifier.
enum class AtKind { kNone, kTimestamp, kStart, kEnd };

struct VectorSelector : Expr {
  VectorSelector() : Expr(ExprKind::kVectorSelector) {}
  std::string name;               // metric name if given outside braces, else ""
  std::vector<Matcher> matchers;  // includes __name__="name" when name given
  int64_t offset_ms = 0;          // may be negative
  AtKind at = AtKind::kNone;
  int64_t at_ms = 0;  // for kTimestamp
  ValueType type() const override { return ValueType::kVector; }
};

struct MatrixSelector : Expr {
  MatrixSelector() : Expr(ExprKind::kMatrixSelector) {}
  std::unique_ptr<VectorSelector> selector;  // offset/@ live on the selector
  int64_t range_ms = 0;
  ValueType type() const override { return ValueType::kMatrix; }
};

struct SubqueryExpr : Expr {
  SubqueryExpr() : Expr(ExprKind::kSubquery) {}
  ExprPtr expr;
  int64_t range_ms = 0;
  int64_t step_ms = 0;  // 0: the engine's default evaluation interval
  int64_t offset_ms = 0;
  AtKind at = AtKind::kNone;
  int64_t at_ms = 0;
  ValueType type() const override { return ValueType::kMatrix; }
};

// Signature of a PromQL function (see query/functions.h for the table).
struct FunctionInfo {
  std::string name;
  std::vector<ValueType> arg_types;
  // Number of trailing optional arguments (of the last type in arg_types)
  // allowed beyond arg_types.size() - 1; -1 means unlimited (label_join).
  int variadic = 0;
  ValueType return_type = ValueType::kVector;
  bool experimental = false;
};

struct Call : Expr {
  Call() : Expr(ExprKind::kCall) {}
  const FunctionInfo* func = nullptr;  // points into the static function table
  std::vector<ExprPtr> args;
  ValueType type() const override { return func->return_type; }
};

enum class AggOp {
  kSum,
  kAvg,
  kCount,
  kMin,
  kMax,
  kGroup,
  kStddev,
  kStdvar,
  kTopk,
  kBottomk,
  kQuantile,
  kCountValues,
  kLimitK,
  kLimitRatio,
};
std::string_view AggOpName(AggOp op);  // "sum", ...

struct AggregateExpr : Expr {
  AggregateExpr() : Expr(ExprKind::kAggregate) {}
  AggOp op = AggOp::kSum;
  ExprPtr expr;
  ExprPtr param;  // topk/bottomk/quantile/count_values/limitk/limit_ratio
  std::vector<std::string> grouping;
  bool without = false;
  bool by = false;  // `by` given explicitly (even if empty), for printing
  ValueType type() const override { return ValueType::kVector; }
};

enum class BinOp {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kAtan2,
  kEql,
  kNeq,
  kGtr,
  kLss,
  kGte,
  kLte,
  kAnd,
  kOr,
  kUnless,
};
std::string_view BinOpName(BinOp op);  // "+", "==", "and", "atan2", ...
bool IsComparison(BinOp op);
bool IsSetOperator(BinOp op);

enum class Cardinality { kOneToOne, kManyToOne, kOneToMany, kManyToMany };

struct VectorMatching {
  Cardinality card = Cardinality::kOneToOne;
  bool on = false;  // on(...) given; else ignoring(...) or nothing
  std::vector<std::string> matching_labels;
  std::vector<std::string> include;  // group_left/group_right(...) labels
};

struct BinaryExpr : Expr {
  BinaryExpr() : Expr(ExprKind::kBinary) {}
  BinOp op = BinOp::kAdd;
  ExprPtr lhs;
  ExprPtr rhs;
  // Set when both sides are vectors (or the op is a set operator).
  std::optional<VectorMatching> matching;
  bool return_bool = false;
  ValueType type() const override {
    return lhs->type() == ValueType::kScalar && rhs->type() == ValueType::kScalar
               ? ValueType::kScalar
               : ValueType::kVector;
  }
};

struct UnaryExpr : Expr {
  UnaryExpr() : Expr(ExprKind::kUnary) {}
  bool negate = true;  // '-'; a unary '+' is folded away by the parser
  ExprPtr expr;
  ValueType type() const override { return expr->type(); }
};

struct ParenExpr : Expr {
  ParenExpr() : Expr(ExprKind::kParen) {}
  ExprPtr expr;
  ValueType type() const override { return expr->type(); }
};

struct StepInvariantExpr : Expr {
  StepInvariantExpr() : Expr(ExprKind::kStepInvariant) {}
  ExprPtr expr;
  ValueType type() const override { return expr->type(); }
};

// Prints `e` in Prometheus's canonical form (what /api/v1/format_query returns).
// This is the one-line form of printer.go; /api/v1/format_query returns
// Pretty(e), which is the same string for expressions of up to 100 characters.
std::string Format(const Expr& e);

// Prints `e` as Prometheus's prettifier does (prettier.go, Pretty(0)): like
// Format, but expressions longer than 100 characters are split over lines
// indented by two spaces per level. This is what /api/v1/format_query returns.
std::string Pretty(const Expr& e);

}  // namespace meridian::promql

#endif  // MERIDIAN_QUERY_AST_H_
