// Federation pull: for a region whose Prometheus cannot remote-write, meridian
// scrapes another server's GET /federate on an interval (as a Prometheus
// scrape job over /federate would) and stores the samples like remote-written
// ones (the same receiver: validation, limits, per-tenant metrics).
//
// Labels follow Prometheus's scrape semantics for the job's target labels
// (`job` = the pull's name, `instance` = the URL's host:port, then the
// configured extra labels), as the federation documentation prescribes:
//   honor_labels: true  (the default here, as federation wants): a label the
//                       scraped series has (even with an empty value, as the
//                       `instance=""` Prometheus adds) wins; target labels are
//                       added only where the series lacks them.
//   honor_labels: false: target labels win; a scraped label they clash with
//                       is kept as exported_<name> (exported_exported_<name>
//                       when that is taken too).
// Empty-valued labels are then dropped. Samples keep the timestamps of the
// exposition (honor_timestamps, default true); a sample without one gets the
// pull's time.
//
// Each pull also writes what Prometheus 2.42's scrape loop (scrape/scrape.go,
// report and append) writes, at the pull's start time, with the target labels
// only: `up` (1, or 0 when the GET, the status or the parse failed),
// `scrape_duration_seconds`, `scrape_samples_scraped`,
// `scrape_samples_post_metric_relabeling` and `scrape_series_added` (series
// not in the previous successful pull). Stale markers (StaleNaN at the pull's
// time) as Prometheus writes them: for a series of the previous pull that is
// missing from this one, and for every such series when the pull fails. As in
// Prometheus, only series whose sample carried no timestamp (or whose
// timestamp is ignored: honor_timestamps false) are tracked, so a /federate
// pull with honored timestamps writes no stale markers for the federated
// series (their staleness is the origin's; the lookback delta ends them)
// unless track_timestamps_staleness is set, as Prometheus 2.48 added. No
// markers are written when meridian stops (Prometheus neither, at shutdown).
#ifndef MERIDIAN_REMOTE_FEDERATE_PULL_H_
#define MERIDIAN_REMOTE_FEDERATE_PULL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/labels.h"
#include "model/status.h"
#include "model/sync.h"

namespace meridian::remote {

struct FederatePullConfig {
  std::string name;                                         // the job label
  std::string url;                                          // http(s)://host:port/federate
  std::vector<std::string> match;                           // match[] selectors, sent as given
  int64_t interval_ms = 60'000;                             // between pulls
  int64_t timeout_ms = 10'000;                              // of one pull (at most the interval)
  std::vector<std::pair<std::string, std::string>> labels;  // extra target labels
  bool honor_labels = true;
  bool honor_timestamps = true;
  bool track_timestamps_staleness = false;
  std::string tenant;  // stored into this tenant ("": the default tenant)
  std::string bearer_token;
  std::string basic_auth_username;
  std::string basic_auth_password;
  std::string tls_ca_file;
  bool tls_insecure_skip_verify = false;
};

// One sample line of the text exposition format.
struct ExpositionSample {
  // With __name__, in the exposition's order; empty-valued labels kept
  // (they matter to honor_labels).
  std::vector<Label> labels;
  double value = 0;
  std::optional<int64_t> t_ms;
};

// Parses the Prometheus text exposition format 0.0.4 (# HELP / # TYPE /
// comments, samples with optional timestamps; label values with \\ \" \n
// escapes). Errors name the line.
absl::StatusOr<std::vector<ExpositionSample>> ParseTextExposition(std::string_view body);
// The same, keeping in *out the samples before a bad line (Prometheus's
// scrape counts and caches those before it fails).
absl::Status ParseTextExposition(std::string_view body, std::vector<ExpositionSample>* out);

// Prometheus's mutateSampleLabels for target labels, then empty labels dropped.
Labels ApplyTargetLabels(const std::vector<Label>& scraped, const std::vector<Label>& target,
                         bool honor);

// Outcome of one pull, for logs and metrics.
struct PullResult {
  absl::Status status;
  size_t samples = 0;  // parsed and handed to the sink
  double seconds = 0;
  bool up = false;  // the value written to `up`
  size_t series_added = 0;
  size_t stale_markers = 0;
};

class FederatePuller {
 public:
  // Stores one snappy-compressed remote-write 1.0 WriteRequest for `tenant`.
  using Sink = std::function<absl::Status(const std::string& tenant, std::string body)>;
  using Observer = std::function<void(const std::string& name, const PullResult&)>;

  FederatePuller(FederatePullConfig config, Sink sink, Observer observer = nullptr);
  ~FederatePuller();  // stops

  // One pull now: GET, parse, relabel, write (with the report series and
  // stale markers). Not to be called concurrently.
  PullResult PullOnce();
  // Pulls every interval on a thread of its own (the first at once).
  void Start();
  void Stop();
  const FederatePullConfig& config() const { return config_; }

 private:
  // Prometheus's scrapeCache, for one target: series seen by their text as
  // scraped (for scrape_series_added), and the label sets tracked for
  // staleness in this pull and the previous one.
  struct Cache {
    struct Entry {
      Labels labels;
      uint64_t last_iter = 0;
    };
    std::unordered_map<std::string, Entry> series;
    std::unordered_map<std::string, Labels> stale_cur, stale_prev;
    uint64_t iter = 0;
  };
  struct Counts {
    size_t total = 0, added = 0, series_added = 0;
  };
  class Batcher;

  void Loop();
  // scrapeLoop.append: samples into `out`, counts, cache updates; then the
  // stale markers when `mark_stale` (a successful append).
  Counts Append(const std::vector<ExpositionSample>& samples, int64_t def_ms, Batcher* out);
  size_t MarkStale(int64_t def_ms, Batcher* out);
  void IterDone(bool flush);
  void Report(int64_t t_ms, double seconds, const Counts& c, bool up, Batcher* out);

  const FederatePullConfig config_;
  std::vector<Label> target_labels_;
  Sink sink_;
  Observer observer_;
  Mutex mu_;
  CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
  Cache cache_;  // PullOnce's only
};

}  // namespace meridian::remote

#endif  // MERIDIAN_REMOTE_FEDERATE_PULL_H_
