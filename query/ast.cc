#include "query/ast.h"

namespace meridian::promql {

std::string_view ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kNone: return "none";
    case ValueType::kScalar: return "scalar";
    case ValueType::kVector: return "instant vector";
    case ValueType::kMatrix: return "range vector";
    case ValueType::kString: return "string";
  }
  return "none";
}
std::string_view ValueTypeApiName(ValueType t) {
  switch (t) {
    case ValueType::kNone: return "none";
    case ValueType::kScalar: return "scalar";
    case ValueType::kVector: return "vector";
    case ValueType::kMatrix: return "matrix";
    case ValueType::kString: return "string";
  }
  return "none";
}
std::string_view AggOpName(AggOp op) { return "?"; }
std::string_view BinOpName(BinOp op) { return "?"; }
bool IsComparison(BinOp op) { return false; }
bool IsSetOperator(BinOp op) { return false; }
std::string Format(const Expr& e) { return ""; }

}  // namespace meridian::promql
