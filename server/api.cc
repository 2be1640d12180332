#include "server/api.h"

#include <httplib.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iterator>
#include <set>

#include "ingest/limits.h"
#include "query/ast.h"
#include "query/parser.h"
#include "server/ast_json.h"
#include "server/json.h"
#include "server/params.h"

namespace meridian::server {
namespace {

using Clock = std::chrono::steady_clock;
using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

constexpr char kJson[] = "application/json";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The result of a handler: either data (already-encoded JSON) or an error.
struct Reply {
  absl::Status status;
  std::string data;  // encoded JSON value
  std::vector<std::string> warnings;
  std::vector<std::string> infos;
};

void Send(const Reply& r, httplib::Response& res) {
  std::string body;
  body.reserve(r.data.size() + 128);
  JsonWriter w(&body);
  w.BeginObject();
  if (r.status.ok()) {
    w.Key("status").String("success");
    w.Key("data").RawValue(r.data.empty() ? "null" : r.data);
    res.status = 200;
  } else {
    ApiError e = ErrorFor(r.status);
    if (e.http_status == 503) res.set_header("Retry-After", "1");
    w.Key("status").String("error");
    w.Key("errorType").String(e.type);
    w.Key("error").String(PublicMessage(r.status));
    res.status = e.http_status;
  }
  if (!r.warnings.empty()) {
    w.Key("warnings").BeginArray();
    for (const auto& s : r.warnings) w.String(s);
    w.EndArray();
  }
  if (!r.infos.empty()) {
    w.Key("infos").BeginArray();
    for (const auto& s : r.infos) w.String(s);
    w.EndArray();
  }
  w.EndObject();
  res.set_content(body, kJson);
}

absl::Status InvalidParam(std::string_view name, const absl::Status& s) {
  return absl::InvalidArgumentError("invalid parameter \"" + std::string(name) + "\": " +
                                    std::string(s.message()));
}

bool HasParam(const httplib::Request& req, const char* name) { return req.has_param(name); }
std::string Param(const httplib::Request& req, const char* name) {
  return req.get_param_value(name);
}

// Time parameters of the metadata endpoints (Prometheus's parseTimeParam).
absl::StatusOr<int64_t> TimeParam(const httplib::Request& req, const char* name,
                                  int64_t default_ms) {
  if (!HasParam(req, name) || Param(req, name).empty()) return default_ms;
  auto t = ParseTimeMs(Param(req, name));
  if (!t.ok()) {
    return InvalidParam(name, absl::InvalidArgumentError("Invalid time value for '" +
                                                         std::string(name) + "': " +
                                                         std::string(t.status().message())));
  }
  return *t;
}

absl::StatusOr<size_t> LimitParam(const httplib::Request& req) {
  if (!HasParam(req, "limit") || Param(req, "limit").empty()) return 0;
  std::string s = Param(req, "limit");
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return InvalidParam("limit", absl::InvalidArgumentError("strconv.Atoi: parsing \"" + s +
                                                            "\": invalid syntax"));
  }
  if (v < 0) return InvalidParam("limit", absl::InvalidArgumentError("limit must be non-negative"));
  return static_cast<size_t>(v);
}

// Parses every match[] parameter; each must have a matcher that does not
// match the empty string.
absl::StatusOr<std::vector<std::vector<Matcher>>> MatchersParam(const httplib::Request& req) {
  std::vector<std::vector<Matcher>> out;
  size_t n = req.get_param_value_count("match[]");
  for (size_t i = 0; i < n; ++i) {
    auto ms = promql::ParseMetricSelector(req.get_param_value("match[]", i));
    if (!ms.ok()) return InvalidParam("match[]", ms.status());
    bool non_empty = std::any_of(ms->begin(), ms->end(),
                                 [](const Matcher& m) { return !m.MatchesEmpty(); });
    if (!non_empty) {
      return InvalidParam("match[]", absl::InvalidArgumentError(
                                         "match[] must contain at least one non-empty matcher"));
    }
    out.push_back(*std::move(ms));
  }
  return out;
}

void WriteStringArray(std::string* out, const std::vector<std::string>& v, size_t limit) {
  JsonWriter w(out);
  w.BeginArray();
  for (size_t i = 0; i < v.size() && (limit == 0 || i < limit); ++i) w.String(v[i]);
  w.EndArray();
}

// Encodes a PromQL value as {"resultType":..., "result":...}.
void WriteQueryData(std::string* out, const promql::Value& v, size_t limit, bool* truncated) {
  JsonWriter w(out);
  w.BeginObject();
  if (const auto* s = std::get_if<promql::Scalar>(&v)) {
    w.Key("resultType").String("scalar");
    w.Key("result").PromPoint(s->t_ms, s->v);
  } else if (const auto* str = std::get_if<promql::String>(&v)) {
    w.Key("resultType").String("string");
    w.Key("result").BeginArray().PromTimestamp(str->t_ms).String(str->v).EndArray();
  } else if (const auto* vec = std::get_if<promql::Vector>(&v)) {
    w.Key("resultType").String("vector");
    w.Key("result").BeginArray();
    for (size_t i = 0; i < vec->size(); ++i) {
      if (limit != 0 && i >= limit) {
        *truncated = true;
        break;
      }
      const auto& e = (*vec)[i];
      w.BeginObject();
      w.Key("metric").LabelSet(e.metric);
      w.Key("value").PromPoint(e.t_ms, e.v);
      w.EndObject();
    }
    w.EndArray();
  } else if (const auto* m = std::get_if<promql::Matrix>(&v)) {
    w.Key("resultType").String("matrix");
    w.Key("result").BeginArray();
    for (size_t i = 0; i < m->size(); ++i) {
      if (limit != 0 && i >= limit) {
        *truncated = true;
        break;
      }
      const auto& s = (*m)[i];
      w.BeginObject();
      w.Key("metric").LabelSet(s.metric);
      w.Key("values").BeginArray();
      for (const auto& p : s.points) w.PromPoint(p.t_ms, p.v);
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
}

constexpr char kTruncated[] = "results truncated due to limit";

// Go's strconv.ParseBool, with Prometheus's wrapping of its error.
absl::StatusOr<bool> ParseGoBool(const std::string& s) {
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (s == t) return true;
  }
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (s == f) return false;
  }
  std::string quoted;
  JsonWriter(&quoted).String(s);  // Go's %q, close enough for an error message
  return absl::InvalidArgumentError("unable to parse boolean: strconv.ParseBool: parsing " + quoted +
                                    ": invalid syntax");
}

// Engine parse errors become "invalid parameter "query": ...".
absl::Status QueryError(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kInvalidArgument) return InvalidParam("query", s);
  return s;
}

