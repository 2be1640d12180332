#include "api/tenant.h"

#include <gtest/gtest.h>
#include <httplib.h>

namespace meridian::api {
namespace {

httplib::Request Req(httplib::Headers headers, httplib::Params params = {}) {
  httplib::Request r;
  r.headers = std::move(headers);
  r.params = std::move(params);
  return r;
}

TEST(RequestTenantTest, HeadersOrTheParameterOrTheDefault) {
  EXPECT_EQ(*RequestTenant(Req({}), "dflt", 150), "dflt");
  EXPECT_EQ(*RequestTenant(Req({{"THANOS-TENANT", "a"}}), "dflt", 150), "a");
  EXPECT_EQ(*RequestTenant(Req({{"X-Scope-OrgID", "b"}}), "dflt", 150), "b");
  EXPECT_EQ(*RequestTenant(Req({}, {{"tenant", "gpu-platform"}}), "dflt", 150), "gpu-platform");
  // Header names are case-insensitive, as HTTP's are.
  EXPECT_EQ(*RequestTenant(Req({{"thanos-tenant", "c"}}), "dflt", 150), "c");
  // Every source naming the same tenant.
  EXPECT_EQ(*RequestTenant(Req({{"THANOS-TENANT", "a"}, {"X-Scope-OrgID", "a"}},
                               {{"tenant", "a"}, {"tenant", "a"}}),
                           "dflt", 150),
            "a");
  // An empty header is no header (as before); other parameters do not matter.
  EXPECT_EQ(*RequestTenant(Req({{"THANOS-TENANT", ""}}, {{"query", "up"}}), "dflt", 150), "dflt");
}

TEST(RequestTenantTest, DifferentTenantsAre400WithBothNamed) {
  struct Case {
    httplib::Headers h;
    httplib::Params p;
    std::string message;
  };
  const Case cases[] = {
      {{{"THANOS-TENANT", "a"}},
       {{"tenant", "b"}},
       "conflicting tenants: THANOS-TENANT header \"a\" and tenant parameter \"b\""},
      {{{"X-Scope-OrgID", "a"}},
       {{"tenant", "b"}},
       "conflicting tenants: X-Scope-OrgID header \"a\" and tenant parameter \"b\""},
      {{{"THANOS-TENANT", "a"}, {"X-Scope-OrgID", "b"}},
       {},
       "conflicting tenants: THANOS-TENANT header \"a\" and X-Scope-OrgID header \"b\""},
      {{},
       {{"tenant", "a"}, {"tenant", "b"}},
       "conflicting tenants: tenant parameter \"a\" and tenant parameter \"b\""},
      {{{"X-Scope-OrgID", "a"}, {"X-Scope-OrgID", "b"}},
       {},
       "conflicting tenants: X-Scope-OrgID header \"a\" and X-Scope-OrgID header \"b\""},
  };
  for (const Case& c : cases) {
    auto t = RequestTenant(Req(c.h, c.p), "dflt", 150);
    ASSERT_FALSE(t.ok()) << c.message;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(t.status().message(), c.message);
    EXPECT_FALSE(NamedTenant(Req(c.h, c.p)).ok());
    // Handlers behind the server's check fall back to the default.
    EXPECT_EQ(TenantOf(Req(c.h, c.p), "dflt"), "dflt");
  }
}

TEST(RequestTenantTest, TenantIdsAreValidatedAsRemoteWriteValidatesThem) {
  for (const std::string& bad : {std::string(""), std::string(".."), std::string("../etc"),
                                 std::string("a b"), std::string(151, 't')}) {
    auto t = RequestTenant(Req({}, {{"tenant", bad}}), "dflt", 150);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find("invalid tenant ID"), std::string::npos)
        << t.status().message();
  }
  // `?tenant=` is a claim of the empty tenant, not its absence.
  auto named = NamedTenant(Req({}, {{"tenant", ""}}));
  ASSERT_TRUE(named.ok());
  EXPECT_TRUE(named->has_value());
  EXPECT_TRUE(RequestTenant(Req({}, {{"tenant", std::string(150, 't')}}), "d", 150).ok());
}

TEST(RequestTenantTest, TenantOfReadsTheParameterToo) {
  EXPECT_EQ(TenantOf(Req({}, {{"tenant", "gpu-platform"}}), "dflt"), "gpu-platform");
  EXPECT_EQ(TenantOf(Req({{"X-Scope-OrgID", "b"}}), "dflt"), "b");
  EXPECT_EQ(TenantOf(Req({}), ""), "");
}

}  // namespace
}  // namespace meridian::api
