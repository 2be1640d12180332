// The Kubernetes external metrics API and TLS with real clients: kubectl
// (`kubectl get --raw` through a kubeconfig holding meridian's CA), plain
// HTTP against the TLS listener, Prometheus 2.42 remote-writing over TLS.
// Certificates are made with the openssl command at test time.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "tests/integration/harness.h"

namespace meridian::testing {
namespace {

constexpr char kKubectl[] = "/usr/bin/kubectl";
constexpr char kOpenssl[] = "/usr/bin/openssl";

struct CmdResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CmdResult RunCmd(const std::vector<std::string>& argv, const std::string& log,
                 std::chrono::seconds timeout = std::chrono::seconds(20)) {
  std::remove(log.c_str());
  Process p(argv, log);
  int st = p.Wait(timeout);
  CmdResult r;
  r.output = p.Log();
  r.exit_code = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

// A CA and certificates signed by it, made with openssl.
class Pki {
 public:
  explicit Pki(const std::string& dir) : dir_(dir) {}
  // CA `name` (name.crt, name.key).
  bool Ca(const std::string& name) {
    return Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", Path(name + ".key"), "-out", Path(name + ".crt"), "-subj",
                    "/CN=" + name, "-days", "1"});
  }
  // Certificate `name` with common name cn signed by ca; server: SANs for
  // 127.0.0.1 and localhost, else a client certificate.
  bool Cert(const std::string& name, const std::string& cn, const std::string& ca, bool server) {
    WriteFile(Path(name + ".ext"),
              server ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                     : "extendedKeyUsage=clientAuth\n");
    return Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", Path(name + ".key"), "-out", Path(name + ".csr"), "-subj",
                    "/CN=" + cn}) &&
           Openssl({"x509", "-req", "-in", Path(name + ".csr"), "-CA", Path(ca + ".crt"), "-CAkey",
                    Path(ca + ".key"), "-CAcreateserial", "-out", Path(name + ".crt"), "-days", "1",
                    "-extfile", Path(name + ".ext")});
  }
  std::string Path(const std::string& f) const { return dir_ + "/" + f; }

 private:
  bool Openssl(std::vector<std::string> args) {
    args.insert(args.begin(), kOpenssl);
    CmdResult r = RunCmd(args, dir_ + "/openssl.log");
    if (r.exit_code != 0) ADD_FAILURE() << "openssl failed: " << r.output;
    return r.exit_code == 0;
  }
  std::string dir_;
};

int Status(httplib::Result r) { return r ? r->status : -1; }

// A kubeconfig for server URL with a CA file and a bearer token.
std::string Kubeconfig(const std::string& dir, const std::string& server, const std::string& ca,
                       const std::string& token = "unused", const std::string& client_cert = "",
                       const std::string& client_key = "", const std::string& name = "kubeconfig") {
  std::string path = dir + "/" + name;
  std::string user = "    token: " + token + "\n";
  if (!client_cert.empty()) {
    user = "    client-certificate: " + client_cert + "\n    client-key: " + client_key + "\n";
  }
  WriteFile(path, "apiVersion: v1\nkind: Config\nclusters:\n- name: m\n  cluster:\n    server: " +
                      server + "\n    certificate-authority: " + ca +
                      "\nusers:\n- name: u\n  user:\n" + user +
                      "contexts:\n- name: c\n  context: {cluster: m, user: u}\n"
                      "current-context: c\n");
  return path;
}

