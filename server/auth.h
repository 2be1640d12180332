// Authentication and authorization for every listener, from an auth file
// (--auth-file, YAML):
//
//   users:
//     - name: prometheus-us-west-2     # bearer token (Authorization: Bearer ...)
//       token: "..."                    # or token_sha256: <hex>
//       tenants: [gpu-platform]
//       roles: [write]
//     - name: grafana                   # basic auth: user name and password
//       password: "..."                 # or password_sha256: <hex>
//       tenants: [gpu-platform, team-b]
//       roles: [read]
//     - name: system:kube-aggregator    # a user named by a verified client
//       tenants: [gpu-platform]         # certificate's CN, or by X-Remote-User
//       roles: [read]                   # behind kube-apiserver's front proxy
//     - name: ops
//       token_sha256: "..."
//       tenants: ["*"]                  # every tenant
//       roles: [admin]                  # admin implies read and write
//
// Who is calling, in this order: a client certificate verified against
// --requestheader-client-ca-file (and, when --requestheader-allowed-names is
// set, with one of those CNs) makes X-Remote-User the user, as Kubernetes
// documents for extension API servers (X-Remote-User from any other client is
// ignored); a certificate verified against --client-ca-file names the user by
// its CN; then `Authorization: Bearer TOKEN`; then basic auth. None of them:
// 401 (with WWW-Authenticate: Basic). A user not in the file: 403.
//
// What a request needs: remote-write paths the write role; /api/v1/admin/*,
// /internal/* and /-/reload the admin role; everything else (queries, the
// UI, /metrics, the external metrics API) the read role. The tenant the
// request names (api/tenant.h: THANOS-TENANT, X-Scope-OrgID or the `tenant`
// parameter; naming different ones: 400) must be one of the user's tenants
// (403 otherwise); naming none, the default tenant is used when granted,
// else the user's only tenant.
//
// Thread-safety: all methods may be called concurrently; Reload() swaps the
// file's contents atomically (a file that fails to load keeps the old one).
#ifndef MERIDIAN_SERVER_AUTH_H_
#define MERIDIAN_SERVER_AUTH_H_

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "http/tls.h"
#include "model/status.h"
#include "model/sync.h"

namespace httplib {
struct Request;
}  // namespace httplib

namespace meridian::server {

enum class Role { kRead, kWrite, kAdmin };
const char* RoleName(Role r);

struct AuthUser {
  std::string name;
  std::string token_sha256;     // raw digest bytes; empty: no token
  std::string password_sha256;  // raw digest bytes; empty: no basic auth
  std::set<std::string> tenants;
  bool all_tenants = false;
  bool read = false, write = false, admin = false;
  bool Has(Role r) const;
  bool Grants(const std::string& tenant) const { return all_tenants || tenants.count(tenant) > 0; }
};

struct AuthFile {
  std::vector<std::shared_ptr<const AuthUser>> users;
  static absl::StatusOr<AuthFile> Parse(const std::string& yaml);
};

class Authenticator {
 public:
  // `file`: the auth file; allowed_names: comma-separated front-proxy CNs.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(std::string file,
                                                               std::string allowed_names);

  absl::Status Reload();
  bool FileChanged() const;

  // The calling user, or Unauthenticated (401) / PermissionDenied (403)
  // with the reason. `peer`: the connection's client certificate, if any.
  absl::StatusOr<std::shared_ptr<const AuthUser>> Identify(const httplib::Request& req,
                                                           const http::PeerCertificate* peer) const;

 private:
  Authenticator(std::string file, std::vector<std::string> allowed_names)
      : file_(std::move(file)), allowed_names_(std::move(allowed_names)) {}
  std::string file_;
  std::vector<std::string> allowed_names_;
  mutable Mutex mu_;
  std::shared_ptr<const AuthFile> auth_ ABSL_GUARDED_BY(mu_);
  int64_t mtime_ns_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t size_ ABSL_GUARDED_BY(mu_) = -1;
};

// The role a request path needs.
Role RequiredRole(const std::string& path);

// Paths that never need credentials (/-/healthy, /-/ready; on the k8s
// listener also /healthz, /livez, /readyz).
bool PublicPath(const std::string& path);

}  // namespace meridian::server

#endif  // MERIDIAN_SERVER_AUTH_H_
