// Manager: loads rule files (globs bound to tenants in meridian's config),
// runs one scheduler thread per rule group, reloads on request, and reports
// groups for /api/v1/rules and /api/v1/alerts and counters for /metrics.
//
//   rules::Manager m(storage, [&](auto t) { return storage->ForTenant(t); }, engine,
//                    {.sources = {{"gpu-platform", "/etc/meridian/rules/*.yml"}}});
//   absl::Status st = m.Reload();   // at start and on SIGHUP / POST /-/reload
//   m.Start();
//   ... m.Groups("gpu-platform") ...
//   m.Stop();
//
// A reload parses every file first; when one fails, nothing changes (the
// rules loaded before keep running) and the error is returned. Unchanged
// groups keep running untouched; changed groups take over the alert state
// and series of the group they replace; removed groups' series get stale
// markers. Groups loaded at start restore their alerts' `for` state from the
// stored ALERTS_FOR_STATE series after their second evaluation
// (Group::RestoreForState). Thread-safety: all methods are thread-safe.
#ifndef MERIDIAN_RULES_MANAGER_H_
#define MERIDIAN_RULES_MANAGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/sync.h"
#include "query/engine.h"
#include "rules/group.h"

namespace meridian::rules {

struct RuleFileSource {
  std::string tenant;
  std::string glob;  // glob(3) pattern; no match is no files, not an error
};

struct ManagerOptions {
  std::vector<RuleFileSource> sources;
  // Interval of groups that do not set one (Prometheus's global evaluation_interval).
  int64_t default_interval_ms = 60'000;
  // Restoring alerts' `for` state at start (Group::RestoreForState), with
  // Prometheus's defaults: --rules.alert.for-outage-tolerance (how long ago
  // the last ALERTS_FOR_STATE sample may be) and --rules.alert.for-grace-period
  // (the least an alert waits after a restart; shorter `for`s are not restored).
  int64_t for_outage_tolerance_ms = 3'600'000;
  int64_t for_grace_period_ms = 600'000;
};

class Manager {
 public:
  // `appender` and `engine` are borrowed and must outlive the manager;
  // `queryable` gives a tenant's read view.
  Manager(Appender* appender, TenantQueryable queryable, const promql::Engine* engine,
          ManagerOptions options);
  ~Manager();

  // (Re)loads every rule file. On a parse error the running rules stay and the
  // error names the file (by its base name) and the problem.
  absl::Status Reload();
  // Starts evaluating (groups loaded later start on their own).
  void Start();
  // Stops every group and waits for running evaluations to finish.
  void Stop();

  // The groups of `tenant`, sorted by file and name as Prometheus lists them.
  std::vector<GroupStatus> Groups(std::string_view tenant) const;
  // Counters in the text exposition format (meridian_rule_*).
  std::string MetricsText() const;

 private:
  struct Runner;
  void StartRunner(Runner* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void StopRunner(Runner* r);

  Appender* const appender_;
  const TenantQueryable queryable_;
  const promql::Engine* const engine_;
  const ManagerOptions options_;
  mutable Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  // By tenant + "\xff" + file + "\xff" + name.
  std::map<std::string, std::unique_ptr<Runner>> groups_ ABSL_GUARDED_BY(mu_);
  // Set by the first successful Reload: groups loaded later (by a reload)
  // start without restoring `for` state, as in Prometheus.
  bool restored_ ABSL_GUARDED_BY(mu_) = false;
  bool last_reload_ok_ ABSL_GUARDED_BY(mu_) = true;
  int64_t last_reload_success_s_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t reload_failures_ ABSL_GUARDED_BY(mu_) = 0;
  Mutex reload_mu_;  // one reload at a time
};

}  // namespace meridian::rules

#endif  // MERIDIAN_RULES_MANAGER_H_
