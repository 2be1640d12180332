// GET /api/v1/autoscale/preview on the main router: the value of an
// external metric as the HPA would read it, and the replica count the HPA's
// formula gives for it (Prometheus's JSON envelope).
#include <httplib.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "k8s/external_metrics.h"
#include "k8s/external_metrics_internal.h"
#include "k8s/hpa.h"
#include "k8s/quantity.h"

namespace meridian::k8s {

using internal::json;
using internal::NowMs;
using internal::SendJson;
using internal::StatusObject;

namespace {

void PromError(httplib::Response& res, int code, const char* type, const std::string& msg) {
  json j = {{"status", "error"}, {"errorType", type}, {"error", msg}};
  SendJson(res, code, j);
}

absl::StatusOr<int32_t> IntParam(const httplib::Request& req, const char* name, int32_t def,
                                 bool required) {
  if (!req.has_param(name) || req.get_param_value(name).empty()) {
    if (required)
      return absl::InvalidArgumentError(std::string("missing parameter \"") + name + "\"");
    return def;
  }
  std::string v = req.get_param_value(name);
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (*end != 0 || x < 0 || x > 1'000'000) {
    return absl::InvalidArgumentError(std::string("invalid parameter \"") + name +
                                      "\": want a non-negative integer, got \"" + v + "\"");
  }
  return static_cast<int32_t>(x);
}

}  // namespace

void ExternalMetricsApi::RegisterPreview(httplib::Server* server) {
  server->Get("/api/v1/autoscale/preview",
              [this](const httplib::Request& req, httplib::Response& res) { Preview(req, res); });
}

void ExternalMetricsApi::Preview(const httplib::Request& req, httplib::Response& res) {
  auto bad = [&](const std::string& msg) { PromError(res, 400, "bad_data", msg); };
  std::string ns = req.get_param_value("namespace");
  std::string metric = req.get_param_value("metric");
  if (ns.empty()) return bad("missing parameter \"namespace\"");
  if (metric.empty()) return bad("missing parameter \"metric\"");
  const bool has_avg = req.has_param("target_average_value");
  const bool has_val = req.has_param("target_value");
  if (has_avg == has_val) {
    return bad(
        "give exactly one of \"target_average_value\" (AverageValue target) and "
        "\"target_value\" (Value target)");
  }
  auto target =
      ParseQuantity(req.get_param_value(has_avg ? "target_average_value" : "target_value"));
  if (!target.ok()) return bad(std::string(target.status().message()));
  int64_t target_milli = std::llround(*target * 1000);
  if (target_milli <= 0) return bad("the target must be positive");
  auto current = IntParam(req, "current_replicas", 0, true);
  auto minr = IntParam(req, "min_replicas", 1, false);
  auto maxr = IntParam(req, "max_replicas", 0, true);
  auto ready = IntParam(req, "ready_pods", -1, false);
  for (const auto* p : {&current, &minr, &maxr, &ready}) {
    if (!p->ok()) return bad(std::string(p->status().message()));
  }
  if (*maxr < 1 || *maxr < *minr) return bad("max_replicas must be at least 1 and min_replicas");
  double tolerance = 0.1;
  if (req.has_param("tolerance")) {
    char* end = nullptr;
    std::string t = req.get_param_value("tolerance");
    tolerance = std::strtod(t.c_str(), &end);
    if (t.empty() || *end != 0 || !(tolerance >= 0) || tolerance > 10) {
      return bad("invalid parameter \"tolerance\": want a number such as 0.1");
    }
  }
  std::string selector = req.get_param_value("labelSelector");
  ExternalMetricAnswer a = Evaluate(&req, ns, metric, selector, NowMs());
  json d;
  d["namespace"] = ns;
  d["metric"] = metric;
  d["labelSelector"] = selector;
  d["query"] = a.query;
  d["targetType"] = has_avg ? "AverageValue" : "Value";
  d["target"] = *FormatQuantity(static_cast<double>(target_milli) / 1000);
  d["currentReplicas"] = *current;
  d["minReplicas"] = *minr;
  d["maxReplicas"] = *maxr;
  d["tolerance"] = tolerance;
  if (a.http_status != 200) {
    if (a.http_status == 400) return bad(a.message);
    if (a.http_status == 401 || a.http_status == 403) {
      PromError(res, a.http_status, "forbidden", a.message);
      return;
    }
    d["desiredReplicas"] = *current;
    d["metricError"] = StatusObject(a.http_status, a.reason, a.message);
    d["reason"] = "the HPA cannot read the metric (" + std::to_string(a.http_status) + " " +
                  a.reason + "): it does not scale and keeps " + std::to_string(*current) +
                  " replicas (condition ScalingActive=False)";
  } else {
    HpaInput in;
    for (const auto& it : a.items) in.item_milli.push_back(std::llround(it.value * 1000));
    in.type = has_avg ? TargetType::kAverageValue : TargetType::kValue;
    in.target_milli = target_milli;
    in.current_replicas = *current;
    in.ready_pods = *ready;
    in.min_replicas = *minr;
    in.max_replicas = *maxr;
    in.tolerance = tolerance;
    HpaDecision h = ComputeExternalReplicas(in);
    d["items"] = static_cast<int64_t>(a.items.size());
    d["metricValue"] = *FormatQuantity(static_cast<double>(h.usage_milli) / 1000);
    d["currentValue"] = *FormatQuantity(static_cast<double>(h.current_value_milli) / 1000);
    d["ratio"] = h.ratio;
    d["withinTolerance"] = h.within_tolerance;
    d["proposedReplicas"] = h.proposed_replicas;
    d["desiredReplicas"] = h.desired_replicas;
    if (!h.limited.empty()) d["limitedBy"] = h.limited;
    d["reason"] = h.reason;
    d["dataAgeSeconds"] = a.newest_age_ms >= 0 ? a.newest_age_ms / 1000 : 0;
  }
  d["notModelled"] =
      "behavior (scale-up/scale-down policies) and stabilization windows (default 5m for scale "
      "down) are not modelled, nor other metrics of the same HPA (it takes the largest proposal)";
  json j = {{"status", "success"}, {"data", d}};
  SendJson(res, 200, j);
}

}  // namespace meridian::k8s
