// Internal to the query module: the grouping of an aggregation's input
// series, shared by aggregate.cc and aggregate_k.cc. Not a public interface.
#ifndef MERIDIAN_QUERY_AGGREGATE_INTERNAL_H_
#define MERIDIAN_QUERY_AGGREGATE_INTERNAL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "model/labels.h"
#include "query/ast.h"
#include "query/eval.h"

namespace meridian::promql::eval {

struct Grouping {
  std::vector<int> group_of;         // input series -> group
  std::vector<Labels> group_labels;  // per group (not for k-ops)
  std::vector<bool> group_drop;      // OR of members' drop_name
  int n_groups = 0;
};

// The labels of `m`'s group: `by` keeps the grouping labels, `without` drops
// them and the metric name.
Labels GroupLabels(const Labels& m, const AggregateExpr& a);

// The hash of `m`'s group; `without_names` is the grouping labels plus
// __name__.
uint64_t GroupKey(const Labels& m, const AggregateExpr& a,
                  const std::vector<std::string>& without_names);

// Groups the input series in order of first appearance; group labels only
// when `with_labels`.
Grouping MakeGrouping(const EvalMatrix& in, const AggregateExpr& a, bool with_labels);

}  // namespace meridian::promql::eval

#endif  // MERIDIAN_QUERY_AGGREGATE_INTERNAL_H_
