// Kubernetes label selectors (k8s.io/apimachinery/pkg/labels, the string
// form an HPA's metric.selector travels in) parsed and turned into PromQL
// label matchers.
//
//   "region=us-west-2,tier!=batch,zone in (a,b),gpu,!spot"
//     -> region="us-west-2", tier!="batch", zone=~"a|b", gpu!="", spot=""
//
// Forms: key=value, key==value, key!=value, key in (v1,...), key notin
// (v1,...), key (exists), !key (does not exist). Kubernetes semantics carry
// over: != and notin also match series without the label, as PromQL's
// != and !~ do. `<` and `>` (integer comparisons) have no PromQL matcher and
// are refused. A key must be a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*):
// a Kubernetes qualified name such as app.kubernetes.io/name is refused, not
// silently mangled. Errors are InvalidArgument with the reason.
#ifndef MERIDIAN_K8S_LABEL_SELECTOR_H_
#define MERIDIAN_K8S_LABEL_SELECTOR_H_

#include <string>
#include <string_view>
#include <vector>

#include "model/status.h"

namespace meridian::k8s {

enum class SelectorOp { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };

struct Requirement {
  std::string key;
  SelectorOp op = SelectorOp::kEquals;
  std::vector<std::string> values;  // sorted, unique (kIn/kNotIn); one for =/!=
};

absl::StatusOr<std::vector<Requirement>> ParseLabelSelector(std::string_view selector);

// PromQL matchers, comma-separated, without braces (empty for no requirements).
std::string ToPromQLMatchers(const std::vector<Requirement>& reqs);

// A PromQL double-quoted string literal of s.
std::string PromQLQuote(std::string_view s);

}  // namespace meridian::k8s

#endif  // MERIDIAN_K8S_LABEL_SELECTOR_H_
