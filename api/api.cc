#include "api/api.h"

#include <httplib.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <functional>

#include "api/api_internal.h"
#include "api/ast_json.h"
#include "api/json.h"
#include "api/params.h"
#include "http/http_server.h"
#include "query/ast.h"
#include "query/parser.h"

namespace meridian::api {

namespace api_internal {

absl::Status InvalidParam(std::string_view name, const absl::Status& s) {
  return absl::InvalidArgumentError("invalid parameter \"" + std::string(name) +
                                    "\": " + std::string(s.message()));
}

absl::StatusOr<int64_t> TimeParam(const httplib::Request& req, const char* name,
                                  int64_t default_ms) {
  if (!HasParam(req, name) || Param(req, name).empty()) return default_ms;
  auto t = ParseTimeMs(Param(req, name));
  if (!t.ok()) {
    return InvalidParam(name,
                        absl::InvalidArgumentError("Invalid time value for '" + std::string(name) +
                                                   "': " + std::string(t.status().message())));
  }
  return *t;
}

absl::StatusOr<size_t> LimitParam(const httplib::Request& req) {
  if (!HasParam(req, "limit") || Param(req, "limit").empty()) return 0;
  std::string s = Param(req, "limit");
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return InvalidParam(
        "limit", absl::InvalidArgumentError("strconv.Atoi: parsing \"" + s + "\": invalid syntax"));
  }
  if (v < 0) return InvalidParam("limit", absl::InvalidArgumentError("limit must be non-negative"));
  return static_cast<size_t>(v);
}

absl::StatusOr<bool> ParseGoBool(const std::string& s) {
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (s == t) return true;
  }
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (s == f) return false;
  }
  std::string quoted;
  JsonWriter(&quoted).String(s);  // Go's %q, close enough for an error message
  return absl::InvalidArgumentError("unable to parse boolean: strconv.ParseBool: parsing " +
                                    quoted + ": invalid syntax");
}

}  // namespace api_internal

namespace {

using namespace api_internal;  // NOLINT: this file's shared vocabulary
using Clock = std::chrono::steady_clock;

constexpr char kJson[] = "application/json";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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
  // The Content-Type as set_content sets it; the body moved in, not copied
  // (an answer of 8,000 points is ~250 KB).
  res.set_content("", 0, kJson);
  res.body = std::move(body);
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
    // About 30 bytes a point ([1796511600,"12345.678"],) and the labels:
    // the body grows once instead of doubling (and copying) a dozen times.
    size_t bytes = 64;
    for (const auto& s : *m) {
      bytes += 32 * s.points.size() + 16;
      for (const auto& l : s.metric) bytes += l.name.size() + l.value.size() + 6;
    }
    out->reserve(out->size() + bytes);
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
  // Thanos's max_source_resolution: auto (the default), raw, or a
  // non-negative duration (0, 0s, 300, 5m, 1h); docs/downsampling.md.
  if (HasParam(req, "max_source_resolution") && !Param(req, "max_source_resolution").empty()) {
    auto r = ParseMaxSourceResolutionMs(Param(req, "max_source_resolution"));
    if (!r.ok()) return InvalidParam("max_source_resolution", r.status());
    o.max_source_resolution_ms = *r;
  }
  return o;
}

}  // namespace

PrometheusApi::PrometheusApi(TenantReader* reader, Storage* local, const promql::Engine* engine,
                             ApiOptions options)
    : reader_(reader), local_(local), engine_(engine), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Queryable>> PrometheusApi::Tenant(const httplib::Request& req) {
  std::string tenant = TenantOf(req, options_.default_tenant);
  auto local = reader_->ForTenant(tenant);
  if (!options_.wrap_queryable) return local;
  return options_.wrap_queryable(std::move(local), req, tenant);
}

template <typename RunFn>
Reply PrometheusApi::RunQuery(const httplib::Request& req, RunFn run) {
  auto limit = LimitParam(req);
  if (!limit.ok()) return {limit.status()};
  auto opts = QueryOpts(req);
  if (!opts.ok()) return {opts.status()};
  std::atomic<bool> cancelled{false};
  opts->cancelled = &cancelled;
  http::ScopedDisconnectWatch watch(&disconnects_, http::HttpServer::CurrentConnectionFd(),
                                    req.remote_addr, req.remote_port, req.local_port, &cancelled);
  auto q = Tenant(req);
  if (!q.ok()) return {q.status()};
  auto result = run(**q, *opts);
  if (!result.ok()) return {QueryError(result.status())};
  Reply r;
  bool truncated = false;
  WriteQueryData(&r.data, result->value, *limit, &truncated);
  r.warnings = std::move(result->warnings);
  r.infos = std::move(result->infos);
  if (truncated) r.warnings.push_back(kTruncated);
  return r;
}

