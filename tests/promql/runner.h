// ScriptRunner: runs a parsed PromQL test script (tests/promql/script.h)
// against meridian — `load` appends into a real Storage, `eval` goes through
// promql::Engine — and classifies every eval as passed, failed or skipped,
// following prometheus/prometheus promql/promqltest/test.go:
//   - an instant eval is also run with `@ <t>` on its selectors at five other
//     times (atModifierTestCases), and each of those, unless the eval
//     expects a range vector or a string, again as a range query from t-1m to
//     t+1m step 1m whose middle step must give the same result;
//   - evals that expect histograms are skipped; evals that read series with
//     native-histogram samples (which this runner does not load) are run on
//     the float samples alone and count as skipped when they then fail.
//
//   ScriptRunner runner(&engine, {.storage_dir = "/tmp/x"});
//   runner.Run(script, [](const CaseResult& r) { ... });
//
// Not thread-safe; one Run at a time. The Engine is borrowed and must outlive
// the runner.
#ifndef MERIDIAN_TESTS_PROMQL_RUNNER_H_
#define MERIDIAN_TESTS_PROMQL_RUNNER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "query/engine.h"
#include "storage/storage.h"
#include "tests/promql/script.h"

namespace meridian::promqltest {

enum class Outcome { kPass, kFail, kSkip };
std::string_view OutcomeName(Outcome o);  // "PASS", "FAIL", "SKIP"

struct CaseResult {
  int line = 0;  // the eval's 1-based line in the script
  Outcome outcome = Outcome::kPass;
  std::string detail;  // why it failed (with a diff) or was skipped
};

struct RunnerOptions {
  // A fresh Storage is opened in a new subdirectory of this one for every
  // `clear`. Created when missing; the runner removes what it creates.
  std::string storage_dir;
  // Evals on lines <= this are reported by nobody and not evaluated (loads
  // still happen); used to resume a script after a crash.
  int skip_through_line = 0;
  bool at_modifier_variants = true;
  bool range_mode_check = true;
  // Print every query the runner sends to the engine on stderr.
  bool trace = false;
  // Called before each eval is evaluated (e.g. to note it for crash reports).
  std::function<void(int line)> on_case_start;
};

class ScriptRunner {
 public:
  ScriptRunner(const promql::Engine* engine, RunnerOptions options);

  // Runs every command; calls `report` once per eval in script order.
  // Returns an error only when storage could not be opened at all.
  absl::Status Run(const Script& script, const std::function<void(const CaseResult&)>& report);

 private:
  absl::Status OpenFreshStorage();
  void Load(const LoadCmd& cmd);
  // Why `cmd` cannot be run by this runner, or "" when it can.
  std::string SkipReason(const EvalCmd& cmd) const;
  CaseResult RunEval(const EvalCmd& cmd);
  // One instant query as test.go's runInstantQuery: OK, or the failure.
  absl::Status RunInstant(const EvalCmd& cmd, const std::string& expr, int64_t t_ms);
  absl::Status RunRange(const EvalCmd& cmd);

  const promql::Engine* engine_;
  RunnerOptions options_;
  int epoch_ = 0;
  std::string epoch_dir_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Queryable> queryable_;
  // Series that hold native-histogram samples the runner did not load.
  std::vector<Labels> histogram_series_;
  std::string load_error_;  // set when a load since the last clear failed
};

}  // namespace meridian::promqltest

#endif  // MERIDIAN_TESTS_PROMQL_RUNNER_H_
