#include "server/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

namespace meridian::server {
namespace {

absl::StatusOr<Config> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "meridian");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseConfig(static_cast<int>(argv.size()), argv.data());
}

TEST(ConfigTest, DefaultsNeedNoFlags) {
  auto c = Parse({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->listen, "0.0.0.0:9097");
  EXPECT_EQ(c->data_dir, "meridian-data");
  EXPECT_TRUE(c->sync_wal);
}

TEST(ConfigTest, FlagsBothForms) {
  auto c = Parse({"--listen", "127.0.0.1:1234", "--data-dir=/tmp/x", "--retention", "90d",
                  "--sync-wal=false"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "127.0.0.1:1234");
  EXPECT_EQ(c->data_dir, "/tmp/x");
  EXPECT_EQ(c->retention_ms, 90LL * 86400 * 1000);
  EXPECT_FALSE(c->sync_wal);
}

TEST(ConfigTest, FileThenFlagsOverride) {
  std::string path = testing::TempDir() + "/meridian_config_test.yml";
  {
    std::ofstream f(path);
    f << "# comment\nlisten: 127.0.0.1:9999\nretention: 1h  # inline\ndata-dir: \"/d\"\n";
  }
  auto c = Parse({"--config", path, "--listen", "127.0.0.1:1"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "127.0.0.1:1");
  EXPECT_EQ(c->retention_ms, 3600000);
  EXPECT_EQ(c->data_dir, "/d");
  std::remove(path.c_str());
}

TEST(ConfigTest, ErrorsNameTheProblem) {
  auto unknown = Parse({"--no-such-flag", "1"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown setting \"no-such-flag\""), std::string::npos);
  auto bad = Parse({"--retention", "forever"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("invalid value for retention"), std::string::npos);
  auto missing = Parse({"--config", "/nonexistent/meridian.yml"});
  EXPECT_FALSE(missing.ok());
  auto help = Parse({"--help"});
  EXPECT_EQ(help.status().code(), absl::StatusCode::kCancelled);
  EXPECT_NE(help.status().message().find("--data-dir"), std::string::npos);
}

TEST(ConfigTest, LimitsHaveConventionalDefaultsAndAreValidated) {
  auto c = Parse({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->max_labels_per_series, 30);    // Mimir
  EXPECT_EQ(c->max_label_name_bytes, 1024);   // Mimir
  EXPECT_EQ(c->max_label_value_bytes, 2048);  // Mimir
  EXPECT_EQ(c->max_tenant_id_bytes, 150);     // Cortex/Mimir
  EXPECT_EQ(c->query_max_concurrency, 20);    // Prometheus --query.max-concurrency
  EXPECT_EQ(c->query_timeout_ms, 120'000);    // Prometheus --query.timeout
  EXPECT_EQ(c->max_samples, 50'000'000);      // Prometheus --query.max-samples
  EXPECT_EQ(c->ingestion_rate, 0);
  auto set = Parse({"--max-labels-per-series=10", "--max-series-per-tenant", "0",
                    "--ingestion-rate", "2500.5", "--ingestion-burst=10000",
                    "--query-max-concurrency", "4", "--query-queue-timeout", "5s", "--max-tenants",
                    "7", "--aggregate-cache-bytes", "0", "--query-cache-bytes", "0"});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->max_labels_per_series, 10);
  EXPECT_EQ(set->max_series_per_tenant, 0);
  EXPECT_EQ(set->ingestion_rate, 2500.5);
  EXPECT_EQ(set->ingestion_burst, 10000);
  EXPECT_EQ(set->query_max_concurrency, 4);
  EXPECT_EQ(set->query_queue_timeout_ms, 5000);
  EXPECT_EQ(set->max_tenants, 7);
  EXPECT_EQ(set->aggregate_cache_bytes, 0);
  EXPECT_EQ(Parse({})->aggregate_cache_bytes, 256 << 20);
  EXPECT_EQ(set->query_cache_bytes, 0);
  EXPECT_EQ(Parse({})->query_cache_bytes, 128 << 20);
  EXPECT_EQ(set->AsFlags().at("ingestion-rate"), "2500.5");
  for (std::vector<std::string> bad :
       std::vector<std::vector<std::string>>{{"--max-labels-per-series", "0"},
                                             {"--max-series-per-tenant", "-1"},
                                             {"--ingestion-rate", "-5"},
                                             {"--ingestion-rate", "fast"},
                                             {"--query-max-concurrency", "0"},
                                             {"--max-metadata-results", "x"},
                                             {"--aggregate-cache-bytes", "-1"},
                                             {"--query-cache-bytes", "-1"}}) {
    auto r = Parse(bad);
    EXPECT_FALSE(r.ok()) << bad[0];
    EXPECT_NE(r.status().message().find("invalid value for " + bad[0].substr(2)), std::string::npos)
        << r.status();
  }
}

// The example configuration beside the README loads, lists every setting, and
// the default each commented-out line shows is the real default.
TEST(ConfigTest, RetentionPerResolutionAndTenant) {
  auto d = Parse({});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->retention_ms, 30LL * 86400 * 1000);
  EXPECT_EQ(d->retention_5m_ms, 180LL * 86400 * 1000);
  EXPECT_EQ(d->retention_1h_ms, 730LL * 86400 * 1000);
  EXPECT_EQ(d->downsample_5m_after_ms, 40LL * 3600 * 1000);
  EXPECT_EQ(d->downsample_1h_after_ms, 10LL * 86400 * 1000);
  auto c = Parse({"--retention", "7d", "--retention-1h", "0", "--tenant-retention",
                  "acme raw=90d 1h=5y", "--tenant-retention", "beta 5m=0"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->retention_ms, 7LL * 86400 * 1000);  // --retention is --retention-raw
  EXPECT_EQ(c->retention_1h_ms, 0);
  ASSERT_EQ(c->tenant_retention.size(), 2u);
  EXPECT_EQ(*c->tenant_retention["acme"].raw_ms, 90LL * 86400 * 1000);
  EXPECT_FALSE(c->tenant_retention["acme"].res_5m_ms.has_value());
  EXPECT_EQ(*c->tenant_retention["beta"].res_5m_ms, 0);
  EXPECT_EQ(c->AsFlags()["tenant-retention"], "acme raw=7776000s 1h=157680000s; beta 5m=0s");
  for (const char* bad : {"acme", "acme raw=forever", "acme 2h=1d", "acme raw=-1d", "raw=1d"}) {
    EXPECT_FALSE(Parse({"--tenant-retention", bad}).ok()) << bad;
  }
  EXPECT_FALSE(Parse({"--retention-5m", "-1d"}).ok());
}

TEST(ConfigTest, ExampleConfigurationLoadsAndDocumentsEveryDefault) {
  const std::string path = MERIDIAN_EXAMPLE_CONFIG;
  auto c = Parse({"--config", path});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "0.0.0.0:9097");
  EXPECT_EQ(c->data_dir, "/var/lib/meridian");
  EXPECT_EQ(c->retention_ms, 90LL * 86400 * 1000);

  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  const std::map<std::string, std::string> defaults = Config().AsFlags();
  // (A setting whose default is empty is listed as "# key:" with no value.)
  const std::regex setting_line(R"(^#?\s?([a-z][a-z0-9-]*):\s*(\S*)\s*$)");
  std::set<std::string> listed;
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, setting_line) || !defaults.count(m[1].str())) continue;
    const std::string key = m[1].str(), value = m[2].str();
    listed.insert(key);
    if (line[0] != '#') continue;  // set on purpose; checked above
    auto one = Parse({"--" + key, value});
    ASSERT_TRUE(one.ok()) << "meridian.example.yml: " << line << ": " << one.status();
    if (defaults.at(key).empty()) continue;  // a list with no default shows an example
    EXPECT_EQ(one->AsFlags().at(key), defaults.at(key))
        << "meridian.example.yml shows \"" << line << "\" but the default of " << key << " is "
        << defaults.at(key);
  }
  for (const auto& [key, value] : defaults) {
    if (key == "config") continue;
    EXPECT_TRUE(listed.count(key))
        << "setting " << key << " is missing from meridian.example.yml: add it there, "
        << "commented out with its default (# " << key << ": " << value << ") and a line saying "
        << "what it does";
  }
}

}  // namespace
TEST(ConfigListenTest, PortsAreChecked) {
  std::string host;
  int port = -1;
  EXPECT_TRUE(ParseListen("127.0.0.1:9097", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 9097);
  EXPECT_TRUE(ParseListen(":0", &host, &port).ok());
  EXPECT_EQ(host, "");
  EXPECT_TRUE(ParseListen("[::1]:80", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  for (const char* bad : {"127.0.0.1:99999", ":abc", "127.0.0.1", ":", "::1:80", "[::1:80", "h:-1",
                          "h:+80", "h:123456"}) {
    EXPECT_FALSE(ParseListen(bad, &host, &port).ok()) << bad;
  }
}

TEST(ConfigTest, RemoteReadIsRepeatableWithOptionsAndClearErrors) {
  auto c =
      Parse({"--remote-read",
             "us=http://10.0.0.1:9097/api/v1/read;timeout=5s;external-labels=region:us,env:prod;"
             "tenant-header=X-Scope-OrgID;tenant=t1;basic-auth=u:hunter2",
             "--remote-read=eu=https://eu.example/api/v1/read"});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->remote_reads.size(), 2u);
  const auto& us = c->remote_reads[0];
  EXPECT_EQ(us.name, "us");
  EXPECT_EQ(us.url, "http://10.0.0.1:9097/api/v1/read");
  EXPECT_EQ(us.timeout_ms, 5000);
  ASSERT_EQ(us.external_labels.size(), 2u);
  EXPECT_EQ(us.external_labels[1].first, "env");
  EXPECT_EQ(us.tenant_header, "X-Scope-OrgID");
  EXPECT_EQ(us.tenant, "t1");
  EXPECT_EQ(us.basic_auth_password, "hunter2");
  EXPECT_EQ(c->remote_reads[1].timeout_ms, 30000);
  EXPECT_FALSE(us.pushdown);
  auto pushed = Parse({"--remote-read", "us=http://h/api/v1/read;pushdown=true"});
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  EXPECT_TRUE(pushed->remote_reads[0].pushdown);
  EXPECT_FALSE(Parse({"--remote-read", "us=http://h/api/v1/read;pushdown=maybe"}).ok());
  const std::string shown = c->AsFlags().at("remote-read");
  EXPECT_EQ(shown.find("hunter2"), std::string::npos) << shown;
  EXPECT_NE(shown.find("eu=https://eu.example/api/v1/read"), std::string::npos) << shown;

  for (const char* bad : {"nourl", "x=ftp://h/", "x=http://h/;colour=red",
                          "x=http://h/;timeout=-1s", "x=http://h/;external-labels=region"}) {
    EXPECT_FALSE(Parse({"--remote-read", bad}).ok()) << bad;
  }
  EXPECT_FALSE(Parse({"--remote-read", "a=http://h/", "--remote-read", "a=http://g/"}).ok());
}

// Config files give remotes and federation pulls as nested YAML lists with
// Prometheus's field names, beside the flat key: value lines (which still work).
TEST(ConfigTest, NestedRemoteReadAndFederatePullListsInTheConfigFile) {
  char dir[] = "/tmp/meridian_config_test_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/meridian.yml";
  const std::string token = std::string(dir) + "/token";
  std::ofstream(token) << "s3cret;with,separators\n";
  {
    std::ofstream f(path);
    f << "listen: 127.0.0.1:9999\n"
         "remote_read:\n"
         "  # a regional meridian\n"
         "  - name: us-west-2\n"
         "    url: http://us:9097/api/v1/read\n"
         "    remote_timeout: 20s\n"
         "    external_labels:\n"
         "      region: us-west-2\n"
         "    tenant_header: X-Scope-OrgID\n"
         "    authorization:\n"
         "      type: Bearer\n"
         "      credentials_file: "
      << token
      << "\n"
         "    tls_config: {ca_file: /etc/ca.pem, insecure_skip_verify: true}\n"
         "  - name: eu\n"
         "    url: https://eu:9090/api/v1/read\n"
         "    basic_auth: {username: u, password: p}\n"
         "    api_url: https://eu:9090/prom\n"
         "    pushdown: true\n"
         "remote-read: flat=http://flat:9097/api/v1/read\n"
         "federate_pull:\n"
         "- name: legacy\n"
         "  url: http://prom:9090/federate\n"
         "  match: ['{job=\"node\"}', 'up']\n"
         "  interval: 30s\n"
         "  labels: {region: eu-west-1}\n"
         "  honor_labels: false\n"
         "  honor_timestamps: false\n"
         "  track_timestamps_staleness: true\n"
         "  tenant: eu\n"
         "retention: 7d\n";
  }
  auto c = Parse({"--config", path, "--remote-read", "flag=http://f:1/api/v1/read"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "127.0.0.1:9999");
  EXPECT_EQ(c->retention_ms, 7LL * 86400 * 1000);
  ASSERT_EQ(c->remote_reads.size(), 4u);
  const auto& us = c->remote_reads[0];
  EXPECT_EQ(us.name, "us-west-2");
  EXPECT_EQ(us.url, "http://us:9097/api/v1/read");
  EXPECT_EQ(us.timeout_ms, 20000);
  ASSERT_EQ(us.external_labels.size(), 1u);
  EXPECT_EQ(us.external_labels[0].first, "region");
  EXPECT_EQ(us.external_labels[0].second, "us-west-2");
  EXPECT_EQ(us.tenant_header, "X-Scope-OrgID");
  EXPECT_EQ(us.bearer_token, "s3cret;with,separators");
  EXPECT_EQ(us.tls_ca_file, "/etc/ca.pem");
  EXPECT_TRUE(us.tls_insecure_skip_verify);
  EXPECT_EQ(c->remote_reads[1].basic_auth_username, "u");
  EXPECT_EQ(c->remote_reads[1].basic_auth_password, "p");
  EXPECT_EQ(c->remote_reads[1].api_url, "https://eu:9090/prom");
  EXPECT_TRUE(c->remote_reads[1].pushdown);
  EXPECT_FALSE(us.pushdown);
  EXPECT_EQ(c->remote_reads[2].name, "flat");
  EXPECT_EQ(c->remote_reads[3].name, "flag");
  const std::string shown = c->AsFlags().at("remote-read");
  EXPECT_EQ(shown.find("s3cret"), std::string::npos) << shown;
  EXPECT_NE(shown.find("basic-auth=<secret>"), std::string::npos) << shown;
  ASSERT_EQ(c->federate_pulls.size(), 1u);
  const auto& f = c->federate_pulls[0].pull;
  EXPECT_EQ(f.name, "legacy");
  EXPECT_EQ(f.url, "http://prom:9090/federate");
  EXPECT_EQ(f.match, (std::vector<std::string>{"{job=\"node\"}", "up"}));
  EXPECT_EQ(f.interval_ms, 30000);
  EXPECT_EQ(f.timeout_ms, 10000);
  EXPECT_EQ(f.labels.size(), 1u);
  EXPECT_FALSE(f.honor_labels);
  EXPECT_FALSE(f.honor_timestamps);
  EXPECT_TRUE(f.track_timestamps_staleness);
  EXPECT_EQ(f.tenant, "eu");

  // Errors name the file and the list's line.
  for (const std::string& bad :
       {std::string("remote_read:\n  - name: a\n    url: http://h/\n    colour: red\n"),
        std::string("remote_read:\n  - url: http://h/\n"),
        std::string("remote_read:\n  - name: a\n    url: ftp://h/\n"),
        std::string("remote_read:\n  name: a\n"),
        std::string("remote_read:\n  - name: a\n    url: http://h/\n  - name: a\n    url: "
                    "http://g/\n"),
        std::string("remote_read:\n  - name: a\n    url: http://h/\n    authorization: "
                    "{type: Basic}\n"),
        std::string("federate_pull:\n  - name: a\n    url: http://h/\n    interval: soon\n"),
        std::string("federate_pull:\n  - name: a\n    url: http://h/\n    match: up\n")}) {
    std::ofstream(path) << bad;
    auto r = Parse({"--config", path});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find(path + ":1: "), std::string_view::npos) << r.status();
  }
  std::remove(path.c_str());
  std::remove(token.c_str());
  rmdir(dir);
}

TEST(ConfigTest, FederatePullFlag) {
  auto c = Parse({"--federate-pull",
                  "p=http://h:9090/federate;match={job=~\"a|b\",x!=\"\"};match=up;interval=15s;"
                  "labels=region:eu,env:prod;tenant=t;bearer-token=hunter2"});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->federate_pulls.size(), 1u);
  const auto& f = c->federate_pulls[0].pull;
  EXPECT_EQ(f.match, (std::vector<std::string>{"{job=~\"a|b\",x!=\"\"}", "up"}));
  EXPECT_EQ(f.interval_ms, 15000);
  EXPECT_EQ(f.timeout_ms, 10000);
  EXPECT_TRUE(f.honor_labels);
  EXPECT_TRUE(f.honor_timestamps);
  EXPECT_FALSE(f.track_timestamps_staleness);
  EXPECT_EQ(f.labels.size(), 2u);
  auto ts = Parse(
      {"--federate-pull", "p=http://h/;honor-timestamps=false;track-timestamps-staleness=true"});
  ASSERT_TRUE(ts.ok()) << ts.status();
  EXPECT_FALSE(ts->federate_pulls[0].pull.honor_timestamps);
  EXPECT_TRUE(ts->federate_pulls[0].pull.track_timestamps_staleness);
  EXPECT_NE(ts->AsFlags()
                .at("federate-pull")
                .find(";honor-timestamps=false;track-timestamps-"
                      "staleness=true"),
            std::string::npos);
  EXPECT_EQ(f.bearer_token, "hunter2");
  EXPECT_EQ(c->AsFlags().at("federate-pull").find("hunter2"), std::string::npos);
  for (const char* bad :
       {"nourl", "p=ftp://h/", "p=http://h/;interval=0s", "p=http://h/;interval=5s;timeout=10s",
        "p=http://h/;honor-labels=maybe", "p=http://h/;honor-timestamps=maybe",
        "p=http://h/;what=1", "p=http://h/;labels=region"}) {
    EXPECT_FALSE(Parse({"--federate-pull", bad}).ok()) << bad;
  }
  EXPECT_FALSE(Parse({"--federate-pull", "a=http://h/", "--federate-pull", "a=http://g/"}).ok());
}

}  // namespace meridian::server