Reply PrometheusApi::Query(const httplib::Request& req) {
  auto t =
      NonEmptyParam(req, "time") ? TimeParam(req, "time", 0) : absl::StatusOr<int64_t>(NowMs());
  if (!t.ok()) return {t.status()};
  return RunQuery(req, [&](const Queryable& q, const promql::QueryOptions& opts) {
    return engine_->InstantQuery(q, Param(req, "query"), *t, opts);
  });
}

Reply PrometheusApi::QueryRange(const httplib::Request& req) {
  auto start = ParseTimeMs(Param(req, "start"));
  if (!start.ok()) return {InvalidParam("start", start.status())};
  auto end = ParseTimeMs(Param(req, "end"));
  if (!end.ok()) return {InvalidParam("end", end.status())};
  if (*end < *start) {
    return {InvalidParam(
        "end", absl::InvalidArgumentError("end timestamp must not be before start time"))};
  }
  auto step = ParseDurationMs(Param(req, "step"));
  if (!step.ok()) return {InvalidParam("step", step.status())};
  if (*step <= 0) {
    return {InvalidParam(
        "step", absl::InvalidArgumentError("zero or negative query resolution step widths are "
                                           "not accepted. Try a positive integer"))};
  }
  // In 128 bits: end - start overflows int64 for extreme timestamps
  // (Go's time.Sub saturates instead).
  if ((static_cast<__int128>(*end) - *start) / *step > options_.max_points_per_series) {
    return {absl::InvalidArgumentError(
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
        "query resolution (?step=XX)")};
  }
  return RunQuery(req, [&](const Queryable& q, const promql::QueryOptions& opts) {
    auto eval = [&](int64_t s, int64_t e) {
      return engine_->RangeQuery(q, Param(req, "query"), s, e, *step, opts);
    };
    std::optional<RangeCacheKey> key = CacheKey(req, opts, *step);
    if (!key) return eval(*start, *end);
    return options_.query_cache->RangeQuery(*key, *start, *end, eval);
  });
}

std::optional<RangeCacheKey> PrometheusApi::CacheKey(const httplib::Request& req,
                                                     const promql::QueryOptions& opts,
                                                     int64_t step_ms) const {
  if (options_.query_cache == nullptr) return std::nullopt;
  if (NonEmptyParam(req, "nocache")) {
    auto no = ParseGoBool(Param(req, "nocache"));
    if (!no.ok() || *no) return std::nullopt;  // VictoriaMetrics' nocache=1
  }
  promql::ParseOptions po;
  po.enable_experimental_functions = engine_->options().enable_experimental_functions;
  auto expr = promql::ParseExpr(Param(req, "query"), po);
  if (!expr.ok() || !RangeQueryCache::Cacheable(**expr)) return std::nullopt;
  RangeCacheKey key;
  key.tenant = TenantOf(req, options_.default_tenant);
  // The query's own text, not its canonical form: infos name positions in it.
  key.expr = Param(req, "query");
  key.step_ms = step_ms;
  key.lookback_ms =
      opts.lookback_delta_ms > 0 ? opts.lookback_delta_ms : engine_->options().lookback_delta_ms;
  key.max_source_resolution_ms = opts.max_source_resolution_ms;
  // What else a reader of local data reads from the request (server's
  // wrap_queryable: replica deduplication).
  for (const char* name : {"dedup", "partial_response"}) {
    key.extra += std::string(name) + "=" + (HasParam(req, name) ? Param(req, name) : "") + "\n";
  }
  const size_t n = req.get_param_value_count("replicaLabels[]");
  for (size_t i = 0; i < n; ++i) {
    key.extra += "replicaLabels[]=" + req.get_param_value("replicaLabels[]", i) + "\n";
  }
  return key;
}

Reply PrometheusApi::QueryExemplars(const httplib::Request& req) {
  auto start = TimeParam(req, "start", kApiMinTimeMs);
  if (!start.ok()) return {start.status()};
  auto end = TimeParam(req, "end", kApiMaxTimeMs);
  if (!end.ok()) return {end.status()};
  auto expr = promql::ParseExpr(Param(req, "query"));
  if (!expr.ok()) return {InvalidParam("query", expr.status())};
  return {absl::OkStatus(), "[]"};  // exemplars are not stored
}

Reply PrometheusApi::FormatQuery(const httplib::Request& req) {
  auto expr = promql::ParseExpr(Param(req, "query"));
  if (!expr.ok()) return {InvalidParam("query", expr.status())};
  Reply r;
  JsonWriter(&r.data).String(promql::Pretty(**expr));
  return r;
}

