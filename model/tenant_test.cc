#include "model/tenant.h"

#include <gtest/gtest.h>

namespace meridian {
namespace {

TEST(AgreedTenantTest, NoClaimIsNoTenant) {
  auto t = AgreedTenant({});
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->has_value());
}

TEST(AgreedTenantTest, ClaimsNamingOneTenantAgree) {
  auto t = AgreedTenant({{"THANOS-TENANT header", "gpu"},
                         {"X-Scope-OrgID header", "gpu"},
                         {"tenant parameter", "gpu"},
                         {"tenant parameter", "gpu"}});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(**t, "gpu");
  t = AgreedTenant({{"tenant parameter", "team-b"}});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(**t, "team-b");
}

TEST(AgreedTenantTest, TheEmptyTenantIsAClaimNotAnAbsence) {
  auto t = AgreedTenant({{"tenant parameter", ""}});
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(t->has_value());
  EXPECT_EQ(**t, "");
  EXPECT_FALSE(AgreedTenant({{"tenant parameter", ""}, {"THANOS-TENANT header", "a"}}).ok());
}

TEST(AgreedTenantTest, DifferentTenantsAreAnErrorNamingBoth) {
  auto t = AgreedTenant({{"THANOS-TENANT header", "a"}, {"tenant parameter", "b"}});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.status().message(),
            "conflicting tenants: THANOS-TENANT header \"a\" and tenant parameter \"b\"");
  // The first two that differ, whatever their order.
  t = AgreedTenant(
      {{"X-Scope-OrgID header", "x"}, {"tenant parameter", "x"}, {"tenant parameter", "y"}});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            "conflicting tenants: X-Scope-OrgID header \"x\" and tenant parameter \"y\"");
}

TEST(AgreedTenantTest, MessagesCutLongValuesAndEscapeBytes) {
  auto t = AgreedTenant({{"tenant parameter", std::string(7000, 't')},
                         {"tenant parameter", std::string("a\"\n\xff", 4)}});
  ASSERT_FALSE(t.ok());
  const std::string msg(t.status().message());
  EXPECT_LT(msg.size(), 200u);
  EXPECT_NE(msg.find(std::string(64, 't') + "...\""), std::string::npos) << msg;
  EXPECT_NE(msg.find(R"("a\x22\x0a\xff")"), std::string::npos) << msg;
}

}  // namespace
}  // namespace meridian
