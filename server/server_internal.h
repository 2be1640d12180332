// MeridianServer's insides, shared by the files that wire one feature each
// (server/server.cc creates, runs and stops; server/wiring_*.cc set up and
// route storage and the compactor, ingest, the engine and the API, remotes,
// rules, TLS and authentication, the Kubernetes API, and the main router).
// Not for use outside server/.
#ifndef MERIDIAN_SERVER_SERVER_INTERNAL_H_
#define MERIDIAN_SERVER_SERVER_INTERNAL_H_

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/api.h"
#include "compactor/compactor.h"
#include "http/http_server.h"
#include "http/tls.h"
#include "ingest/remote_write.h"
#include "k8s/external_metrics.h"
#include "model/sync.h"
#include "query/engine.h"
#include "remote/fanout.h"
#include "rules/manager.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/federation.h"
#include "server/metrics.h"
#include "server/remotes.h"
#include "server/server.h"
#include "storage/storage.h"

namespace meridian::server {

using Clock = std::chrono::steady_clock;

// Limits concurrent remote-writes. A write over the limit waits for a slot
// for up to `wait` (a burst of Prometheus' 50 shards per region is absorbed,
// not bounced); then the sender is told to back off (503 + Retry-After),
// which Prometheus always retries.
class InflightLimiter {
 public:
  InflightLimiter(int limit, std::chrono::milliseconds wait) : limit_(limit), wait_(wait) {}
  bool Acquire();
  void Release();

 private:
  const int limit_;
  const std::chrono::milliseconds wait_;
  Mutex mu_;
  CondVar cv_;
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;
};

// The remote-write paths (1.0/2.0 and the Thanos/Cortex aliases).
bool IsWritePath(const std::string& path);

// Steps of a range query newer than now minus this are never kept by the
// results cache, and appends of samples older than that bump the tenant's
// data generation (StorageOptions::late_write_ms): VictoriaMetrics'
// -search.cacheTimestampOffset default.
inline constexpr int64_t kQueryCacheOffsetMs = 5 * 60 * 1000;

struct MeridianServer::Impl {
  Config config;
  // Reads series ahead for large Selects (StorageOptions::read_ahead_executor)
  // and runs window functions on a second thread (EngineOptions::executor).
  std::shared_ptr<ThreadPool> read_ahead;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<ingest::RemoteWriteReceiver> receiver;
  std::unique_ptr<promql::Engine> engine;
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<rules::Manager> rules;
  std::shared_ptr<api::RangeQueryCache> query_cache;  // --query-cache-bytes; null: none
  std::unique_ptr<api::PrometheusApi> api;
  std::unique_ptr<compactor::Compactor> compactor;
  std::unique_ptr<InflightLimiter> limiter;
  std::vector<std::shared_ptr<const remote::RemoteReadClient>> remotes;  // --remote-read
  std::unique_ptr<RemoteBoard> remote_board;    // calls, watermarks, remote-read metrics
  std::unique_ptr<FederationPulls> federation;  // --federate-pull
  http::Router http;                            // routes and handlers; connections are HttpServer's
  std::unique_ptr<http::HttpServer> listener;
  std::thread retention_thread;
  // TLS (nullptr: plain HTTP) and the Kubernetes external metrics API, with
  // its own HTTPS listener when --k8s-listen is set.
  std::shared_ptr<http::TlsServerContext> tls_main;
  std::shared_ptr<http::TlsServerContext> tls_k8s;
  std::unique_ptr<k8s::ExternalMetricsApi> k8s_api;
  http::Router k8s_http;
  std::unique_ptr<http::HttpServer> k8s_listener;
  std::thread k8s_thread;
  std::thread watch_thread;                          // reloads certificates when their files change
  std::unique_ptr<Authenticator> auth;               // --auth-file; nullptr: no authentication
  std::atomic<int64_t> auth_refused[3] = {0, 0, 0};  // 400 (tenant headers), 401, 403
  void CountRefusal(int status) {
    auth_refused[status == 400 ? 0 : status == 401 ? 1 : 2].fetch_add(1);
  }
  Mutex mu;
  CondVar cv;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::atomic<bool> ready{false};

  // Set-up, in the order Create() calls them (each file wires one feature).
  absl::Status OpenStorage();                      // wiring_storage.cc: storage, compactor
  void SetUpIngest();                              // wiring_ingest.cc
  void SetUpEngine();                              // wiring_query.cc: metrics, engine
  absl::Status SetUpRules();                       // wiring_rules.cc
  absl::Status SetUpRemotes(api::ApiOptions* ao);  // wiring_remote.cc (and federation pulls)
  absl::Status SetUpApi();                         // wiring_query.cc
  void SetUpQueryCache(api::ApiOptions* ao);       // wiring_query.cc: results cache, metrics
  absl::Status SetUpTls();                         // wiring_auth.cc
  absl::Status SetUpAuth();                        // wiring_auth.cc
  absl::Status SetUpK8s();                         // wiring_k8s.cc
  void SetUpRouter();                              // wiring_http.cc
  void RegisterRoutes();                           // wiring_http.cc

  // Routes of one feature each.
  void RegisterWriteRoutes();
  void RegisterReadRoute();
  void RegisterRemotesStatusRoute();
  void RegisterCompactorRoutes();
  void RegisterStorageRoutes();
  void RegisterReloadRoutes();
  void RegisterMetricsRoute();

  // Threads and what they run.
  void RetentionLoop();
  void WatchLoop();
  absl::Status StartK8sListener();
  void ReloadFiles();
  // Checks a request's tenant headers and, with an auth file, its caller,
  // role and tenant; writes the refusal and returns true when refused.
  bool RefuseRequest(const httplib::Request& req, httplib::Response& res);
  // The same on the k8s listener (Kubernetes Status bodies).
  bool RefuseK8sRequest(const httplib::Request& req, httplib::Response& res);
};

}  // namespace meridian::server

#endif  // MERIDIAN_SERVER_SERVER_INTERNAL_H_
