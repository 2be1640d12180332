// Script: a parser for Prometheus's PromQL test-script language (the
// `.test` files of prometheus/prometheus promql/promqltest), as run by
// promql_conformance. It reads the text only; running it is the runner's job
// (tests/promql/runner.h).
//
// The language, as promqltest/test.go parses it:
//   load <interval>              series lines follow, up to a blank line
//   load_with_nhcb <interval>    the same, plus native-histogram-with-custom-
//                                buckets copies of classic histograms
//   clear                        drops all loaded data
//   eval instant at <t> <expr>   expectation lines follow, up to a blank line
//   eval range from <t> to <t> step <d> <expr>
//   eval_fail | eval_warn | eval_info | eval_ordered (deprecated variants)
//   expect fail|warn|info|no_warn|no_info|ordered [msg: <s> | regex: <re>]
//   expect range vector from <t> to <t> step <d>
//   expect string "<s>"
// A line whose first non-blank character is '#' counts as a blank line
// (so a comment ends a block, exactly as in Prometheus).
//
// Series lines use the promtool notation: `metric{l="v"} 1 2+3x2 _ _x3 stale`
// expands to 1, 2, 5, 8, (missing), (missing x3), stale marker. Native
// histogram literals `{{...}}` are recognised and counted as positions but
// not decoded: their SeqValue has `histogram` set.
//
// All times are milliseconds since the Unix epoch (the scripts start at 0).
// Thread-safe: free functions with no shared state.
#ifndef MERIDIAN_TESTS_PROMQL_SCRIPT_H_
#define MERIDIAN_TESTS_PROMQL_SCRIPT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "model/labels.h"
#include "model/status.h"

namespace meridian::promqltest {

// One position of a series sequence.
struct SeqValue {
  bool omitted = false;    // `_`: no sample at this position
  bool histogram = false;  // a `{{...}}` native histogram literal (not decoded)
  double v = 0;            // the float value (the stale marker's bits for `stale`)
};

// A series line: labels (including __name__) and its expanded values.
struct SeriesLine {
  Labels labels;
  std::vector<SeqValue> values;
  bool has_histogram = false;  // any value is a histogram literal
};

struct LoadCmd {
  int line = 0;  // 1-based line of the `load` command
  int64_t interval_ms = 0;
  bool with_nhcb = false;
  // In file order. A series given twice keeps only its last line, as in
  // Prometheus (the runner applies that rule).
  std::vector<SeriesLine> series;
};

struct ClearCmd {
  int line = 0;
};

enum class ExpectKind { kOrdered, kFail, kWarn, kNoWarn, kInfo, kNoInfo };
std::string_view ExpectKindName(ExpectKind k);  // "ordered", "fail", ...

// One `expect <kind> [msg|regex: ...]` line. With neither message nor regex
// it matches anything.
struct ExpectLine {
  ExpectKind kind = ExpectKind::kFail;
  std::optional<std::string> message;  // exact match
  std::optional<std::string> regex;    // RE2, unanchored search (Go MatchString)
};

// One expected result series with its 1-based position among the eval's
// result lines (for ordered results).
struct ExpectedSeries {
  Labels labels;
  std::vector<SeqValue> values;
  int pos = 0;
};

struct EvalCmd {
  int line = 0;  // 1-based line of the `eval` command
  std::string expr;
  bool is_range = false;
  int64_t start_ms = 0;  // instant: the evaluation time
  int64_t end_ms = 0;
  int64_t step_ms = 0;
  int64_t eval_ms = 0;  // instant queries: when to evaluate

  // Deprecated eval_* variants.
  bool legacy_fail = false, legacy_warn = false, legacy_info = false, legacy_ordered = false;
  std::optional<std::string> expected_fail_message;  // `expected_fail_message ...`
  std::optional<std::string> expected_fail_regexp;   // `expected_fail_regexp ...`
  std::vector<ExpectLine> expects;

  bool expect_scalar = false;
  double scalar = 0;
  std::vector<ExpectedSeries> series;  // in file order; duplicates: last wins
  std::optional<std::string> expected_string;
  // `expect range vector` / `expect string`: the instant query is not
  // re-checked as a range query.
  bool exclude_from_range_query = false;
  bool expects_histogram = false;  // an expected value is a `{{...}}` literal

  bool IsFail() const;
  bool IsOrdered() const;
  bool Has(ExpectKind k) const;
};

// A line the parser could not read. Prometheus rejects the whole file; the
// runner reports it as one failed case and carries on with the rest.
struct ParseErrorCmd {
  int line = 0;
  std::string message;
};

using Command = std::variant<LoadCmd, ClearCmd, EvalCmd, ParseErrorCmd>;

struct Script {
  std::vector<Command> commands;
};

// Parses a whole script. Never fails as a whole: unreadable commands become
// ParseErrorCmd entries.
Script ParseScript(std::string_view text);

// Parses a Prometheus model duration ("0", "1m", "1h30m", "100ms", "2w",
// "1y"); units y w d h m s ms, each at most once, in that order. Errors are
// InvalidArgument.
absl::StatusOr<int64_t> ParseDurationMs(std::string_view s);

// Parses a series line `metric{a="b"} <values>` (metric or braces optional).
absl::StatusOr<SeriesLine> ParseSeriesLine(std::string_view line);

// Expands a value sequence such as "1+2x3 _x2 stale {{...}}".
absl::StatusOr<std::vector<SeqValue>> ParseSequence(std::string_view seq);

// Parses a number as Go's strconv.ParseInt(s, 0, 64) then ParseFloat would:
// "12", "0x1f", "1e3", "-Inf", "NaN". The whole string must be consumed.
std::optional<double> ParseNumber(std::string_view s);

// Unquotes a Go string literal: "..." with escapes, '...' or `...`.
absl::StatusOr<std::string> UnquoteGo(std::string_view s);

}  // namespace meridian::promqltest

#endif  // MERIDIAN_TESTS_PROMQL_SCRIPT_H_
