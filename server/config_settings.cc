// The table of meridian's settings: each flag (and config-file key) with its
// help text, how it is parsed into Config and how Config shows it
// (--help, /api/v1/status/flags). One function per group keeps each short.
#include <cstdio>
#include <sstream>

#include "server/config_internal.h"

namespace meridian::server::config_internal {

namespace {

std::string Dur(int64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string RateText(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", x);
  return buf;
}

// "TENANT raw=90d 5m=1y 1h=0": adds (or replaces) the tenant's overrides.
absl::Status ParseTenantRetention(const std::string& v, Config* c) {
  if (v == "none") {
    c->tenant_retention.clear();
    return absl::OkStatus();
  }
  std::istringstream in(v);
  std::string tenant, item;
  if (!(in >> tenant) || tenant.find('=') != std::string::npos) {
    return absl::InvalidArgumentError("expected \"TENANT raw=DUR 5m=DUR 1h=DUR\", got \"" + v +
                                      "\"");
  }
  Config::TenantRetention r;
  bool any = false;
  while (in >> item) {
    size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError("expected RESOLUTION=DURATION, got \"" + item + "\"");
    }
    const std::string res = item.substr(0, eq);
    int64_t ms;
    MERIDIAN_RETURN_IF_ERROR(ParseNonNegativeDur(item.substr(eq + 1), &ms));
    if (res == "raw") {
      r.raw_ms = ms;
    } else if (res == "5m") {
      r.res_5m_ms = ms;
    } else if (res == "1h") {
      r.res_1h_ms = ms;
    } else {
      return absl::InvalidArgumentError("unknown resolution \"" + res + "\" (raw, 5m or 1h)");
    }
    any = true;
  }
  if (!any) return absl::InvalidArgumentError("no retention given for tenant \"" + tenant + "\"");
  c->tenant_retention[tenant] = r;
  return absl::OkStatus();
}

#define MERIDIAN_INT_SETTING(name, help, field, parse)                               \
  {                                                                                  \
    name, help, [](Config* c, const std::string& v) { return parse(v, &c->field); }, \
        [](const Config& c) { return std::to_string(c.field); }                      \
  }

#define MERIDIAN_STRING_SETTING(name, help, field) \
  {                                                \
    name, help,                                    \
        [](Config* c, const std::string& v) {      \
          c->field = v;                            \
          return absl::OkStatus();                 \
        },                                         \
        [](const Config& c) { return c.field; }    \
  }

// Where meridian listens and keeps its data; retention and the compactor.
std::vector<Setting> ListenAndRetentionSettings() {
  return {
      {"listen", "HOST:PORT for every HTTP surface (port 0: any free port)",
       [](Config* c, const std::string& v) {
         std::string host;
         int port;
         MERIDIAN_RETURN_IF_ERROR(ParseListen(v, &host, &port));
         c->listen = v;
         return absl::OkStatus();
       },
       [](const Config& c) { return c.listen; }},
      {"data-dir", "data directory, created when missing",
       [](Config* c, const std::string& v) {
         c->data_dir = v;
         return absl::OkStatus();
       },
       [](const Config& c) { return c.data_dir; }},
      {"default-tenant", "tenant of requests without THANOS-TENANT/X-Scope-OrgID",
       [](Config* c, const std::string& v) {
         c->default_tenant = v;
         return absl::OkStatus();
       },
       [](const Config& c) { return c.default_tenant; }},
      {"retention", "alias of retention-raw",
       [](Config* c, const std::string& v) { return ParseNonNegativeDur(v, &c->retention_ms); },
       [](const Config& c) { return Dur(c.retention_ms); }},
      {"retention-raw",
       "delete raw samples older than this once 5m data replaces them (0 keeps forever)",
       [](Config* c, const std::string& v) { return ParseNonNegativeDur(v, &c->retention_ms); },
       [](const Config& c) { return Dur(c.retention_ms); }},
      {"retention-5m",
       "delete 5m aggregates older than this once 1h data replaces them (0: forever)",
       [](Config* c, const std::string& v) { return ParseNonNegativeDur(v, &c->retention_5m_ms); },
       [](const Config& c) { return Dur(c.retention_5m_ms); }},
      {"retention-1h", "delete 1h aggregates older than this (0 keeps forever)",
       [](Config* c, const std::string& v) { return ParseNonNegativeDur(v, &c->retention_1h_ms); },
       [](const Config& c) { return Dur(c.retention_1h_ms); }},
      {"downsample-5m-after", "downsample raw data older than this to 5m (0: never)",
       [](Config* c, const std::string& v) {
         return ParseNonNegativeDur(v, &c->downsample_5m_after_ms);
       },
       [](const Config& c) { return Dur(c.downsample_5m_after_ms); }},
      {"downsample-1h-after", "downsample 5m data older than this to 1h (0: never)",
       [](Config* c, const std::string& v) {
         return ParseNonNegativeDur(v, &c->downsample_1h_after_ms);
       },
       [](const Config& c) { return Dur(c.downsample_1h_after_ms); }},
      {"compact-interval", "run a background compactor pass this often (0: never)",
       [](Config* c, const std::string& v) {
         return ParseNonNegativeDur(v, &c->compact_interval_ms);
       },
       [](const Config& c) { return Dur(c.compact_interval_ms); }},
      {"tenant-retention",
       "per-tenant retention, repeatable: \"TENANT raw=DUR 5m=DUR 1h=DUR\" (any of the three)",
       [](Config* c, const std::string& v) { return ParseTenantRetention(v, c); },
       [](const Config& c) {
         if (c.tenant_retention.empty()) return std::string("none");
         std::string out;
         for (const auto& [t, r] : c.tenant_retention) {
           if (!out.empty()) out += "; ";
           out += t;
           if (r.raw_ms) out += " raw=" + Dur(*r.raw_ms);
           if (r.res_5m_ms) out += " 5m=" + Dur(*r.res_5m_ms);
           if (r.res_1h_ms) out += " 1h=" + Dur(*r.res_1h_ms);
         }
         return out;
       }},
      {"enable-admin-api", "serve the admin API (POST /api/v1/admin/tsdb/snapshot) (true/false)",
       [](Config* c, const std::string& v) { return ParseBool(v, &c->enable_admin_api); },
       [](const Config& c) { return std::string(c.enable_admin_api ? "true" : "false"); }},
  };
}

// The write path: accepted time ranges, body sizes, concurrency, durability.
std::vector<Setting> IngestSettings() {
  return {
      {"out-of-order-window", "accept samples this much older than a series' newest",
       [](Config* c, const std::string& v) { return ParseDur(v, &c->out_of_order_window_ms); },
       [](const Config& c) { return Dur(c.out_of_order_window_ms); }},
      {"allow-backfill", "accept samples older than the out-of-order window (true/false)",
       [](Config* c, const std::string& v) { return ParseBool(v, &c->allow_backfill); },
       [](const Config& c) { return std::string(c.allow_backfill ? "true" : "false"); }},
      {"head-idle-timeout",
       "series without samples for this long (sample time) leave memory; served from the "
       "on-disk index, re-admitted under their id (0 keeps all in memory)",
       [](Config* c, const std::string& v) {
         return ParseNonNegativeDur(v, &c->head_idle_timeout_ms);
       },
       [](const Config& c) { return Dur(c.head_idle_timeout_ms); }},
      {"max-future", "reject samples further than this in the future",
       [](Config* c, const std::string& v) { return ParseDur(v, &c->max_future_ms); },
       [](const Config& c) { return Dur(c.max_future_ms); }},
      {"max-body-bytes", "largest compressed remote-write body (413 above)",
       [](Config* c, const std::string& v) { return ParseInt(v, &c->max_body_bytes); },
       [](const Config& c) { return std::to_string(c.max_body_bytes); }},
      {"max-decoded-bytes", "largest decoded remote-write body (413 above)",
       [](Config* c, const std::string& v) { return ParseInt(v, &c->max_decoded_bytes); },
       [](const Config& c) { return std::to_string(c.max_decoded_bytes); }},
      {"max-inflight-writes",
       "concurrent remote-writes; more wait up to 1s for a slot, then get 503",
       [](Config* c, const std::string& v) {
         int64_t x;
         MERIDIAN_RETURN_IF_ERROR(ParseInt(v, &x));
         c->max_inflight_writes = static_cast<int>(x);
         return absl::OkStatus();
       },
       [](const Config& c) { return std::to_string(c.max_inflight_writes); }},
      {"sync-wal", "fsync the WAL before acknowledging writes (true/false)",
       [](Config* c, const std::string& v) { return ParseBool(v, &c->sync_wal); },
       [](const Config& c) { return std::string(c.sync_wal ? "true" : "false"); }},
  };
}

// The engine and the read cache.
std::vector<Setting> QuerySettings() {
  return {
      {"query-timeout", "maximum time one query may run (caps the timeout parameter)",
       [](Config* c, const std::string& v) { return ParseDur(v, &c->query_timeout_ms); },
       [](const Config& c) { return Dur(c.query_timeout_ms); }},
      {"lookback-delta", "PromQL lookback delta",
       [](Config* c, const std::string& v) { return ParseDur(v, &c->lookback_delta_ms); },
       [](const Config& c) { return Dur(c.lookback_delta_ms); }},
      {"max-samples", "maximum samples one query may hold in memory",
       [](Config* c, const std::string& v) { return ParseInt(v, &c->max_samples); },
       [](const Config& c) { return std::to_string(c.max_samples); }},
      {"block-cache-bytes", "memory for uncompressed chunk blocks of recent reads",
       [](Config* c, const std::string& v) {
         MERIDIAN_RETURN_IF_ERROR(ParseInt(v, &c->block_cache_bytes));
         if (c->block_cache_bytes < 0) return absl::InvalidArgumentError("must not be negative");
         return absl::OkStatus();
       },
       [](const Config& c) { return std::to_string(c.block_cache_bytes); }},
      {"aggregate-cache-bytes",
       "memory for downsampled reads: decoded aggregates and windows folded from raw data (0: "
       "none)",
       [](Config* c, const std::string& v) {
         MERIDIAN_RETURN_IF_ERROR(ParseInt(v, &c->aggregate_cache_bytes));
         if (c->aggregate_cache_bytes < 0)
           return absl::InvalidArgumentError("must not be negative");
         return absl::OkStatus();
       },
       [](const Config& c) { return std::to_string(c.aggregate_cache_bytes); }},
      {"query-cache-bytes",
       "memory for range queries' results cache: steps older than 5m kept per query and step, "
       "reused by later requests (0: none; docs/query-cache.md)",
       [](Config* c, const std::string& v) {
         MERIDIAN_RETURN_IF_ERROR(ParseInt(v, &c->query_cache_bytes));
         if (c->query_cache_bytes < 0) return absl::InvalidArgumentError("must not be negative");
         return absl::OkStatus();
       },
       [](const Config& c) { return std::to_string(c.query_cache_bytes); }},
  };
}

// The connection layer (http/http_server.h).
std::vector<Setting> HttpSettings() {
  return {
      {"http-threads",
       "HTTP worker threads running requests; idle keep-alive connections and requests "
       "still arriving hold none (/-/healthy and /-/ready have 2 threads of their own)",
       [](Config* c, const std::string& v) { return ParseIntIn(v, 1, 4096, &c->http_threads); },
       [](const Config& c) { return std::to_string(c.http_threads); }},
      {"http-max-queued",
       "complete requests that may wait for a busy worker; beyond, 503 + Retry-After",
       [](Config* c, const std::string& v) {
         return ParseIntIn(v, 0, 1 << 20, &c->http_max_queued);
       },
       [](const Config& c) { return std::to_string(c.http_max_queued); }},
      {"http-max-connections",
       "open HTTP connections (idle keep-alive included); beyond, 503 + Retry-After",
       [](Config* c, const std::string& v) {
         return ParseIntIn(v, 1, 1 << 20, &c->http_max_connections);
       },
       [](const Config& c) { return std::to_string(c.http_max_connections); }},
      {"http-idle-timeout",
       "close a keep-alive connection idle this long (above Prometheus remote-write's 5m, "
       "so clients close first)",
       [](Config* c, const std::string& v) {
         return ParsePositiveDur(v, &c->http_idle_timeout_ms);
       },
       [](const Config& c) { return Dur(c.http_idle_timeout_ms); }},
      {"http-read-timeout",
       "a request (head and body) must arrive within this from its first byte; else 408",
       [](Config* c, const std::string& v) {
         return ParsePositiveDur(v, &c->http_read_timeout_ms);
       },
       [](const Config& c) { return Dur(c.http_read_timeout_ms); }},
  };
}

// Per-series, per-request and per-tenant ingest limits.
std::vector<Setting> LimitSettings() {
  return {
      MERIDIAN_INT_SETTING("max-labels-per-series",
                           "labels one series may have (400 for that series above)",
                           max_labels_per_series, ParsePositive),
      MERIDIAN_INT_SETTING("max-label-name-bytes", "longest label name (400 for that series above)",
                           max_label_name_bytes, ParsePositive),
      MERIDIAN_INT_SETTING("max-label-value-bytes",
                           "longest label value, metric names included (400 for that series above)",
                           max_label_value_bytes, ParsePositive),
      MERIDIAN_INT_SETTING("max-series-per-request", "series in one remote-write (413 above)",
                           max_series_per_request, ParsePositive),
      MERIDIAN_INT_SETTING("max-samples-per-request", "samples in one remote-write (413 above)",
                           max_samples_per_request, ParsePositive),
      MERIDIAN_INT_SETTING("max-series-per-tenant",
                           "series one tenant may hold in memory; new ones get 400 (0: no limit)",
                           max_series_per_tenant, ParseNonNegative),
      MERIDIAN_INT_SETTING("max-tenants", "tenants; a new one beyond gets 400 (0: no limit)",
                           max_tenants, ParseNonNegative),
      MERIDIAN_INT_SETTING("max-tenant-id-bytes",
                           "longest tenant ID (IDs use A-Z a-z 0-9 ! - _ . * ' ( ))",
                           max_tenant_id_bytes, ParsePositive),
      {"ingestion-rate", "samples/s one tenant may write, 503 + Retry-After above (0: no limit)",
       [](Config* c, const std::string& v) { return ParseRate(v, &c->ingestion_rate); },
       [](const Config& c) { return RateText(c.ingestion_rate); }},
      {"ingestion-burst", "samples a tenant may write at once (0: 10 s of ingestion-rate)",
       [](Config* c, const std::string& v) { return ParseRate(v, &c->ingestion_burst); },
       [](const Config& c) { return RateText(c.ingestion_burst); }},
  };
}

// Query lanes, metadata and remote-read answer sizes.
std::vector<Setting> QueryLimitSettings() {
  return {
      MERIDIAN_INT_SETTING("query-max-concurrency",
                           "dashboard/API queries evaluated at once; more wait in a queue",
                           query_max_concurrency, ParsePositive),
      MERIDIAN_INT_SETTING("query-priority-concurrency",
                           "queries of the priority lane (rules, external metrics) at once",
                           query_priority_concurrency, ParsePositive),
      {"query-queue-timeout", "longest wait for a query slot before 503",
       [](Config* c, const std::string& v) {
         MERIDIAN_RETURN_IF_ERROR(ParseDur(v, &c->query_queue_timeout_ms));
         if (c->query_queue_timeout_ms < 0)
           return absl::InvalidArgumentError("must not be negative");
         return absl::OkStatus();
       },
       [](const Config& c) { return Dur(c.query_queue_timeout_ms); }},
      MERIDIAN_INT_SETTING("query-max-queued",
                           "queries that may wait for a slot, per lane; beyond, 503 at once",
                           query_max_queued, ParseNonNegative),
      MERIDIAN_INT_SETTING("max-metadata-results",
                           "most items /api/v1/series, /labels, /label/NAME/values return",
                           max_metadata_results, ParsePositive),
      MERIDIAN_INT_SETTING("remote-read-sample-limit",
                           "samples one remote-read request may return, 400 above (0: no limit)",
                           remote_read_sample_limit, ParseNonNegative),
      MERIDIAN_INT_SETTING("remote-read-max-bytes",
                           "uncompressed bytes one remote-read response may hold, 400 above "
                           "(0: no limit)",
                           remote_read_max_bytes, ParseNonNegative),
  };
}

// TLS, authentication and the Kubernetes external metrics API.
std::vector<Setting> SecuritySettings() {
  return {
      MERIDIAN_STRING_SETTING("tls-cert-file",
                              "PEM certificate (chain) to serve HTTPS with on every listener",
                              tls_cert_file),
      MERIDIAN_STRING_SETTING("tls-private-key-file", "PEM private key of --tls-cert-file",
                              tls_private_key_file),
      MERIDIAN_STRING_SETTING("client-ca-file",
                              "CA bundle verifying client certificates (their CN is the user)",
                              client_ca_file),
      MERIDIAN_STRING_SETTING("requestheader-client-ca-file",
                              "CA bundle of kube-apiserver's front-proxy certificate; such "
                              "clients name the user in X-Remote-User",
                              requestheader_client_ca_file),
      MERIDIAN_STRING_SETTING("requestheader-allowed-names",
                              "front-proxy certificate CNs allowed (comma-separated; empty: any)",
                              requestheader_allowed_names),
      MERIDIAN_STRING_SETTING("auth-file",
                              "YAML file of users, tokens and their tenants and roles (reloaded "
                              "on SIGHUP); empty: no authentication",
                              auth_file),
      MERIDIAN_STRING_SETTING("k8s-listen",
                              "HOST:PORT of the HTTPS listener serving the Kubernetes external "
                              "metrics API (empty: off)",
                              k8s_listen),
      MERIDIAN_STRING_SETTING(
          "k8s-config", "YAML file: external metric mappings, namespace to tenant", k8s_config),
  };
}

// Rules, remote-read endpoints (a global meridian) and HA deduplication.
std::vector<Setting> RulesAndRemoteSettings() {
  return {
      {"rule-files",
       "Prometheus rule files to evaluate: comma-separated [TENANT=]GLOB (no TENANT: "
       "default-tenant); reloaded on SIGHUP and POST /-/reload",
       [](Config* c, const std::string& v) {
         auto sources = ParseRuleFileSources(v, c->default_tenant);
         if (!sources.ok()) return sources.status();
         c->rule_files = v;
         return absl::OkStatus();
       },
       [](const Config& c) { return c.rule_files; }},
      {"rule-evaluation-interval",
       "interval of rule groups that set none (Prometheus's "
       "evaluation_interval)",
       [](Config* c, const std::string& v) {
         return ParsePositiveDur(v, &c->rule_evaluation_interval_ms);
       },
       [](const Config& c) { return Dur(c.rule_evaluation_interval_ms); }},
      {"rule-for-outage-tolerance",
       "how long ago an alert's last ALERTS_FOR_STATE sample may be for its `for` state to be "
       "restored at start (Prometheus's --rules.alert.for-outage-tolerance)",
       [](Config* c, const std::string& v) {
         return ParsePositiveDur(v, &c->rule_for_outage_tolerance_ms);
       },
       [](const Config& c) { return Dur(c.rule_for_outage_tolerance_ms); }},
      {"rule-for-grace-period",
       "least time an alert waits after a restart before firing; shorter `for`s are not "
       "restored (Prometheus's --rules.alert.for-grace-period)",
       [](Config* c, const std::string& v) {
         return ParseNonNegativeDur(v, &c->rule_for_grace_period_ms);
       },
       [](const Config& c) { return Dur(c.rule_for_grace_period_ms); }},
      {"remote-read",
       "NAME=URL of a remote-read endpoint to read with every query (repeatable; "
       "options ;timeout= ;tenant-header= ;tenant= ;external-labels=N:V,.. ;bearer-token= "
       ";basic-auth=U:P ;tls-ca-file= ;tls-insecure-skip-verify= ;api-url= ;pushdown=true (a "
       "meridian: "
       "aggregations evaluated there); in a config file also "
       "a nested remote_read: list)",
       [](Config* c, const std::string& v) {
         MERIDIAN_ASSIGN_OR_RETURN(RemoteReadConfig r, ParseRemoteRead(v));
         return AddRemoteRead(c, std::move(r));
       },
       [](const Config& c) {
         std::string out;
         for (const auto& r : c.remote_reads) out += (out.empty() ? "" : " ") + r.text;
         return out;
       }},
      {"remote-read-freshness-lag",
       "an answer whose range ends this long after a remote's newest sample (its watermark) "
       "carries an info naming it (0: no check)",
       [](Config* c, const std::string& v) {
         return ParseNonNegativeDur(v, &c->remote_read_freshness_lag_ms);
       },
       [](const Config& c) { return Dur(c.remote_read_freshness_lag_ms); }},
      {"federate-pull",
       "NAME=URL of a /federate endpoint to pull and store (repeatable; options ;match=SELECTOR "
       "(repeatable) ;interval= ;timeout= ;labels=N:V,.. ;honor-labels= ;honor-timestamps= "
       ";track-timestamps-staleness= ;tenant= ;bearer-token= "
       ";basic-auth=U:P ;tls-ca-file= ;tls-insecure-skip-verify=; in a config file also a nested "
       "federate_pull: list)",
       [](Config* c, const std::string& v) {
         MERIDIAN_ASSIGN_OR_RETURN(FederatePullSetting f, ParseFederatePull(v));
         return AddFederatePull(c, std::move(f));
       },
       [](const Config& c) {
         std::string out;
         for (const auto& f : c.federate_pulls) out += (out.empty() ? "" : " ") + f.text;
         return out;
       }},
      {"replica-label",
       "label naming an HA replica (repeatable): series differing only in it are one series "
       "on every read (query parameter dedup=false: off)",
       [](Config* c, const std::string& v) {
         if (v.empty()) return absl::InvalidArgumentError("replica-label must not be empty");
         c->replica_labels.push_back(v);
         return absl::OkStatus();
       },
       [](const Config& c) {
         std::string out;
         for (const auto& r : c.replica_labels) out += (out.empty() ? "" : ",") + r;
         return out;
       }},
  };
}

#undef MERIDIAN_STRING_SETTING
#undef MERIDIAN_INT_SETTING

}  // namespace

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> kSettings = [] {
    std::vector<Setting> all;
    for (auto* group :
         {ListenAndRetentionSettings, IngestSettings, QuerySettings, HttpSettings, LimitSettings,
          QueryLimitSettings, SecuritySettings, RulesAndRemoteSettings}) {
      for (Setting& s : group()) all.push_back(std::move(s));
    }
    return all;
  }();
  return kSettings;
}

}  // namespace meridian::server::config_internal
