// Rules: the rule manager over --rule-files (recording rules written to
// storage, alerts) and Prometheus's POST/PUT /-/reload.
#include <cstdio>

#include "ingest/limits.h"
#include "server/server_internal.h"

namespace meridian::server {

absl::Status MeridianServer::Impl::SetUpRules() {
  rules::ManagerOptions rmo;
  rmo.default_interval_ms = config.rule_evaluation_interval_ms;
  rmo.for_outage_tolerance_ms = config.rule_for_outage_tolerance_ms;
  rmo.for_grace_period_ms = config.rule_for_grace_period_ms;
  auto sources = ParseRuleFileSources(config.rule_files, config.default_tenant);
  if (!sources.ok())
    return absl::InvalidArgumentError("--rule-files: " + std::string(sources.status().message()));
  for (auto& [tenant, glob] : *sources) {
    if (absl::Status t =
            ingest::ValidateTenant(tenant, static_cast<size_t>(config.max_tenant_id_bytes));
        !t.ok()) {
      return absl::InvalidArgumentError("--rule-files: tenant " + tenant + ": " +
                                        std::string(t.message()));
    }
    rmo.sources.push_back({tenant, glob});
  }
  rules = std::make_unique<rules::Manager>(
      storage.get(),
      [st = storage.get()](std::string_view tenant) { return st->ForTenant(tenant); }, engine.get(),
      rmo);
  if (absl::Status st = rules->Reload(); !st.ok()) {
    return absl::InvalidArgumentError("loading rule files: " + std::string(st.message()));
  }
  return absl::OkStatus();
}

void MeridianServer::Impl::RegisterReloadRoutes() {
  // Prometheus's lifecycle endpoint (always on: it only re-reads the rule
  // files): 200 and an empty body, or 500 and the reason; the rules loaded
  // before keep running.
  auto reload = [this](const httplib::Request&, httplib::Response& res) {
    absl::Status st = rules->Reload();
    if (!st.ok()) {
      std::fprintf(stderr, "meridian: reload: %s\n", std::string(st.message()).c_str());
      res.status = 500;
      res.set_content("failed to reload config: " + std::string(st.message()) + "\n",
                      "text/plain; charset=utf-8");
    }
  };
  http.Post("/-/reload", reload);
  http.Put("/-/reload", reload);
}

}  // namespace meridian::server
