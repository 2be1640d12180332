// PrometheusApi: the Prometheus-compatible HTTP API (/api/v1/...) over a
// TenantReader (a tenant's data: local storage, or remote regions) and the
// PromQL engine, with the same JSON envelopes, value encodings, error types
// and status codes as Prometheus 3.
//
// Tenancy: the THANOS-TENANT or X-Scope-OrgID request header or the `tenant`
// parameter selects the tenant (api/tenant.h: all that are given must agree,
// else 400); requests without one use ApiOptions::default_tenant.
//
// Thread-safety: handlers run concurrently on the HTTP server's threads; the
// object is immutable after Register().
#ifndef MERIDIAN_API_API_H_
#define MERIDIAN_API_API_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/query_cache.h"
#include "api/tenant.h"  // TenantOf, RequestTenant
#include "http/disconnect.h"
#include "model/queryable.h"
#include "query/engine.h"
#include "storage/storage.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace meridian::rules {
class Manager;
}  // namespace meridian::rules

namespace meridian::api {

struct Reply;  // api/api_internal.h

struct ApiOptions {
  std::string default_tenant = "default-tenant";
  int64_t max_points_per_series = 11000;
  // Most items /api/v1/series, /labels and /label/<name>/values return (0: no cap).
  size_t max_metadata_results = 100'000;
  // Requests naming a tenant ID that remote-write would refuse get 400.
  size_t max_tenant_id_bytes = 150;
  std::string version = "0.1.0";
  // Shown by /api/v1/status/flags.
  std::map<std::string, std::string> flags;
  std::string start_time_rfc3339;
  std::string cwd;
  std::string storage_retention = "0s";
  // Serve /api/v1/admin/* (otherwise 503 "admin APIs disabled", as Prometheus).
  bool enable_admin_api = false;
  // Called after every request with the endpoint's name, the status code and
  // the seconds it took (self-metrics); may be empty.
  std::function<void(std::string_view handler, int code, double seconds)> observe_request;
  // The rule groups /api/v1/rules and /api/v1/alerts report (borrowed; null: none).
  const rules::Manager* rules = nullptr;
  // Borrowed, may be null: range queries reuse the steps it kept
  // (api/query_cache.h); requests with nocache=1 bypass it. Set only where
  // every read is of local storage (a global meridian's remote data has no
  // data generation).
  RangeQueryCache* query_cache = nullptr;
  // When set, every read endpoint reads through what this makes of the
  // tenant's local view for the request (a global meridian's remote-read
  // fan-out, server.cc); its error (a bad parameter) is the request's answer.
  std::function<absl::StatusOr<std::unique_ptr<Queryable>>(
      std::unique_ptr<Queryable> local, const httplib::Request& req, const std::string& tenant)>
      wrap_queryable;
};

// The text exposition of /federate for these series (each with its latest
// sample): one untyped family per metric name, `instance=""` added where the
// series has no instance label, as Prometheus's federation writes it.
std::string FederateText(const std::vector<std::pair<Labels, Sample>>& series);

class PrometheusApi {
 public:
  // All pointers are borrowed and must outlive the API. `reader` answers
  // queries, series and labels. `local` is the local store for what only it
  // knows (metadata, TSDB status, snapshots); null on a stateless querier,
  // where those answer empty (snapshots: 503).
  PrometheusApi(TenantReader* reader, Storage* local, const promql::Engine* engine,
                ApiOptions options);

  // Registers every /api/v1 route on `server`.
  void Register(httplib::Server* server);

 private:
  // One method per endpoint (api.cc: queries and the parser endpoints;
  // api_metadata.cc: series, labels, metadata; api_status.cc: status, admin).
  Reply Query(const httplib::Request& req);
  Reply QueryRange(const httplib::Request& req);
  Reply Series(const httplib::Request& req);
  Reply Labels(const httplib::Request& req);
  Reply LabelValues(const httplib::Request& req);
  Reply Metadata(const httplib::Request& req);
  Reply BuildInfo(const httplib::Request& req);
  Reply RuntimeInfo(const httplib::Request& req);
  Reply Flags(const httplib::Request& req);
  Reply TsdbStatus(const httplib::Request& req);
  Reply Snapshot(const httplib::Request& req);
  static Reply QueryExemplars(const httplib::Request& req);
  static Reply FormatQuery(const httplib::Request& req);
  static Reply ParseQuery(const httplib::Request& req);
  Reply Rules(const httplib::Request& req);  // api_rules.cc
  Reply Alerts(const httplib::Request& req);
  // GET /federate (api_federate.cc): text exposition, not a JSON Reply.
  void Federate(const httplib::Request& req, httplib::Response& res);

  // Options for the engine from the request (timeout, lookback_delta) with
  // cancellation when the client goes away, then the query's JSON reply.
  template <typename RunFn>
  Reply RunQuery(const httplib::Request& req, RunFn run);
  // The range query's key in options_.query_cache; nullopt when it is not
  // to be cached (no cache, nocache=1, not step-invariant, a parse error).
  std::optional<RangeCacheKey> CacheKey(const httplib::Request& req,
                                        const promql::QueryOptions& opts, int64_t step_ms) const;
  // The tenant's read view (through options_.wrap_queryable when set).
  absl::StatusOr<std::unique_ptr<Queryable>> Tenant(const httplib::Request& req);

  TenantReader* reader_;
  Storage* local_;  // may be null
  const promql::Engine* engine_;
  ApiOptions options_;
  http::DisconnectWatch disconnects_;  // cancels queries whose client went away
};

}  // namespace meridian::api

#endif  // MERIDIAN_API_API_H_
