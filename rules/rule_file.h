// Rule files: Prometheus's rule file format (rulefmt), parsed with yaml-cpp
// and checked as promtool checks them.
//
//   groups:
//     - name: gpu
//       interval: 30s        # optional; the manager's default otherwise
//       limit: 0             # optional; 0: no limit on series/alerts per rule
//       rules:
//         - record: job:gpu_util:avg
//           expr: avg by (job) (gpu_util)
//           labels: {team: ml}
//         - alert: GpuHot
//           expr: gpu_temp > 90
//           for: 5m
//           keep_firing_for: 1m
//           labels: {severity: page}
//           annotations: {summary: "{{ $labels.instance }} at {{ $value }}"}
//
// A rule file has no tenant: the manager binds files to tenants (meridian's
// config). Unknown keys are errors, as with promtool (yaml.UnmarshalStrict).
#ifndef MERIDIAN_RULES_RULE_FILE_H_
#define MERIDIAN_RULES_RULE_FILE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/labels.h"
#include "model/status.h"

namespace meridian::rules {

struct RuleSpec {
  std::string record;  // exactly one of record and alert is set
  std::string alert;
  std::string expr;  // as written in the file
  int64_t for_ms = 0;
  int64_t keep_firing_for_ms = 0;
  // In file order; Prometheus sorts them (labels.FromMap) where it matters.
  std::vector<Label> labels;
  std::vector<Label> annotations;
  bool is_alert() const { return !alert.empty(); }
  const std::string& name() const { return is_alert() ? alert : record; }
  friend bool operator==(const RuleSpec&, const RuleSpec&) = default;
};

struct GroupSpec {
  std::string name;
  int64_t interval_ms = 0;  // 0: not given in the file
  int64_t limit = 0;
  std::vector<RuleSpec> rules;
  friend bool operator==(const GroupSpec&, const GroupSpec&) = default;
};

// Parses the text of one rule file. InvalidArgument with every problem found
// (one per line), each naming the group and rule as promtool does.
absl::StatusOr<std::vector<GroupSpec>> ParseRuleFile(std::string_view content);

// Reads and parses `path`.
absl::StatusOr<std::vector<GroupSpec>> LoadRuleFile(const std::string& path);

}  // namespace meridian::rules

#endif  // MERIDIAN_RULES_RULE_FILE_H_
