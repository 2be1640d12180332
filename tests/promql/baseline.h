// Baseline: the checked-in list of conformance cases known to fail
// (tests/promql/expected_failures.txt), so that the CTest run fails only on
// regressions.
//
// Format: one case a line, `<file>:<line> <short reason>`; blank lines and
// lines starting with '#' are ignored.
//   functions.test:123 holt_winters not implemented
// Thread-safe: plain values.
#ifndef MERIDIAN_TESTS_PROMQL_BASELINE_H_
#define MERIDIAN_TESTS_PROMQL_BASELINE_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "model/status.h"

namespace meridian::promqltest {

struct Baseline {
  // "file.test:123" -> reason.
  std::map<std::string, std::string> cases;

  bool Contains(std::string_view key) const { return cases.count(std::string(key)) > 0; }
};

// Parses baseline text. Errors: InvalidArgument naming the bad line.
absl::StatusOr<Baseline> ParseBaseline(std::string_view text);

// Renders a baseline for the given failures ("file:line" -> reason), with a
// header comment explaining how the file is maintained.
std::string FormatBaseline(const std::map<std::string, std::string>& failures);

// "file.test:123".
std::string CaseKey(std::string_view file, int line);

}  // namespace meridian::promqltest

#endif  // MERIDIAN_TESTS_PROMQL_BASELINE_H_
