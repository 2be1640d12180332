// /api/v1/rules and /api/v1/alerts: the rule groups of the request's tenant
// (rules/manager.h) in exactly Prometheus's JSON (web/api/v1/api.go: the
// RuleDiscovery, RuleGroup, AlertingRule, RecordingRule and Alert structs, in
// their field order, as Go's encoding/json writes them).
#include <httplib.h>

#include <ctime>

#include "api/api.h"
#include "api/api_internal.h"
#include "api/json.h"
#include "model/gofloat.h"
#include "rules/manager.h"

namespace meridian::api {
namespace {

using api_internal::InvalidParam;

// `s` as a JSON string (AppendJsonString escapes as Go's encoder does).
std::string JsonString(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

// A float64 as Go's encoding/json writes it.
std::string GoJsonFloat(double v) {
  const double a = v < 0 ? -v : v;
  const bool exp = a != 0 && (a < 1e-6 || a >= 1e21);
  std::string s = model::FormatGoFloat(v, exp ? 'e' : 'f');
  if (exp) {
    const size_t n = s.size();
    if (n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') {
      s[n - 2] = s[n - 1];
      s.pop_back();
    }
  }
  return s;
}

// time.Time's JSON: RFC 3339 with nanoseconds, trailing zeros dropped, in
// UTC; the zero time for "never".
std::string GoTime(int64_t ns) {
  if (ns == 0) return "\"0001-01-01T00:00:00Z\"";
  int64_t secs = ns / 1'000'000'000;
  int64_t frac = ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    --secs;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = std::string("\"") + buf;
  if (frac != 0) {
    char f[16];
    std::snprintf(f, sizeof(f), ".%09lld", static_cast<long long>(frac));
    std::string fs = f;
    while (fs.back() == '0') fs.pop_back();
    out += fs;
  }
  return out + "Z\"";
}

void WriteLabels(JsonWriter& w, const Labels& ls) {
  std::string o = "{";
  bool first = true;
  for (const Label& l : ls) {
    if (!first) o += ",";
    first = false;
    o += JsonString(l.name) + ":" + JsonString(l.value);
  }
  w.RawValue(o + "}");
}

void WriteAlert(JsonWriter& w, const rules::Alert& a) {
  w.BeginObject();
  w.Key("labels");
  WriteLabels(w, a.labels);
  w.Key("annotations");
  WriteLabels(w, a.annotations);
  w.Key("state").String(rules::AlertStateName(a.state));
  w.Key("activeAt").RawValue(GoTime(a.active_at_ns));
  if (a.keep_firing_since_ns != 0) {
    w.Key("keepFiringSince").RawValue(GoTime(a.keep_firing_since_ns));
  }
  w.Key("value").String(model::FormatGoFloat(a.value, 'e'));
  w.EndObject();
}

void WriteRule(JsonWriter& w, const rules::RuleStatus& r) {
  w.BeginObject();
  if (r.spec.is_alert()) {
    w.Key("state").String(rules::AlertStateName(r.state));
    w.Key("name").RawValue(JsonString(r.spec.alert));
    w.Key("query").RawValue(JsonString(r.query));
    w.Key("duration").RawValue(GoJsonFloat(static_cast<double>(r.spec.for_ms) / 1e3));
    w.Key("keepFiringFor")
        .RawValue(GoJsonFloat(static_cast<double>(r.spec.keep_firing_for_ms) / 1e3));
    w.Key("labels");
    WriteLabels(w, r.labels);
    w.Key("annotations");
    WriteLabels(w, r.annotations);
    w.Key("alerts").BeginArray();
    for (const rules::Alert& a : r.alerts) WriteAlert(w, a);
    w.EndArray();
  } else {
    w.Key("name").RawValue(JsonString(r.spec.record));
    w.Key("query").RawValue(JsonString(r.query));
    if (!r.labels.empty()) {  // `json:"labels,omitempty"`
      w.Key("labels");
      WriteLabels(w, r.labels);
    }
  }
  w.Key("health").String(r.health);
  if (!r.last_error.empty()) w.Key("lastError").RawValue(JsonString(r.last_error));
  w.Key("evaluationTime").RawValue(GoJsonFloat(r.evaluation_seconds));
  w.Key("lastEvaluation").RawValue(GoTime(r.last_evaluation_ns));
  w.Key("type").String(r.spec.is_alert() ? "alerting" : "recording");
  w.EndObject();
}

}  // namespace

Reply PrometheusApi::Rules(const httplib::Request& req) {
  std::string typ = api_internal::Param(req, "type");
  for (char& c : typ) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!typ.empty() && typ != "alert" && typ != "record") {
    return {
        InvalidParam("type", absl::InvalidArgumentError("not supported value \"" + typ + "\""))};
  }
  const bool alerts = typ.empty() || typ == "alert";
  const bool records = typ.empty() || typ == "record";
  std::vector<rules::GroupStatus> groups;
  if (options_.rules) groups = options_.rules->Groups(TenantOf(req, options_.default_tenant));
  Reply r;
  JsonWriter w(&r.data);
  w.BeginObject().Key("groups").BeginArray();
  for (const rules::GroupStatus& g : groups) {
    w.BeginObject();
    w.Key("name").RawValue(JsonString(g.name));
    w.Key("file").RawValue(JsonString(g.file));
    w.Key("rules").BeginArray();
    for (const rules::RuleStatus& rule : g.rules) {
      if (rule.spec.is_alert() ? alerts : records) WriteRule(w, rule);
    }
    w.EndArray();
    w.Key("interval").RawValue(GoJsonFloat(static_cast<double>(g.interval_ms) / 1e3));
    w.Key("limit").Int(g.limit);
    w.Key("evaluationTime").RawValue(GoJsonFloat(g.evaluation_seconds));
    w.Key("lastEvaluation").RawValue(GoTime(g.last_evaluation_ns));
    w.EndObject();
  }
  w.EndArray().EndObject();
  return r;
}

Reply PrometheusApi::Alerts(const httplib::Request& req) {
  std::vector<rules::GroupStatus> groups;
  if (options_.rules) groups = options_.rules->Groups(TenantOf(req, options_.default_tenant));
  Reply r;
  JsonWriter w(&r.data);
  w.BeginObject().Key("alerts").BeginArray();
  for (const rules::GroupStatus& g : groups) {
    for (const rules::RuleStatus& rule : g.rules) {
      for (const rules::Alert& a : rule.alerts) WriteAlert(w, a);
    }
  }
  w.EndArray().EndObject();
  return r;
}

}  // namespace meridian::api
