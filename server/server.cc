#include "server/server.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "api/api.h"
#include "api/json.h"
#include "api/params.h"
#include "compactor/compactor.h"
#include "http/http_errors.h"
#include "http/http_server.h"
#include "http/tls.h"
#include "ingest/remote_write.h"
#include "k8s/external_metrics.h"
#include "model/sync.h"
#include "query/engine.h"
#include "remote/dedup.h"
#include "remote/fanout.h"
#include "remote/read_handler.h"
#include "rules/manager.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "storage/storage.h"
#include "ui/ui.h"

namespace meridian::server {

using api::ApiOptions;
using api::JsonWriter;
using api::PrometheusApi;
using api::PublicMessage;
using api::TenantOf;
using http::HttpServer;
using http::HttpServerOptions;
using http::HttpServerStats;
using http::PeerCertificate;
using http::Router;
using http::TlsOptions;
using http::TlsServerContext;

namespace {

using Clock = std::chrono::steady_clock;

std::string NowRfc3339() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Limits concurrent remote-writes. A write over the limit waits for a slot
// for up to `wait` (a burst of Prometheus' 50 shards per region is absorbed,
// not bounced); then the sender is told to back off (503 + Retry-After),
// which Prometheus always retries.
class InflightLimiter {
 public:
  InflightLimiter(int limit, std::chrono::milliseconds wait) : limit_(limit), wait_(wait) {}
  bool Acquire() {
    MutexLock lock(&mu_);
    if (limit_ <= 0) return false;
    const auto deadline = std::chrono::steady_clock::now() + wait_;
    while (inflight_ >= limit_) {
      if (cv_.WaitUntil(&mu_, deadline) && inflight_ >= limit_) return false;
    }
    ++inflight_;
    return true;
  }
  void Release() {
    {
      MutexLock lock(&mu_);
      --inflight_;
    }
    cv_.Signal();
  }

 private:
  const int limit_;
  const std::chrono::milliseconds wait_;
  Mutex mu_;
  CondVar cv_;
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;
};

// The connection layer's counters in the text exposition format.
std::string HttpMetricsText(const HttpServerStats& s) {
  std::string o;
  auto metric = [&o](const char* name, const char* type, const char* help, int64_t v) {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
         name + " " + std::to_string(v) + "\n";
  };
  metric("meridian_http_open_connections", "gauge", "Open HTTP connections.", s.connections);
  metric("meridian_http_connections_accepted_total", "counter", "HTTP connections accepted.",
         s.accepted);
  metric("meridian_http_workers_busy", "gauge", "HTTP workers running a request.", s.workers_busy);
  metric("meridian_http_requests_queued", "gauge", "Complete requests waiting for a worker.",
         s.queued);
  o += "# HELP meridian_http_rejected_total Requests answered by the connection layer "
       "without a handler, by reason.\n# TYPE meridian_http_rejected_total counter\n";
  o += "meridian_http_rejected_total{reason=\"overload\"} " + std::to_string(s.rejected_overload) +
       "\n";
  o += "meridian_http_rejected_total{reason=\"connections\"} " +
       std::to_string(s.rejected_connections) + "\n";
  o += "meridian_http_rejected_total{reason=\"read_timeout\"} " + std::to_string(s.read_timeouts) +
       "\n";
  o += "meridian_http_rejected_total{reason=\"too_large\"} " + std::to_string(s.too_large) + "\n";
  return o;
}

// The TLS counters of the listeners that serve TLS, by listener.
std::string TlsMetricsText(const std::vector<std::pair<std::string, HttpServerStats>>& listeners) {
  if (listeners.empty()) return "";
  std::string o =
      "# HELP meridian_tls_handshakes_total TLS handshakes, by listener and outcome "
      "(plain_http: a plain HTTP request sent to the TLS port).\n"
      "# TYPE meridian_tls_handshakes_total counter\n";
  for (const auto& listener : listeners) {
    const std::string& name = listener.first;  // (clang 14 cannot capture a structured binding)
    const HttpServerStats& s = listener.second;
    auto line = [&](const char* outcome, int64_t v) {
      o += "meridian_tls_handshakes_total{listener=\"" + name + "\",outcome=\"" + outcome + "\"} " +
           std::to_string(v) + "\n";
    };
    line("ok", s.tls_handshakes);
    line("failed", s.tls_handshake_failures);
    line("plain_http", s.tls_plain_http);
  }
  return o;
}

bool IsWritePath(const std::string& path) {
  return path == "/api/v1/write" || path == "/api/v1/receive" || path == "/api/v1/push";
}

// The last outcome of the calls to each remote, for /api/v1/status/remotes.
class RemoteStatusBoard : public remote::RemoteHealth {
 public:
  struct Entry {
    bool called = false;
    bool up = false;
    std::string last_error;
    int64_t last_success_ms = 0;
  };
  void Record(const std::string& name, const absl::Status& status) override {
    MutexLock lock(&mu_);
    Entry& e = entries_[name];
    e.called = true;
    e.up = status.ok();
    if (status.ok()) {
      e.last_success_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      e.last_error.clear();
    } else {
      e.last_error = std::string(status.message());
    }
  }
  Entry Get(const std::string& name) {
    MutexLock lock(&mu_);
    return entries_[name];
  }

