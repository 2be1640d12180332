// The Kubernetes external metrics API: its router with its own refusals
// (Kubernetes Status bodies), the autoscale preview on the main router, and
// its HTTPS listener (--k8s-listen).
#include <cstdio>

#include "http/http_errors.h"
#include "server/server_internal.h"

namespace meridian::server {

using http::HttpServer;
using http::HttpServerOptions;

absl::Status MeridianServer::Impl::SetUpK8s() {
  k8s::ExternalMetricsConfig kc;
  kc.default_tenant = config.default_tenant;  // without a file: every namespace reads it
  if (!config.k8s_config.empty()) {
    auto loaded = k8s::ExternalMetricsConfig::Load(config.k8s_config);
    if (!loaded.ok())
      return absl::InvalidArgumentError("--k8s-config: " + std::string(loaded.status().message()));
    kc = *std::move(loaded);
  }
  Impl* p = this;
  k8s_api = std::make_unique<k8s::ExternalMetricsApi>(
      std::move(kc), [p](const std::string& t) { return p->storage->ForTenant(t); }, engine.get());
  k8s_api->Register(&k8s_http);
  k8s_http.set_pre_routing_handler([p](const httplib::Request& req, httplib::Response& res) {
    return p->RefuseK8sRequest(req, res) ? httplib::Server::HandlerResponse::Handled
                                         : httplib::Server::HandlerResponse::Unhandled;
  });
  if (auth != nullptr) {
    k8s_api->set_authorizer([p](const httplib::Request& req, const std::string& tenant) {
      auto user = p->auth->Identify(req, HttpServer::CurrentPeerCertificate());
      if (!user.ok()) return user.status();
      if (!(*user)->Has(Role::kRead)) {
        return absl::PermissionDeniedError("user \"" + (*user)->name + "\" lacks the read role");
      }
      if (!(*user)->Grants(tenant)) {
        return absl::PermissionDeniedError("user \"" + (*user)->name + "\" may not read tenant \"" +
                                           tenant + "\"");
      }
      return absl::OkStatus();
    });
  }
  InstallJsonExceptionHandler(&k8s_http);
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

}  // namespace meridian::server