absl::StatusOr<promql::QueryOptions> QueryOpts(const httplib::Request& req) {
  promql::QueryOptions o;
  if (HasParam(req, "timeout") && !Param(req, "timeout").empty()) {
    auto d = ParseDurationMs(Param(req, "timeout"));
    if (!d.ok()) return InvalidParam("timeout", d.status());
    o.timeout = std::chrono::milliseconds(*d);
  }
  if (HasParam(req, "lookback_delta") && !Param(req, "lookback_delta").empty()) {
    auto d = ParseDurationMs(Param(req, "lookback_delta"));
    if (!d.ok()) return InvalidParam("lookback_delta", d.status());
    o.lookback_delta_ms = *d;
  }
  return o;
}


// Prometheus's value-encoding escape for label names in URL paths:
// "U__" + the name with "_XX_" hex escapes and "__" for "_".
std::string UnescapeLabelName(const std::string& name) {
  if (name.rfind("U__", 0) != 0) return name;
  std::string out;
  const std::string s = name.substr(3);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i + 1 < s.size()) {
      size_t close = s.find('_', i + 1);
      if (close != std::string::npos && close > i + 1) {
        std::string hex = s.substr(i + 1, close - i - 1);
        char* e = nullptr;
        long cp = std::strtol(hex.c_str(), &e, 16);
        if (*e == 0 && cp >= 0 && cp < 0x80) {
          out.push_back(static_cast<char>(cp));
          i = close;
          continue;
        }
      }
      if (s[i + 1] == '_') {
        out.push_back('_');
        ++i;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// The parameters shared by /series, /labels and /label/<name>/values, and a
// querier over their time range.
struct MetadataRequest {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  std::vector<std::vector<Matcher>> selectors;  // match[]
  size_t limit = 0;
  std::unique_ptr<Queryable> queryable;  // outlives querier
  std::unique_ptr<Querier> querier;
};

absl::StatusOr<MetadataRequest> ParseMetadataRequest(const httplib::Request& req,
                                                     std::unique_ptr<Queryable> queryable,
                                                     size_t max_results) {
  MetadataRequest m;
  MERIDIAN_ASSIGN_OR_RETURN(m.start_ms, TimeParam(req, "start", kApiMinTimeMs));
  MERIDIAN_ASSIGN_OR_RETURN(m.end_ms, TimeParam(req, "end", kApiMaxTimeMs));
  MERIDIAN_ASSIGN_OR_RETURN(m.selectors, MatchersParam(req));
  MERIDIAN_ASSIGN_OR_RETURN(m.limit, LimitParam(req));
  // The server's maximum bounds the response whatever the limit parameter.
  if (max_results > 0 && (m.limit == 0 || m.limit > max_results)) m.limit = max_results;
  m.queryable = std::move(queryable);
  MERIDIAN_ASSIGN_OR_RETURN(m.querier, m.queryable->NewQuerier(m.start_ms, m.end_ms));
  return m;
}

// A sorted list of names or values, truncated at `limit` with Prometheus's warning.
Reply StringsReply(const std::set<std::string>& items, size_t limit) {
  Reply r;
  std::vector<std::string> v(items.begin(), items.end());
  WriteStringArray(&r.data, v, limit);
  if (limit != 0 && v.size() > limit) r.warnings.push_back(kTruncated);
  return r;
}

}  // namespace

std::string TenantOf(const httplib::Request& req, const std::string& default_tenant) {
  for (const char* h : {"THANOS-TENANT", "X-Scope-OrgID"}) {
    std::string v = req.get_header_value(h);
    if (!v.empty()) return v;
  }
  return default_tenant;
}

PrometheusApi::PrometheusApi(Storage* storage, const promql::Engine* engine, Metrics* metrics,
                             ApiOptions options)
    : storage_(storage), engine_(engine), metrics_(metrics), options_(std::move(options)) {}

void PrometheusApi::Register(httplib::Server* srv) {
  // Wraps a handler returning a Reply with timing, metrics and encoding.
  auto route = [this](std::string handler, std::function<Reply(const httplib::Request&)> fn) {
    return [this, handler, fn](const httplib::Request& req, httplib::Response& res) {
      auto start = Clock::now();
      Reply reply;
      try {
        // Reads refuse tenant IDs that writes would refuse (same rules).
        absl::Status tenant = ingest::ValidateTenant(TenantOf(req, options_.default_tenant),
                                                     options_.max_tenant_id_bytes);
        reply = tenant.ok() ? fn(req) : Reply{tenant};
      } catch (const std::exception& e) {
        // Never the exception's text: it may carry paths or internals.
        std::fprintf(stderr, "meridian: %s: internal error: %s\n", handler.c_str(), e.what());
        reply = Reply{absl::InternalError("internal error")};
      }
      if (reply.status.code() == absl::StatusCode::kUnavailable) {
        metrics_->queries_rejected("dashboard", "queue_timeout").Increment();
      }
      Send(reply, res);
      metrics_->ObserveRequest(handler, res.status,
                               std::chrono::duration<double>(Clock::now() - start).count());
    };
  };
  auto both = [srv](const std::string& path, const Handler& h) {
    srv->Get(path, h);
    srv->Post(path, h);
  };

  both("/api/v1/query", route("/api/v1/query", [this](const httplib::Request& req) -> Reply {
         Reply r;
         auto t = HasParam(req, "time") && !Param(req, "time").empty()
                      ? TimeParam(req, "time", 0)
                      : absl::StatusOr<int64_t>(NowMs());
         if (!t.ok()) return {t.status()};
         auto limit = LimitParam(req);
         if (!limit.ok()) return {limit.status()};
         auto opts = QueryOpts(req);
         if (!opts.ok()) return {opts.status()};
         std::atomic<bool> cancelled{false};
         opts->cancelled = &cancelled;
         ScopedDisconnectWatch watch(&disconnects_, req.remote_addr, req.remote_port,
                                     req.local_port, &cancelled);
         auto q = storage_->ForTenant(TenantOf(req, options_.default_tenant));
         auto result = engine_->InstantQuery(*q, Param(req, "query"), *t, *opts);
         if (!result.ok()) return {QueryError(result.status())};
         bool truncated = false;
         WriteQueryData(&r.data, result->value, *limit, &truncated);
         r.warnings = std::move(result->warnings);
         r.infos = std::move(result->infos);
         if (truncated) r.warnings.push_back(kTruncated);
         return r;
       }));

  both("/api/v1/query_range",
       route("/api/v1/query_range", [this](const httplib::Request& req) -> Reply {
         Reply r;
         auto start = ParseTimeMs(Param(req, "start"));
         if (!start.ok()) return {InvalidParam("start", start.status())};
         auto end = ParseTimeMs(Param(req, "end"));
         if (!end.ok()) return {InvalidParam("end", end.status())};
         if (*end < *start) {
           return {InvalidParam("end", absl::InvalidArgumentError(
                                           "end timestamp must not be before start time"))};
         }
         auto step = ParseDurationMs(Param(req, "step"));
         if (!step.ok()) return {InvalidParam("step", step.status())};
         if (*step <= 0) {
           return {InvalidParam("step", absl::InvalidArgumentError(
                                            "zero or negative query resolution step widths are "
                                            "not accepted. Try a positive integer"))};
         }
         // In 128 bits: end - start overflows int64 for extreme timestamps
         // (Go's time.Sub saturates instead).
         if ((static_cast<__int128>(*end) - *start) / *step > options_.max_points_per_series) {
           return {absl::InvalidArgumentError(
               "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
               "query resolution (?step=XX)")};
         }
         auto limit = LimitParam(req);
         if (!limit.ok()) return {limit.status()};
         auto opts = QueryOpts(req);
         if (!opts.ok()) return {opts.status()};
         std::atomic<bool> cancelled{false};
         opts->cancelled = &cancelled;
         ScopedDisconnectWatch watch(&disconnects_, req.remote_addr, req.remote_port,
                                     req.local_port, &cancelled);
         auto q = storage_->ForTenant(TenantOf(req, options_.default_tenant));
         auto result = engine_->RangeQuery(*q, Param(req, "query"), *start, *end, *step, *opts);
         if (!result.ok()) return {QueryError(result.status())};
         bool truncated = false;
         WriteQueryData(&r.data, result->value, *limit, &truncated);
         r.warnings = std::move(result->warnings);
         r.infos = std::move(result->infos);
         if (truncated) r.warnings.push_back(kTruncated);
         return r;
       }));

  both("/api/v1/series", route("/api/v1/series", [this](const httplib::Request& req) -> Reply {
         if (req.get_param_value_count("match[]") == 0) {
           return {absl::InvalidArgumentError("no match[] parameter provided")};
         }
         auto m = ParseMetadataRequest(req, storage_->ForTenant(TenantOf(req, options_.default_tenant)),
                                   options_.max_metadata_results);
         if (!m.ok()) return {m.status()};
         // The first `limit` label sets in order, and one more to tell that
         // there were more: memory stays bounded by the limit.
         std::set<Labels> kept;
         std::vector<std::string> warnings;
         for (const auto& ms : m->selectors) {
           auto ss = m->querier->Select(ms, SelectHints{.start_ms = m->start_ms, .end_ms = m->end_ms,
                                                         .func = "series"});
           if (!ss.ok()) return {ss.status()};
           while ((*ss)->Next()) {
             const Labels& ls = (*ss)->labels();
             if (m->limit != 0 && kept.size() > m->limit) {
               if (!(ls < *kept.rbegin()) || kept.count(ls) != 0) continue;
               kept.erase(std::prev(kept.end()));
             }
             kept.insert(ls);
           }
           if (!(*ss)->status().ok()) return {(*ss)->status()};
           for (std::string& w : (*ss)->warnings()) warnings.push_back(std::move(w));
         }
         std::vector<Labels> all(kept.begin(), kept.end());
         Reply r;
         r.warnings = std::move(warnings);
         JsonWriter w(&r.data);
         w.BeginArray();
         for (size_t i = 0; i < all.size(); ++i) {
           if (m->limit != 0 && i >= m->limit) {
             r.warnings.push_back(kTruncated);
             break;
           }
           w.LabelSet(all[i]);
         }
         w.EndArray();
         return r;
       }));

  both("/api/v1/labels", route("/api/v1/labels", [this](const httplib::Request& req) -> Reply {
         auto m = ParseMetadataRequest(req, storage_->ForTenant(TenantOf(req, options_.default_tenant)),
                                   options_.max_metadata_results);
         if (!m.ok()) return {m.status()};
         if (m->selectors.empty()) m->selectors.push_back({});
         std::set<std::string> names;
         for (const auto& ms : m->selectors) {
           auto n = m->querier->LabelNames(ms);
           if (!n.ok()) return {n.status()};
           names.insert(n->begin(), n->end());
         }
         return StringsReply(names, m->limit);
       }));

  srv->Get(R"(/api/v1/label/([^/]+)/values)",
           route("/api/v1/label/:name/values", [this](const httplib::Request& req) -> Reply {
             std::string name = UnescapeLabelName(req.matches[1]);
             if (name.empty()) {
               return {absl::InvalidArgumentError("invalid label name: \"" + name + "\"")};
             }
             auto m = ParseMetadataRequest(req, storage_->ForTenant(TenantOf(req, options_.default_tenant)),
                                   options_.max_metadata_results);
             if (!m.ok()) return {m.status()};
             if (m->selectors.empty()) m->selectors.push_back({});
             std::set<std::string> values;
             for (const auto& ms : m->selectors) {
               auto v = m->querier->LabelValues(name, ms);
               if (!v.ok()) return {v.status()};
               values.insert(v->begin(), v->end());
             }
             return StringsReply(values, m->limit);
           }));

  srv->Get("/api/v1/metadata", route("/api/v1/metadata", [this](const httplib::Request& req) -> Reply {
             auto limit = LimitParam(req);
             if (!limit.ok()) return {limit.status()};
             auto md = storage_->Metadata(TenantOf(req, options_.default_tenant),
                                          Param(req, "metric"), *limit);
             if (!md.ok()) return {md.status()};
             Reply r;
             JsonWriter w(&r.data);
             w.BeginObject();
             for (const auto& m : *md) {
               // meridian keeps the latest metadata per family: one entry each.
               w.Key(m.metric_family).BeginArray().BeginObject();
               w.Key("type").String(MetricTypeString(m.type));
               w.Key("help").String(m.help);
               w.Key("unit").String(m.unit);
               w.EndObject().EndArray();
             }
             w.EndObject();
             return r;
           }));

  both("/api/v1/query_exemplars",
       route("/api/v1/query_exemplars", [](const httplib::Request& req) -> Reply {
         auto start = TimeParam(req, "start", kApiMinTimeMs);
         if (!start.ok()) return {start.status()};
         auto end = TimeParam(req, "end", kApiMaxTimeMs);
         if (!end.ok()) return {end.status()};
         auto expr = promql::ParseExpr(Param(req, "query"));
         if (!expr.ok()) return {InvalidParam("query", expr.status())};
         return {absl::OkStatus(), "[]"};
       }));

  both("/api/v1/format_query", route("/api/v1/format_query", [](const httplib::Request& req) -> Reply {
         auto expr = promql::ParseExpr(Param(req, "query"));
         if (!expr.ok()) return {InvalidParam("query", expr.status())};
         Reply r;
         JsonWriter(&r.data).String(promql::Pretty(**expr));
         return r;
       }));

  both("/api/v1/parse_query", route("/api/v1/parse_query", [](const httplib::Request& req) -> Reply {
         auto expr = promql::ParseExpr(Param(req, "query"));
         if (!expr.ok()) return {InvalidParam("query", expr.status())};
         Reply r;
         JsonWriter w(&r.data);
         WriteAstJson(**expr, &w);
         return r;
       }));

  srv->Get("/api/v1/status/buildinfo", route("/api/v1/status/buildinfo", [this](const httplib::Request&) {
             Reply r;
             JsonWriter w(&r.data);
             w.BeginObject();
             w.Key("version").String(options_.version);
             w.Key("revision").String("meridian");
             w.Key("branch").String("main");
             w.Key("buildUser").String("meridian");
             w.Key("buildDate").String(__DATE__);
             w.Key("goVersion").String("none (C++20)");
             w.EndObject();
             return r;
           }));

  srv->Get("/api/v1/status/runtimeinfo", route("/api/v1/status/runtimeinfo", [this](const httplib::Request&) {
             Reply r;
             StorageStats s = storage_->Stats();
             JsonWriter w(&r.data);
             w.BeginObject();
             w.Key("startTime").String(options_.start_time_rfc3339);
             w.Key("CWD").String(options_.cwd);
             w.Key("reloadConfigSuccess").Bool(true);
             w.Key("lastConfigTime").String(options_.start_time_rfc3339);
             w.Key("corruptionCount").Int(static_cast<int64_t>(s.corruptions));
             w.Key("goroutineCount").Int(0);
             w.Key("GOMAXPROCS").Int(std::thread::hardware_concurrency());
             w.Key("GOMEMLIMIT").Int(0);
             w.Key("GOGC").String("");
             w.Key("GODEBUG").String("");
             w.Key("storageRetention").String(options_.storage_retention);
             w.Key("numSeries").Int(static_cast<int64_t>(s.series));
             w.EndObject();
             return r;
           }));

  srv->Get("/api/v1/status/flags", route("/api/v1/status/flags", [this](const httplib::Request&) {
             Reply r;
             JsonWriter w(&r.data);
             w.BeginObject();
             for (const auto& [k, v] : options_.flags) w.Key(k).String(v);
             w.EndObject();
             return r;
           }));

  srv->Get("/api/v1/status/tsdb", route("/api/v1/status/tsdb", [this](const httplib::Request& req) -> Reply {
             size_t limit = 10;
             if (HasParam(req, "limit")) {
               limit = std::strtoull(Param(req, "limit").c_str(), nullptr, 10);
               if (limit == 0) {
                 return {InvalidParam("limit", absl::InvalidArgumentError("limit must be a positive number"))};
               }
             }
             CardinalityStats c = storage_->Cardinality(TenantOf(req, options_.default_tenant), limit);
             StorageStats s = storage_->Stats();
             Reply r;
             JsonWriter w(&r.data);
             w.BeginObject();
             w.Key("headStats").BeginObject();
             w.Key("numSeries").Int(static_cast<int64_t>(c.num_series));
             w.Key("numLabelPairs").Int(static_cast<int64_t>(c.series_count_by_label_value_pair.size()));
             w.Key("chunkCount").Int(0);
             w.Key("minTime").Int(s.min_time_ms);
             w.Key("maxTime").Int(s.max_time_ms);
             w.EndObject();
             auto list = [&](const char* key, const std::vector<CardinalityStats::Entry>& v) {
               w.Key(key).BeginArray();
               for (const auto& e : v) {
                 w.BeginObject().Key("name").String(e.name).Key("value").Int(static_cast<int64_t>(e.value)).EndObject();
               }
               w.EndArray();
             };
             list("seriesCountByMetricName", c.series_count_by_metric_name);
             list("labelValueCountByLabelName", c.label_value_count_by_label_name);
             list("memoryInBytesByLabelName", c.memory_in_bytes_by_label_name);
             list("seriesCountByLabelValuePair", c.series_count_by_label_value_pair);
             w.EndObject();
             return r;
           }));

  // Prometheus's TSDB snapshot: a consistent copy of the data dir under
  // <data-dir>/snapshots/<name>; `meridian restore` starts a data dir from it.
  // Prometheus takes POST and PUT.
  auto snapshot =
      route("/api/v1/admin/tsdb/snapshot", [this](const httplib::Request& req) -> Reply {
        if (!options_.enable_admin_api) {
          return {absl::UnavailableError("admin APIs disabled")};
        }
        bool skip_head = false;
        if (HasParam(req, "skip_head") && !Param(req, "skip_head").empty()) {
          auto b = ParseGoBool(Param(req, "skip_head"));
          if (!b.ok()) return {InvalidParam("skip_head", b.status())};
          skip_head = *b;
        }
        auto name = storage_->Snapshot(/*persist_head=*/!skip_head);
        if (!name.ok()) return {name.status()};
        Reply r;
        JsonWriter w(&r.data);
        w.BeginObject().Key("name").String(*name).EndObject();
        return r;
      });
  srv->Post("/api/v1/admin/tsdb/snapshot", snapshot);
  srv->Put("/api/v1/admin/tsdb/snapshot", snapshot);

  // Grafana probes these on data source init; meridian has no rules engine.
  srv->Get("/api/v1/rules", route("/api/v1/rules", [](const httplib::Request&) {
             return Reply{absl::OkStatus(), R"({"groups":[]})"};
           }));
  srv->Get("/api/v1/alerts", route("/api/v1/alerts", [](const httplib::Request&) {
             return Reply{absl::OkStatus(), R"({"alerts":[]})"};
           }));
}

}  // namespace meridian::server
