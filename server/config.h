// Config: meridian's settings, from built-in defaults, an optional config file
// and command-line flags (flags win). With no flags at all meridian starts on
// 0.0.0.0:9097 with data in ./meridian-data.
//
// Config file format: one `key: value` per line (a flat YAML subset), `#`
// comments; keys are the flag names without dashes, e.g.
//   listen: 0.0.0.0:9097
//   data-dir: /var/lib/meridian
//   retention: 90d
#ifndef MERIDIAN_SERVER_CONFIG_H_
#define MERIDIAN_SERVER_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/status.h"
#include "remote/federate_pull.h"

namespace meridian::server {

// One remote-read endpoint a global meridian reads (--remote-read, repeatable):
//   NAME=URL[;timeout=30s][;tenant-header=THANOS-TENANT][;tenant=ID]
//       [;external-labels=NAME:VALUE,NAME:VALUE][;bearer-token=T]
//       [;basic-auth=USER:PASSWORD][;tls-ca-file=PATH][;tls-insecure-skip-verify=true]
struct RemoteReadConfig {
  std::string name;
  std::string url;
  int64_t timeout_ms = 30'000;
  std::string tenant_header = "THANOS-TENANT";
  std::string tenant;  // empty: the caller's
  std::vector<std::pair<std::string, std::string>> external_labels;
  std::string bearer_token;
  std::string basic_auth_username;
  std::string basic_auth_password;
  std::string tls_ca_file;
  bool tls_insecure_skip_verify = false;
  std::string api_url;    // the remote's HTTP API (watermarks); empty: URL minus /api/v1/read
  bool pushdown = false;  // a meridian: aggregations are pushed to its query API
  std::string text;       // as given, for /api/v1/status/flags (secrets elided)
};

// Parses one --remote-read value (see RemoteReadConfig).
absl::StatusOr<RemoteReadConfig> ParseRemoteRead(const std::string& value);

// One federation pull (--federate-pull, repeatable; remote/federate_pull.h):
//   NAME=URL[;match=SELECTOR]...[;interval=1m][;timeout=10s]
//       [;labels=NAME:VALUE,..][;honor-labels=true][;tenant=ID]
//       [;bearer-token=T][;basic-auth=USER:PASSWORD][;tls-ca-file=PATH]
//       [;tls-insecure-skip-verify=true]
struct FederatePullSetting {
  remote::FederatePullConfig pull;
  std::string text;  // for /api/v1/status/flags (secrets elided)
};
absl::StatusOr<FederatePullSetting> ParseFederatePull(const std::string& value);
std::string FederatePullText(const remote::FederatePullConfig& p);

struct Config;
// Adds an entry, refusing a name used twice.
absl::Status AddRemoteRead(Config* c, RemoteReadConfig r);
absl::Status AddFederatePull(Config* c, FederatePullSetting f);
// A config file's nested YAML list `key:` (remote_read or federate_pull; the
// text holds the key line and its indented block), as Prometheus's
// remote_read entries (server/config_remote.cc).
absl::Status ApplyYamlList(Config* c, const std::string& key, const std::string& yaml_text,
                           const std::string& where);

struct Config {
  std::string listen = "0.0.0.0:9097";
  std::string data_dir = "meridian-data";
  std::string config_file;
  std::string default_tenant = "default-tenant";
  // Retention per resolution (0: keep forever) and the compactor
  // (compactor/compactor.h). `retention` is an alias of retention-raw.
  int64_t retention_ms = 30 * 86'400'000LL;  // raw data
  int64_t retention_5m_ms = 180 * 86'400'000LL;
  int64_t retention_1h_ms = 730 * 86'400'000LL;
  int64_t downsample_5m_after_ms = 40 * 3'600'000LL;   // 0: no downsampling
  int64_t downsample_1h_after_ms = 10 * 86'400'000LL;  // 0: no 1h resolution
  int64_t compact_interval_ms = 5 * 60'000;            // background passes; 0: none
  // Per-tenant overrides ("tenant-retention: TENANT raw=90d 5m=1y 1h=0").
  struct TenantRetention {
    std::optional<int64_t> raw_ms, res_5m_ms, res_1h_ms;
  };
  std::map<std::string, TenantRetention> tenant_retention;
  bool enable_admin_api = false;                  // as Prometheus's --web.enable-admin-api
  int64_t out_of_order_window_ms = 2 * 3600'000;  // accepted lateness per series
  int64_t head_idle_timeout_ms = 3 * 3600'000;    // idle series leave memory (0: never)
  bool allow_backfill = true;
  int64_t max_future_ms = 10 * 60'000;
  int64_t max_body_bytes = 64 << 20;
  int64_t max_decoded_bytes = 256 << 20;
  int max_inflight_writes = 32;  // more concurrent remote-writes get 503
  bool sync_wal = true;
  int64_t query_timeout_ms = 120'000;
  int64_t lookback_delta_ms = 5 * 60'000;
  int64_t max_samples = 50'000'000;
  int http_threads = 64;                      // workers running requests (not connections)
  int http_max_queued = 1024;                 // complete requests waiting for a worker; then 503
  int http_max_connections = 4096;            // open connections; then 503
  int64_t http_idle_timeout_ms = 6 * 60'000;  // idle keep-alive connection closed after this
  int64_t http_read_timeout_ms = 60'000;      // a request must arrive within this
  int64_t block_cache_bytes = 256 << 20;      // uncompressed chunk blocks kept for reads
  int64_t aggregate_cache_bytes = 256 << 20;  // downsampled reads' cache (0: none)
  int64_t query_cache_bytes = 128 << 20;      // range queries' results cache (0: none)

