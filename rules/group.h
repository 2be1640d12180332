// Group: one rule group of one tenant, evaluated as Prometheus evaluates it
// (rules/group.go, rules/recording.go, rules/alerting.go):
//   - every rule is evaluated at the group's slot timestamp, in file order, so
//     a rule sees the results of the rules before it;
//   - results are appended to storage like ingested samples; a series a rule
//     returned at the previous evaluation and not now gets a stale marker;
//   - alerting rules keep pending/firing state per label set and write
//     ALERTS{alertstate} and ALERTS_FOR_STATE series.
// Eval() is called by the manager's scheduler (or directly by tests with any
// timestamp). Thread-safety: Eval() from one thread at a time; Status() from
// any thread.
#ifndef MERIDIAN_RULES_GROUP_H_
#define MERIDIAN_RULES_GROUP_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/appender.h"
#include "model/queryable.h"
#include "model/sync.h"
#include "query/engine.h"
#include "rules/rule_file.h"

namespace meridian::rules {

enum class AlertState { kInactive = 0, kPending = 1, kFiring = 2 };
std::string_view AlertStateName(AlertState s);  // "inactive", "pending", "firing"

struct Alert {
  Labels labels;       // the series' labels without __name__, rule labels, alertname
  Labels annotations;  // templates expanded
  AlertState state = AlertState::kPending;
  // Times of evaluation slots, in ns as Prometheus keeps them.
  int64_t active_at_ns = 0;
  int64_t fired_at_ns = 0;
  int64_t resolved_at_ns = 0;        // 0: not resolved
  int64_t keep_firing_since_ns = 0;  // 0: not kept firing
  double value = 0;
};

// What /api/v1/rules shows of a rule.
struct RuleStatus {
  RuleSpec spec;
  std::string query;               // the expression as Prometheus prints it
  Labels labels;                   // rule labels, sorted
  Labels annotations;              // sorted
  std::string health = "unknown";  // "ok", "err", "unknown"
  std::string last_error;
  double evaluation_seconds = 0;
  int64_t last_evaluation_ns = 0;            // wall clock; 0: never
  AlertState state = AlertState::kInactive;  // the highest of its alerts
  std::vector<Alert> alerts;                 // active (not resolved), sorted by labels
};

struct GroupStatus {
  std::string name;
  std::string file;
  std::string tenant;
  int64_t interval_ms = 0;
  int64_t limit = 0;
  double evaluation_seconds = 0;
  int64_t last_evaluation_ns = 0;
  std::vector<RuleStatus> rules;
};

// Counters of one group, for /metrics.
struct GroupCounters {
  std::atomic<uint64_t> evaluations{0};       // rule evaluations
  std::atomic<uint64_t> failures{0};          // failed rule evaluations
  std::atomic<uint64_t> iterations{0};        // scheduled group evaluations (run or missed)
  std::atomic<uint64_t> missed{0};            // group evaluations skipped: the previous ran late
  std::atomic<uint64_t> eval_duration_ns{0};  // sum over rule evaluations
  std::atomic<int64_t> last_duration_ns{0};   // the last group evaluation
  std::atomic<int64_t> last_samples{0};
};

// The read view of one tenant's data (Storage::ForTenant in production).
using TenantQueryable = std::function<std::unique_ptr<Queryable>(std::string_view tenant)>;

class Group {
 public:
  // `file` is the rule file's path as matched by the configured glob (it is
  // part of the group's identity and of its slot offset, as in Prometheus).
  // `appender` and `engine` are borrowed and must outlive the group.
  Group(GroupSpec spec, std::string file, std::string tenant, int64_t interval_ms,
        Appender* appender, const TenantQueryable& queryable, const promql::Engine* engine);
  ~Group();

  const std::string& name() const { return spec_.name; }
  const std::string& file() const { return file_; }
  const std::string& tenant() const { return tenant_; }
  const GroupSpec& spec() const { return spec_; }
  int64_t interval_ms() const { return interval_ms_; }