 private:
  Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// The remote-read endpoints of --remote-read as clients.
absl::StatusOr<std::vector<std::shared_ptr<const remote::RemoteReadClient>>> RemoteClients(
    const Config& config) {
  std::vector<std::shared_ptr<const remote::RemoteReadClient>> out;
  for (const RemoteReadConfig& rc : config.remote_reads) {
    remote::RemoteEndpoint e;
    e.name = rc.name;
    e.url = rc.url;
    e.timeout = std::chrono::milliseconds(rc.timeout_ms);
    e.tenant_header = rc.tenant_header;
    e.tenant = rc.tenant;
    std::vector<Label> ext;
    for (const auto& [n, v] : rc.external_labels) ext.push_back(Label{n, v});
    e.external_labels = Labels::FromUnsorted(std::move(ext));
    e.bearer_token = rc.bearer_token;
    e.basic_auth_username = rc.basic_auth_username;
    e.basic_auth_password = rc.basic_auth_password;
    e.tls_ca_file = rc.tls_ca_file;
    e.tls_insecure_skip_verify = rc.tls_insecure_skip_verify;
    remote::HttpCall probe(e);
    if (!probe.setup().ok()) {
      return absl::InvalidArgumentError("--remote-read " + rc.name + ": " +
                                        std::string(probe.setup().message()));
    }
    out.push_back(std::make_shared<const remote::RemoteReadClient>(std::move(e)));
  }
  return out;
}

// A boolean query parameter as Go's strconv.ParseBool reads it (Thanos's
// partial_response and dedup); `def` when absent or empty.
absl::StatusOr<bool> GoBoolParam(const httplib::Request& req, const char* name, bool def) {
  if (!req.has_param(name) || req.get_param_value(name).empty()) return def;
  const std::string v = req.get_param_value(name);
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (v == t) return true;
  }
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (v == f) return false;
  }
  return absl::InvalidArgumentError("invalid parameter \"" + std::string(name) +
                                    "\": strconv.ParseBool: parsing \"" + v + "\": invalid syntax");
}

ingest::IngestLimits LimitsOf(const Config& c) {
  ingest::IngestLimits l;
  l.max_labels_per_series = static_cast<size_t>(c.max_labels_per_series);
  l.max_label_name_bytes = static_cast<size_t>(c.max_label_name_bytes);
  l.max_label_value_bytes = static_cast<size_t>(c.max_label_value_bytes);
  l.max_series_per_request = static_cast<size_t>(c.max_series_per_request);
  l.max_samples_per_request = static_cast<size_t>(c.max_samples_per_request);
  l.max_series_per_tenant = static_cast<uint64_t>(c.max_series_per_tenant);
  l.max_tenant_id_bytes = static_cast<size_t>(c.max_tenant_id_bytes);
  l.ingestion_rate = c.ingestion_rate;
  l.ingestion_burst = c.ingestion_burst;
  return l;
}

}  // namespace

compactor::CompactorOptions CompactorOptionsOf(const Config& c) {
  compactor::CompactorOptions o;
  o.downsample_5m_after_ms = c.downsample_5m_after_ms;
  o.downsample_1h_after_ms = c.downsample_1h_after_ms;
  o.retention.raw_ms = c.retention_ms;
  o.retention.res_5m_ms = c.retention_5m_ms;
  o.retention.res_1h_ms = c.retention_1h_ms;
  for (const auto& [tenant, r] : c.tenant_retention) {
    o.tenant_retention[tenant] = {r.raw_ms, r.res_5m_ms, r.res_1h_ms};
  }
  return o;
}

struct MeridianServer::Impl {
  Config config;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<ingest::RemoteWriteReceiver> receiver;
  std::unique_ptr<promql::Engine> engine;
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<rules::Manager> rules;
  std::unique_ptr<PrometheusApi> api;
  std::unique_ptr<compactor::Compactor> compactor;
  std::unique_ptr<InflightLimiter> limiter;
  std::vector<std::shared_ptr<const remote::RemoteReadClient>> remotes;  // --remote-read
  RemoteStatusBoard remote_status;
  Router http;  // routes and handlers; connections are HttpServer's
  std::unique_ptr<HttpServer> listener;
  std::thread retention_thread;
  // TLS (nullptr: plain HTTP) and the Kubernetes external metrics API, with
  // its own HTTPS listener when --k8s-listen is set.
  std::shared_ptr<TlsServerContext> tls_main;
  std::shared_ptr<TlsServerContext> tls_k8s;
  std::unique_ptr<k8s::ExternalMetricsApi> k8s_api;
  Router k8s_http;
  std::unique_ptr<HttpServer> k8s_listener;
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

  void RegisterWriteRoutes();
  void RegisterReadRoute();
  void RegisterRemotesStatusRoute();
  void RetentionLoop();
  void RegisterCompactorRoutes();
  void WatchLoop();
  absl::Status SetUpTls();
  absl::Status StartK8sListener();
  void ReloadFiles();
  // Checks a request's tenant headers and, with an auth file, its caller,
  // role and tenant; writes the refusal and returns true when refused.
  bool RefuseRequest(const httplib::Request& req, httplib::Response& res);
  // The same on the k8s listener (Kubernetes Status bodies).
  bool RefuseK8sRequest(const httplib::Request& req, httplib::Response& res);
};

