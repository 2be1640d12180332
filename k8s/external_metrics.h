// The Kubernetes external metrics API (external.metrics.k8s.io/v1beta1)
// served from meridian's own data, so that an APIService can point the HPA
// at meridian without prometheus-adapter or KEDA in between.
//
//   GET /apis/external.metrics.k8s.io/v1beta1/namespaces/NS/METRIC?labelSelector=S
//     -> ExternalMetricValueList, one item per sample of the metric's query
//
// Mapping (ExternalMetricsConfig, a YAML file):
//   - default: METRIC in NS with selector S is `sum(METRIC{namespace="NS", S})`;
//   - per metric, a PromQL template (`query`, placeholders <<.LabelMatchers>>
//     = the namespace matcher and the selector's, <<.Namespace>>,
//     <<.Series>> = the metric name), or the name of a recording rule's
//     series (`series`: read as `SERIES{namespace="NS", S}`, a point lookup);
//   - `namespaced: false` leaves the namespace matcher out;
//   - `max_staleness` (default 2m).
//   - namespaces map to tenants; a namespace without one is refused (403)
//     unless `default_tenant` is set.
//
// Never a silent zero. Before answering, every series the query reads
// (each vector selector, over the last hour) is looked at: one whose newest
// sample is older than max_staleness and is not a stale marker (the pipeline
// behind it broke) makes the answer 503 ServiceUnavailable; a series that
// ended with a stale marker (its pod went away) is not stale data. No series
// in the last hour, or an empty result, is 404 NotFound. A failed query, a
// partial result (storage warnings) or a NaN/Inf value is 503. Each refusal
// is a Kubernetes Status object whose message names the metric, namespace and
// the age of the data; the HPA then keeps the current replica count.
//
// Also served: /apis (APIGroupList), /apis/external.metrics.k8s.io (APIGroup),
// the version's APIResourceList, /openapi/v2, /version, /healthz, /livez,
// /readyz. An aggregated-discovery request (Accept ...as=APIGroupDiscoveryList)
// gets 406, so kube-aggregator falls back to the legacy documents.
//
// Thread-safety: handlers run concurrently; the object is immutable after
// Register() except for its counters (atomic).
#ifndef MERIDIAN_K8S_EXTERNAL_METRICS_H_
#define MERIDIAN_K8S_EXTERNAL_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/queryable.h"
#include "model/status.h"
#include "query/engine.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace meridian::k8s {

struct MetricMapping {
  std::string query;   // PromQL template; empty: see series, then the default
  std::string series;  // recording rule series name
  bool namespaced = true;
  int64_t max_staleness_ms = -1;  // -1: the config's default
};

struct ExternalMetricsConfig {
  std::string namespace_label = "namespace";
  std::map<std::string, std::string> namespace_tenants;
  std::string default_tenant;  // empty: unmapped namespaces are refused
  int64_t max_staleness_ms = 2 * 60'000;
  std::map<std::string, MetricMapping> metrics;

  // Parses the YAML text (InvalidArgument naming the problem).
  static absl::StatusOr<ExternalMetricsConfig> Parse(const std::string& yaml);
  static absl::StatusOr<ExternalMetricsConfig> Load(const std::string& path);
};

// One answer of the API: items or a refusal.
struct ExternalMetricItem {
  Labels labels;  // without __name__
  int64_t t_ms = 0;
  double value = 0;
};
struct ExternalMetricAnswer {
  int http_status = 200;
  std::string reason;   // Kubernetes Status reason when not 200: NotFound, ...
  std::string message;  // when not 200
  std::vector<ExternalMetricItem> items;
  std::string query;           // the PromQL that was run
  int64_t newest_age_ms = -1;  // age of the newest sample behind the answer
};

// Who may read which tenant: OK, or PermissionDenied (403) /
// Unauthenticated (401). Unset: everyone may read every mapped tenant.
using TenantAuthorizer =
    std::function<absl::Status(const httplib::Request& req, const std::string& tenant)>;

class ExternalMetricsApi {
 public:
  using TenantReader = std::function<std::unique_ptr<Queryable>(const std::string& tenant)>;
  ExternalMetricsApi(ExternalMetricsConfig config, TenantReader reader,
                     const promql::Engine* engine);

  void set_authorizer(TenantAuthorizer a) { authorizer_ = std::move(a); }

  // The routes listed above, on the k8s listener's router.
  void Register(httplib::Server* server);
  // GET /api/v1/autoscale/preview on the main router (Prometheus envelope).
  void RegisterPreview(httplib::Server* server);

  // The value of `metric` in `ns` for a label selector, checks included.
  // `req` is passed to the authorizer (nullptr: no check).
  ExternalMetricAnswer Evaluate(const httplib::Request* req, const std::string& ns,
                                const std::string& metric, const std::string& selector,
                                int64_t now_ms);

  // Counters in the text exposition format, for /metrics.
  std::string MetricsText() const;

 private:
  void Value(const httplib::Request& req, httplib::Response& res);
  void Preview(const httplib::Request& req, httplib::Response& res);

  ExternalMetricsConfig config_;
  TenantReader reader_;
  const promql::Engine* engine_;
  TenantAuthorizer authorizer_;

  std::atomic<int64_t> served_{0};
  std::atomic<int64_t> refused_stale_{0};
  std::atomic<int64_t> refused_no_data_{0};
  std::atomic<int64_t> refused_query_failed_{0};
  std::atomic<int64_t> refused_bad_request_{0};
  std::atomic<int64_t> refused_forbidden_{0};
};

}  // namespace meridian::k8s

#endif  // MERIDIAN_K8S_EXTERNAL_METRICS_H_
