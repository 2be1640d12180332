// Parser: PromQL text -> AST (query/ast.h), with Prometheus 3 grammar and
// error messages ("1:5: parse error: unexpected ..." style, with positions).
//
//   auto expr = promql::ParseExpr("sum by (job) (rate(x[5m]))");
//   if (!expr.ok()) -> InvalidArgument with a Prometheus-like message.
//
// Hostile input stays cheap: the query length and nesting depth are bounded
// (ParseOptions) and parsing is linear in the input.
// Thread-safe (no shared state).
#ifndef MERIDIAN_QUERY_PARSER_H_
#define MERIDIAN_QUERY_PARSER_H_

#include <string_view>
#include <vector>

#include "model/matcher.h"
#include "model/status.h"
#include "query/ast.h"

namespace meridian::promql {

struct ParseOptions {
  size_t max_query_bytes = 256 * 1024;
  int max_depth = 1000;
  bool enable_experimental_functions = true;
};

absl::StatusOr<ExprPtr> ParseExpr(std::string_view query, const ParseOptions& opts = {});

// Parses a series selector such as `up{job="x"}` or `{__name__=~"a.*"}` (the
// match[] parameter of the HTTP API) into matchers.
absl::StatusOr<std::vector<Matcher>> ParseMetricSelector(std::string_view selector);

// Parses a Prometheus duration such as "5m", "1h30m", "100ms" into milliseconds.
absl::StatusOr<int64_t> ParseDuration(std::string_view s);

}  // namespace meridian::promql

#endif  // MERIDIAN_QUERY_PARSER_H_
