// The tenant from the URL: `?tenant=NAME` on every endpoint that takes a
// tenant, for clients that cannot send the THANOS-TENANT / X-Scope-OrgID
// headers. Debian's Prometheus 2.42 is one: it sends no remote_write or
// remote_read `headers:` (a capture of its requests shows none), so before the
// parameter its samples landed in the default tenant whatever its config said.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";

int Status(const httplib::Result& r) { return r ? r->status : -1; }

httplib::Result Write(httplib::Client& c, const std::string& path, const std::string& body,
                      httplib::Headers h = {}) {
  h.emplace("Content-Encoding", "snappy");
  h.emplace("X-Prometheus-Remote-Write-Version", "0.1.0");
  return c.Post(path, h, body, "application/x-protobuf");
}

std::string OneSample(const std::string& name, double v) {
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", name}, {"job", "probe"}}, {{NowMs() - 1000, v}});
  return EncodeWriteRequest(req);
}

// The value of `expr` (an instant query) in a tenant named by the parameter
// (or by nothing: the default tenant); "" when the result is empty.
std::string ValueIn(httplib::Client& c, const std::string& expr, const std::string& tenant) {
  std::string path = "/api/v1/query?query=" + UrlEncode(expr);
  if (!tenant.empty()) path += "&tenant=" + tenant;
  auto j = GetJson(c, path);
  if (!j.contains("data") || j["data"]["result"].empty()) return "";
  return j["data"]["result"][0]["value"][1].get<std::string>();
}

