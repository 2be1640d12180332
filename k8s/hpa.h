// The Horizontal Pod Autoscaler's replica calculation for one External
// metric (kubernetes/kubernetes pkg/controller/podautoscaler:
// replica_calculator.go GetExternalMetricReplicas and
// GetExternalPerPodMetricReplicas, then the [minReplicas, maxReplicas]
// clamp), replayed for /api/v1/autoscale/preview. Not modelled: behavior
// (scale-up/down policies), the stabilization window (5 min for scale-down by
// default), several metrics (the HPA takes the largest proposal), and pod
// readiness beyond the ready-pod count given.
#ifndef MERIDIAN_K8S_HPA_H_
#define MERIDIAN_K8S_HPA_H_

#include <cstdint>
#include <string>
#include <vector>

namespace meridian::k8s {

enum class TargetType { kValue, kAverageValue };

struct HpaInput {
  // MilliValue() of each item of the ExternalMetricValueList (the HPA sums them).
  std::vector<int64_t> item_milli;
  TargetType type = TargetType::kAverageValue;
  int64_t target_milli = 0;  // > 0
  int32_t current_replicas = 1;
  // Running and Ready pods (Value targets multiply by this); -1: current_replicas.
  int32_t ready_pods = -1;
  int32_t min_replicas = 1;
  int32_t max_replicas = 1;
  double tolerance = 0.1;
};

struct HpaDecision {
  int64_t usage_milli = 0;          // sum of the items
  int64_t current_value_milli = 0;  // Value: the sum; AverageValue: ceil(sum / current replicas)
  double ratio = 0;
  bool within_tolerance = false;
  int32_t proposed_replicas = 0;  // before the min/max clamp
  int32_t desired_replicas = 0;
  std::string limited;  // "", "TooFewReplicas" or "TooManyReplicas"
  std::string reason;   // in words
};

HpaDecision ComputeExternalReplicas(const HpaInput& in);

}  // namespace meridian::k8s

#endif  // MERIDIAN_K8S_HPA_H_
