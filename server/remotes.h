// A global meridian's view of its remotes and the remote-read server's
// counters: the outcome and duration of every remote-read call
// (remote::RemoteHealth), the remotes' watermarks per tenant
// (remote/watermark.h), GET /api/v1/status/remotes, and the
// meridian_remote_read_* / meridian_remote_* families of /metrics.
#ifndef MERIDIAN_SERVER_REMOTES_H_
#define MERIDIAN_SERVER_REMOTES_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/sync.h"
#include "remote/client.h"
#include "remote/fanout.h"
#include "remote/watermark.h"

namespace meridian::server {

class RemoteBoard : public remote::RemoteHealth {
 public:
  explicit RemoteBoard(std::vector<std::shared_ptr<const remote::RemoteReadClient>> remotes);

  void Record(const std::string& name, const absl::Status& status, double seconds) override;
  remote::WatermarkCache* watermarks() { return &watermarks_; }

  // The body of GET /api/v1/status/remotes: every remote with its last
  // outcome and its watermark for `caller_tenant` (fetched now, concurrently).
  std::string StatusJson(const std::string& caller_tenant);

  // One answer of the remote-read server (POST /api/v1/read).
  void ObserveServed(int status, bool streamed, int64_t samples, size_t bytes);

  std::string MetricsText() const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                      0.5,   1,    2.5,   5,    10,  30};
  struct Entry {
    bool called = false;
    bool up = false;
    std::string last_error;
    int64_t last_success_ms = 0;
    int64_t requests = 0;
    int64_t failures = 0;
    std::array<int64_t, kBuckets.size()> buckets{};
    double seconds_sum = 0;
  };
  struct Served {
    int64_t samples = 0;
    int64_t bytes = 0;
  };

  const std::vector<std::shared_ptr<const remote::RemoteReadClient>> remotes_;
  remote::WatermarkCache watermarks_;
  mutable Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::map<int, int64_t> served_by_code_ ABSL_GUARDED_BY(mu_);
  Served served_[2] ABSL_GUARDED_BY(mu_);  // [0] SAMPLES, [1] STREAMED_XOR_CHUNKS
};

}  // namespace meridian::server

#endif  // MERIDIAN_SERVER_REMOTES_H_
