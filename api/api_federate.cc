// GET /federate, as Prometheus's web/federate.go (2.42) serves it: the latest
// sample of every series matching any match[] selector within the lookback
// delta before now, in the text exposition format (0.0.4), one untyped family
// per metric name, every series with its timestamp; stale markers are left
// out (the format cannot carry them); `instance=""` is attached to series
// without an instance label, as Prometheus attaches its external labels (it
// has `instance` among them), so that a scraper with honor_labels does not
// put its own target's instance on them. Reads the tenant's view (through a
// global meridian's remotes when it has them). A bad selector is 400 with
// the parser's message in plain text (Prometheus: http.Error).
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "api/api.h"
#include "api/api_internal.h"
#include "api/params.h"
#include "api/tenant.h"
#include "model/gofloat.h"
#include "model/sample.h"
#include "query/parser.h"

namespace meridian::api {
namespace {

void AppendEscaped(std::string* out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '"') {
      *out += "\\\"";
    } else if (c == '\n') {
      *out += "\\n";
    } else {
      out->push_back(c);
    }
  }
}

// expfmt's writeFloat.
void AppendValue(std::string* out, double v) {
  if (v == 1) {
    *out += "1";
  } else if (v == 0) {
    *out += "0";
  } else if (v == -1) {
    *out += "-1";
  } else if (std::isnan(v)) {
    *out += "NaN";
  } else if (std::isinf(v)) {
    *out += v > 0 ? "+Inf" : "-Inf";
  } else {
    model::AppendGoFloat(out, v, 'g');
  }
}

}  // namespace

std::string FederateText(const std::vector<std::pair<Labels, Sample>>& series) {
  // Grouped by metric name, series in label order within a family.
  std::vector<const std::pair<Labels, Sample>*> order;
  order.reserve(series.size());
  for (const auto& s : series) order.push_back(&s);
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return a->first.Get(kMetricName) < b->first.Get(kMetricName);
  });
  std::string out;
  std::string_view last_name;
  for (const auto* s : order) {
    std::string_view name = s->first.Get(kMetricName);
    if (name.empty()) continue;  // Prometheus: "Ignoring nameless metric during federation"
    if (name != last_name) {
      out += "# TYPE ";
      out += name;
      out += " untyped\n";
      last_name = name;
    }
    out += name;
    bool first = true;
    bool has_instance = false;
    auto label = [&](std::string_view n, std::string_view v) {
      out += first ? "{" : ",";
      first = false;
      out += n;
      out += "=\"";
      AppendEscaped(&out, v);
      out += "\"";
    };
    for (const Label& l : s->first) {
      if (l.name == kMetricName || l.value.empty()) continue;
      if (l.name == "instance") has_instance = true;
      label(l.name, l.value);
    }
    if (!has_instance) label("instance", "");
    out += "} ";
    AppendValue(&out, s->second.v);
    out += " ";
    out += std::to_string(s->second.t_ms);
    out += "\n";
  }
  return out;
}

void PrometheusApi::Federate(const httplib::Request& req, httplib::Response& res) {
  auto start = std::chrono::steady_clock::now();
  auto text_error = [&](int code, const std::string& msg) {
    res.status = code;
    res.set_content(msg + "\n", "text/plain; charset=utf-8");
  };
  std::vector<std::vector<Matcher>> selectors;
  const size_t n = req.get_param_value_count("match[]");
  for (size_t i = 0; i < n; ++i) {
    auto ms = promql::ParseMetricSelector(req.get_param_value("match[]", i));
    if (!ms.ok()) return text_error(400, std::string(ms.status().message()));
    if (std::none_of(ms->begin(), ms->end(), [](const Matcher& m) { return !m.MatchesEmpty(); })) {
      return text_error(400, "match[] must contain at least one non-empty matcher");
    }
    selectors.push_back(*std::move(ms));
  }
  auto tenant = RequestTenant(req, options_.default_tenant, options_.max_tenant_id_bytes);
  if (!tenant.ok()) return text_error(400, std::string(tenant.status().message()));
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t lookback = engine_->options().lookback_delta_ms;
  const int64_t mint = now - lookback;
  std::map<::meridian::Labels, Sample> latest;
  if (!selectors.empty()) {
    auto q = Tenant(req);
    if (!q.ok()) return text_error(400, std::string(q.status().message()));
    auto querier = (*q)->NewQuerier(mint, now);
    if (!querier.ok()) return text_error(500, PublicMessage(querier.status()));
    std::vector<Sample> buf;
    for (const auto& sel : selectors) {
      SelectHints hints;
      hints.start_ms = mint;
      hints.end_ms = now;
      hints.func = "federate";
      auto set = (*querier)->Select(sel, hints);
      if (!set.ok()) return text_error(500, PublicMessage(set.status()));
      while ((*set)->Next()) {
        if (!(*set)->Samples(&buf).ok()) break;
        // The newest sample at or before now, within the lookback.
        const Sample* pick = nullptr;
        for (auto it = buf.rbegin(); it != buf.rend(); ++it) {
          if (it->t_ms <= now && it->t_ms >= mint) {
            pick = &*it;
            break;
          }
        }
        if (pick == nullptr || IsStaleNaN(pick->v)) continue;
        latest.emplace((*set)->labels(), *pick);
      }
      if (!(*set)->status().ok()) return text_error(500, PublicMessage((*set)->status()));
    }
  }
  std::vector<std::pair<::meridian::Labels, Sample>> series(latest.begin(), latest.end());
  res.status = 200;
  res.set_content(FederateText(series), "text/plain; version=0.0.4; charset=utf-8");
  if (options_.observe_request) {
    options_.observe_request(
        "/federate", res.status,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
}

}  // namespace meridian::api
