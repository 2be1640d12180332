#include "k8s/external_metrics.h"

#include <httplib.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "k8s/external_metrics_internal.h"
#include "k8s/hpa.h"
#include "k8s/label_selector.h"
#include "k8s/quantity.h"
#include "query/ast.h"
#include "query/parser.h"

namespace meridian::k8s {

using internal::json;
using internal::NowMs;
using internal::SendJson;
using internal::StatusObject;

namespace {

constexpr char kGroup[] = "external.metrics.k8s.io";
constexpr char kVersion[] = "v1beta1";
constexpr char kGroupVersion[] = "external.metrics.k8s.io/v1beta1";
constexpr int64_t kHourMs = 3600'000;

std::string Rfc3339(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Go's time.Duration.String() rounded to seconds ("5m12s", "1h0m5s", "45s").
std::string Age(int64_t ms) {
  int64_t s = (ms + 500) / 1000;
  if (s < 60) return std::to_string(s) + "s";
  int64_t m = s / 60;
  s %= 60;
  if (m < 60) return std::to_string(m) + "m" + std::to_string(s) + "s";
  return std::to_string(m / 60) + "h" + std::to_string(m % 60) + "m" + std::to_string(s) + "s";
}

bool IsDnsLabel(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
      return false;
    }
  }
  return s.front() != '-' && s.back() != '-';
}

bool IsMetricName(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = c == '_' || c == ':' || std::isalpha(static_cast<unsigned char>(c)) ||
              (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

void CollectSelectors(const promql::Expr* e, std::vector<const promql::VectorSelector*>* out) {
  using promql::ExprKind;
  if (e == nullptr) return;
  switch (e->kind) {
    case ExprKind::kVectorSelector:
      out->push_back(static_cast<const promql::VectorSelector*>(e));
      break;
    case ExprKind::kMatrixSelector:
      CollectSelectors(static_cast<const promql::MatrixSelector*>(e)->selector.get(), out);
      break;
    case ExprKind::kSubquery:
      CollectSelectors(static_cast<const promql::SubqueryExpr*>(e)->expr.get(), out);
      break;
    case ExprKind::kCall:
      for (const auto& a : static_cast<const promql::Call*>(e)->args)
        CollectSelectors(a.get(), out);
      break;
    case ExprKind::kAggregate: {
      auto* a = static_cast<const promql::AggregateExpr*>(e);
      CollectSelectors(a->expr.get(), out);
      CollectSelectors(a->param.get(), out);
      break;
    }
    case ExprKind::kBinary: {
      auto* b = static_cast<const promql::BinaryExpr*>(e);
      CollectSelectors(b->lhs.get(), out);
      CollectSelectors(b->rhs.get(), out);
      break;
    }
    case ExprKind::kUnary:
      CollectSelectors(static_cast<const promql::UnaryExpr*>(e)->expr.get(), out);
      break;
    case ExprKind::kParen:
      CollectSelectors(static_cast<const promql::ParenExpr*>(e)->expr.get(), out);
      break;
    case ExprKind::kStepInvariant:
      CollectSelectors(static_cast<const promql::StepInvariantExpr*>(e)->expr.get(), out);
      break;
    default:
      break;
  }
}

const char* ReasonFor(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 503:
      return "ServiceUnavailable";
    default:
      return "InternalError";
  }
}

absl::StatusOr<int64_t> YamlDuration(const YAML::Node& n, const std::string& where) {
  auto d = promql::ParseDuration(n.as<std::string>());
  if (!d.ok()) {
    return absl::InvalidArgumentError(where + ": " + std::string(d.status().message()));
  }
  if (*d <= 0) return absl::InvalidArgumentError(where + ": must be positive");
  return *d;
}

// True when an Accept header asks for aggregated discovery
// (as=APIGroupDiscoveryList) and offers no plain JSON alternative.
bool OnlyAggregatedDiscovery(const std::string& accept) {
  if (accept.find("as=APIGroupDiscoveryList") == std::string::npos) return false;
  size_t start = 0;
  while (start <= accept.size()) {
    size_t end = accept.find(',', start);
    if (end == std::string::npos) end = accept.size();
    std::string part = accept.substr(start, end - start);
    size_t b = part.find_first_not_of(" \t");
    part = b == std::string::npos ? "" : part.substr(b);
    std::string type = part.substr(0, part.find(';'));
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
    if (type == "*/*" || type == "application/*" ||
        (type == "application/json" && part.find("as=") == std::string::npos)) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

// The query for a metric: the mapping's template with the matchers put in.
std::string BuildQuery(const std::string& metric, const MetricMapping* m, const std::string& ns,
                       const std::string& namespace_label, const std::string& selector_matchers) {
  std::string matchers;
  if (m == nullptr || m->namespaced) matchers = namespace_label + "=" + PromQLQuote(ns);
  if (!selector_matchers.empty()) {
    if (!matchers.empty()) matchers += ", ";
    matchers += selector_matchers;
  }
  if (m != nullptr && !m->query.empty()) {
    std::string q = ReplaceAll(m->query, "<<.LabelMatchers>>", matchers);
    q = ReplaceAll(q, "<<.Namespace>>", ns);
    return ReplaceAll(q, "<<.Series>>", metric);
  }
  if (m != nullptr && !m->series.empty()) return m->series + "{" + matchers + "}";
  return "sum(" + metric + "{" + matchers + "})";
}

// The newest sample of every series some selectors read in the last hour.
struct NewestSamples {
  int64_t live = 0;   // series whose newest sample is a value
  int64_t ended = 0;  // series whose newest sample is a stale marker
  int64_t oldest_live_ms = 0;
  int64_t newest_ms = -1;
  std::string oldest_series;  // the live series with the oldest newest sample
};

// Fills `out`; Unavailable (the message for the refusal) when the series
// cannot all be read.
absl::Status ScanNewest(Queryable& q, const std::vector<const promql::VectorSelector*>& selectors,
                        int64_t now_ms, NewestSamples* out) {
  out->oldest_live_ms = now_ms + 1;
  auto querier = q.NewQuerier(now_ms - kHourMs, now_ms);
  if (!querier.ok()) {
    return absl::UnavailableError("storage unavailable; the HPA keeps the current replica count");
  }
  std::vector<Sample> samples;
  for (const auto* sel : selectors) {
    SelectHints hints;
    hints.start_ms = now_ms - kHourMs;
    hints.end_ms = now_ms;
    hints.sorted = false;
    auto set = (*querier)->Select(sel->matchers, hints);
    if (!set.ok()) {
      return absl::UnavailableError("reading its series failed: " +
                                    std::string(set.status().message()));
    }
    while ((*set)->Next()) {
      if (!(*set)->Samples(&samples).ok() || samples.empty()) continue;
      const Sample& last = samples.back();
      if (IsStaleNaN(last.v)) {
        ++out->ended;
        continue;
      }
      ++out->live;
      out->newest_ms = std::max(out->newest_ms, last.t_ms);
      if (last.t_ms < out->oldest_live_ms) {
        out->oldest_live_ms = last.t_ms;
        out->oldest_series = (*set)->labels().ToString();
      }
    }
    if (!(*set)->status().ok() || !(*set)->warnings().empty()) {
      return absl::UnavailableError(
          "its series could not all be read (partial data); the HPA keeps the current replica "
          "count");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ExternalMetricsConfig> ExternalMetricsConfig::Parse(const std::string& text) {
  ExternalMetricsConfig c;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(std::string("YAML: ") + e.what());
  }
  if (root.IsNull()) return c;
  if (!root.IsMap()) return absl::InvalidArgumentError("expected a mapping at the top");
  try {
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (key == "namespace_label") {
        c.namespace_label = v.as<std::string>();
        if (!IsMetricName(c.namespace_label) || c.namespace_label.find(':') != std::string::npos) {
          return absl::InvalidArgumentError("namespace_label: not a label name");
        }
      } else if (key == "default_tenant") {
        c.default_tenant = v.as<std::string>();
      } else if (key == "max_staleness") {
        auto d = YamlDuration(v, "max_staleness");
        if (!d.ok()) return d.status();
        c.max_staleness_ms = *d;
      } else if (key == "namespaces" || key == "namespace_tenants") {
        if (!v.IsMap()) return absl::InvalidArgumentError("namespaces: expected namespace: tenant");
        for (const auto& ns : v) {
          std::string name = ns.first.as<std::string>();
          if (!IsDnsLabel(name)) {
            return absl::InvalidArgumentError("namespaces: \"" + name +
                                              "\" is not a Kubernetes namespace name");
          }
          c.namespace_tenants[name] = ns.second.as<std::string>();
        }
      } else if (key == "metrics" || key == "external_metrics") {
        // A map name -> mapping, or a list of mappings with a `name` field.
        if (!v.IsMap() && !v.IsSequence()) {
          return absl::InvalidArgumentError(key + ": expected name: mapping, or a list");
        }
        for (const auto& m : v) {
          const bool listed = v.IsSequence();
          const YAML::Node body = listed ? m : m.second;
          if (listed && (!body.IsMap() || !body["name"])) {
            return absl::InvalidArgumentError(key + ": each item needs a name");
          }
          std::string name = listed ? body["name"].as<std::string>() : m.first.as<std::string>();
          std::string where = key + "." + name;
          MetricMapping mm;
          if (!body.IsMap() && !body.IsNull()) {
            return absl::InvalidArgumentError(where + ": expected a mapping");
          }
          if (c.metrics.count(name)) return absl::InvalidArgumentError(where + ": listed twice");
          if (body.IsMap()) {
            for (const auto& f : body) {
              std::string fk = f.first.as<std::string>();
              if (fk == "name" && listed) {
                continue;
              } else if (fk == "query") {
                mm.query = f.second.as<std::string>();
              } else if (fk == "series" || fk == "record") {
                mm.series = f.second.as<std::string>();
                if (!IsMetricName(mm.series)) {
                  return absl::InvalidArgumentError(where + ".series: not a metric name");
                }
              } else if (fk == "namespaced") {
                mm.namespaced = f.second.as<bool>();
              } else if (fk == "max_staleness") {
                auto d = YamlDuration(f.second, where + ".max_staleness");
                if (!d.ok()) return d.status();
                mm.max_staleness_ms = *d;
              } else {
                return absl::InvalidArgumentError(where + ": unknown field \"" + fk + "\"");
              }
            }
          }
          if (!mm.query.empty() && !mm.series.empty()) {
            return absl::InvalidArgumentError(where + ": give query or series, not both");
          }
          if (!mm.query.empty()) {
            std::string q = BuildQuery(name, &mm, "ns", c.namespace_label, "a=\"b\"");
            auto e = promql::ParseExpr(q);
            if (!e.ok()) {
              return absl::InvalidArgumentError(
                  where + ".query does not parse: " + std::string(e.status().message()));
            }
          } else if (mm.series.empty() && !IsMetricName(name)) {
            return absl::InvalidArgumentError(where + ": not a metric name; give query or series");
          }
          c.metrics[name] = mm;
        }
      } else {
        return absl::InvalidArgumentError("unknown field \"" + key + "\"");
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(std::string("YAML: ") + e.what());
  }
  return c;
}

absl::StatusOr<ExternalMetricsConfig> ExternalMetricsConfig::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = Parse(ss.str());
  if (!c.ok()) return absl::InvalidArgumentError(path + ": " + std::string(c.status().message()));
  return c;
}

ExternalMetricsApi::ExternalMetricsApi(ExternalMetricsConfig config, TenantReader reader,
                                       const promql::Engine* engine)
    : config_(std::move(config)), reader_(std::move(reader)), engine_(engine) {}

ExternalMetricAnswer ExternalMetricsApi::Evaluate(const httplib::Request* req,
                                                  const std::string& ns, const std::string& metric,
                                                  const std::string& selector, int64_t now_ms) {
  ExternalMetricAnswer a;
  auto refuse = [&](int code, std::string message) {
    a.http_status = code;
    a.reason = ReasonFor(code);
    a.message = std::move(message);
    switch (code) {
      case 400:
        refused_bad_request_.fetch_add(1);
        break;
      case 401:
      case 403:
        refused_forbidden_.fetch_add(1);
        break;
      case 404:
        refused_no_data_.fetch_add(1);
        break;
      default:
        break;
    }
    return a;
  };
  const std::string what = "external metric \"" + metric + "\" in namespace \"" + ns + "\"";
  if (!IsDnsLabel(ns)) return refuse(400, "invalid namespace \"" + ns + "\"");
  auto mit = config_.metrics.find(metric);
  const MetricMapping* mapping = mit == config_.metrics.end() ? nullptr : &mit->second;
  if (mapping == nullptr && !IsMetricName(metric)) {
    return refuse(400, "invalid metric name \"" + metric +
                           "\": not a Prometheus metric name and "
                           "not configured");
  }
  std::string tenant = config_.default_tenant;
  if (auto t = config_.namespace_tenants.find(ns); t != config_.namespace_tenants.end()) {
    tenant = t->second;
  }
  if (tenant.empty()) {
    return refuse(403, "namespace \"" + ns + "\" is not mapped to a tenant");
  }
  if (req != nullptr && authorizer_) {
    absl::Status st = authorizer_(*req, tenant);
    if (st.code() == absl::StatusCode::kUnauthenticated)
      return refuse(401, std::string(st.message()));
    if (!st.ok()) return refuse(403, std::string(st.message()));
  }
  auto reqs = ParseLabelSelector(selector);
  if (!reqs.ok()) return refuse(400, std::string(reqs.status().message()));
  a.query = BuildQuery(metric, mapping, ns, config_.namespace_label, ToPromQLMatchers(*reqs));
  auto expr = promql::ParseExpr(a.query);
  if (!expr.ok()) {
    return refuse(400, what + ": the query " + a.query +
                           " does not parse: " + std::string(expr.status().message()));
  }
  const int64_t max_staleness = mapping && mapping->max_staleness_ms > 0 ? mapping->max_staleness_ms
                                                                         : config_.max_staleness_ms;

  // Staleness: the newest sample of every series the query reads.
  std::unique_ptr<Queryable> q = reader_(tenant);
  std::vector<const promql::VectorSelector*> selectors;
  CollectSelectors(expr->get(), &selectors);
  NewestSamples scan;
  if (absl::Status st = ScanNewest(*q, selectors, now_ms, &scan); !st.ok()) {
    refused_query_failed_.fetch_add(1);
    return refuse(503, what + ": " + std::string(st.message()));
  }
  if (scan.newest_ms >= 0) a.newest_age_ms = now_ms - scan.newest_ms;
  if (scan.live + scan.ended == 0) {
    return refuse(404, what + ": no series matching " + a.query + " in the last hour");
  }
  if (scan.live > 0 && now_ms - scan.oldest_live_ms > max_staleness) {
    refused_stale_.fetch_add(1);
    a.http_status = 503;
    a.reason = "ServiceUnavailable";
    a.message = what + ": data is stale: the newest sample of " + scan.oldest_series + " is " +
                Age(now_ms - scan.oldest_live_ms) + " old (max_staleness " + Age(max_staleness) +
                "); refusing to answer rather than report a wrong value";
    return a;
  }

  promql::QueryOptions qo;
  qo.priority = promql::QueryPriority::kPriority;
  qo.timeout = std::chrono::seconds(10);
  auto r = engine_->InstantQuery(*q, a.query, now_ms, qo);
  if (!r.ok()) {
    refused_query_failed_.fetch_add(1);
    std::string msg = r.status().code() == absl::StatusCode::kInternal
                          ? std::string("internal storage error")
                          : std::string(r.status().message());
    return refuse(503, what + ": query " + a.query + " failed: " + msg);
  }
  if (!r->warnings.empty()) {
    refused_query_failed_.fetch_add(1);
    return refuse(503, what + ": query " + a.query + " returned a partial result (" +
                           r->warnings.front() + ")");
  }
  if (const auto* s = std::get_if<promql::Scalar>(&r->value)) {
    a.items.push_back({Labels(), now_ms, s->v});
  } else if (const auto* v = std::get_if<promql::Vector>(&r->value)) {
    for (const auto& e : *v) {
      a.items.push_back({LabelsBuilder(e.metric).Del(kMetricName).Build(), e.t_ms, e.v});
    }
  } else {
    return refuse(400,
                  what + ": query " + a.query + " does not return an instant vector or scalar");
  }
  std::sort(
      a.items.begin(), a.items.end(),
      [](const ExternalMetricItem& x, const ExternalMetricItem& y) { return x.labels < y.labels; });
  if (a.items.empty()) {
    if (scan.live == 0) {
      return refuse(404, what + ": every series of " + a.query +
                             " ended (stale markers: its pods went away)");
    }
    return refuse(404, what + ": query " + a.query + " returned no data");
  }
  for (const auto& it : a.items) {
    if (std::isnan(it.value) || std::isinf(it.value)) {
      refused_query_failed_.fetch_add(1);
      a.items.clear();
      a.http_status = 503;
      a.reason = "ServiceUnavailable";
      a.message = what + ": query " + a.query + " returned " +
                  (std::isnan(it.value) ? "NaN" : "an infinite value") +
                  ", which a quantity cannot carry";
      return a;
    }
  }
  served_.fetch_add(1);
  return a;
}

void ExternalMetricsApi::Value(const httplib::Request& req, httplib::Response& res) {
  const std::string ns = req.matches[1];
  const std::string metric = req.matches[2];
  std::string selector = req.has_param("labelSelector") ? req.get_param_value("labelSelector") : "";
  ExternalMetricAnswer a = Evaluate(&req, ns, metric, selector, NowMs());
  if (a.http_status != 200) {
    // (No Retry-After: client-go would retry the request up to 10 times
    // rather than let the HPA see the error in this cycle.)
    SendJson(res, a.http_status, StatusObject(a.http_status, a.reason, a.message));
    return;
  }
  json j;
  j["kind"] = "ExternalMetricValueList";
  j["apiVersion"] = kGroupVersion;
  j["metadata"] = json::object();
  json items = json::array();
  for (const auto& it : a.items) {
    json item;
    item["metricName"] = metric;
    json labels = json::object();
    for (const auto& l : it.labels) labels[l.name] = l.value;
    item["metricLabels"] = labels;
    item["timestamp"] = Rfc3339(it.t_ms);
    item["value"] = *FormatQuantity(it.value);
    items.push_back(item);
  }
  j["items"] = items;
  SendJson(res, 200, j);
}

void ExternalMetricsApi::Register(httplib::Server* server) {
  server->Get("/apis", [](const httplib::Request& req, httplib::Response& res) {
    if (OnlyAggregatedDiscovery(req.get_header_value("Accept"))) {
      // Aggregated discovery is not served: kube-aggregator falls back to
      // the legacy documents on any answer but 200/304.
      SendJson(res, 406, StatusObject(406, "NotAcceptable", "aggregated discovery is not served"));
      return;
    }
    json gv = {{"groupVersion", kGroupVersion}, {"version", kVersion}};
    json group = {{"name", kGroup}, {"versions", json::array({gv})}, {"preferredVersion", gv}};
    json j = {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", json::array({group})}};
    SendJson(res, 200, j);
  });
  server->Get("/apis/external.metrics.k8s.io", [](const httplib::Request&, httplib::Response& res) {
    json gv = {{"groupVersion", kGroupVersion}, {"version", kVersion}};
    json j = {{"kind", "APIGroup"},
              {"apiVersion", "v1"},
              {"name", kGroup},
              {"versions", json::array({gv})},
              {"preferredVersion", gv}};
    SendJson(res, 200, j);
  });
  server->Get("/apis/external.metrics.k8s.io/v1beta1",
              [this](const httplib::Request&, httplib::Response& res) {
                json resources = json::array();
                for (const auto& [name, unused] : config_.metrics) {
                  resources.push_back({{"name", name},
                                       {"singularName", ""},
                                       {"namespaced", true},
                                       {"kind", "ExternalMetricValueList"},
                                       {"verbs", json::array({"get"})}});
                }
                json j = {{"kind", "APIResourceList"},
                          {"apiVersion", "v1"},
                          {"groupVersion", kGroupVersion},
                          {"resources", resources}};
                SendJson(res, 200, j);
              });
  server->Get(R"(/apis/external\.metrics\.k8s\.io/v1beta1/namespaces/([^/]+)/([^/]+))",
              [this](const httplib::Request& req, httplib::Response& res) { Value(req, res); });
  server->Get("/openapi/v2", [](const httplib::Request&, httplib::Response& res) {
    json j = {{"swagger", "2.0"},
              {"info", {{"title", "meridian external metrics API"}, {"version", kVersion}}},
              {"paths", json::object()},
              {"definitions", json::object()}};
    SendJson(res, 200, j);
  });
  server->Get("/version", [](const httplib::Request&, httplib::Response& res) {
    json j = {{"major", "1"}, {"minor", "0"}, {"gitVersion", "meridian"}};
    SendJson(res, 200, j);
  });
  for (const char* p : {"/healthz", "/livez", "/readyz"}) {
    server->Get(p, [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok", "text/plain; charset=utf-8");
    });
  }
}

std::string ExternalMetricsApi::MetricsText() const {
  std::string o =
      "# HELP meridian_external_metrics_requests_total External metric reads, by outcome "
      "(refusals are never answered with a value).\n"
      "# TYPE meridian_external_metrics_requests_total counter\n";
  auto line = [&o](const char* outcome, int64_t v) {
    o += std::string("meridian_external_metrics_requests_total{outcome=\"") + outcome + "\"} " +
         std::to_string(v) + "\n";
  };
  line("served", served_.load());
  line("stale", refused_stale_.load());
  line("no_data", refused_no_data_.load());
  line("query_failed", refused_query_failed_.load());
  line("bad_request", refused_bad_request_.load());
  line("forbidden", refused_forbidden_.load());
  return o;
}

namespace internal {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json StatusObject(int code, const std::string& reason, const std::string& message) {
  json j;
  j["kind"] = "Status";
  j["apiVersion"] = "v1";
  j["metadata"] = json::object();
  j["status"] = "Failure";
  j["message"] = message;
  j["reason"] = reason;
  j["code"] = code;
  return j;
}

void SendJson(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(j.dump(), "application/json");
}

}  // namespace internal

}  // namespace meridian::k8s
