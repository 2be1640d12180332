#include "query/parser.h"

namespace meridian::promql {

absl::StatusOr<ExprPtr> ParseExpr(std::string_view query, const ParseOptions& opts) {
  return absl::UnimplementedError("parser not implemented yet");
}
absl::StatusOr<std::vector<Matcher>> ParseMetricSelector(std::string_view selector) {
  return absl::UnimplementedError("parser not implemented yet");
}
absl::StatusOr<int64_t> ParseDuration(std::string_view s) {
  return absl::UnimplementedError("parser not implemented yet");
}

}  // namespace meridian::promql
