// Remotes and the global view: --remote-read clients, the read path's fan-out
// and HA deduplication (--replica-label), POST /api/v1/read over local data,
// and GET /api/v1/status/remotes.
#include "api/json.h"
#include "ingest/limits.h"
#include "remote/dedup.h"
#include "remote/read_handler.h"
#include "server/server_internal.h"

namespace meridian::server {

namespace {

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
    e.api_url = rc.api_url;
    e.pushdown = rc.pushdown;
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

}  // namespace

absl::Status MeridianServer::Impl::SetUpRemotes(api::ApiOptions* ao) {
  auto clients = RemoteClients(config);
  if (!clients.ok()) return clients.status();
  remotes = *std::move(clients);
  remote_board = std::make_unique<RemoteBoard>(remotes);
  // Federation pulls store through the remote-write receiver.
  federation = std::make_unique<FederationPulls>(
      config.federate_pulls, config.default_tenant,
      [p = this](const std::string& tenant, const std::string& body) {
        ingest::RemoteWriteStats stats;
        absl::Status st =
            p->receiver->Receive(tenant, "application/x-protobuf", "snappy", body, &stats);
        int code = 500;
        switch (st.code()) {
          case absl::StatusCode::kOk:
            code = 204;
            break;
          case absl::StatusCode::kInvalidArgument:
          case absl::StatusCode::kOutOfRange:
            code = 400;
            break;
          case absl::StatusCode::kResourceExhausted:
            code = 413;
            break;
          case absl::StatusCode::kUnavailable:
            code = 503;
            break;
          default:
            break;
        }
        p->metrics->ObserveWrite(tenant, &stats, code);
        return st;
      });
  // A global meridian: every read also asks the remotes, and/or
  // deduplicates HA replicas: by --replica-label, or by the request's
  // replicaLabels[] (Thanos's parameter; what a global meridian's pushdown
  // sends its regional meridians, remote/pushdown.h).
  ao->wrap_queryable = [p = this](
                           std::unique_ptr<Queryable> local, const httplib::Request& req,
                           const std::string&) -> absl::StatusOr<std::unique_ptr<Queryable>> {
    std::unique_ptr<Queryable> q = std::move(local);
    if (!p->remotes.empty()) {
      MERIDIAN_ASSIGN_OR_RETURN(bool partial, GoBoolParam(req, "partial_response", true));
      remote::FanoutOptions fo;
      fo.tenant = api::TenantOf(req, "");  // the tenant the caller names, if any
      fo.partial_response = partial;
      fo.health = p->remote_board.get();
      fo.watermarks = p->remote_board->watermarks();
      fo.freshness_lag_ms = p->config.remote_read_freshness_lag_ms;
      q = std::make_unique<remote::FanoutQueryable>(std::move(q), p->remotes, std::move(fo));
    }
    const size_t asked = req.get_param_value_count("replicaLabels[]");
    if (!p->config.replica_labels.empty() || asked > 0) {
      MERIDIAN_ASSIGN_OR_RETURN(bool dedup, GoBoolParam(req, "dedup", true));
      if (dedup && asked == 0) {
        q = std::make_unique<remote::DedupQueryable>(std::move(q), p->config.replica_labels);
      } else if (dedup) {
        std::vector<std::string> labels;
        for (size_t i = 0; i < asked; ++i) {
          std::string l = req.get_param_value("replicaLabels[]", i);
          if (!l.empty()) labels.push_back(std::move(l));
        }
        if (!labels.empty()) {
          q = std::make_unique<remote::DedupQueryable>(std::move(q), std::move(labels));
        }
      }
    }
    return q;
  };
  return absl::OkStatus();
}

// Prometheus's remote-read endpoint over the tenant's local data (never
// deduplicated, never reaching other remotes).
void MeridianServer::Impl::RegisterReadRoute() {
  http.Post("/api/v1/read", [this](const httplib::Request& req, httplib::Response& res) {
    auto start = Clock::now();
    const std::string tenant = api::TenantOf(req, config.default_tenant);
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
      remote_board->ObserveServed(r.status, r.streamed, r.samples, r.body.size());
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
  http.Get("/api/v1/status/remotes", [this](const httplib::Request& req, httplib::Response& res) {
    // Watermarks for the caller's tenant (as the fan-out sends it: the
    // caller's header or ?tenant=, else none).
    res.set_content(remote_board->StatusJson(api::TenantOf(req, "")), "application/json");
  });
}

}  // namespace meridian::server
