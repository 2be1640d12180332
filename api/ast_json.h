// The JSON form of a PromQL syntax tree that Prometheus's /api/v1/parse_query
// returns (web/api/v1/translate_ast.go; Go marshals maps with sorted keys).
#ifndef MERIDIAN_API_AST_JSON_H_
#define MERIDIAN_API_AST_JSON_H_

#include "api/json.h"
#include "query/ast.h"

namespace meridian::api {

// Writes `e` as the next value of `w`.
void WriteAstJson(const promql::Expr& e, JsonWriter* w);

}  // namespace meridian::api

#endif  // MERIDIAN_API_AST_JSON_H_
