// The JSON form of a PromQL syntax tree that Prometheus's /api/v1/parse_query
// returns (web/api/v1/translate_ast.go; Go marshals maps with sorted keys).
#ifndef MERIDIAN_SERVER_AST_JSON_H_
#define MERIDIAN_SERVER_AST_JSON_H_

#include "query/ast.h"
#include "server/json.h"

namespace meridian::server {

// Writes `e` as the next value of `w`.
void WriteAstJson(const promql::Expr& e, JsonWriter* w);

}  // namespace meridian::server

#endif  // MERIDIAN_SERVER_AST_JSON_H_
