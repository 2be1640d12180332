// TLS and authentication: the listeners' certificates (and the k8s listener's
// self-signed one), --auth-file, the checks before every handler (tenant
// headers, caller, role, tenant), and the reload of certificate and auth files
// when they change.
#include <cstdio>

#include "api/json.h"
#include "ingest/limits.h"
#include "server/server_internal.h"

namespace meridian::server {

using http::HttpServer;
using http::TlsOptions;
using http::TlsServerContext;

namespace {

void SendApiError(httplib::Response& res, int status, const char* type, const std::string& msg) {
  std::string body;
  api::JsonWriter w(&body);
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
  api::JsonWriter w(&body);
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

}  // namespace

bool MeridianServer::Impl::RefuseRequest(const httplib::Request& req, httplib::Response& res) {
  if (PublicPath(req.path)) return false;
  auto named = api::NamedTenant(req);
  if (!named.ok()) {
    SendApiError(res, 400, "bad_data", std::string(named.status().message()));
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
  std::string tenant = named->value_or("");
  if (!named->has_value()) {
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

absl::Status MeridianServer::Impl::SetUpAuth() {
  if (config.auth_file.empty()) return absl::OkStatus();
  auto a = Authenticator::Create(config.auth_file, config.requestheader_allowed_names);
  if (!a.ok())
    return absl::InvalidArgumentError("--auth-file: " + std::string(a.status().message()));
  auth = *std::move(a);
  return absl::OkStatus();
}

}  // namespace meridian::server