Reply PrometheusApi::ParseQuery(const httplib::Request& req) {
  auto expr = promql::ParseExpr(Param(req, "query"));
  if (!expr.ok()) return {InvalidParam("query", expr.status())};
  Reply r;
  JsonWriter w(&r.data);
  WriteAstJson(**expr, &w);
  return r;
}

void PrometheusApi::Register(httplib::Server* srv) {
  enum Methods { kGet, kPost, kGetPost, kPostPut };
  struct Route {
    const char* pattern;  // httplib's path pattern
    const char* name;     // the handler label in metrics
    Methods methods;
    Reply (PrometheusApi::*fn)(const httplib::Request&);
  };
  static const Route kRoutes[] = {
      {"/api/v1/query", "/api/v1/query", kGetPost, &PrometheusApi::Query},
      {"/api/v1/query_range", "/api/v1/query_range", kGetPost, &PrometheusApi::QueryRange},
      {"/api/v1/series", "/api/v1/series", kGetPost, &PrometheusApi::Series},
      {"/api/v1/labels", "/api/v1/labels", kGetPost, &PrometheusApi::Labels},
      {R"(/api/v1/label/([^/]+)/values)", "/api/v1/label/:name/values", kGet,
       &PrometheusApi::LabelValues},
      {"/api/v1/metadata", "/api/v1/metadata", kGet, &PrometheusApi::Metadata},
      {"/api/v1/status/buildinfo", "/api/v1/status/buildinfo", kGet, &PrometheusApi::BuildInfo},
      {"/api/v1/status/runtimeinfo", "/api/v1/status/runtimeinfo", kGet,
       &PrometheusApi::RuntimeInfo},
      {"/api/v1/status/flags", "/api/v1/status/flags", kGet, &PrometheusApi::Flags},
      {"/api/v1/status/tsdb", "/api/v1/status/tsdb", kGet, &PrometheusApi::TsdbStatus},
      // Prometheus takes POST and PUT.
      {"/api/v1/admin/tsdb/snapshot", "/api/v1/admin/tsdb/snapshot", kPostPut,
       &PrometheusApi::Snapshot},
      {"/api/v1/rules", "/api/v1/rules", kGet, &PrometheusApi::Rules},
      {"/api/v1/alerts", "/api/v1/alerts", kGet, &PrometheusApi::Alerts},
  };
  struct StaticRoute {
    const char* path;
    Methods methods;
    Reply (*fn)(const httplib::Request&);
  };
  static const StaticRoute kStaticRoutes[] = {
      {"/api/v1/query_exemplars", kGetPost, &PrometheusApi::QueryExemplars},
      {"/api/v1/format_query", kGetPost, &PrometheusApi::FormatQuery},
      {"/api/v1/parse_query", kGetPost, &PrometheusApi::ParseQuery},
  };

  // Wraps a handler returning a Reply with the tenant check, timing,
  // metrics and encoding.
  auto wrap = [this](std::string name, std::function<Reply(const httplib::Request&)> fn) {
    return [this, name = std::move(name), fn = std::move(fn)](const httplib::Request& req,
                                                              httplib::Response& res) {
      auto start = Clock::now();
      Reply reply;
      try {
        // Reads refuse tenant IDs that writes would refuse (same rules), and
        // headers and parameter naming different tenants.
        auto tenant = RequestTenant(req, options_.default_tenant, options_.max_tenant_id_bytes);
        reply = tenant.ok() ? fn(req) : Reply{tenant.status()};
      } catch (const std::exception& e) {
        // Never the exception's text: it may carry paths or internals.
        std::fprintf(stderr, "meridian: %s: internal error: %s\n", name.c_str(), e.what());
        reply = Reply{absl::InternalError("internal error")};
      }
      Send(reply, res);
      if (options_.observe_request) {
        options_.observe_request(name, res.status,
                                 std::chrono::duration<double>(Clock::now() - start).count());
      }
    };
  };
  auto add = [srv](const char* pattern, Methods methods, const httplib::Server::Handler& h) {
    if (methods == kGet || methods == kGetPost) srv->Get(pattern, h);
    if (methods != kGet) srv->Post(pattern, h);
    if (methods == kPostPut) srv->Put(pattern, h);
  };
  for (const Route& r : kRoutes) {
    add(r.pattern, r.methods,
        wrap(r.name, [this, fn = r.fn](const httplib::Request& req) { return (this->*fn)(req); }));
  }
  for (const StaticRoute& r : kStaticRoutes) add(r.path, r.methods, wrap(r.path, r.fn));
  srv->Get("/federate",
           [this](const httplib::Request& req, httplib::Response& res) { Federate(req, res); });
}

}  // namespace meridian::api
