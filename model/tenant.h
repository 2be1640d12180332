// Tenancy: where a request names its tenant, and when the names agree.
//
// A request may name its tenant in the THANOS-TENANT header (Thanos), the
// X-Scope-OrgID header (Cortex, Mimir, Loki) and the `tenant` URL (or form)
// parameter, for clients that cannot set headers: Debian's Prometheus 2.42
// sends no remote_write/remote_read `headers:`, so its URL carries the tenant
// (`http://meridian:9097/api/v1/write?tenant=gpu-platform`). Any of them may
// be given, each any number of times, as long as all name the same tenant;
// when none is given, the request is the default tenant's.
//
// This is the pure part (no HTTP library): api/tenant.h collects the claims
// of an httplib request and validates the tenant ID; every endpoint goes
// through it.
//
//   std::vector<TenantClaim> c = {{"THANOS-TENANT header", "a"}, {"tenant parameter", "b"}};
//   AgreedTenant(c).status()  // InvalidArgument: conflicting tenants: THANOS-TENANT header
//                             // "a" and tenant parameter "b"
#ifndef MERIDIAN_MODEL_TENANT_H_
#define MERIDIAN_MODEL_TENANT_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/status.h"

namespace meridian {

inline constexpr std::string_view kThanosTenantHeader = "THANOS-TENANT";
inline constexpr std::string_view kScopeOrgIdHeader = "X-Scope-OrgID";
inline constexpr std::string_view kTenantParam = "tenant";

// One place a request names a tenant.
struct TenantClaim {
  std::string source;  // for messages: "THANOS-TENANT header", "tenant parameter"
  std::string value;   // as sent; "" is a claim of the empty tenant (invalid)
};

// The tenant every claim names; nullopt when there are no claims. Claims
// naming different tenants: InvalidArgument naming the first two that differ
// (values quoted, non-printable bytes escaped, long values cut).
absl::StatusOr<std::optional<std::string>> AgreedTenant(const std::vector<TenantClaim>& claims);

}  // namespace meridian

#endif  // MERIDIAN_MODEL_TENANT_H_