// A real Prometheus 2.42 remote-writes to .../api/v1/write?tenant=gpu-platform
// and remote-reads .../api/v1/read?tenant=gpu-platform: its samples are in
// that tenant and not in the default one, and what it reads back is that
// tenant's data.
TEST(TenantParamTest, PrometheusWritesAndReadsTheTenantOfItsUrl) {
  if (access(kPrometheus, X_OK) != 0) {
    GTEST_SKIP() << "SKIP: " << kPrometheus
                 << " not installed; scripts/install-deps.sh installs Debian's prometheus";
  }
  Meridian meridian;
  ASSERT_TRUE(meridian.WaitReady()) << meridian.process().Log();
  auto mc = meridian.Client();
  // What remote-read must find: 42 in gpu-platform, a decoy 7 in the default tenant.
  ASSERT_EQ(Status(Write(*mc, "/api/v1/write?tenant=gpu-platform", OneSample("probe_value", 42))),
            204);
  ASSERT_EQ(Status(Write(*mc, "/api/v1/write", OneSample("probe_value", 7))), 204);

  TempDir dir;
  const int prom_port = FreePort();
  const std::string base = "http://" + meridian.url();
  {
    std::ofstream f(dir.path() + "/prometheus.yml");
    f << "global:\n  scrape_interval: 1s\n"
         "scrape_configs:\n  - job_name: prometheus\n    static_configs:\n"
         "      - targets: ['127.0.0.1:"
      << prom_port
      << "']\n"
         "remote_write:\n  - url: "
      << base
      << "/api/v1/write?tenant=gpu-platform\n"
         "    queue_config:\n      batch_send_deadline: 1s\n      max_backoff: 1s\n"
         "remote_read:\n  - url: "
      << base << "/api/v1/read?tenant=gpu-platform\n    read_recent: true\n";
  }
  Process prom({kPrometheus, "--config.file=" + dir.path() + "/prometheus.yml",
                "--storage.tsdb.path=" + dir.path() + "/data",
                "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
               dir.path() + "/prometheus.log");
  httplib::Client pc("127.0.0.1", prom_port);
  pc.set_read_timeout(30);
  bool ready = false;
  for (int i = 0; i < 300 && !ready; ++i) {
    ready = Status(pc.Get("/-/ready")) == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ready) << prom.Log();

  const std::string up = "up{job=\"prometheus\"}";
  bool written = false;
  for (int i = 0; i < 300 && !written; ++i) {
    written = ValueIn(*mc, up, "gpu-platform") == "1";
    if (!written) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(written) << prom.Log();
  // The same tenant through the header; nothing in the default tenant.
  auto j = GetJson(*mc, "/api/v1/query?query=" + UrlEncode(up), nullptr,
                   {{"THANOS-TENANT", "gpu-platform"}});
  EXPECT_EQ(j["data"]["result"].size(), 1u) << j.dump();
  EXPECT_EQ(ValueIn(*mc, up, ""), "");
  EXPECT_EQ(ValueIn(*mc, "count({job=\"prometheus\"})", ""), "");
  // Series, labels and metadata of the tenant answer through the parameter too.
  j = GetJson(*mc, "/api/v1/series?match[]=" + UrlEncode(up) + "&tenant=gpu-platform");
  EXPECT_EQ(j["data"].size(), 1u) << j.dump();
  j = GetJson(*mc, "/api/v1/series?match[]=" + UrlEncode(up));
  EXPECT_EQ(j["data"].size(), 0u) << j.dump();

  // Prometheus's remote read: the tenant's 42, never the default tenant's 7.
  auto r = GetJson(pc, "/api/v1/query?query=probe_value");
  ASSERT_TRUE(r.contains("data")) << r.dump();
  ASSERT_EQ(r["data"]["result"].size(), 1u) << r.dump() << prom.Log();
  EXPECT_EQ(r["data"]["result"][0]["value"][1], "42") << r.dump();
}

// Without Prometheus: every kind of endpoint takes the parameter, and the
// parameter and the headers must agree.
TEST(TenantParamTest, EveryEndpointTakesItAndConflictsAre400) {
  Meridian meridian;
  ASSERT_TRUE(meridian.WaitReady()) << meridian.process().Log();
  auto c = meridian.Client();
  ASSERT_EQ(Status(Write(*c, "/api/v1/write?tenant=team-a", OneSample("only_a", 1))), 204);
  ASSERT_EQ(Status(Write(*c, "/api/v1/receive?tenant=team-a", OneSample("only_a2", 2))), 204);
  EXPECT_EQ(ValueIn(*c, "only_a", "team-a"), "1");
  EXPECT_EQ(ValueIn(*c, "only_a2", "team-a"), "2");
  EXPECT_EQ(ValueIn(*c, "only_a", ""), "");
  auto j = GetJson(*c, "/api/v1/label/__name__/values?tenant=team-a");
  EXPECT_EQ(j["data"], nlohmann::json({"only_a", "only_a2"})) << j.dump();
  j = GetJson(*c, "/api/v1/labels?tenant=team-a");
  EXPECT_EQ(j["data"], nlohmann::json({"__name__", "job"})) << j.dump();
  j = GetJson(*c, "/api/v1/status/tsdb?tenant=team-a");
  EXPECT_EQ(j["data"]["headStats"]["numSeries"], 2) << j.dump();
  // A form-encoded POST query (Grafana's) takes it in the body as well.
  auto r =
      c->Post("/api/v1/query", "query=only_a&tenant=team-a", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(nlohmann::json::parse(r->body)["data"]["result"].size(), 1u) << r->body;

  // Header and parameter naming different tenants: 400 bad_data, nothing stored.
  r = Write(*c, "/api/v1/write?tenant=team-b", OneSample("conflicted", 1),
            {{"THANOS-TENANT", "team-a"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(nlohmann::json::parse(r->body),
            nlohmann::json::parse(R"({"status":"error","errorType":"bad_data","error":)"
                                  R"("conflicting tenants: THANOS-TENANT header \"team-a\" )"
                                  R"(and tenant parameter \"team-b\""})"));
  EXPECT_EQ(ValueIn(*c, "conflicted", "team-a"), "");
  EXPECT_EQ(ValueIn(*c, "conflicted", "team-b"), "");
  int status = 0;
  j = GetJson(*c, "/api/v1/query?query=1&tenant=team-b", &status, {{"X-Scope-OrgID", "team-a"}});
  EXPECT_EQ(status, 400);
  EXPECT_EQ(j["errorType"], "bad_data");
  EXPECT_EQ(Status(c->Get("/api/v1/rules?tenant=a&tenant=b")), 400);
  EXPECT_EQ(Status(c->Post("/api/v1/read?tenant=b", {{"THANOS-TENANT", "a"}}, "x",
                           "application/x-protobuf")),
            400);
  // The same tenant in both: fine.
  EXPECT_EQ(Status(c->Get("/api/v1/alerts?tenant=team-a", {{"THANOS-TENANT", "team-a"}})), 200);
  // Tenant IDs are validated as in headers.
  j = GetJson(*c, "/api/v1/query?query=1&tenant=..%2Fetc", &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(j["error"].get<std::string>().find("invalid tenant ID"), std::string::npos);
  r = Write(*c, "/api/v1/write?tenant=", OneSample("empty_tenant", 1));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("invalid tenant ID"), std::string::npos) << r->body;
}

// With --auth-file the parameter only selects among the caller's tenants,
// exactly as the header does.
TEST(TenantParamTest, WithAnAuthFileTheParameterSelectsAmongGrantedTenants) {
  TempDir dir;
  {
    std::ofstream f(dir.path() + "/auth.yaml");
    f << "users:\n"
         "  - name: prom-multi\n    token: multi-token\n    tenants: [team-x, team-y]\n"
         "    roles: [write, read]\n";
  }
  Meridian m("", {"--auth-file", dir.path() + "/auth.yaml"});
  ASSERT_TRUE(m.WaitReady()) << m.process().Log();
  auto c = m.Client();
  c->set_bearer_token_auth("multi-token");
  const std::string body = OneSample("granted", 3);
  EXPECT_EQ(Status(Write(*c, "/api/v1/write?tenant=team-y", body)), 204);
  EXPECT_EQ(Status(Write(*c, "/api/v1/write?tenant=team-z", body)), 403);
  // Two tenants, neither the default, none named: which one is not said.
  EXPECT_EQ(Status(Write(*c, "/api/v1/write", body)), 403);
  EXPECT_EQ(Status(Write(*c, "/api/v1/write?tenant=team-x", body, {{"X-Scope-OrgID", "team-y"}})),
            400);
  EXPECT_EQ(ValueIn(*c, "granted", "team-y"), "3");
  EXPECT_EQ(ValueIn(*c, "granted", "team-x"), "");
  EXPECT_EQ(Status(c->Get("/api/v1/query?query=granted&tenant=team-z")), 403);
  EXPECT_EQ(Status(c->Get("/api/v1/query?query=granted&tenant=team-x")), 200);
}

}  // namespace
}  // namespace meridian::testing