void MeridianServer::Impl::RegisterWriteRoutes() {
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    auto start = Clock::now();
    ingest::RemoteWriteStats stats;
    const std::string tenant = TenantOf(req, config.default_tenant);
    absl::Status st;
    if (!limiter->Acquire()) {
      st = absl::UnavailableError("too many concurrent remote-write requests; retry later");
      stats.request_rejected = "too_many_inflight";
    } else {
      st = receiver->Receive(tenant, req.get_header_value("Content-Type"),
                             req.get_header_value("Content-Encoding"), req.body, &stats);
      limiter->Release();
    }
    res.set_header("X-Prometheus-Remote-Write-Samples-Written",
                   std::to_string(stats.samples_written));
    res.set_header("X-Prometheus-Remote-Write-Histograms-Written",
                   std::to_string(stats.histograms_written));
    res.set_header("X-Prometheus-Remote-Write-Exemplars-Written",
                   std::to_string(stats.exemplars_written));
    switch (st.code()) {
      case absl::StatusCode::kOk:
        res.status = 204;
        break;
      case absl::StatusCode::kInvalidArgument:
      case absl::StatusCode::kOutOfRange:
        res.status = 400;
        break;
      case absl::StatusCode::kResourceExhausted:
        res.status = 413;
        break;
      case absl::StatusCode::kUnimplemented:
        res.status = 415;
        break;
      case absl::StatusCode::kUnavailable:
        res.status = 503;
        res.set_header("Retry-After", std::to_string(std::max(1, stats.retry_after_s)));
        break;
      default:
        res.status = 500;
    }
    if (!st.ok()) {
      std::string text = res.status == 500 ? PublicMessage(st) : std::string(st.message());
      res.set_content(text + "\n", "text/plain; charset=utf-8");
    }
    metrics->ObserveWrite(tenant, &stats, res.status);
    metrics->ObserveRequest("/api/v1/write", res.status,
                            std::chrono::duration<double>(Clock::now() - start).count());
  };
  for (const char* path : {"/api/v1/write", "/api/v1/receive", "/api/v1/push"}) {
    http.Post(path, handler);
  }
}

// Prometheus's remote-read endpoint over the tenant's local data (never
// deduplicated, never reaching other remotes).
void MeridianServer::Impl::RegisterReadRoute() {
  http.Post("/api/v1/read", [this](const httplib::Request& req, httplib::Response& res) {
    auto start = Clock::now();
    const std::string tenant = TenantOf(req, config.default_tenant);
    absl::Status valid =
        ingest::ValidateTenant(tenant, static_cast<size_t>(config.max_tenant_id_bytes));
    if (!valid.ok()) {
      res.status = 400;
      res.set_content(std::string(valid.message()) + "\n", "text/plain; charset=utf-8");
    } else {
      remote::ReadLimits limits;
      limits.max_samples = config.remote_read_sample_limit;
      limits.max_bytes = config.remote_read_max_bytes;
      remote::ReadReply r = remote::ServeRemoteRead(*storage->ForTenant(tenant), req.body, limits);
      res.status = r.status;
      if (!r.content_encoding.empty()) res.set_header("Content-Encoding", r.content_encoding);
      res.set_content(std::move(r.body), r.content_type);
    }
    metrics->ObserveRequest("/api/v1/read", res.status,
                            std::chrono::duration<double>(Clock::now() - start).count());
  });
}

