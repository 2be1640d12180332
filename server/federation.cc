#include "server/federation.h"

#include <chrono>
#include <cstdio>

namespace meridian::server {

FederationPulls::FederationPulls(const std::vector<FederatePullSetting>& settings,
                                 const std::string& default_tenant, Store store) {
  for (const FederatePullSetting& s : settings) {
    {
      MutexLock lock(&mu_);
      stats_[s.pull.name];
    }
    remote::FederatePullConfig c = s.pull;
    if (c.tenant.empty()) c.tenant = default_tenant;
    pullers_.push_back(std::make_unique<remote::FederatePuller>(
        std::move(c),
        [store](const std::string& tenant, std::string body) { return store(tenant, body); },
        [this](const std::string& name, const remote::PullResult& r) { Observe(name, r); }));
  }
}

FederationPulls::~FederationPulls() { Stop(); }

void FederationPulls::Start() {
  for (auto& p : pullers_) p->Start();
}

void FederationPulls::Stop() {
  for (auto& p : pullers_) p->Stop();
}

void FederationPulls::Observe(const std::string& name, const remote::PullResult& r) {
  MutexLock lock(&mu_);
  Stats& s = stats_[name];
  ++s.pulls;
  s.last_seconds = r.seconds;
  if (r.status.ok()) {
    s.samples += static_cast<int64_t>(r.samples);
    s.last_success_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  } else {
    ++s.failures;
  }
}

std::string FederationPulls::MetricsText() const {
  std::map<std::string, Stats> stats;  // a snapshot: the lambdas below run without mu_
  {
    MutexLock lock(&mu_);
    stats = stats_;
  }
  if (stats.empty()) return "";
  std::string o;
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [pull, s] : stats) {
      o += std::string(name) + "{pull=\"" + pull + "\"} " + value(s) + "\n";
    }
  };
  auto num = [](double v) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.6f", v);
    return std::string(buf);
  };
  family("meridian_federate_pulls_total", "counter", "Pulls of another server's /federate.",
         [](const Stats& s) { return std::to_string(s.pulls); });
  family("meridian_federate_pull_failures_total", "counter",
         "Pulls that failed (connection, HTTP status, parse or store error).",
         [](const Stats& s) { return std::to_string(s.failures); });
  family("meridian_federate_pull_samples_total", "counter",
         "Samples read by successful pulls and handed to the store.",
         [](const Stats& s) { return std::to_string(s.samples); });
  family("meridian_federate_pull_last_duration_seconds", "gauge", "Duration of the last pull.",
         [&](const Stats& s) { return num(s.last_seconds); });
  family("meridian_federate_pull_last_success_timestamp_seconds", "gauge",
         "When a pull last succeeded (0: never).",
         [&](const Stats& s) { return num(static_cast<double>(s.last_success_ms) / 1000.0); });
  return o;
}

}  // namespace meridian::server
