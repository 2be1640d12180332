// The tenant of an HTTP request, the one resolver every endpoint uses (the
// remote-write and remote-read handlers, the whole /api/v1 API, rules and
// alerts, the UI's calls, and the server's authorization check): the
// THANOS-TENANT and X-Scope-OrgID headers and the `tenant` parameter (of the
// URL, or of a form-encoded POST body, which the HTTP layer parses before the
// server's checks run), as model/tenant.h describes; different tenants named
// are a 400 (bad_data); the tenant ID is validated as remote-write validates
// it (ingest/limits.h: Cortex/Mimir's rules).
//
//   auto t = RequestTenant(req, "default-tenant", 150);  // "gpu-platform" for
//   // POST /api/v1/write?tenant=gpu-platform, or with THANOS-TENANT: gpu-platform
#ifndef MERIDIAN_API_TENANT_H_
#define MERIDIAN_API_TENANT_H_

#include <cstddef>
#include <optional>
#include <string>

#include "model/status.h"
#include "model/tenant.h"

namespace httplib {
struct Request;
}  // namespace httplib

namespace meridian::api {

// Every place `req` names a tenant (non-empty header values; parameter
// values as given, empty included), headers first.
std::vector<TenantClaim> TenantClaims(const httplib::Request& req);

// The tenant `req` names (nullopt: none), not validated; InvalidArgument when
// it names several.
absl::StatusOr<std::optional<std::string>> NamedTenant(const httplib::Request& req);

// The tenant `req` names, else `default_tenant`; InvalidArgument when it
// names several or when the tenant ID is invalid.
absl::StatusOr<std::string> RequestTenant(const httplib::Request& req,
                                          const std::string& default_tenant,
                                          size_t max_tenant_id_bytes);

// For requests whose tenant was already checked (the server refuses a
// conflict before any handler runs): the tenant `req` names, else (also on a
// conflict) `default_tenant`.
std::string TenantOf(const httplib::Request& req, const std::string& default_tenant);

}  // namespace meridian::api

#endif  // MERIDIAN_API_TENANT_H_
