// The main router: the checks and answers every request gets before its
// handler (authentication, methods, Content-Encoding, error bodies), the
// order of every feature's routes, health and readiness, and /metrics.
#include "http/http_errors.h"
#include "server/server_internal.h"
#include "ui/ui.h"

namespace meridian::server {

using http::HttpServerStats;

namespace {

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

}  // namespace

void MeridianServer::Impl::SetUpRouter() {
  Impl* p = this;
  // httplib answers 413 itself above this; the error handler explains.
  http.set_payload_max_length(static_cast<size_t>(config.max_body_bytes));
  http.set_error_handler([p, max = config.max_body_bytes](const httplib::Request& req,
                                                          httplib::Response& res) {
    // Runs for every answer >= 400. The write handler counts its own (it
    // always sets the Written headers); this counts the 405s, 413s and 415s
    // answered before it.
    if (IsWritePath(req.path) && !res.has_header("X-Prometheus-Remote-Write-Samples-Written")) {
      p->metrics->ObserveWrite(api::TenantOf(req, p->config.default_tenant), nullptr, res.status);
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
  InstallJsonExceptionHandler(&http);
  // httplib would try to inflate gzip/deflate/br bodies itself and answer 400
  // when that fails; remote-write with a non-snappy encoding is a 415.
  http.set_pre_routing_handler([p](const httplib::Request& req, httplib::Response& res) {
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
}

void MeridianServer::Impl::RegisterRoutes() {
  Impl* p = this;
  RegisterWriteRoutes();
  RegisterCompactorRoutes();
  RegisterReadRoute();
  RegisterRemotesStatusRoute();
  api->Register(&http);
  k8s_api->RegisterPreview(&http);
  http.Get("/-/healthy", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("meridian is Healthy.\n", "text/plain; charset=utf-8");
  });
  http.Get("/-/ready", [p](const httplib::Request&, httplib::Response& res) {
    // Not ready while the storage refuses writes (a failed WAL write until
    // RocksDB resumes): Prometheus keeps retrying, nothing is acknowledged.
    if (p->ready.load() && p->storage->Health().writable) {
      res.set_content("meridian is Ready.\n", "text/plain; charset=utf-8");
    } else {
      res.status = 503;
      res.set_content("Service Unavailable\n", "text/plain; charset=utf-8");
    }
  });
  RegisterStorageRoutes();
  ui::Register(&http);  // the web UI: /, /query, /graph, /explore, /status, /ui/static/*
  RegisterReloadRoutes();
  RegisterMetricsRoute();
}

void MeridianServer::Impl::RegisterMetricsRoute() {
  http.Get("/metrics", [p = this](const httplib::Request&, httplib::Response& res) {
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
    out += p->remote_board->MetricsText();
    out += p->federation->MetricsText();
    res.set_content(out, "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace meridian::server
