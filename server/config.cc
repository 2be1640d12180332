#include "server/config.h"

#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "api/params.h"

namespace meridian::server {

using api::ParseDurationMs;

namespace {

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  if (b == std::string::npos) return "";
  s = s.substr(b, e - b + 1);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    s = s.substr(1, s.size() - 2);
  }
  return s;
}

absl::Status ParseBool(const std::string& v, bool* out) {
  if (v == "true" || v == "1" || v == "yes") {
    *out = true;
  } else if (v == "false" || v == "0" || v == "no") {
    *out = false;
  } else {
    return absl::InvalidArgumentError("expected true or false, got \"" + v + "\"");
  }
  return absl::OkStatus();
}

absl::Status ParseInt(const std::string& v, int64_t* out) {
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != 0)
    return absl::InvalidArgumentError("expected an integer, got \"" + v + "\"");
  *out = x;
  return absl::OkStatus();
}

absl::Status ParseNonNegative(const std::string& v, int64_t* out) {
  MERIDIAN_RETURN_IF_ERROR(ParseInt(v, out));
  if (*out < 0) return absl::InvalidArgumentError("must not be negative");
  return absl::OkStatus();
}

absl::Status ParsePositive(const std::string& v, int64_t* out) {
  MERIDIAN_RETURN_IF_ERROR(ParseInt(v, out));
  if (*out <= 0) return absl::InvalidArgumentError("must be positive");
  return absl::OkStatus();
}

absl::Status ParseRate(const std::string& v, double* out) {
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != 0 || !(x >= 0) || x > 1e15) {
    return absl::InvalidArgumentError("expected a non-negative number, got \"" + v + "\"");
  }
  *out = x;
  return absl::OkStatus();
}

std::string RateText(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", x);
  return buf;
}

absl::Status ParseDur(const std::string& v, int64_t* out) {
  auto d = ParseDurationMs(v);
  if (!d.ok()) return d.status();
  *out = *d;
  return absl::OkStatus();
}

absl::Status ParseIntIn(const std::string& v, int64_t lo, int64_t hi, int* out) {
  int64_t x;
  MERIDIAN_RETURN_IF_ERROR(ParseInt(v, &x));
  if (x < lo || x > hi) {
    return absl::InvalidArgumentError("must be between " + std::to_string(lo) + " and " +
                                      std::to_string(hi));
  }
  *out = static_cast<int>(x);
  return absl::OkStatus();
}

absl::Status ParsePositiveDur(const std::string& v, int64_t* out) {
  MERIDIAN_RETURN_IF_ERROR(ParseDur(v, out));
  if (*out <= 0) return absl::InvalidArgumentError("must be positive");
  return absl::OkStatus();
}

