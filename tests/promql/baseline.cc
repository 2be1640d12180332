#include "tests/promql/baseline.h"

#include <algorithm>

#include "tests/promql/strutil.h"

namespace meridian::promqltest {

std::string CaseKey(std::string_view file, int line) { return Cat(file, ":", line); }

absl::StatusOr<Baseline> ParseBaseline(std::string_view text) {
  Baseline b;
  int lineno = 0;
  for (std::string_view raw : SplitLines(text)) {
    ++lineno;
    std::string_view l = Strip(raw);
    if (l.empty() || l[0] == '#') continue;
    size_t sp = l.find_first_of(" \t");
    std::string_view key = l.substr(0, sp);
    std::string_view reason = sp == std::string_view::npos ? "" : Strip(l.substr(sp));
    size_t colon = key.rfind(':');
    int n = 0;
    if (colon == std::string_view::npos || colon == 0 || !ParseInt(key.substr(colon + 1), &n) ||
        n <= 0) {
      return absl::InvalidArgumentError(
          Cat("baseline line ", lineno, ": expected `<file>:<line> <reason>`, got \"", l, "\""));
    }
    b.cases[std::string(key)] = std::string(reason);
  }
  return b;
}

std::string FormatBaseline(const std::map<std::string, std::string>& failures) {
  std::string out =
      "# PromQL conformance cases that currently fail on meridian (see tests/promql/README.md).\n"
      "# One case a line: <file>:<line of the eval> <short reason>.\n"
      "# The promql_conformance CTest fails when a case NOT listed here fails (a regression).\n"
      "# When a listed case passes, the runner says so: delete its line.\n"
      "# Regenerate: promql_conformance --write-baseline tests/promql/expected_failures.txt\n";
  // Sort by file, then numerically by line.
  std::vector<std::pair<std::pair<std::string, int>, std::string>> rows;
  for (const auto& [key, reason] : failures) {
    size_t colon = key.rfind(':');
    int n = 0;
    if (colon != std::string::npos) (void)ParseInt(key.substr(colon + 1), &n);
    rows.push_back({{key.substr(0, colon), n}, reason});
  }
  std::sort(rows.begin(), rows.end());
  for (const auto& [k, reason] : rows) Append(&out, k.first, ":", k.second, " ", reason, "\n");
  return out;
}

}  // namespace meridian::promqltest
