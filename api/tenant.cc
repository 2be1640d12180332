#include "api/tenant.h"

#include <httplib.h>

#include "ingest/limits.h"

namespace meridian::api {

std::vector<TenantClaim> TenantClaims(const httplib::Request& req) {
  std::vector<TenantClaim> claims;
  for (std::string_view h : {kThanosTenantHeader, kScopeOrgIdHeader}) {
    const std::string name(h);
    const size_t n = req.get_header_value_count(name);
    for (size_t i = 0; i < n; ++i) {
      std::string v = req.get_header_value(name, i);
      if (!v.empty()) claims.push_back({name + " header", std::move(v)});
    }
  }
  auto [begin, end] = req.params.equal_range(std::string(kTenantParam));
  for (auto it = begin; it != end; ++it) {
    claims.push_back({std::string(kTenantParam) + " parameter", it->second});
  }
  return claims;
}

absl::StatusOr<std::optional<std::string>> NamedTenant(const httplib::Request& req) {
  return AgreedTenant(TenantClaims(req));
}

absl::StatusOr<std::string> RequestTenant(const httplib::Request& req,
                                          const std::string& default_tenant,
                                          size_t max_tenant_id_bytes) {
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<std::string> named, NamedTenant(req));
  std::string tenant = named ? *std::move(named) : default_tenant;
  MERIDIAN_RETURN_IF_ERROR(ingest::ValidateTenant(tenant, max_tenant_id_bytes));
  return tenant;
}

std::string TenantOf(const httplib::Request& req, const std::string& default_tenant) {
  auto named = NamedTenant(req);
  return named.ok() && named->has_value() ? **named : default_tenant;
}

}  // namespace meridian::api