// GET /api/v1/status/remotes: each --remote-read endpoint and how its last
// call went (times in Unix seconds, as the API's other times).
void MeridianServer::Impl::RegisterRemotesStatusRoute() {
  http.Get("/api/v1/status/remotes", [this](const httplib::Request&, httplib::Response& res) {
    std::string body;
    JsonWriter w(&body);
    w.BeginObject();
    w.Key("status").String("success");
    w.Key("data").BeginArray();
    for (const auto& r : remotes) {
      const auto& e = r->endpoint();
      RemoteStatusBoard::Entry st = remote_status.Get(e.name);
      w.BeginObject();
      w.Key("name").String(e.name);
      w.Key("url").String(e.url);
      w.Key("up").Bool(st.up);
      w.Key("lastError").String(st.last_error);
      w.Key("lastSuccess");
      if (st.last_success_ms == 0) {
        w.Null();
      } else {
        w.PromTimestamp(st.last_success_ms);
      }
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    res.set_content(body, "application/json");
  });
}

// The background compactor (downsampling and retention per resolution and
// tenant): a throttled pass every --compact-interval, the first one an
// interval after start.
void MeridianServer::Impl::RetentionLoop() {
  if (config.compact_interval_ms <= 0) return;
  MutexLock lock(&mu);
  while (!stopping) {
    cv.WaitFor(&mu, std::chrono::milliseconds(config.compact_interval_ms));
    if (stopping) break;
    mu.Unlock();
    auto st = compactor->RunPass(/*flush=*/false, /*throttled=*/true);
    if (!st.ok()) std::fprintf(stderr, "meridian: compactor: %s\n", st.status().ToString().c_str());
    mu.Lock();
  }
}

namespace {

void SendApiError(httplib::Response& res, int status, const char* type, const std::string& msg) {
  std::string body;
  JsonWriter w(&body);
  w.BeginObject();
  w.Key("status").String("error");
  w.Key("errorType").String(type);
  w.Key("error").String(msg);
  w.EndObject();
  res.status = status;
  if (status == 401) res.set_header("WWW-Authenticate", "Basic realm=\"meridian\"");
  res.set_content(body, "application/json");
}

void SendK8sStatus(httplib::Response& res, int status, const char* reason, const std::string& msg) {
  std::string body;
  JsonWriter w(&body);
  w.BeginObject();
  w.Key("kind").String("Status");
  w.Key("apiVersion").String("v1");
  w.Key("metadata").BeginObject();
  w.EndObject();
  w.Key("status").String("Failure");
  w.Key("message").String(msg);
  w.Key("reason").String(reason);
  w.Key("code").Int(status);
  w.EndObject();
  res.status = status;
  res.set_content(body, "application/json");
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

bool MeridianServer::Impl::RefuseRequest(const httplib::Request& req, httplib::Response& res) {
  if (PublicPath(req.path)) return false;
  auto header = TenantHeader(req);
  if (!header.ok()) {
    SendApiError(res, 400, "bad_data", std::string(header.status().message()));
    CountRefusal(400);
    return true;
  }
  if (auth == nullptr) return false;
  auto user = auth->Identify(req, HttpServer::CurrentPeerCertificate());
  if (!user.ok()) {
    bool unauth = user.status().code() == absl::StatusCode::kUnauthenticated;
    SendApiError(res, unauth ? 401 : 403, unauth ? "unauthorized" : "forbidden",
                 std::string(user.status().message()));
    CountRefusal(res.status);
    return true;
  }
  const Role need = RequiredRole(req.path);
  if (!(*user)->Has(need)) {
    SendApiError(res, 403, "forbidden",
                 "user \"" + (*user)->name + "\" lacks the " + RoleName(need) + " role");
    CountRefusal(403);
    return true;
  }
  // The preview reads the namespace's tenant, checked by the k8s API itself.
  if (req.path == "/api/v1/autoscale/preview") return false;
  std::string tenant = *header;
  if (tenant.empty()) {
    tenant = config.default_tenant;
    const AuthUser& u = **user;
    if (!u.Grants(tenant) && !u.all_tenants && u.tenants.size() == 1) {
      // The user's only tenant stands in for the default.
      tenant = *u.tenants.begin();
      const_cast<httplib::Request&>(req).headers.emplace("X-Scope-OrgID", tenant);
    }
  }
  if (absl::Status v =
          ingest::ValidateTenant(tenant, static_cast<size_t>(config.max_tenant_id_bytes));
      !v.ok()) {
    SendApiError(res, 400, "bad_data", std::string(v.message()));
    CountRefusal(400);
    return true;
  }
  if (!(*user)->Grants(tenant)) {
    SendApiError(res, 403, "forbidden",
                 "user \"" + (*user)->name + "\" may not use tenant \"" + tenant + "\"");
    CountRefusal(403);
    return true;
  }
  return false;
}

bool MeridianServer::Impl::RefuseK8sRequest(const httplib::Request& req, httplib::Response& res) {
  if (auth == nullptr || PublicPath(req.path)) return false;
  auto user = auth->Identify(req, HttpServer::CurrentPeerCertificate());
  if (!user.ok()) {
    bool unauth = user.status().code() == absl::StatusCode::kUnauthenticated;
    SendK8sStatus(res, unauth ? 401 : 403, unauth ? "Unauthorized" : "Forbidden",
                  std::string(user.status().message()));
    CountRefusal(res.status);
    return true;
  }
  if (!(*user)->Has(Role::kRead)) {
    SendK8sStatus(res, 403, "Forbidden", "user \"" + (*user)->name + "\" lacks the read role");
    CountRefusal(403);
    return true;
  }
  return false;
}

void MeridianServer::Impl::RegisterCompactorRoutes() {
  // One full pass now (flush, downsample everything due, retention); answers
  // when it is done with its summary. Tests and benchmarks use it as they
  // use /internal/force_flush.
  http.Post("/internal/compact", [this](const httplib::Request&, httplib::Response& res) {
    auto st = compactor->RunPass(/*flush=*/true, /*throttled=*/false);
    if (st.ok()) {
      res.set_content(
          "{\"status\":\"success\",\"data\":" + compactor::Compactor::SummaryJson(*st) + "}",
          "application/json");
    } else {
      std::fprintf(stderr, "meridian: compactor: %s\n", st.status().ToString().c_str());
      res.status = st.status().code() == absl::StatusCode::kUnavailable ? 503 : 500;
      res.set_content(
          R"json({"status":"error","errorType":"internal","error":"compaction pass failed (details in the server log)"})json",
          "application/json");
    }
  });
  http.Get("/api/v1/status/compactor", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"success\",\"data\":" + compactor->StatusJson() + "}",
                    "application/json");
  });
}

void MeridianServer::Impl::ReloadFiles() {
  if (auth != nullptr) {
    absl::Status st = auth->Reload();
    if (!st.ok()) {
      std::fprintf(stderr, "meridian: auth file reload failed, keeping the previous one: %s\n",
                   std::string(st.message()).c_str());
    }
  }
  for (auto* t : {&tls_main, &tls_k8s}) {
    if (*t == nullptr) continue;
    absl::Status st = (*t)->Reload();
    if (!st.ok()) {
      std::fprintf(stderr, "meridian: TLS reload failed, keeping the previous certificates: %s\n",
                   std::string(st.message()).c_str());
    }
  }
}

void MeridianServer::Impl::WatchLoop() {
  MutexLock lock(&mu);
  while (!stopping) {
    cv.WaitFor(&mu, std::chrono::seconds(5));
    if (stopping) break;
    mu.Unlock();
    bool changed = false;
    for (auto* t : {&tls_main, &tls_k8s}) changed |= *t != nullptr && (*t)->FilesChanged();
    changed |= auth != nullptr && auth->FileChanged();
    if (changed) {
      std::fprintf(stderr, "meridian: certificate or auth files changed, reloading\n");
      ReloadFiles();
    }
    mu.Lock();
  }
}

absl::Status MeridianServer::Impl::SetUpTls() {
  const Config& c = config;
  TlsOptions to;
  to.cert_file = c.tls_cert_file;
  to.key_file = c.tls_private_key_file;
  to.client_ca_file = c.client_ca_file;
  to.requestheader_client_ca_file = c.requestheader_client_ca_file;
  if (!to.cert_file.empty() || !to.key_file.empty()) {
    auto t = TlsServerContext::Create(to);
    if (!t.ok()) return t.status();
    tls_main = *t;
    tls_k8s = tls_main;
  } else if (!c.client_ca_file.empty() || !c.requestheader_client_ca_file.empty()) {
    if (c.k8s_listen.empty()) {
      return absl::InvalidArgumentError(
          "--client-ca-file and --requestheader-client-ca-file need TLS: give "
          "--tls-cert-file and --tls-private-key-file (or --k8s-listen)");
    }
  }
  if (!c.k8s_listen.empty() && tls_k8s == nullptr) {
    std::string host;
    int port;
    MERIDIAN_RETURN_IF_ERROR(ParseListen(c.k8s_listen, &host, &port));
    to.self_signed_if_missing = true;
    to.self_signed_names = {"localhost", "127.0.0.1", "::1"};
    if (!host.empty() && host != "0.0.0.0" && host != "::" && host != "localhost" &&
        host != "127.0.0.1" && host != "::1") {
      to.self_signed_names.push_back(host);
    }
    to.self_signed_out = c.data_dir + "/k8s-self-signed.crt";
    auto t = TlsServerContext::Create(to);
    if (!t.ok()) return t.status();
    tls_k8s = *t;
    std::fprintf(stderr,
                 "meridian: no --tls-cert-file: the k8s listener serves a self-signed certificate "
                 "(SHA-256 %s), written to %s; use it as the APIService's caBundle or give "
                 "--tls-cert-file/--tls-private-key-file\n",
                 tls_k8s->fingerprint_sha256().c_str(), to.self_signed_out.c_str());
  }
  return absl::OkStatus();
}

absl::Status MeridianServer::Impl::StartK8sListener() {
  if (config.k8s_listen.empty()) return absl::OkStatus();
  HttpServerOptions ho;
  MERIDIAN_RETURN_IF_ERROR(ParseListen(config.k8s_listen, &ho.host, &ho.port));
  ho.worker_threads = 8;
  ho.max_queued = 256;
  ho.max_connections = 1024;
  ho.max_body_bytes = 1 << 20;
  ho.tls = tls_k8s;
  {
    MutexLock lock(&mu);
    if (stopping) return absl::OkStatus();
    k8s_listener = std::make_unique<HttpServer>(&k8s_http, ho);
  }
  MERIDIAN_RETURN_IF_ERROR(k8s_listener->Bind());
  std::string shown = ho.host.find(':') != std::string::npos ? "[" + ho.host + "]" : ho.host;
  std::fprintf(stderr, "meridian: external metrics API (https) on %s:%d\n",
               shown.empty() ? "0.0.0.0" : shown.c_str(), k8s_listener->port());
  k8s_thread = std::thread([this] { k8s_listener->Run(); });
  return absl::OkStatus();
}

MeridianServer::MeridianServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MeridianServer::~MeridianServer() {
  Stop();
  if (impl_->retention_thread.joinable()) impl_->retention_thread.join();
  if (impl_->watch_thread.joinable()) impl_->watch_thread.join();
  if (impl_->k8s_thread.joinable()) impl_->k8s_thread.join();
}

void MeridianServer::Reload() {
  impl_->ReloadFiles();
  absl::Status st = impl_->rules->Reload();
  std::fprintf(stderr, "meridian: rule files: %s\n",
               st.ok()
                   ? "reloaded"
                   : ("reload failed, previous rules kept: " + std::string(st.message())).c_str());
}

absl::StatusOr<std::unique_ptr<MeridianServer>> MeridianServer::Create(const Config& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  if (absl::Status t = ingest::ValidateTenant(config.default_tenant,
                                              static_cast<size_t>(config.max_tenant_id_bytes));
      !t.ok()) {
    return absl::InvalidArgumentError("--default-tenant: " + std::string(t.message()));
  }

  StorageOptions so;
  so.dir = config.data_dir;
  so.out_of_order_window_ms = config.out_of_order_window_ms;
  so.allow_backfill = config.allow_backfill;
  // Retention is the compactor's (per resolution and tenant): the storage
  // deletes only what the compactor asks for.
  so.retention_ms = 0;
  so.sync_wal = config.sync_wal;
  so.block_cache_bytes = static_cast<size_t>(config.block_cache_bytes);
  so.max_tenants = static_cast<size_t>(config.max_tenants);
  // Large Selects decode series ahead of the evaluation on this pool: two
  // threads per core (a read-ahead thread mostly waits for its query), at
  // least four; a Select that finds them all busy reads on its own thread.
  so.read_ahead_executor = std::make_shared<ThreadPool>(
      static_cast<int>(std::max(4u, 2 * std::thread::hardware_concurrency())), "read-ahead");
  auto storage = Storage::Open(so);
  if (!storage.ok()) return storage.status();
  impl->storage = *std::move(storage);

  ingest::RemoteWriteOptions ro;
  ro.max_body_bytes = static_cast<size_t>(config.max_body_bytes);
  ro.max_decoded_bytes = static_cast<size_t>(config.max_decoded_bytes);
  ro.max_future_ms = config.max_future_ms;
  ro.limits = LimitsOf(config);
  impl->receiver = std::make_unique<ingest::RemoteWriteReceiver>(impl->storage.get(), ro);
  impl->compactor =
      std::make_unique<compactor::Compactor>(impl->storage.get(), CompactorOptionsOf(config));

  promql::EngineOptions eo;
  eo.lookback_delta_ms = config.lookback_delta_ms;
  eo.max_samples = config.max_samples;
  eo.timeout = std::chrono::milliseconds(config.query_timeout_ms);
  eo.admission.dashboard_slots = static_cast<int>(config.query_max_concurrency);
  eo.admission.priority_slots = static_cast<int>(config.query_priority_concurrency);
  eo.admission.queue_timeout = std::chrono::milliseconds(config.query_queue_timeout_ms);
  eo.admission.max_queued = static_cast<int>(config.query_max_queued);
  impl->metrics = std::make_unique<Metrics>(config.default_tenant);
  eo.on_query_done = [m = impl->metrics.get()](const promql::QueryStats& s) { m->ObserveQuery(s); };
  impl->engine = std::make_unique<promql::Engine>(eo);
  impl->limiter =
      std::make_unique<InflightLimiter>(config.max_inflight_writes, std::chrono::seconds(1));

  rules::ManagerOptions rmo;
  rmo.default_interval_ms = config.rule_evaluation_interval_ms;
  auto sources = ParseRuleFileSources(config.rule_files, config.default_tenant);
  if (!sources.ok())
    return absl::InvalidArgumentError("--rule-files: " + std::string(sources.status().message()));
  for (auto& [tenant, glob] : *sources) {
    if (absl::Status t =
            ingest::ValidateTenant(tenant, static_cast<size_t>(config.max_tenant_id_bytes));
        !t.ok()) {
      return absl::InvalidArgumentError("--rule-files: tenant " + tenant + ": " +
                                        std::string(t.message()));
    }
    rmo.sources.push_back({tenant, glob});
  }
  impl->rules = std::make_unique<rules::Manager>(
      impl->storage.get(),
      [st = impl->storage.get()](std::string_view tenant) { return st->ForTenant(tenant); },
      impl->engine.get(), rmo);
  if (absl::Status st = impl->rules->Reload(); !st.ok()) {
    return absl::InvalidArgumentError("loading rule files: " + std::string(st.message()));
  }

  ApiOptions ao;
  ao.default_tenant = config.default_tenant;
  ao.flags = config.AsFlags();
  ao.start_time_rfc3339 = NowRfc3339();
  ao.cwd = std::filesystem::current_path().string();
  ao.storage_retention = config.retention_ms == 0 ? "0s" : ao.flags["retention"];
  ao.enable_admin_api = config.enable_admin_api;
  ao.max_metadata_results = static_cast<size_t>(config.max_metadata_results);
  ao.max_tenant_id_bytes = static_cast<size_t>(config.max_tenant_id_bytes);
  ao.rules = impl->rules.get();
  ao.observe_request = [m = impl->metrics.get()](std::string_view handler, int code,
                                                 double seconds) {
    m->ObserveRequest(handler, code, seconds);
  };
  auto remotes = RemoteClients(config);
  if (!remotes.ok()) return remotes.status();
  impl->remotes = *std::move(remotes);
  if (!impl->remotes.empty() || !config.replica_labels.empty()) {
    // A global meridian: every read also asks the remotes, and/or
    // deduplicates HA replicas.
    ao.wrap_queryable = [p = impl.get()](
                            std::unique_ptr<Queryable> local, const httplib::Request& req,
                            const std::string&) -> absl::StatusOr<std::unique_ptr<Queryable>> {
      std::unique_ptr<Queryable> q = std::move(local);
      if (!p->remotes.empty()) {
        MERIDIAN_ASSIGN_OR_RETURN(bool partial, GoBoolParam(req, "partial_response", true));
        remote::FanoutOptions fo;
        fo.tenant = TenantOf(req, "");  // the caller's header, if any
        fo.partial_response = partial;
        fo.health = &p->remote_status;
        q = std::make_unique<remote::FanoutQueryable>(std::move(q), p->remotes, std::move(fo));
      }
      if (!p->config.replica_labels.empty()) {
        MERIDIAN_ASSIGN_OR_RETURN(bool dedup, GoBoolParam(req, "dedup", true));
        if (dedup) {
          q = std::make_unique<remote::DedupQueryable>(std::move(q), p->config.replica_labels);
        }
      }
      return q;
    };
  }
  impl->api = std::make_unique<PrometheusApi>(impl->storage.get(), impl->storage.get(),
                                              impl->engine.get(), ao);

  Impl* p = impl.get();
  MERIDIAN_RETURN_IF_ERROR(p->SetUpTls());
  if (!config.auth_file.empty()) {
    auto a = Authenticator::Create(config.auth_file, config.requestheader_allowed_names);
    if (!a.ok())
      return absl::InvalidArgumentError("--auth-file: " + std::string(a.status().message()));
    p->auth = *std::move(a);
  }
  {
    k8s::ExternalMetricsConfig kc;
    kc.default_tenant = config.default_tenant;  // without a file: every namespace reads it
    if (!config.k8s_config.empty()) {
      auto loaded = k8s::ExternalMetricsConfig::Load(config.k8s_config);
      if (!loaded.ok())
        return absl::InvalidArgumentError("--k8s-config: " +
                                          std::string(loaded.status().message()));
      kc = *std::move(loaded);
    }
    p->k8s_api = std::make_unique<k8s::ExternalMetricsApi>(
        std::move(kc), [p](const std::string& t) { return p->storage->ForTenant(t); },
        p->engine.get());
    p->k8s_api->Register(&p->k8s_http);
    p->k8s_http.set_pre_routing_handler([p](const httplib::Request& req, httplib::Response& res) {
      return p->RefuseK8sRequest(req, res) ? httplib::Server::HandlerResponse::Handled
                                           : httplib::Server::HandlerResponse::Unhandled;
    });
    if (p->auth != nullptr) {
      p->k8s_api->set_authorizer([p](const httplib::Request& req, const std::string& tenant) {
        auto user = p->auth->Identify(req, HttpServer::CurrentPeerCertificate());
        if (!user.ok()) return user.status();
        if (!(*user)->Has(Role::kRead)) {
          return absl::PermissionDeniedError("user \"" + (*user)->name + "\" lacks the read role");
        }
        if (!(*user)->Grants(tenant)) {
          return absl::PermissionDeniedError("user \"" + (*user)->name +
                                             "\" may not read tenant \"" + tenant + "\"");
        }
        return absl::OkStatus();
      });
    }
    InstallJsonExceptionHandler(&p->k8s_http);
  }
  // httplib answers 413 itself above this; the error handler explains.
  p->http.set_payload_max_length(static_cast<size_t>(config.max_body_bytes));
  p->http.set_error_handler(
      [p, max = config.max_body_bytes](const httplib::Request& req, httplib::Response& res) {
        // Runs for every answer >= 400. The write handler counts its own (it
        // always sets the Written headers); this counts the 405s, 413s and 415s
        // answered before it.
        if (IsWritePath(req.path) && !res.has_header("X-Prometheus-Remote-Write-Samples-Written")) {
          p->metrics->ObserveWrite(TenantOf(req, p->config.default_tenant), nullptr, res.status);
        }
        if (res.status == 413 && res.body.empty()) {
          res.set_content("request body too large: over the limit of " + std::to_string(max) +
                              " bytes (max-body-bytes)\n",
                          "text/plain; charset=utf-8");
        } else if (res.status == 404 && res.body.empty()) {
          res.set_content("404 page not found\n", "text/plain; charset=utf-8");
        } else if ((res.status == 414 || res.status == 431) && res.body.empty()) {
          // The connection layer answers these itself; this covers httplib's own.
          res.set_content(
              R"({"status":"error","errorType":"bad_data","error":"request head too large"})",
              "application/json");
        }
      });
  InstallJsonExceptionHandler(&p->http);
  // httplib would try to inflate gzip/deflate/br bodies itself and answer 400
  // when that fails; remote-write with a non-snappy encoding is a 415.
  p->http.set_pre_routing_handler([p](const httplib::Request& req, httplib::Response& res) {
    if (p->RefuseRequest(req, res)) return httplib::Server::HandlerResponse::Handled;
    // Writes, /internal/* and admin endpoints change state: POST only, as
    // Prometheus answers 405 with Allow for a method a route does not take.
    const std::string& path = req.path;
    // Remote-read is POST-only and snappy-encoded too.
    const bool write_path = IsWritePath(path) || path == "/api/v1/read";
    // Prometheus's admin endpoints take PUT as well.
    const bool admin = path.rfind("/api/v1/admin/", 0) == 0;
    if (req.method != "POST" && !(admin && req.method == "PUT") &&
        (write_path || admin || path.rfind("/internal/", 0) == 0)) {
      res.status = 405;
      res.set_header("Allow", admin ? "POST, PUT" : "POST");
      res.set_content("Method Not Allowed\n", "text/plain; charset=utf-8");
      return httplib::Server::HandlerResponse::Handled;
    }
    std::string enc = req.get_header_value("Content-Encoding");
    if (req.method != "POST" || enc.empty() || enc == "snappy" || !write_path) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.status = 415;
    res.set_header("Connection", "close");  // the unread body must not be parsed as a request
    res.set_content("unsupported Content-Encoding \"" + enc + "\": remote write needs snappy\n",
                    "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  });
  p->RegisterWriteRoutes();
  p->RegisterCompactorRoutes();
  p->RegisterReadRoute();
  p->RegisterRemotesStatusRoute();
  p->api->Register(&p->http);
  p->k8s_api->RegisterPreview(&p->http);
  p->http.Get("/-/healthy", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("meridian is Healthy.\n", "text/plain; charset=utf-8");
  });
  p->http.Get("/-/ready", [p](const httplib::Request&, httplib::Response& res) {
    // Not ready while the storage refuses writes (a failed WAL write until
    // RocksDB resumes): Prometheus keeps retrying, nothing is acknowledged.
    if (p->ready.load() && p->storage->Health().writable) {
      res.set_content("meridian is Ready.\n", "text/plain; charset=utf-8");
    } else {
      res.status = 503;
      res.set_content("Service Unavailable\n", "text/plain; charset=utf-8");
    }
  });
  // Like VictoriaMetrics' /internal/force_flush: persist the in-memory head now
  // (tests and benchmarks use it to measure settled disk usage).
  auto force_flush = [p](const httplib::Request&, httplib::Response& res) {
    absl::Status st = p->storage->Flush();
    res.status = st.ok() ? 200 : 500;
    res.set_content(st.ok() ? "flushed\n" : PublicMessage(st) + "\n", "text/plain; charset=utf-8");
  };
  p->http.Post("/internal/force_flush", force_flush);
  ui::Register(&p->http);  // the web UI: /, /query, /graph, /explore, /status, /ui/static/*
  // Prometheus's lifecycle endpoint (always on: it only re-reads the rule
  // files): 200 and an empty body, or 500 and the reason; the rules loaded
  // before keep running.
  auto reload = [p](const httplib::Request&, httplib::Response& res) {
    absl::Status st = p->rules->Reload();
    if (!st.ok()) {
      std::fprintf(stderr, "meridian: reload: %s\n", std::string(st.message()).c_str());
      res.status = 500;
      res.set_content("failed to reload config: " + std::string(st.message()) + "\n",
                      "text/plain; charset=utf-8");
    }
  };
  p->http.Post("/-/reload", reload);
  p->http.Put("/-/reload", reload);
  p->http.Get("/metrics", [p](const httplib::Request&, httplib::Response& res) {
    std::string out = p->metrics->Render(*p->storage, p->engine->admission());
    if (p->listener) out += HttpMetricsText(p->listener->Stats());
    out += p->compactor->MetricsText();
    out += p->k8s_api->MetricsText();
    std::vector<std::pair<std::string, HttpServerStats>> tls;
    if (p->listener && p->tls_main) tls.emplace_back("main", p->listener->Stats());
    if (p->k8s_listener) tls.emplace_back("k8s", p->k8s_listener->Stats());
    out += TlsMetricsText(tls);
    out +=
        "# HELP meridian_http_auth_refused_total Requests refused before their handler: bad "
        "tenant headers (400), no or wrong credentials (401), not granted (403).\n"
        "# TYPE meridian_http_auth_refused_total counter\n";
    const char* codes[] = {"400", "401", "403"};
    for (int i = 0; i < 3; ++i) {
      out += std::string("meridian_http_auth_refused_total{code=\"") + codes[i] + "\"} " +
             std::to_string(p->auth_refused[i].load()) + "\n";
    }
    out += p->rules->MetricsText();
    res.set_content(out, "text/plain; version=0.0.4; charset=utf-8");
  });
  return std::unique_ptr<MeridianServer>(new MeridianServer(std::move(impl)));
}

absl::Status MeridianServer::Run() {
  const Config& c = impl_->config;
  HttpServerOptions ho;
  MERIDIAN_RETURN_IF_ERROR(ParseListen(c.listen, &ho.host, &ho.port));
  ho.worker_threads = c.http_threads;
  ho.max_queued = c.http_max_queued;
  ho.max_connections = c.http_max_connections;
  ho.idle_timeout = std::chrono::milliseconds(c.http_idle_timeout_ms);
  ho.read_timeout = std::chrono::milliseconds(c.http_read_timeout_ms);
  ho.max_body_bytes = static_cast<size_t>(c.max_body_bytes);
  ho.tls = impl_->tls_main;
  if (impl_->auth == nullptr && !IsLoopback(ho.host)) {
    std::fprintf(stderr,
                 "meridian: WARNING: no --auth-file and listening on %s: anyone who can reach "
                 "this port reads and writes every tenant by sending its header\n",
                 c.listen.c_str());
  }
  // Every connection is a descriptor; keep room for RocksDB's files.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      static_cast<int64_t>(rl.rlim_cur) < ho.max_connections + 1024) {
    int capped = std::max<int>(64, static_cast<int>(rl.rlim_cur) - 1024);
    std::fprintf(stderr,
                 "meridian: open-file limit %llu: serving at most %d connections "
                 "(http-max-connections %d)\n",
                 static_cast<unsigned long long>(rl.rlim_cur), capped, ho.max_connections);
    ho.max_connections = capped;
  }
  {
    MutexLock lock(&impl_->mu);
    if (impl_->stopping) return absl::OkStatus();
    impl_->listener = std::make_unique<HttpServer>(&impl_->http, ho);
  }
  MERIDIAN_RETURN_IF_ERROR(impl_->listener->Bind());
  MERIDIAN_RETURN_IF_ERROR(impl_->StartK8sListener());
  impl_->watch_thread = std::thread([this] { impl_->WatchLoop(); });
  impl_->retention_thread = std::thread([this] { impl_->RetentionLoop(); });
  impl_->rules->Start();
  impl_->ready = true;
  std::string shown = ho.host.find(':') != std::string::npos ? "[" + ho.host + "]" : ho.host;
  std::fprintf(stderr, "meridian: listening on %s:%d (%s), data in %s\n",
               shown.empty() ? "0.0.0.0" : shown.c_str(), impl_->listener->port(),
               impl_->tls_main ? "https" : "http", c.data_dir.c_str());
  impl_->listener->Run();
  return absl::OkStatus();
}

void MeridianServer::Stop() {
  {
    MutexLock lock(&impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.SignalAll();
  impl_->ready = false;
  impl_->compactor->RequestStop();
  if (impl_->listener) impl_->listener->Stop();
  HttpServer* k8s_listener;
  {
    MutexLock lock(&impl_->mu);
    k8s_listener = impl_->k8s_listener.get();
  }
  if (k8s_listener) k8s_listener->Stop();
  impl_->rules->Stop();
  absl::Status st = impl_->storage->Flush();
  if (!st.ok()) std::fprintf(stderr, "meridian: flush on shutdown: %s\n", st.ToString().c_str());
}

}  // namespace meridian::server