  // Limits on what clients control (ingest/limits.h has the rationale).
  int64_t max_labels_per_series = 30;
  int64_t max_label_name_bytes = 1024;
  int64_t max_label_value_bytes = 2048;
  int64_t max_series_per_request = 100'000;
  int64_t max_samples_per_request = 1'000'000;
  int64_t max_series_per_tenant = 2'000'000;  // 0: no limit
  int64_t max_tenants = 1000;                 // 0: no limit
  int64_t max_tenant_id_bytes = 150;
  double ingestion_rate = 0;   // samples/s per tenant; 0: no limit
  double ingestion_burst = 0;  // 0: 10 s of ingestion_rate
  // Queries (query/admission.h): concurrent dashboard queries and how long
  // one waits for a slot before 503; a separate lane for scaling reads.
  int64_t query_max_concurrency = 20;
  int64_t query_priority_concurrency = 4;
  int64_t query_queue_timeout_ms = 30'000;
  int64_t query_max_queued = 20;  // per lane; beyond, 503 at once
  // Most items /api/v1/series, /labels and /label/<name>/values return
  // (beyond: truncated with a warning, as with their limit parameter).
  int64_t max_metadata_results = 100'000;
  // Remote-read server (POST /api/v1/read): samples and uncompressed bytes one
  // request may return (400 above; 0: no limit).
  int64_t remote_read_sample_limit = 50'000'000;  // Prometheus's default
  int64_t remote_read_max_bytes = 512LL << 20;
  // Rule files (rules/): comma-separated [TENANT=]GLOB; evaluation interval
  // of groups that set none.
  std::string rule_files;
  int64_t rule_evaluation_interval_ms = 60'000;
  int64_t rule_for_outage_tolerance_ms = 3'600'000;
  int64_t rule_for_grace_period_ms = 600'000;
  // A global meridian: remote-read endpoints every read also asks (flags add
  // to the config file's entries).
  std::vector<RemoteReadConfig> remote_reads;
  // An answer whose queried range ends more than this after a remote's
  // watermark carries an info naming the remote (0: no check).
  int64_t remote_read_freshness_lag_ms = 120'000;
  // Federation pulls: other servers' /federate stored like remote-writes.
  std::vector<FederatePullSetting> federate_pulls;
  // Replica labels (Thanos's --query.replica-label): series differing only in
  // these are deduplicated on every read (dedup=false turns it off per request).
  std::vector<std::string> replica_labels;

  // TLS and authentication (http/tls.h, server/auth.h). With a cert and
  // key every listener serves HTTPS; the k8s listener always does (a
  // self-signed certificate without them).
  std::string tls_cert_file;
  std::string tls_private_key_file;
  std::string client_ca_file;
  std::string requestheader_client_ca_file;
  std::string requestheader_allowed_names;  // comma-separated CNs; empty: any
  std::string auth_file;
  // The Kubernetes external metrics API (k8s/external_metrics.h): its own
  // HTTPS listener (empty: off) and the file mapping metrics and namespaces.
  std::string k8s_listen;
  std::string k8s_config;

  // Every setting as name -> value text, for /api/v1/status/flags.
  std::map<std::string, std::string> AsFlags() const;
};

// Parses argv (and the --config file it names). Returns InvalidArgument with a
// message naming the bad flag or line; NotFound-free: a missing config file is
// an error. `--help` and `--version` yield a status with code kCancelled and
// the text to print.
absl::StatusOr<Config> ParseConfig(int argc, char** argv);

std::string Usage();

// Splits --rule-files into (tenant, glob) pairs; no TENANT= is default_tenant.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseRuleFileSources(
    const std::string& value, const std::string& default_tenant);

// Splits a listen address HOST:PORT ([v6]:PORT; empty HOST: every address)
// and checks the port is a number in 0..65535 (0: any free port).
absl::Status ParseListen(const std::string& listen, std::string* host, int* port);

// "meridian version X" and the build's libraries, for --version.
std::string VersionText();

}  // namespace meridian::server

#endif  // MERIDIAN_SERVER_CONFIG_H_
