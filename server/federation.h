// Federation pulls (--federate-pull / federate_pull:): one FederatePuller per
// entry, storing through the remote-write receiver like a Prometheus's
// remote-write (same validation, limits and per-tenant ingest metrics), and
// their meridian_federate_pull_* metrics.
#ifndef MERIDIAN_SERVER_FEDERATION_H_
#define MERIDIAN_SERVER_FEDERATION_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/sync.h"
#include "remote/federate_pull.h"
#include "server/config.h"

namespace meridian::server {

class FederationPulls {
 public:
  // Stores one snappy WriteRequest body for a tenant (the receiver).
  using Store = std::function<absl::Status(const std::string& tenant, const std::string& body)>;

  FederationPulls(const std::vector<FederatePullSetting>& settings,
                  const std::string& default_tenant, Store store);
  ~FederationPulls();
  void Start();
  void Stop();
  std::string MetricsText() const;

 private:
  struct Stats {
    int64_t pulls = 0;
    int64_t failures = 0;
    int64_t samples = 0;
    double last_seconds = 0;
    int64_t last_success_ms = 0;
  };
  void Observe(const std::string& name, const remote::PullResult& r);

  std::vector<std::unique_ptr<remote::FederatePuller>> pullers_;
  mutable Mutex mu_;
  std::map<std::string, Stats> stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::server

#endif  // MERIDIAN_SERVER_FEDERATION_H_
