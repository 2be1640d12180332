// Compare: checks a query result against an eval command's expectations
// exactly as prometheus/prometheus promql/promqltest/test.go does
// (compareResult, checkAnnotations, checkExpectedFailure), and formats both
// sides for a readable diff.
//
// Floats compare with Prometheus's almost.Equal and epsilon 1e-6 (relative),
// NaN equals NaN, and the stale marker equals only itself.
// Thread-safe: free functions with no shared state.
#ifndef MERIDIAN_TESTS_PROMQL_COMPARE_H_
#define MERIDIAN_TESTS_PROMQL_COMPARE_H_

#include <string>
#include <vector>

#include "model/status.h"
#include "query/value.h"
#include "tests/promql/script.h"

namespace meridian::promqltest {

inline constexpr double kDefaultEpsilon = 0.000001;

// Prometheus util/almost.Equal.
bool AlmostEqual(double a, double b, double epsilon = kDefaultEpsilon);

// OK when `value` matches what `cmd` expects; otherwise InvalidArgument with
// the first difference, as test.go reports it.
absl::Status CompareResult(const EvalCmd& cmd, const promql::Value& value);

// OK when the warnings and infos satisfy the eval's expect lines.
absl::Status CheckAnnotations(const EvalCmd& cmd, const std::vector<std::string>& warnings,
                              const std::vector<std::string>& infos);

// OK when `error_message` satisfies the eval's expected failure, if any.
// REQUIRES: cmd.IsFail().
absl::Status CheckExpectedFailure(const EvalCmd& cmd, const std::string& error_message);

// Result and expectation in the script's own notation, one series a line.
std::string FormatValue(const promql::Value& value);
std::string FormatExpected(const EvalCmd& cmd);
// Shortest round-trip text of a float ("1", "0.1", "NaN", "+Inf", "stale").
std::string FormatFloat(double v);

// True when the series are sorted by labels (range results must be).
absl::Status CheckMatrixSorted(const promql::Matrix& m);

}  // namespace meridian::promqltest

#endif  // MERIDIAN_TESTS_PROMQL_COMPARE_H_
