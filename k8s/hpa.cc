#include "k8s/hpa.h"

#include <cmath>
#include <cstdio>

namespace meridian::k8s {

namespace {
std::string Milli(int64_t m) {
  char buf[64];
  if (m % 1000 == 0) {
    std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(m / 1000));
  } else {
    std::snprintf(buf, sizeof(buf), "%lldm", static_cast<long long>(m));
  }
  return buf;
}
std::string Num(double x) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.4g", x);
  return buf;
}
}  // namespace

HpaDecision ComputeExternalReplicas(const HpaInput& in) {
  HpaDecision d;
  for (int64_t m : in.item_milli) d.usage_milli += m;
  const double usage = static_cast<double>(d.usage_milli);
  const double target = static_cast<double>(in.target_milli);
  const int32_t current = in.current_replicas;
  std::string why;
  if (in.type == TargetType::kValue) {
    // GetExternalMetricReplicas + getUsageRatioReplicaCount.
    d.current_value_milli = d.usage_milli;
    d.ratio = usage / target;
    if (current != 0) {
      d.within_tolerance = std::fabs(1.0 - d.ratio) <= in.tolerance;
      if (d.within_tolerance) {
        d.proposed_replicas = current;
        why = "value " + Milli(d.usage_milli) + " / target " + Milli(in.target_milli) + " = " +
              Num(d.ratio) + ", within the tolerance of " + Num(in.tolerance) +
              ": replicas stay at " + std::to_string(current);
      } else {
        int32_t ready = in.ready_pods >= 0 ? in.ready_pods : current;
        d.proposed_replicas = static_cast<int32_t>(std::ceil(d.ratio * ready));
        why = "value " + Milli(d.usage_milli) + " / target " + Milli(in.target_milli) + " = " +
              Num(d.ratio) + "; ceil(" + Num(d.ratio) + " x " + std::to_string(ready) +
              " ready pods) = " + std::to_string(d.proposed_replicas);
      }
    } else {
      d.proposed_replicas = static_cast<int32_t>(std::ceil(d.ratio));
      why =
          "current replicas 0: ceil(" + Num(d.ratio) + ") = " + std::to_string(d.proposed_replicas);
    }
  } else {
    // GetExternalPerPodMetricReplicas.
    d.ratio = usage / (target * static_cast<double>(current));
    d.within_tolerance = std::fabs(1.0 - d.ratio) <= in.tolerance;
    d.current_value_milli =
        current > 0 ? static_cast<int64_t>(std::ceil(usage / current)) : d.usage_milli;
    if (d.within_tolerance) {
      d.proposed_replicas = current;
      why = "average value " + Milli(d.current_value_milli) + " per replica / target " +
            Milli(in.target_milli) + " = " + Num(d.ratio) + ", within the tolerance of " +
            Num(in.tolerance) + ": replicas stay at " + std::to_string(current);
    } else {
      d.proposed_replicas = static_cast<int32_t>(std::ceil(usage / target));
      why = "total " + Milli(d.usage_milli) + " / " + std::to_string(current) +
            " replicas vs. target " + Milli(in.target_milli) + " per replica: ratio " +
            Num(d.ratio) + "; ceil(" + Milli(d.usage_milli) + " / " + Milli(in.target_milli) +
            ") = " + std::to_string(d.proposed_replicas);
    }
  }
  d.desired_replicas = d.proposed_replicas;
  if (d.desired_replicas < in.min_replicas) {
    d.desired_replicas = in.min_replicas;
    d.limited = "TooFewReplicas";
    why += "; raised to minReplicas " + std::to_string(in.min_replicas);
  } else if (d.desired_replicas > in.max_replicas) {
    d.desired_replicas = in.max_replicas;
    d.limited = "TooManyReplicas";
    why += "; capped at maxReplicas " + std::to_string(in.max_replicas);
  }
  if (d.desired_replicas > current) {
    why +=
        ": scale up from " + std::to_string(current) + " to " + std::to_string(d.desired_replicas);
  } else if (d.desired_replicas < current) {
    why += ": scale down from " + std::to_string(current) + " to " +
           std::to_string(d.desired_replicas);
  } else {
    why += ": no change";
  }
  d.reason = why;
  return d;
}

}  // namespace meridian::k8s
