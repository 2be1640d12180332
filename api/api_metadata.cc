// The Prometheus API's metadata endpoints: /api/v1/series, /labels,
// /label/<name>/values and /metadata.
#include <httplib.h>

#include <algorithm>
#include <iterator>
#include <set>

#include "api/api.h"
#include "api/api_internal.h"
#include "api/json.h"
#include "api/params.h"
#include "query/parser.h"

namespace meridian::api {
namespace {

using namespace api_internal;  // NOLINT: this file's shared vocabulary

// Parses every match[] parameter; each must have a matcher that does not
// match the empty string.
absl::StatusOr<std::vector<std::vector<Matcher>>> MatchersParam(const httplib::Request& req) {
  std::vector<std::vector<Matcher>> out;
  size_t n = req.get_param_value_count("match[]");
  for (size_t i = 0; i < n; ++i) {
    auto ms = promql::ParseMetricSelector(req.get_param_value("match[]", i));
    if (!ms.ok()) return InvalidParam("match[]", ms.status());
    bool non_empty =
        std::any_of(ms->begin(), ms->end(), [](const Matcher& m) { return !m.MatchesEmpty(); });
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

Reply PrometheusApi::Series(const httplib::Request& req) {
  if (req.get_param_value_count("match[]") == 0) {
    return {absl::InvalidArgumentError("no match[] parameter provided")};
  }
  auto tq = Tenant(req);
  if (!tq.ok()) return {tq.status()};
  auto m = ParseMetadataRequest(req, *std::move(tq), options_.max_metadata_results);
  if (!m.ok()) return {m.status()};
  // The first `limit` label sets in order, and one more to tell that
  // there were more: memory stays bounded by the limit.
  std::set<meridian::Labels> kept;
  std::vector<std::string> warnings;
  for (const auto& ms : m->selectors) {
    auto ss = m->querier->Select(
        ms, SelectHints{.start_ms = m->start_ms, .end_ms = m->end_ms, .func = "series"});
    if (!ss.ok()) return {ss.status()};
    while ((*ss)->Next()) {
      const meridian::Labels& ls = (*ss)->labels();
      if (m->limit != 0 && kept.size() > m->limit) {
        if (!(ls < *kept.rbegin()) || kept.count(ls) != 0) continue;
        kept.erase(std::prev(kept.end()));
      }
      kept.insert(ls);
    }
    if (!(*ss)->status().ok()) return {(*ss)->status()};
    for (std::string& w : (*ss)->warnings()) warnings.push_back(std::move(w));
  }
  for (std::string& w : m->querier->Warnings()) warnings.push_back(std::move(w));
  std::vector<meridian::Labels> all(kept.begin(), kept.end());
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
}

Reply PrometheusApi::Labels(const httplib::Request& req) {
  auto tq = Tenant(req);
  if (!tq.ok()) return {tq.status()};
  auto m = ParseMetadataRequest(req, *std::move(tq), options_.max_metadata_results);
  if (!m.ok()) return {m.status()};
  if (m->selectors.empty()) m->selectors.push_back({});
  std::set<std::string> names;
  for (const auto& ms : m->selectors) {
    auto n = m->querier->LabelNames(ms);
    if (!n.ok()) return {n.status()};
    names.insert(n->begin(), n->end());
  }
  Reply r = StringsReply(names, m->limit);
  for (std::string& w : m->querier->Warnings()) r.warnings.push_back(std::move(w));
  return r;
}

Reply PrometheusApi::LabelValues(const httplib::Request& req) {
  std::string name = UnescapeLabelName(req.matches[1]);
  if (name.empty()) {
    return {absl::InvalidArgumentError("invalid label name: \"" + name + "\"")};
  }
  auto tq = Tenant(req);
  if (!tq.ok()) return {tq.status()};
  auto m = ParseMetadataRequest(req, *std::move(tq), options_.max_metadata_results);
  if (!m.ok()) return {m.status()};
  if (m->selectors.empty()) m->selectors.push_back({});
  std::set<std::string> values;
  for (const auto& ms : m->selectors) {
    auto v = m->querier->LabelValues(name, ms);
    if (!v.ok()) return {v.status()};
    values.insert(v->begin(), v->end());
  }
  Reply r = StringsReply(values, m->limit);
  for (std::string& w : m->querier->Warnings()) r.warnings.push_back(std::move(w));
  return r;
}

Reply PrometheusApi::Metadata(const httplib::Request& req) {
  auto limit = LimitParam(req);
  if (!limit.ok()) return {limit.status()};
  if (local_ == nullptr) return Reply{absl::OkStatus(), "{}"};
  auto md = local_->Metadata(TenantOf(req, options_.default_tenant), Param(req, "metric"), *limit);
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
}

}  // namespace meridian::api