class K8sApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kKubectl, X_OK) != 0) {
      GTEST_SKIP() << "SKIP: " << kKubectl
                   << " not installed; scripts/install-deps.sh installs Debian's kubernetes-client";
    }
    k8s_port_ = FreePort();
    WriteFile(dir_.path() + "/k8s.yaml", R"(namespaces:
  quasim-platform: gpu-platform
  other-team: team-b
metrics:
  gpu_queue_depth_by_region:
    query: 'sum by (region) (gpu_queue_depth{<<.LabelMatchers>>})'
  gpu_queue_depth_recorded:
    series: 'namespace:gpu_queue_depth:sum'
)");
    meridian_ = std::make_unique<Meridian>(
        "", std::vector<std::string>{"--k8s-listen", "127.0.0.1:" + std::to_string(k8s_port_),
                                     "--k8s-config", dir_.path() + "/k8s.yaml"});
    ASSERT_TRUE(meridian_->WaitReady()) << meridian_->process().Log();
    ca_ = meridian_->data_dir() + "/k8s-self-signed.crt";
    kubeconfig_ = Kubeconfig(dir_.path(), "https://127.0.0.1:" + std::to_string(k8s_port_), ca_);
  }

  void Write(const std::string& tenant,
             const std::vector<std::pair<std::vector<std::pair<std::string, std::string>>,
                                         std::vector<std::pair<int64_t, double>>>>& series) {
    prometheus::WriteRequest req;
    for (const auto& [labels, samples] : series) AddSeries(&req, labels, samples);
    auto c = meridian_->Client();
    auto r = PostWrite(*c, EncodeWriteRequest(req), "application/x-protobuf",
                       {{"THANOS-TENANT", tenant}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 204) << r->body;
  }

  CmdResult Kubectl(const std::string& raw) {
    return RunCmd({kKubectl, "--kubeconfig", kubeconfig_, "get", "--raw", raw},
                  dir_.path() + "/kubectl.log");
  }
  nlohmann::json KubectlJson(const std::string& raw) {
    CmdResult r = Kubectl(raw);
    EXPECT_EQ(r.exit_code, 0) << raw << ": " << r.output;
    auto j = nlohmann::json::parse(r.output, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.output;
    return j;
  }
  static std::string ValuePath(const std::string& ns, const std::string& metric,
                               const std::string& selector) {
    std::string p = "/apis/external.metrics.k8s.io/v1beta1/namespaces/" + ns + "/" + metric;
    if (!selector.empty()) p += "?labelSelector=" + UrlEncode(selector);
    return p;
  }

  TempDir dir_;
  int k8s_port_ = 0;
  std::unique_ptr<Meridian> meridian_;
  std::string ca_, kubeconfig_;
};

TEST_F(K8sApiTest, KubectlDiscoveryAndValuesWithEverySelectorForm) {
  const int64_t now = NowMs();
  using L = std::vector<std::pair<std::string, std::string>>;
  auto s = [&](L l, double v) {
    l.insert(l.begin(), {"__name__", "gpu_queue_depth"});
    return std::make_pair(l, std::vector<std::pair<int64_t, double>>{{now - 5000, v}});
  };
  Write("gpu-platform",
        {s({{"namespace", "quasim-platform"},
            {"region", "us-west-2"},
            {"tier", "online"},
            {"gpu", "a100"}},
           1.5),
         s({{"namespace", "quasim-platform"},
            {"region", "us-east-1"},
            {"tier", "batch"},
            {"gpu", "h100"}},
           2.25),
         s({{"namespace", "quasim-platform"}, {"region", "eu-west-1"}, {"tier", "online"}}, 4),
         s({{"namespace", "elsewhere"}, {"region", "us-west-2"}}, 1000)});
  Write("gpu-platform",
        {{{{"__name__", "namespace:gpu_queue_depth:sum"}, {"namespace", "quasim-platform"}},
          {{now - 5000, 7.75}}}});

  // Discovery.
  auto apis = KubectlJson("/apis");
  EXPECT_EQ(apis["kind"], "APIGroupList");
  EXPECT_EQ(apis["groups"][0]["name"], "external.metrics.k8s.io");
  auto group = KubectlJson("/apis/external.metrics.k8s.io");
  EXPECT_EQ(group["preferredVersion"]["groupVersion"], "external.metrics.k8s.io/v1beta1");
  auto rl = KubectlJson("/apis/external.metrics.k8s.io/v1beta1");
  EXPECT_EQ(rl["kind"], "APIResourceList");
  EXPECT_EQ(rl["groupVersion"], "external.metrics.k8s.io/v1beta1");
  ASSERT_EQ(rl["resources"].size(), 2u) << rl.dump();
  EXPECT_EQ(rl["resources"][0]["kind"], "ExternalMetricValueList");
  EXPECT_EQ(KubectlJson("/openapi/v2")["swagger"], "2.0");
  for (const char* p : {"/healthz", "/livez", "/readyz"}) {
    CmdResult r = Kubectl(p);
    EXPECT_EQ(r.exit_code, 0) << p << r.output;
    EXPECT_EQ(r.output, "ok") << p;
  }

  // Values: sum over the namespace's series matching each selector form.
  struct Case {
    const char* selector;
    const char* value;
  };
  for (const Case& c : std::vector<Case>{
           {"", "7750m"},  // 1.5 + 2.25 + 4
           {"region=us-west-2", "1500m"},
           {"region==us-east-1", "2250m"},
           {"region!=us-west-2", "6250m"},
           {"region in (us-west-2,eu-west-1)", "5500m"},
           {"region notin (us-west-2,eu-west-1)", "2250m"},
           {"gpu", "3750m"},  // exists
           {"!gpu", "4"},     // does not exist
           {"tier=online,gpu", "1500m"},
           {"tier in (online),!gpu,region!=us-west-2", "4"},
       }) {
    auto j = KubectlJson(ValuePath("quasim-platform", "gpu_queue_depth", c.selector));
    EXPECT_EQ(j["kind"], "ExternalMetricValueList") << c.selector << j.dump();
    EXPECT_EQ(j["apiVersion"], "external.metrics.k8s.io/v1beta1");
    ASSERT_EQ(j["items"].size(), 1u) << c.selector << j.dump();
    EXPECT_EQ(j["items"][0]["metricName"], "gpu_queue_depth");
    EXPECT_EQ(j["items"][0]["value"], c.value) << "selector " << c.selector;
    EXPECT_TRUE(j["items"][0]["metricLabels"].is_object());
    EXPECT_EQ(j["items"][0]["timestamp"].get<std::string>().size(), 20u) << j.dump();
  }
  // A template: one item per region, labels kept.
  auto by_region = KubectlJson(ValuePath("quasim-platform", "gpu_queue_depth_by_region", "gpu"));
  ASSERT_EQ(by_region["items"].size(), 2u) << by_region.dump();
  EXPECT_EQ(by_region["items"][0]["metricLabels"]["region"], "us-east-1");  // sorted by labels
  EXPECT_EQ(by_region["items"][0]["value"], "2250m");
  // A recording rule's series: a point lookup.
  auto rec = KubectlJson(ValuePath("quasim-platform", "gpu_queue_depth_recorded", ""));
  ASSERT_EQ(rec["items"].size(), 1u) << rec.dump();
  EXPECT_EQ(rec["items"][0]["value"], "7750m");
  EXPECT_EQ(rec["items"][0]["metricLabels"]["namespace"], "quasim-platform");

  // Errors reach kubectl as Kubernetes Status objects.
  CmdResult nf = Kubectl(ValuePath("quasim-platform", "gpu_queue_depth", "region=nowhere"));
  EXPECT_NE(nf.exit_code, 0);
  EXPECT_NE(nf.output.find("NotFound"), std::string::npos) << nf.output;
  CmdResult bad = Kubectl(ValuePath("quasim-platform", "gpu_queue_depth", "app.kubernetes.io/x=y"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("BadRequest"), std::string::npos) << bad.output;
}

TEST_F(K8sApiTest, StaleDataIsAnErrorNotZero) {
  const int64_t now = NowMs();
  Write("gpu-platform",
        {{{{"__name__", "gpu_queue_depth"}, {"namespace", "quasim-platform"}, {"region", "a"}},
          {{now - 5000, 3}}},
         // The pipeline of region b broke 4 minutes ago (no stale marker).
         {{{"__name__", "gpu_queue_depth"}, {"namespace", "quasim-platform"}, {"region", "b"}},
          {{now - 240'000, 9}}}});
  CmdResult r = Kubectl(ValuePath("quasim-platform", "gpu_queue_depth", ""));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ServiceUnavailable"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("gpu_queue_depth"), std::string::npos) << r.output;
  // 4m0s, or a few seconds more when the machine is slow between the write and the read.
  EXPECT_TRUE(std::regex_search(r.output, std::regex("4m[0-9]s old"))) << r.output;
  EXPECT_EQ(r.output.find("\"value\""), std::string::npos) << r.output;
  // The same through a plain HTTPS client: 503 and a Status object.
  httplib::SSLClient c("127.0.0.1", k8s_port_);
  c.set_ca_cert_path(ca_.c_str());
  c.enable_server_certificate_verification(true);
  auto res = c.Get(ValuePath("quasim-platform", "gpu_queue_depth", ""));
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 503);
  auto j = nlohmann::json::parse(res->body);
  EXPECT_EQ(j["kind"], "Status");
  EXPECT_EQ(j["code"], 503);
  EXPECT_EQ(j["reason"], "ServiceUnavailable");
  // The fresh region alone answers.
  auto ok = KubectlJson(ValuePath("quasim-platform", "gpu_queue_depth", "region=a"));
  EXPECT_EQ(ok["items"][0]["value"], "3");
  // Counted in /metrics.
  auto mc = meridian_->Client();
  auto m = mc->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("meridian_external_metrics_requests_total{outcome=\"stale\"} 2"),
            std::string::npos);
  EXPECT_NE(m->body.find("meridian_external_metrics_requests_total{outcome=\"served\"} 1"),
            std::string::npos);
}

TEST_F(K8sApiTest, NamespaceWithoutTenantIsForbidden) {
  CmdResult r = Kubectl(ValuePath("unmapped-ns", "gpu_queue_depth", ""));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("Forbidden"), std::string::npos) << r.output;
  // A namespace reads only its own tenant: team-b has no gpu_queue_depth.
  Write("gpu-platform",
        {{{{"__name__", "gpu_queue_depth"}, {"namespace", "other-team"}}, {{NowMs() - 1000, 5}}}});
  CmdResult other = Kubectl(ValuePath("other-team", "gpu_queue_depth", ""));
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.output.find("NotFound"), std::string::npos) << other.output;
}

TEST_F(K8sApiTest, PlainHttpToTheTlsListenerFailsCleanly) {
  // A raw plain-HTTP request gets Go's plain-text 400, then the close.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(k8s_port_));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  std::string req = "GET /apis HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[4096];
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  EXPECT_EQ(got,
            "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n");
  // kubectl pointed at http:// fails with an error, not a hang.
  std::string plain = Kubeconfig(dir_.path(), "http://127.0.0.1:" + std::to_string(k8s_port_), ca_,
                                 "unused", "", "", "kubeconfig-plain");
  CmdResult r = RunCmd({kKubectl, "--kubeconfig", plain, "get", "--raw", "/apis"},
                       dir_.path() + "/kubectl-plain.log");
  EXPECT_NE(r.exit_code, 0) << r.output;
  // A TLS client that does not trust the certificate fails the handshake.
  httplib::SSLClient untrusting("127.0.0.1", k8s_port_);
  untrusting.enable_server_certificate_verification(true);
  untrusting.set_ca_cert_path("/etc/ssl/certs/ca-certificates.crt");
  EXPECT_FALSE(untrusting.Get("/apis"));
  // And the listener still serves.
  auto j = KubectlJson("/apis");
  EXPECT_EQ(j["kind"], "APIGroupList");
  auto m = meridian_->Client()->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("meridian_tls_handshakes_total{listener=\"k8s\",outcome=\"plain_http\"} "),
            std::string::npos);
}

TEST_F(K8sApiTest, AutoscalePreviewReplaysTheHpaFormula) {
  const int64_t now = NowMs();
  Write("gpu-platform",
        {{{{"__name__", "gpu_queue_depth"}, {"namespace", "quasim-platform"}, {"region", "a"}},
          {{now - 5000, 30}}},
         {{{"__name__", "gpu_queue_depth"}, {"namespace", "quasim-platform"}, {"region", "b"}},
          {{now - 5000, 25}}}});
  auto c = meridian_->Client();
  auto preview = [&](const std::string& q) {
    int status = 0;
    auto j = GetJson(
        *c, "/api/v1/autoscale/preview?namespace=quasim-platform&metric=gpu_queue_depth&" + q,
        &status);
    EXPECT_EQ(status, 200) << j.dump();
    return j["data"];
  };
  // AverageValue 10 with 4 replicas: ratio 55/40 = 1.375 -> ceil(55/10) = 6.
  auto d = preview("target_average_value=10&current_replicas=4&min_replicas=1&max_replicas=20");
  EXPECT_EQ(d["desiredReplicas"], 6) << d.dump();
  EXPECT_DOUBLE_EQ(d["ratio"].get<double>(), 1.375);
  EXPECT_EQ(d["withinTolerance"], false);
  EXPECT_EQ(d["currentValue"], "13750m");
  EXPECT_TRUE(d.contains("notModelled"));
  // Within the 10% tolerance (55/(11*5) = 1.0): no change.
  d = preview("target_average_value=11&current_replicas=5&max_replicas=20");
  EXPECT_EQ(d["desiredReplicas"], 5);
  EXPECT_EQ(d["withinTolerance"], true);
  // Value 100 with 6 replicas: ratio 0.55 -> ceil(0.55*6) = 4; min 5 -> 5.
  d = preview("target_value=100&current_replicas=6&min_replicas=5&max_replicas=10");
  EXPECT_EQ(d["proposedReplicas"], 4);
  EXPECT_EQ(d["desiredReplicas"], 5);
  EXPECT_EQ(d["limitedBy"], "TooFewReplicas");
  // Only region a (30) vs. AverageValue 1 with max 8: ceil(30) capped at 8.
  d = preview("labelSelector=region%3Da&target_average_value=1&current_replicas=2&max_replicas=8");
  EXPECT_EQ(d["desiredReplicas"], 8);
  EXPECT_EQ(d["limitedBy"], "TooManyReplicas");
  // No data: the HPA keeps the current count.
  d = preview("labelSelector=region%3Dz&target_value=1&current_replicas=3&max_replicas=8");
  EXPECT_EQ(d["desiredReplicas"], 3);
  EXPECT_EQ(d["metricError"]["code"], 404);
  int status = 0;
  auto j =
      GetJson(*c, "/api/v1/autoscale/preview?namespace=quasim-platform&metric=x&current_replicas=1",
              &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(j["errorType"], "bad_data");
}

// A recording rule precomputes the value; the external metric reads its
// series (a point lookup), and a stale rule output (the rule stopped) is an
// error, not 0.
TEST(K8sRecordingRuleTest, MetricReadFromARecordingRulesSeries) {
  if (access(kKubectl, X_OK) != 0) GTEST_SKIP() << "SKIP: " << kKubectl << " not installed";
  TempDir dir;
  WriteFile(dir.path() + "/gpu.yml", R"(groups:
  - name: gpu
    interval: 1s
    rules:
      - record: namespace:gpu_queue_depth:sum
        expr: sum by (namespace) (gpu_queue_depth)
)");
  WriteFile(dir.path() + "/k8s.yaml", R"(namespaces: {quasim-platform: gpu-platform}
metrics:
  gpu_queue_depth:
    series: namespace:gpu_queue_depth:sum
    max_staleness: 5s
)");
  int k8s_port = FreePort();
  Meridian m("",
             {"--k8s-listen", "127.0.0.1:" + std::to_string(k8s_port), "--k8s-config",
              dir.path() + "/k8s.yaml", "--rule-files", "gpu-platform=" + dir.path() + "/gpu.yml"});
  ASSERT_TRUE(m.WaitReady()) << m.process().Log();
  prometheus::WriteRequest req;
  const int64_t now = NowMs();
  AddSeries(&req, {{"__name__", "gpu_queue_depth"}, {"namespace", "quasim-platform"}, {"pod", "a"}},
            {{now - 1000, 4}});
  AddSeries(&req, {{"__name__", "gpu_queue_depth"}, {"namespace", "quasim-platform"}, {"pod", "b"}},
            {{now - 1000, 2.5}});
  auto c = m.Client();
  ASSERT_EQ(Status(PostWrite(*c, EncodeWriteRequest(req), "application/x-protobuf",
                             {{"THANOS-TENANT", "gpu-platform"}})),
            204);
  std::string kc = Kubeconfig(dir.path(), "https://127.0.0.1:" + std::to_string(k8s_port),
                              m.data_dir() + "/k8s-self-signed.crt");
  const std::string path =
      "/apis/external.metrics.k8s.io/v1beta1/namespaces/quasim-platform/gpu_queue_depth";
  CmdResult r;
  for (int i = 0; i < 50; ++i) {  // the rule runs every second
    r = RunCmd({kKubectl, "--kubeconfig", kc, "get", "--raw", path}, dir.path() + "/k.log");
    if (r.exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j["items"].size(), 1u) << r.output;
  EXPECT_EQ(j["items"][0]["value"], "6500m");
  EXPECT_EQ(j["items"][0]["metricLabels"]["namespace"], "quasim-platform");
  // The rule's input goes away without stale markers (the pipeline broke):
  // the rule keeps writing from the lookback window for 5 minutes, so take
  // the rule away instead: its output stops, and within max_staleness + a
  // little the answer is an error, never a value.
  WriteFile(dir.path() + "/gpu.yml", "groups: []\n");
  m.process().Kill(SIGHUP);
  bool refused = false;
  for (int i = 0; i < 60 && !refused; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    r = RunCmd({kKubectl, "--kubeconfig", kc, "get", "--raw", path}, dir.path() + "/k.log");
    refused = r.exit_code != 0;
    if (!refused) {
      EXPECT_NE(r.output.find("6500m"), std::string::npos) << r.output;
    }
  }
  ASSERT_TRUE(refused);
  // Prometheus's rule manager writes stale markers for a removed group's
  // series: then the series ended (404); without them it is stale data (503).
  EXPECT_TRUE(r.output.find("NotFound") != std::string::npos ||
              r.output.find("ServiceUnavailable") != std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("\"value\""), std::string::npos) << r.output;
}

// The main listener over TLS: Prometheus 2.42 remote-writes with tls_config.
TEST(TlsTest, PrometheusRemoteWritesOverTls) {
  if (std::string why = PrometheusMissing(); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  Pki pki(dir.path());
  ASSERT_TRUE(pki.Ca("ca"));
  ASSERT_TRUE(pki.Cert("server", "meridian", "ca", true));
  int port = FreePort();
  Process m({MeridianBinary(), "--listen", "127.0.0.1:" + std::to_string(port), "--data-dir",
             dir.path() + "/data", "--tls-cert-file", pki.Path("server.crt"),
             "--tls-private-key-file", pki.Path("server.key")},
            dir.path() + "/meridian.log");
  httplib::SSLClient c("127.0.0.1", port);
  c.set_ca_cert_path(pki.Path("ca.crt").c_str());
  c.enable_server_certificate_verification(true);
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i) {
    auto r = c.Get("/-/ready");
    ready = r && r->status == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(ready) << m.Log();
  // Plain HTTP on the TLS port: refused with Go's answer.
  httplib::Client plain("127.0.0.1", port);
  auto pr = plain.Get("/-/ready");
  ASSERT_TRUE(pr);
  EXPECT_EQ(pr->status, 400);

  int prom_port = FreePort();
  auto prom =
      StartPrometheus(dir.path(), prom_port,
                      "global:\n  scrape_interval: 1s\n"
                      "scrape_configs:\n  - job_name: prometheus\n    static_configs:\n"
                      "      - targets: ['127.0.0.1:" +
                          std::to_string(prom_port) +
                          "']\n"
                          "remote_write:\n  - url: https://127.0.0.1:" +
                          std::to_string(port) +
                          "/api/v1/write\n    tls_config:\n      ca_file: " + pki.Path("ca.crt") +
                          "\n    queue_config:\n      batch_send_deadline: 1s\n");
  bool arrived = false;
  for (int i = 0; i < 200 && !arrived; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto r = c.Get("/api/v1/query?query=" + UrlEncode("up{job=\"prometheus\"}"));
    arrived = r && r->status == 200 && r->body.find("\"up\"") != std::string::npos;
  }
  EXPECT_TRUE(arrived) << prom->Log();
  auto met = c.Get("/metrics");
  ASSERT_TRUE(met);
  EXPECT_NE(met->body.find("meridian_tls_handshakes_total{listener=\"main\",outcome=\"ok\"}"),
            std::string::npos);
}

// Rotated certificate files are picked up without a restart (the files are
// watched; SIGHUP does the same at once).
TEST(TlsTest, RotatedCertificatesAreServedWithoutRestart) {
  TempDir dir;
  Pki pki(dir.path());
  ASSERT_TRUE(pki.Ca("ca1"));
  ASSERT_TRUE(pki.Cert("one", "meridian", "ca1", true));
  ASSERT_TRUE(pki.Ca("ca2"));
  ASSERT_TRUE(pki.Cert("two", "meridian", "ca2", true));
  std::filesystem::copy_file(pki.Path("one.crt"), pki.Path("serving.crt"));
  std::filesystem::copy_file(pki.Path("one.key"), pki.Path("serving.key"));
  int port = FreePort();
  Process m({MeridianBinary(), "--listen", "127.0.0.1:" + std::to_string(port), "--data-dir",
             dir.path() + "/data", "--tls-cert-file", pki.Path("serving.crt"),
             "--tls-private-key-file", pki.Path("serving.key")},
            dir.path() + "/meridian.log");
  auto get = [&](const std::string& ca) {
    httplib::SSLClient c("127.0.0.1", port);
    c.set_ca_cert_path(pki.Path(ca).c_str());
    c.enable_server_certificate_verification(true);
    return Status(c.Get("/-/healthy"));
  };
  bool up = false;
  for (int i = 0; i < 200 && !up; ++i) {
    up = get("ca1.crt") == 200;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(up) << m.Log();
  EXPECT_EQ(get("ca2.crt"), -1);  // not trusted
  // Rotate (key first, then the certificate, as cert-manager's secret update does at once).
  std::filesystem::copy_file(pki.Path("two.key"), pki.Path("serving.key"),
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(pki.Path("two.crt"), pki.Path("serving.crt"),
                             std::filesystem::copy_options::overwrite_existing);
  bool rotated = false;
  for (int i = 0; i < 100 && !rotated; ++i) {  // the watch looks every 5 s
    rotated = get("ca2.crt") == 200;
    if (!rotated) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(rotated) << m.Log();
  EXPECT_EQ(get("ca1.crt"), -1);
  // A broken certificate file keeps the current one.
  WriteFile(pki.Path("serving.crt"), "not a certificate");
  m.Kill(SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(get("ca2.crt"), 200);
  EXPECT_NE(m.Log().find("TLS reload failed, keeping the previous certificates"), std::string::npos)
      << m.Log();
}

// --- Authentication ---------------------------------------------------------

constexpr char kAuthFile[] = R"(users:
  - name: prom-west
    token: west-token
    tenants: [gpu-platform]
    roles: [write]
  - name: prom-b
    password: b-password
    tenants: [team-b]
    roles: [write]
  - name: grafana
    password: grafana-pw
    tenants: [gpu-platform, team-b]
    roles: [read]
  - name: hpa-gpu
    token: hpa-token
    tenants: [gpu-platform]
    roles: [read]
  - name: hpa-reader
    tenants: [gpu-platform]
    roles: [read]
  - name: system:kube-aggregator
    tenants: [gpu-platform]
    roles: [read]
  - name: prom-multi
    token: multi-token
    tenants: [team-x, team-y]
    roles: [write]
  - name: ops
    token: ops-token
    tenants: ["*"]
    roles: [admin]
)";

httplib::Headers Bearer(const std::string& token, const std::string& tenant = "") {
  httplib::Headers h{{"Authorization", "Bearer " + token}};
  if (!tenant.empty()) h.emplace("THANOS-TENANT", tenant);
  return h;
}

TEST(AuthTest, RolesTenantsAndHeaders) {
  TempDir dir;
  WriteFile(dir.path() + "/auth.yaml", kAuthFile);
  Meridian m("", {"--auth-file", dir.path() + "/auth.yaml", "--default-tenant", "gpu-platform"});
  ASSERT_TRUE(m.WaitReady()) << m.process().Log();
  auto c = m.Client();
  // Health endpoints never need credentials.
  EXPECT_EQ(Status(c->Get("/-/healthy")), 200);
  EXPECT_EQ(Status(c->Get("/-/ready")), 200);
  // No or wrong credentials: 401 with a Basic challenge.
  auto none = c->Get("/api/v1/query?query=1");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Basic realm=\"meridian\"");
  EXPECT_EQ(Status(c->Get("/api/v1/query?query=1", Bearer("nope"))), 401);
  httplib::Headers bad_basic{httplib::make_basic_authentication_header("grafana", "x")};
  EXPECT_EQ(Status(c->Get("/api/v1/query?query=1", bad_basic)), 401);
  // A Grafana-style basic-auth reader reads its tenants, not others.
  c->set_basic_auth("grafana", "grafana-pw");
  EXPECT_EQ(Status(c->Get("/api/v1/query?query=1")), 200);
  EXPECT_EQ(Status(c->Get("/api/v1/query?query=1", {{"X-Scope-OrgID", "team-b"}})), 200);
  EXPECT_EQ(Status(c->Get("/api/v1/query?query=1", {{"X-Scope-OrgID", "team-c"}})), 403);
  // Conflicting tenant headers: 400.
  EXPECT_EQ(Status(c->Get("/api/v1/query?query=1",
                          {{"X-Scope-OrgID", "team-b"}, {"THANOS-TENANT", "gpu-platform"}})),
            400);
  // Readers cannot write or use admin endpoints.
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "x"}}, {{NowMs(), 1}});
  const std::string body = EncodeWriteRequest(req);
  EXPECT_EQ(Status(PostWrite(*c, body)), 403);
  EXPECT_EQ(Status(c->Post("/internal/force_flush", "", "text/plain")), 403);
  // A writer writes its tenant only; the admin may do anything.
  httplib::Client w("127.0.0.1", m.port());
  EXPECT_EQ(
      Status(PostWrite(w, body, "application/x-protobuf", Bearer("west-token", "gpu-platform"))),
      204);
  EXPECT_EQ(Status(PostWrite(w, body, "application/x-protobuf", Bearer("west-token", "team-b"))),
            403);
  EXPECT_EQ(Status(PostWrite(w, body, "application/x-protobuf", Bearer("west-token"))), 204);
  EXPECT_EQ(Status(w.Get("/api/v1/query?query=x", Bearer("west-token"))), 403);  // no read role
  EXPECT_EQ(Status(w.Post("/internal/force_flush", Bearer("ops-token"), "", "text/plain")), 200);
  EXPECT_EQ(Status(w.Post("/internal/force_flush", Bearer("hpa-token"), "", "text/plain")), 403);
  // X-Remote-User from a client that is not the front proxy is ignored.
  auto h = Bearer("hpa-token", "team-b");
  h.emplace("X-Remote-User", "ops");
  EXPECT_EQ(Status(w.Get("/api/v1/query?query=1", h)), 403);
  auto metrics = w.Get("/metrics", Bearer("ops-token"));
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("meridian_http_auth_refused_total{code=\"401\"} 3"),
            std::string::npos)
      << metrics->body.substr(metrics->body.find("auth_refused"), 300);

  // SIGHUP reloads the file: hpa-gpu gains team-b.
  std::string grown = kAuthFile;
  grown.replace(grown.find("    tenants: [gpu-platform]\n    roles: [read]\n  - name: hpa-reader"),
                std::string("    tenants: [gpu-platform]\n").size(),
                "    tenants: [gpu-platform, team-b]\n");
  WriteFile(dir.path() + "/auth.yaml", grown);
  m.process().Kill(SIGHUP);
  bool granted = false;
  for (int i = 0; i < 50 && !granted; ++i) {
    granted = Status(w.Get("/api/v1/query?query=1", Bearer("hpa-token", "team-b"))) == 200;
    if (!granted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(granted) << m.process().Log();
  // A broken file keeps the old grants.
  WriteFile(dir.path() + "/auth.yaml", "users: [oops");
  m.process().Kill(SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Status(w.Get("/api/v1/query?query=1", Bearer("hpa-token", "team-b"))), 200);
  EXPECT_NE(m.process().Log().find("auth file reload failed"), std::string::npos);
}

// Prometheus 2.42 remote-writing over TLS with bearer and basic auth; a
// wrong token gets 401, a tenant not granted 403.
TEST(AuthTest, PrometheusRemoteWriteWithTlsAndCredentials) {
  if (std::string why = PrometheusMissing(); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  Pki pki(dir.path());
  ASSERT_TRUE(pki.Ca("ca"));
  ASSERT_TRUE(pki.Cert("server", "meridian", "ca", true));
  WriteFile(dir.path() + "/auth.yaml", kAuthFile);
  int port = FreePort();
  Process m(
      {MeridianBinary(), "--listen", "127.0.0.1:" + std::to_string(port), "--data-dir",
       dir.path() + "/data", "--tls-cert-file", pki.Path("server.crt"), "--tls-private-key-file",
       pki.Path("server.key"), "--auth-file", dir.path() + "/auth.yaml"},
      dir.path() + "/meridian.log");
  httplib::SSLClient c("127.0.0.1", port);
  c.set_ca_cert_path(pki.Path("ca.crt").c_str());
  c.enable_server_certificate_verification(true);
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i) {
    ready = Status(c.Get("/-/ready")) == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(ready) << m.Log();
  int prom_port = FreePort();
  const std::string url = "https://127.0.0.1:" + std::to_string(port) + "/api/v1/write";
  // (Debian's Prometheus 2.42 does not send remote_write `headers:`, e.g.
  // THANOS-TENANT, as a capture of its requests shows: the tenant comes from
  // the credentials, a user's only tenant standing in for the default.)
  auto rw = [&](const std::string& name, const std::string& auth) {
    return "  - url: " + url + "\n    name: " + name +
           "\n    tls_config:\n      ca_file: " + pki.Path("ca.crt") + "\n" + auth +
           "    queue_config:\n      batch_send_deadline: 1s\n      max_backoff: 1s\n";
  };
  auto prom = StartPrometheus(
      dir.path(), prom_port,
      "global:\n  scrape_interval: 1s\n"
      "scrape_configs:\n  - job_name: prometheus\n    static_configs:\n"
      "      - targets: ['127.0.0.1:" +
          std::to_string(prom_port) +
          "']\n"
          "remote_write:\n" +
          rw("bearer", "    authorization:\n      credentials: west-token\n") +
          rw("basic", "    basic_auth:\n      username: prom-b\n      password: b-password\n") +
          rw("wrong", "    authorization:\n      credentials: stolen\n") +
          // Two tenants, neither the default: which one is not said, so 403.
          rw("forbidden", "    authorization:\n      credentials: multi-token\n"));
  auto has_up = [&](const std::string& tenant) {
    auto r = c.Get("/api/v1/query?query=" + UrlEncode("up{job=\"prometheus\"}"),
                   Bearer("ops-token", tenant));
    return r && r->status == 200 && r->body.find("\"up\"") != std::string::npos;
  };
  bool both = false;
  for (int i = 0; i < 200 && !both; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    both = has_up("gpu-platform") && has_up("team-b");
  }
  EXPECT_TRUE(both) << prom->Log();
  EXPECT_FALSE(has_up("team-x"));
  EXPECT_FALSE(has_up("default-tenant"));
  // The refusals, as meridian counted them and as Prometheus saw them.
  bool refused = false;
  std::string body;
  for (int i = 0; i < 100 && !refused; ++i) {
    auto met = c.Get("/metrics", Bearer("ops-token"));
    body = met ? met->body : "";
    refused = body.find("meridian_http_auth_refused_total{code=\"401\"} 0") == std::string::npos &&
              body.find("meridian_http_auth_refused_total{code=\"403\"} 0") == std::string::npos;
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(refused) << body.substr(body.find("auth_refused"), 300);
  std::string log = prom->Log();
  EXPECT_NE(log.find("401 Unauthorized"), std::string::npos) << log.substr(0, 3000);
  EXPECT_NE(log.find("403 Forbidden"), std::string::npos)
      << log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
}

// The external metrics API with credentials: a token user reads its tenant's
// namespaces only; a client certificate's CN; the front proxy's X-Remote-User.
TEST(AuthTest, ExternalMetricsApiTenantsAndFrontProxy) {
  if (access(kKubectl, X_OK) != 0) GTEST_SKIP() << "SKIP: " << kKubectl << " not installed";
  TempDir dir;
  Pki pki(dir.path());
  ASSERT_TRUE(pki.Ca("ca"));
  ASSERT_TRUE(pki.Cert("server", "meridian", "ca", true));
  ASSERT_TRUE(pki.Ca("client-ca"));
  ASSERT_TRUE(pki.Cert("hpa", "hpa-reader", "client-ca", false));
  ASSERT_TRUE(pki.Ca("front-proxy-ca"));
  ASSERT_TRUE(pki.Cert("proxy", "front-proxy-client", "front-proxy-ca", false));
  ASSERT_TRUE(pki.Cert("intruder", "not-the-proxy", "front-proxy-ca", false));
  WriteFile(dir.path() + "/auth.yaml", kAuthFile);
  WriteFile(dir.path() + "/k8s.yaml",
            "namespaces:\n  quasim-platform: gpu-platform\n  other-team: team-b\n");
  int k8s_port = FreePort();
  Meridian m("", {"--auth-file", dir.path() + "/auth.yaml", "--k8s-listen",
                  "127.0.0.1:" + std::to_string(k8s_port), "--k8s-config", dir.path() + "/k8s.yaml",
                  "--tls-cert-file", pki.Path("server.crt"), "--tls-private-key-file",
                  pki.Path("server.key"), "--client-ca-file", pki.Path("client-ca.crt"),
                  "--requestheader-client-ca-file", pki.Path("front-proxy-ca.crt"),
                  "--requestheader-allowed-names", "front-proxy-client"});
  // (The main listener serves TLS too: wait through an HTTPS client.)
  httplib::SSLClient main_c("127.0.0.1", m.port());
  main_c.set_ca_cert_path(pki.Path("ca.crt").c_str());
  main_c.enable_server_certificate_verification(true);
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i) {
    ready = Status(main_c.Get("/-/ready")) == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(ready) << m.process().Log();
  prometheus::WriteRequest req;
  AddSeries(&req, {{"__name__", "gpu_queue_depth"}, {"namespace", "quasim-platform"}},
            {{NowMs() - 2000, 12}});
  ASSERT_EQ(Status(main_c.Post("/api/v1/write", Bearer("west-token", "gpu-platform"),
                               EncodeWriteRequest(req), "application/x-protobuf")),
            204);
  const std::string server = "https://127.0.0.1:" + std::to_string(k8s_port);
  const std::string own =
      "/apis/external.metrics.k8s.io/v1beta1/namespaces/quasim-platform/gpu_queue_depth";
  const std::string other =
      "/apis/external.metrics.k8s.io/v1beta1/namespaces/other-team/gpu_queue_depth";
  std::string kc = Kubeconfig(dir.path(), server, pki.Path("ca.crt"), "hpa-token");
  CmdResult r = RunCmd({kKubectl, "--kubeconfig", kc, "get", "--raw", own}, dir.path() + "/k1.log");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"value\":\"12\""), std::string::npos) << r.output;
  r = RunCmd({kKubectl, "--kubeconfig", kc, "get", "--raw", other}, dir.path() + "/k2.log");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("Forbidden"), std::string::npos) << r.output;
  std::string wrong =
      Kubeconfig(dir.path(), server, pki.Path("ca.crt"), "stolen", "", "", "kc-wrong");
  r = RunCmd({kKubectl, "--kubeconfig", wrong, "get", "--raw", own}, dir.path() + "/k3.log");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("You must be logged in to the server (invalid bearer token)"),
            std::string::npos)
      << r.output;
  // Health needs nothing.
  r = RunCmd({kKubectl, "--kubeconfig", wrong, "get", "--raw", "/healthz"}, dir.path() + "/k4.log");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // A client certificate from --client-ca-file: CN hpa-reader.
  std::string cert_kc = Kubeconfig(dir.path(), server, pki.Path("ca.crt"), "", pki.Path("hpa.crt"),
                                   pki.Path("hpa.key"), "kc-cert");
  r = RunCmd({kKubectl, "--kubeconfig", cert_kc, "get", "--raw", own}, dir.path() + "/k5.log");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = RunCmd({kKubectl, "--kubeconfig", cert_kc, "get", "--raw", other}, dir.path() + "/k6.log");
  EXPECT_NE(r.output.find("Forbidden"), std::string::npos) << r.output;
  // The front proxy: its certificate makes X-Remote-User the user.
  auto proxy = [&](const std::string& name, const std::string& user) {
    httplib::SSLClient p("127.0.0.1", k8s_port, pki.Path(name + ".crt"), pki.Path(name + ".key"));
    p.set_ca_cert_path(pki.Path("ca.crt").c_str());
    p.enable_server_certificate_verification(true);
    return Status(p.Get(own, {{"X-Remote-User", user}}));
  };
  EXPECT_EQ(proxy("proxy", "system:kube-aggregator"), 200);
  EXPECT_EQ(proxy("proxy", "nobody"), 403);
  // A certificate of the front-proxy CA with a CN not allowed: X-Remote-User is ignored.
  EXPECT_EQ(proxy("intruder", "system:kube-aggregator"), 401);
  // A client certificate does not make X-Remote-User trusted either.
  EXPECT_EQ(proxy("hpa", "ops"), 200);  // still hpa-reader, who may read this namespace
}
}  // namespace
}  // namespace meridian::testing
