// Expression rewrites the conformance runner needs, done on meridian's own
// PromQL AST (query/ast.h):
//  - the `@` modifier variants Prometheus's test runner evaluates for every
//    instant eval (promqltest/test.go atModifierTestCases): each selector and
//    subquery outside subqueries gets `@ <eval time>` (replacing `@ start()`
//    and `@ end()`), and the query is then
//    evaluated at other times, where it must give the same result;
//  - the label matchers of every selector, to tell whether an eval reads
//    series the runner could not load (native histograms).
// Thread-safe: free functions with no shared state.
#ifndef MERIDIAN_TESTS_PROMQL_EXPR_WALK_H_
#define MERIDIAN_TESTS_PROMQL_EXPR_WALK_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/matcher.h"
#include "model/status.h"

namespace meridian::promqltest {

struct AtVariant {
  std::string expr;  // the query with `@` set on its selectors
  int64_t eval_ms;   // when to evaluate it
};

// The variants of `expr` evaluated at `eval_ms`. Empty when the expression
// calls a function whose result depends on the evaluation time even with
// step-invariant arguments (time(), timestamp(), hour(), predict_linear(), ...).
// Errors: the parser's, when `expr` does not parse.
absl::StatusOr<std::vector<AtVariant>> AtModifierVariants(std::string_view expr, int64_t eval_ms);

// The matchers of every vector selector in `expr` (including those under
// range selectors and subqueries). Errors: the parser's.
absl::StatusOr<std::vector<std::vector<Matcher>>> SelectorMatchers(std::string_view expr);

}  // namespace meridian::promqltest

#endif  // MERIDIAN_TESTS_PROMQL_EXPR_WALK_H_