  // Prometheus's Group.EvalTimestamp: the latest slot at or before now_ns;
  // slots are interval apart, offset by hash(name, file) % interval.
  int64_t EvalTimestampNs(int64_t now_ns) const;

  // Evaluates every rule at the slot ts_ns (one group iteration) and records
  // the wall-clock start and duration. Samples get the slot's milliseconds.
  void EvalAt(int64_t ts_ns);
  void Eval(int64_t ts_ms) { EvalAt(ts_ms * 1'000'000); }

  // Takes over alert state and the series of the last evaluation from the
  // group this one replaces (a reload), matching rules by name and labels;
  // series of rules that are gone are marked stale at the next Eval.
  void CopyState(Group* from);
  // Writes stale markers at ts_ms for every series of the last evaluation
  // (the group was removed by a reload).
  void MarkAllStale(int64_t ts_ms);

  // `for` state after a restart, as Prometheus 2.42 restores it
  // (rules/manager.go RestoreForState). A group loaded at start is told to
  // restore: its alerting rules keep their alerts' state but write no ALERTS
  // or ALERTS_FOR_STATE samples until RestoreForState ran (the scheduler
  // calls it after the second evaluation, as Prometheus does, so recording
  // rules the alerts depend on have run). Rules whose `for` is shorter than
  // the grace period are not restored (they wait their `for` again).
  void RequireRestore(int64_t outage_tolerance_ms, int64_t grace_period_ms);
  bool needs_restore() const { return needs_restore_; }
  // For every active alert of every alerting rule: the last sample of its
  // ALERTS_FOR_STATE series in [now - outage tolerance, now] (none, or a stale
  // marker: nothing to restore) gives the ActiveAt before the outage and when
  // it went down; the alert's ActiveAt moves so that it waits only the rest of
  // its `for` (at least the grace period); one that was already firing waits
  // its whole `for` again (2.42). Then every alerting rule writes its series.
  void RestoreForState(int64_t now_ns);

  GroupStatus Status() const;
  GroupCounters& counters() { return *counters_; }

 private:
  struct Rule;
  void EvalRule(Rule* r, int64_t ts_ns, int64_t* samples);
  absl::StatusOr<promql::Vector> Query(const std::string& expr, int64_t ts_ms);
  absl::Status EvalAlert(Rule* r, const promql::Vector& in, int64_t ts_ns, promql::Vector* out);
  // Appends one sample per element; (*ok)[i]: element i was stored. A
  // non-OK return: nothing stored; *rejected: the first sample refused.
  absl::Status AppendVector(const promql::Vector& v, std::vector<bool>* ok, absl::Status* rejected);
  void AppendStale(const std::vector<Labels>& series, int64_t ts_ms);

  const GroupSpec spec_;
  const std::string file_;
  const std::string tenant_;
  const int64_t interval_ms_;
  Appender* const appender_;
  const promql::Engine* const engine_;
  std::unique_ptr<Queryable> queryable_;
  std::vector<std::unique_ptr<Rule>> rules_;
  std::vector<Labels> stale_series_;  // of removed rules, marked at the next Eval
  bool needs_restore_ = false;
  int64_t outage_tolerance_ms_ = 3'600'000;
  int64_t grace_period_ms_ = 600'000;

  mutable Mutex mu_;  // guards what Status() reads
  double evaluation_seconds_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_evaluation_ns_ ABSL_GUARDED_BY(mu_) = 0;
  // Shared with the group that replaces this one on a reload.
  std::shared_ptr<GroupCounters> counters_ = std::make_shared<GroupCounters>();
};

// xxHash64 (seed 0), as Go's github.com/cespare/xxhash that Prometheus's
// labels.Hash uses.
uint64_t XxHash64(std::string_view data);

// Expands the Go-template subset rule labels and annotations use:
// {{ $labels.NAME }}, {{ .Labels.NAME }}, {{ $value }}, {{ .Value }},
// {{ $externalLabels.NAME }} (none: empty). Other actions are kept as written.
std::string ExpandTemplate(std::string_view text, const Labels& labels, double value);

}  // namespace meridian::rules

#endif  // MERIDIAN_RULES_GROUP_H_