absl::Status ParseNonNegativeDur(const std::string& v, int64_t* out) {
  MERIDIAN_RETURN_IF_ERROR(ParseDur(v, out));
  if (*out < 0) return absl::InvalidArgumentError("must not be negative");
  return absl::OkStatus();
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

struct Setting {
  const char* name;
  const char* help;
  std::function<absl::Status(Config*, const std::string&)> set;
  std::function<std::string(const Config&)> get;
};

std::string Dur(int64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> kSettings = {
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
      {"out-of-order-window", "accept samples this much older than a series' newest",
       [](Config* c, const std::string& v) { return ParseDur(v, &c->out_of_order_window_ms); },
       [](const Config& c) { return Dur(c.out_of_order_window_ms); }},
      {"allow-backfill", "accept samples older than the out-of-order window (true/false)",
       [](Config* c, const std::string& v) { return ParseBool(v, &c->allow_backfill); },
       [](const Config& c) { return std::string(c.allow_backfill ? "true" : "false"); }},
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
#define MERIDIAN_INT_SETTING(name, help, field, parse)                               \
  {                                                                                  \
    name, help, [](Config* c, const std::string& v) { return parse(v, &c->field); }, \
        [](const Config& c) { return std::to_string(c.field); }                      \
  }
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
#define MERIDIAN_STRING_SETTING(name, help, field) \
  {                                                \
    name, help,                                    \
        [](Config* c, const std::string& v) {      \
          c->field = v;                            \
          return absl::OkStatus();                 \
        },                                         \
        [](const Config& c) { return c.field; }    \
  }
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
#undef MERIDIAN_STRING_SETTING
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
      {"remote-read",
       "NAME=URL of a remote-read endpoint to read with every query (repeatable; "
       "options ;timeout= ;tenant-header= ;tenant= ;external-labels=N:V,.. ;bearer-token= "
       ";basic-auth=U:P ;tls-ca-file= ;tls-insecure-skip-verify=)",
       [](Config* c, const std::string& v) {
         MERIDIAN_ASSIGN_OR_RETURN(RemoteReadConfig r, ParseRemoteRead(v));
         for (const auto& o : c->remote_reads) {
           if (o.name == r.name) {
             return absl::InvalidArgumentError("remote-read name \"" + r.name + "\" used twice");
           }
         }
         c->remote_reads.push_back(std::move(r));
         return absl::OkStatus();
       },
       [](const Config& c) {
         std::string out;
         for (const auto& r : c.remote_reads) out += (out.empty() ? "" : " ") + r.text;
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
#undef MERIDIAN_INT_SETTING
  };
  return kSettings;
}

absl::Status Apply(Config* c, const std::string& key, const std::string& value,
                   const std::string& where) {
  for (const auto& s : Settings()) {
    if (key == s.name) {
      absl::Status st = s.set(c, value);
      if (!st.ok()) {
        return absl::InvalidArgumentError(where + ": invalid value for " + key + ": " +
                                          std::string(st.message()));
      }
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(where + ": unknown setting \"" + key + "\"");
}

absl::Status LoadFile(Config* c, const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError("cannot read config file " + path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (size_t h = line.find('#'); h != std::string::npos) line = line.substr(0, h);
    line = Trim(line);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) {
      return absl::InvalidArgumentError(path + ":" + std::to_string(n) + ": expected key: value");
    }
    MERIDIAN_RETURN_IF_ERROR(Apply(c, Trim(line.substr(0, colon)), Trim(line.substr(colon + 1)),
                                   path + ":" + std::to_string(n)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RemoteReadConfig> ParseRemoteRead(const std::string& value) {
  RemoteReadConfig r;
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError("remote-read \"" + r.name + "\": " + why);
  };
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t semi = value.find(';', start);
    parts.push_back(
        Trim(value.substr(start, semi == std::string::npos ? std::string::npos : semi - start)));
    if (semi == std::string::npos) break;
    start = semi + 1;
  }
  size_t eq = parts[0].find('=');
  if (eq == std::string::npos || eq == 0) {
    return absl::InvalidArgumentError("remote-read wants NAME=URL, got \"" + parts[0] + "\"");
  }
  r.name = parts[0].substr(0, eq);
  r.url = parts[0].substr(eq + 1);
  if (r.url.rfind("http://", 0) != 0 && r.url.rfind("https://", 0) != 0) {
    return bad("URL must start with http:// or https://");
  }
  r.text = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].empty()) continue;
    size_t e = parts[i].find('=');
    if (e == std::string::npos) return bad("option \"" + parts[i] + "\" wants KEY=VALUE");
    std::string k = parts[i].substr(0, e), v = parts[i].substr(e + 1);
    bool secret = false;
    if (k == "timeout") {
      MERIDIAN_RETURN_IF_ERROR(ParsePositiveDur(v, &r.timeout_ms));
    } else if (k == "tenant-header") {
      r.tenant_header = v;
    } else if (k == "tenant") {
      r.tenant = v;
    } else if (k == "external-labels") {
      size_t p = 0;
      while (p < v.size()) {
        size_t comma = v.find(',', p);
        std::string item = v.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
        size_t colon = item.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == item.size()) {
          return bad("external label \"" + item + "\" wants NAME:VALUE");
        }
        r.external_labels.emplace_back(item.substr(0, colon), item.substr(colon + 1));
        if (comma == std::string::npos) break;
        p = comma + 1;
      }
    } else if (k == "bearer-token") {
      r.bearer_token = v;
      secret = true;
    } else if (k == "basic-auth") {
      size_t colon = v.find(':');
      if (colon == std::string::npos) return bad("basic-auth wants USER:PASSWORD");
      r.basic_auth_username = v.substr(0, colon);
      r.basic_auth_password = v.substr(colon + 1);
      secret = true;
    } else if (k == "tls-ca-file") {
      r.tls_ca_file = v;
    } else if (k == "tls-insecure-skip-verify") {
      MERIDIAN_RETURN_IF_ERROR(ParseBool(v, &r.tls_insecure_skip_verify));
    } else {
      return bad("unknown option \"" + k + "\"");
    }
    r.text += ";" + k + "=" + (secret ? "<secret>" : v);
  }
  return r;
}

std::map<std::string, std::string> Config::AsFlags() const {
  std::map<std::string, std::string> out;
  for (const auto& s : Settings()) out[s.name] = s.get(*this);
  out["config"] = config_file;
  return out;
}

std::string Usage() {
  std::ostringstream o;
  const Config defaults;
  o << "usage: meridian [--FLAG VALUE | --FLAG=VALUE ...]\n"
    << "       meridian restore --from SNAPSHOT_DIR --data-dir NEW_DIR\n"
    << "       meridian compact --data-dir DIR [FLAGS]   (one compactor pass on a stopped "
       "instance)\n\n"
    << "  --config FILE          read settings from FILE (key: value lines); flags override it\n"
    << "  --help                 show this help\n"
    << "  --version              show the version\n";
  for (const auto& s : Settings()) {
    std::string n = s.name;
    o << "  --" << n << std::string(n.size() < 21 ? 21 - n.size() : 1, ' ') << s.help
      << " (default " << s.get(defaults) << ")\n";
  }
  return o.str();
}

std::string VersionText() {
  return std::string("meridian version ") + MERIDIAN_VERSION + " (cpp-httplib " +
         CPPHTTPLIB_VERSION + ")";
}

absl::Status ParseListen(const std::string& listen, std::string* host, int* port) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError("listen address \"" + listen + "\" " + why);
  };
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return bad("is not HOST:PORT");
  std::string h = listen.substr(0, colon);
  std::string p = listen.substr(colon + 1);
  if (!h.empty() && h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') return bad("has a malformed [IPv6] host");
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string::npos) {
    return bad("needs brackets around an IPv6 host, e.g. [::1]:9097");
  }
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
    return bad("has an invalid port \"" + p + "\" (want a number 0-65535)");
  }
  int n = std::stoi(p);
  if (n > 65535) return bad("has an invalid port \"" + p + "\" (want a number 0-65535)");
  *host = h;
  *port = n;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseRuleFileSources(
    const std::string& value, const std::string& default_tenant) {
  std::vector<std::pair<std::string, std::string>> out;
  std::stringstream ss(value);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = Trim(item);
    if (item.empty()) continue;
    std::string tenant = default_tenant;
    size_t eq = item.find('=');
    if (eq != std::string::npos) {
      tenant = Trim(item.substr(0, eq));
      item = Trim(item.substr(eq + 1));
      if (tenant.empty() || item.empty()) {
        return absl::InvalidArgumentError("expected [TENANT=]GLOB, got \"" + value + "\"");
      }
    }
    out.emplace_back(tenant, item);
  }
  return out;
}

absl::StatusOr<Config> ParseConfig(int argc, char** argv) {
  std::vector<std::pair<std::string, std::string>> flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help" || a == "-help") return absl::CancelledError(Usage());
    if (a == "--version" || a == "-version") return absl::CancelledError(VersionText());
    if (a.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError("unexpected argument \"" + a + "\"\n" + Usage());
    }
    a = a.substr(2);
    std::string value;
    if (size_t eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError("flag --" + a + " needs a value");
    }
    flags.emplace_back(a, value);
  }
  Config c;
  for (const auto& [k, v] : flags) {
    if (k == "config") c.config_file = v;
  }
  if (!c.config_file.empty()) MERIDIAN_RETURN_IF_ERROR(LoadFile(&c, c.config_file));
  for (const auto& [k, v] : flags) {
    if (k == "config") continue;
    MERIDIAN_RETURN_IF_ERROR(Apply(&c, k, v, "flag --" + k));
  }
  return c;
}

}  // namespace meridian::server
