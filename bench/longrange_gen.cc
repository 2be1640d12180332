// meridian-longrange-gen: long-range data for the downsampling benchmark
// (bench/longrange_bench.sh) and its backfill.
//
// Simulates --targets scrape targets (one per region, round robin over four
// regions), each exposing 82 series whose values change at every scrape:
//   http_requests_total{code,handler,method}        18 counters, diurnal traffic
//   http_request_duration_seconds_{bucket,sum,count} 3 classic histograms (10 buckets)
//   node_cpu_seconds_total{cpu,mode}                16 counters (fractional)
//   process_cpu_seconds_total, go_gc_duration_seconds_count,
//   node_network_{receive,transmit}_bytes_total       4 counters
//   8 gauges (random walks; memory, fds, goroutines, load, filesystem, ...)
// The process's counters (requests, histograms, process_cpu, gc) reset to 0
// when the target "restarts" (on average every --restart-hours, per target);
// the node exporter's counters do not. Scrapes are 15 s apart, at a per-target
// offset (10..14990 ms, so no sample lies on a whole second, minute or hour)
// plus up to +-2 ms jitter; all series of a target share the scrape's timestamp
// as in Prometheus. The data is a pure function of the flags (--seed).
//
// Outputs, one or both:
//   --url URL          remote-write 1.0 (protobuf + snappy), oldest first, one
//                      request per --request-minutes of every series of a shard
//                      (default 120: "2-hour requests"); --concurrency shards
//                      (series i goes to shard i % N, each shard in time order on
//                      its own keep-alive connection); retries 5xx/429/network
//                      errors with backoff as Prometheus does. --max-seconds stops
//                      sending after that long (a fixed-duration load);
//                      --progress true prints the samples accepted so far
//                      every 200 ms ("PROGRESS <unix ms> <samples>").
//   --openmetrics FILE the same samples as OpenMetrics text for
//                      `promtool tsdb create-blocks-from openmetrics`.
// The last line is machine-readable:
//   RESULT samples_ok=... samples_total=... series=... requests=... seconds=...
//          samples_per_s=... start_ms=... end_ms=...
//
//   meridian-longrange-gen --days 30 --url http://127.0.0.1:9097/api/v1/write
#include <httplib.h>
#include <snappy.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/flags.h"
#include "proto/remote.pb.h"
#include "proto/types.pb.h"

namespace {

constexpr int64_t kScrapeMs = 15000;

struct Flags {
  double days = 30;
  int64_t end_ms = 0;  // 0: now - 10 min, floored to a minute
  int targets = 4;
  uint64_t seed = 1;
  double restart_hours = 72;
  std::string url;
  std::string tenant;
  int request_minutes = 120;
  int concurrency = 2;
  double max_seconds = 0;
  int retries = 10;
  std::string openmetrics;
  bool progress = false;
};

[[noreturn]] void Usage() {
  std::fprintf(stderr,
               "usage: meridian-longrange-gen [--days D] [--end-ms MS] [--targets N] [--seed N]\n"
               "         [--restart-hours H] [--url URL [--tenant T] [--request-minutes M]\n"
               "         [--concurrency N] [--max-seconds S] [--retries N] [--progress true]]\n"
               "         [--openmetrics FILE]\n");
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  bench::FlagParser p(Usage);
  p.Add("--days", &f.days);
  p.Add("--end-ms", &f.end_ms);
  p.Add("--targets", &f.targets);
  p.Add("--seed", &f.seed);
  p.Add("--restart-hours", &f.restart_hours);
  p.Add("--url", &f.url);
  p.Add("--tenant", &f.tenant);
  p.Add("--request-minutes", &f.request_minutes);
  p.Add("--concurrency", &f.concurrency);
  p.Add("--max-seconds", &f.max_seconds);
  p.Add("--retries", &f.retries);
  p.Add("--openmetrics", &f.openmetrics);
  p.Add("--progress", &f.progress);
  p.Parse(argc, argv);
  if (f.days <= 0 || f.targets <= 0 || f.request_minutes <= 0 || f.concurrency <= 0 ||
      f.restart_hours <= 0 || (f.url.empty() && f.openmetrics.empty())) {
    Usage();
  }
  return f;
}

// splitmix64: fast, and the data only has to look random.
struct Rng {
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  int64_t Int(int64_t n) { return static_cast<int64_t>(Next() % static_cast<uint64_t>(n)); }
};

constexpr const char* kRegions[] = {"us-west-2", "us-east-1", "eu-west-1", "ap-southeast-1"};
constexpr double kBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
constexpr int kNumBuckets = 10;  // 9 bounds + +Inf

enum class Kind {
  kRequests,
  kBucket,
  kHistSum,
  kHistCount,
  kCpu,
  kProcCounter,
  kNodeCounter,
  kGauge
};

struct Series {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // sorted, __name__ included
  Kind kind;
  int target = 0;
  int histogram = -1;  // kBucket/kHistSum/kHistCount
  int bucket = 0;      // kBucket
  double rate = 0;     // counters: mean increase per second; gauges: mean level
  double step = 0;     // gauges: random-walk step
  double value = 0;
  double floor = 0;  // gauges: lower bound
};

struct Histogram {
  int target;
  double counts[kNumBuckets] = {};
  double sum = 0;
  double rate;   // observations per second
  double scale;  // mean latency in seconds
};

struct Target {
  int64_t offset_ms;
  double phase;  // diurnal phase
  bool restarted = false;
};

class Generator {
 public:
  Generator(const Flags& f) : flags_(f), rng_{f.seed * 0x2545f4914f6cdd1dULL + 1} {
    for (int t = 0; t < f.targets; ++t) AddTarget(t);
  }

  const std::vector<Series>& series() const { return series_; }

  // Advances every series by one scrape at time `ms` (relative time of day
  // drives the diurnal traffic); fills ts_ms[target].
  void Step(int64_t scrape_index, std::vector<int64_t>* ts_ms) {
    const double restart_p = 15.0 / (flags_.restart_hours * 3600.0);
    for (size_t t = 0; t < targets_.size(); ++t) {
      Target& tg = targets_[t];
      (*ts_ms)[t] = base_ms_ + scrape_index * kScrapeMs + tg.offset_ms + rng_.Int(5) - 2;
      tg.restarted = scrape_index > 0 && rng_.Uniform() < restart_p;
    }
    for (Histogram& h : hists_) {
      const Target& tg = targets_[h.target];
      if (tg.restarted) {
        std::fill(std::begin(h.counts), std::end(h.counts), 0.0);
        h.sum = 0;
      }
      double traffic = Diurnal(scrape_index, tg.phase);
      int n = 1 + static_cast<int>(h.rate * 15 * traffic * (0.7 + 0.6 * rng_.Uniform()));
      for (int i = 0; i < n; ++i) {
        // Log-normal-ish latency: exponential times a slow tail factor.
        double lat = -std::log(1.0 - rng_.Uniform()) * h.scale * (rng_.Uniform() < 0.02 ? 8 : 1);
        lat = std::round(lat * 1e6) / 1e6;  // microsecond resolution, as Go's time.Since
        h.sum += lat;
        int b = 0;
        while (b < kNumBuckets - 1 && lat > kBuckets[b]) ++b;
        for (int k = b; k < kNumBuckets; ++k) h.counts[k] += 1;
      }
    }
    for (Series& s : series_) {
      const Target& tg = targets_[s.target];
      double traffic = Diurnal(scrape_index, tg.phase);
      switch (s.kind) {
        case Kind::kRequests:
          if (tg.restarted) s.value = 0;
          s.value += 1 + std::floor(s.rate * 15 * traffic * (0.6 + 0.8 * rng_.Uniform()));
          break;
        case Kind::kBucket:
          s.value = hists_[s.histogram].counts[s.bucket];
          break;
        case Kind::kHistSum:
          s.value = hists_[s.histogram].sum;
          break;
        case Kind::kHistCount:
          s.value = hists_[s.histogram].counts[kNumBuckets - 1];
          break;
        case Kind::kCpu:  // seconds, 10 ms resolution (USER_HZ)
          s.value += std::max(
              0.01, std::round(s.rate * 15 * traffic * (0.5 + rng_.Uniform()) * 100) / 100);
          break;
        case Kind::kProcCounter:
          if (tg.restarted) s.value = 0;
          s.value += std::max(
              s.rate < 1 ? 0.01 : 1.0,
              std::round(s.rate * 15 * traffic * (0.5 + rng_.Uniform()) * (s.rate < 1 ? 100 : 1)) /
                  (s.rate < 1 ? 100 : 1));
          break;
        case Kind::kNodeCounter:
          s.value += 1 + std::floor(s.rate * 15 * traffic * (0.5 + rng_.Uniform()));
          break;
        case Kind::kGauge: {
          if (tg.restarted && s.name.rfind("process_", 0) == 0) s.value = s.rate;
          // Mean-reverting walk that always moves.
          double delta = (rng_.Uniform() - 0.5) * 2 * s.step + (s.rate - s.value) * 0.01;
          if (std::fabs(delta) < s.step * 0.01) delta = s.step * 0.01;
          double v = std::max(s.floor, s.value + delta);
          if (s.step >= 1) v = std::round(v);
          if (v == s.value) v += s.step >= 1 ? 1 : 0.01;
          if (s.step < 1) v = std::round(v * 100) / 100;
          s.value = v;
          break;
        }
      }
    }
  }

  void SetBase(int64_t base_ms) { base_ms_ = base_ms; }

 private:
  static double Diurnal(int64_t scrape_index, double phase) {
    double day_frac = static_cast<double>(scrape_index % 5760) / 5760.0;
    return 1.0 + 0.5 * std::sin(2 * M_PI * day_frac + phase);
  }

  void Add(int target, std::string name, std::vector<std::pair<std::string, std::string>> extra,
           Kind kind, double rate, double step = 0, double floor = 0) {
    Series s;
    s.name = name;
    s.labels = base_labels_;
    s.labels.emplace_back("__name__", std::move(name));
    for (auto& e : extra) s.labels.push_back(std::move(e));
    std::sort(s.labels.begin(), s.labels.end());
    s.kind = kind;
    s.target = target;
    s.rate = rate;
    s.step = step;
    s.floor = floor;
    s.value = kind == Kind::kGauge ? rate : (kind == Kind::kNodeCounter ? rate * 1e6 : 0);
    series_.push_back(std::move(s));
  }

  void AddTarget(int t) {
    const char* region = kRegions[t % 4];
    char instance[64], cluster[64];
    std::snprintf(instance, sizeof instance, "10.%d.%d.%d:8080", 16 + t % 4, t / 4 % 256,
                  t % 250 + 2);
    std::snprintf(cluster, sizeof cluster, "%s-prod", region);
    base_labels_ = {
        {"cluster", cluster}, {"instance", instance}, {"job", "api"}, {"region", region}};
    targets_.push_back(Target{10 + rng_.Int(14981), rng_.Uniform() * 2 * M_PI});
    const double size = 0.5 + rng_.Uniform();  // this target's traffic scale
    const char* handlers[] = {"/api/v1/orders", "/api/v1/users", "/healthz"};
    for (const char* method : {"GET", "POST"}) {
      for (const char* code : {"200", "404", "500"}) {
        for (const char* h : handlers) {
          double r = size *
                     (code[0] == '2'   ? 40
                      : code[0] == '4' ? 3
                                       : 0.5) *
                     (h[1] == 'h' ? 0.3 : 1) * (method[0] == 'P' ? 0.4 : 1);
          Add(t, "http_requests_total", {{"code", code}, {"handler", h}, {"method", method}},
              Kind::kRequests, r);
        }
      }
    }
    for (const char* h : handlers) {
      int idx = static_cast<int>(hists_.size());
      hists_.push_back(Histogram{t,
                                 {},
                                 0,
                                 size * (h[1] == 'h' ? 2 : 5),
                                 h[1] == 'h' ? 0.004 : 0.06 + 0.04 * rng_.Uniform()});
      for (int b = 0; b < kNumBuckets; ++b) {
        char le[16];
        if (b == kNumBuckets - 1)
          std::snprintf(le, sizeof le, "+Inf");
        else
          std::snprintf(le, sizeof le, "%g", kBuckets[b]);
        Add(t, "http_request_duration_seconds_bucket", {{"handler", h}, {"le", le}}, Kind::kBucket,
            0);
        series_.back().histogram = idx;
        series_.back().bucket = b;
      }
      Add(t, "http_request_duration_seconds_sum", {{"handler", h}}, Kind::kHistSum, 0);
      series_.back().histogram = idx;
      Add(t, "http_request_duration_seconds_count", {{"handler", h}}, Kind::kHistCount, 0);
      series_.back().histogram = idx;
    }
    for (int cpu = 0; cpu < 4; ++cpu) {
      for (const char* mode : {"idle", "user", "system", "iowait"}) {
        double share = mode[0] == 'i' && mode[1] == 'd' ? 0.6
                       : mode[0] == 'u'                 ? 0.25
                       : mode[0] == 's'                 ? 0.1
                                                        : 0.05;
        Add(t, "node_cpu_seconds_total", {{"cpu", std::to_string(cpu)}, {"mode", mode}}, Kind::kCpu,
            share);
      }
    }
    Add(t, "process_cpu_seconds_total", {}, Kind::kProcCounter, 0.3 * size);
    Add(t, "go_gc_duration_seconds_count", {}, Kind::kProcCounter, 2 * size);
    Add(t, "node_network_receive_bytes_total", {}, Kind::kNodeCounter, 2e6 * size);
    Add(t, "node_network_transmit_bytes_total", {}, Kind::kNodeCounter, 1.5e6 * size);
    Add(t, "process_resident_memory_bytes", {}, Kind::kGauge, 4e8 * size, 2e6, 5e7);
    Add(t, "process_open_fds", {}, Kind::kGauge, 120, 3, 10);
    Add(t, "go_goroutines", {}, Kind::kGauge, 300 * size, 8, 20);
    Add(t, "go_memstats_heap_inuse_bytes", {}, Kind::kGauge, 2e8 * size, 3e6, 1e7);
    Add(t, "node_memory_MemAvailable_bytes", {}, Kind::kGauge, 8e9, 2e7, 1e9);
    Add(t, "node_filesystem_avail_bytes", {}, Kind::kGauge, 5e10, 1e6, 1e9);
    Add(t, "node_load1", {}, Kind::kGauge, 1.5 * size, 0.2, 0);
    Add(t, "node_sockstat_TCP_inuse", {}, Kind::kGauge, 200 * size, 5, 5);
  }

  Flags flags_;
  Rng rng_;
  int64_t base_ms_ = 0;
  std::vector<std::pair<std::string, std::string>> base_labels_;
  std::vector<Target> targets_;
  std::vector<Histogram> hists_;
  std::vector<Series> series_;
};

struct Request {
  std::string body;
  uint64_t samples = 0;
};

// A bounded queue per shard: the generator thread produces, the shard's
// sender consumes.
class Queue {
 public:
  void Push(Request r) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return q_.size() < 4 || closed_; });
    if (closed_) return;
    q_.push_back(std::move(r));
    cv_.notify_all();
  }
  std::optional<Request> Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !q_.empty() || done_ || closed_; });
    if (q_.empty() || closed_) return std::nullopt;
    Request r = std::move(q_.front());
    q_.pop_front();
    cv_.notify_all();
    return r;
  }
  void Done() {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  void Close() {  // the consumer stopped: drop what is queued, refuse more
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    q_.clear();
    cv_.notify_all();
  }
  bool closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> q_;
  bool done_ = false;
  bool closed_ = false;
};

// OpenMetrics text, buffered.
class OmWriter {
 public:
  explicit OmWriter(const std::string& path) : f_(std::fopen(path.c_str(), "wb")) {
    if (f_ == nullptr) {
      std::perror(path.c_str());
      std::exit(1);
    }
    buf_.reserve(1 << 22);
  }
  ~OmWriter() {
    buf_ += "# EOF\n";
    Flush();
    std::fclose(f_);
  }
  void Write(const std::string& series_text, double v, int64_t ts_ms) {
    buf_ += series_text;
    char tmp[64];
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    buf_.append(tmp, r.ptr);
    // Seconds with the milliseconds, then a 5: promtool truncates
    // int64(seconds * 1000), and x.yyy5 can never round below x.yyy.
    int len =
        std::snprintf(tmp, sizeof tmp, " %lld.%03lld5\n", static_cast<long long>(ts_ms / 1000),
                      static_cast<long long>(ts_ms % 1000));
    buf_.append(tmp, static_cast<size_t>(len));
    if (buf_.size() > (1 << 22) - 4096) Flush();
  }

 private:
  void Flush() {
    if (std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) {
      std::perror("write");
      std::exit(1);
    }
    buf_.clear();
  }
  FILE* f_;
  std::string buf_;
};

std::string SeriesText(const Series& s) {
  std::string out = s.name + "{";
  bool first = true;
  for (const auto& [n, v] : s.labels) {
    if (n == "__name__") continue;
    if (!first) out += ',';
    first = false;
    out += n + "=\"" + v + "\"";
  }
  return out + "} ";
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  int64_t end_ms = flags.end_ms;
  if (end_ms == 0) {
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    end_ms = (now_ms - 600000) / 60000 * 60000;
  }
  const int64_t scrapes = static_cast<int64_t>(flags.days * 86400000.0) / kScrapeMs;
  const int64_t start_ms = end_ms - scrapes * kScrapeMs;  // scrape k at start + k*15 s + offset
  Generator gen(flags);
  gen.SetBase(start_ms);
  const std::vector<Series>& series = gen.series();
  const size_t n_series = series.size();
  const int64_t per_request = flags.request_minutes * 60000LL / kScrapeMs;
  const int shards = flags.url.empty() ? 0 : flags.concurrency;

  std::printf("series=%zu targets=%d scrapes=%lld (%.2f days) start_ms=%lld end_ms=%lld\n",
              n_series, flags.targets, static_cast<long long>(scrapes), flags.days,
              static_cast<long long>(start_ms), static_cast<long long>(end_ms));
  std::fflush(stdout);

  std::vector<Queue> queues(static_cast<size_t>(shards));
  std::atomic<uint64_t> ok_samples{0}, ok_requests{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, uint64_t> final_errors, retried;
  auto t_start = std::chrono::steady_clock::now();

  std::string scheme_host, path = "/";
  if (!flags.url.empty()) {
    scheme_host = flags.url;
    size_t slash = flags.url.find(
        '/', flags.url.find("://") == std::string::npos ? 0 : flags.url.find("://") + 3);
    if (slash != std::string::npos) {
      scheme_host = flags.url.substr(0, slash);
      path = flags.url.substr(slash);
    }
  }
  httplib::Headers headers = {{"Content-Encoding", "snappy"},
                              {"X-Prometheus-Remote-Write-Version", "0.1.0"},
                              {"User-Agent", "meridian-longrange-gen/0.1"}};
  if (!flags.tenant.empty()) headers.emplace("THANOS-TENANT", flags.tenant);

  std::vector<std::thread> senders;
  for (int w = 0; w < shards; ++w) {
    senders.emplace_back([&, w] {
      httplib::Client cli(scheme_host);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      cli.set_connection_timeout(10);
      cli.set_read_timeout(300);
      cli.set_write_timeout(300);
      while (auto req = queues[w].Pop()) {
        std::chrono::milliseconds backoff(30);
        for (int attempt = 0;; ++attempt) {
          auto res = cli.Post(path, headers, req->body, "application/x-protobuf");
          std::string status =
              res ? std::to_string(res->status) : "net:" + httplib::to_string(res.error());
          if (res && res->status / 100 == 2) {
            ok_samples.fetch_add(req->samples);
            ok_requests.fetch_add(1);
            break;
          }
          bool retryable = !res || res->status / 100 == 5 || res->status == 429;
          std::lock_guard<std::mutex> lock(mu);
          if (!retryable || attempt >= flags.retries) {
            if (++final_errors[status] <= 3 && res) {
              std::fprintf(stderr, "request failed: %s: %s\n", status.c_str(),
                           res->body.substr(0, 300).c_str());
            }
            break;
          }
          ++retried[status];
          std::this_thread::sleep_for(backoff);
          backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        }
        if (flags.max_seconds > 0 &&
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count() >=
                flags.max_seconds) {
          stop = true;
          queues[w].Close();
          return;
        }
      }
    });
  }

  // --progress: "PROGRESS <unix ms> <samples accepted>" every 200 ms, for
  // callers that measure the ingest rate over a window of their own.
  std::atomic<bool> senders_done{false};
  std::thread progress;
  if (flags.progress && shards > 0) {
    progress = std::thread([&] {
      while (!senders_done.load()) {
        const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        std::printf("PROGRESS %lld %llu\n", static_cast<long long>(now),
                    static_cast<unsigned long long>(ok_samples.load()));
        std::fflush(stdout);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });
  }

  std::optional<OmWriter> om;
  std::vector<std::string> om_text;
  if (!flags.openmetrics.empty()) {
    om.emplace(flags.openmetrics);
    for (const Series& s : series) om_text.push_back(SeriesText(s));
  }

  // Per window: values[series][k], timestamps[target][k].
  std::vector<std::vector<double>> values(n_series);
  std::vector<std::vector<int64_t>> ts(static_cast<size_t>(flags.targets));
  std::vector<int64_t> step_ts(static_cast<size_t>(flags.targets));
  uint64_t total_samples = 0, requests = 0;
  prometheus::WriteRequest wr;
  std::string raw;
  for (int64_t k0 = 0; k0 < scrapes && !stop; k0 += per_request) {
    const int64_t k1 = std::min(scrapes, k0 + per_request);
    for (auto& v : values) v.clear();
    for (auto& t : ts) t.clear();
    for (int64_t k = k0; k < k1; ++k) {
      gen.Step(k, &step_ts);
      for (size_t t = 0; t < ts.size(); ++t) ts[t].push_back(step_ts[t]);
      for (size_t i = 0; i < n_series; ++i) values[i].push_back(series[i].value);
    }
    if (om) {
      for (size_t i = 0; i < n_series; ++i) {
        const std::vector<int64_t>& tt = ts[series[i].target];
        for (size_t j = 0; j < values[i].size(); ++j) om->Write(om_text[i], values[i][j], tt[j]);
      }
    }
    total_samples += n_series * static_cast<uint64_t>(k1 - k0);
    for (int w = 0; w < shards; ++w) {
      wr.Clear();
      Request req;
      for (size_t i = static_cast<size_t>(w); i < n_series; i += static_cast<size_t>(shards)) {
        prometheus::TimeSeries* pts = wr.add_timeseries();
        for (const auto& [n, v] : series[i].labels) {
          prometheus::Label* l = pts->add_labels();
          l->set_name(n);
          l->set_value(v);
        }
        const std::vector<int64_t>& tt = ts[series[i].target];
        for (size_t j = 0; j < values[i].size(); ++j) {
          prometheus::Sample* x = pts->add_samples();
          x->set_value(values[i][j]);
          x->set_timestamp(tt[j]);
        }
        req.samples += values[i].size();
      }
      wr.SerializeToString(&raw);
      snappy::Compress(raw.data(), raw.size(), &req.body);
      req.body.shrink_to_fit();
      ++requests;
      queues[w].Push(std::move(req));
    }
  }
  for (Queue& q : queues) q.Done();
  for (auto& t : senders) t.join();
  senders_done = true;
  if (progress.joinable()) progress.join();
  om.reset();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  for (const auto& [status, n] : retried) {
    std::printf("retried: status %s x%llu\n", status.c_str(), static_cast<unsigned long long>(n));
  }
  for (const auto& [status, n] : final_errors) {
    std::printf("failed: status %s x%llu\n", status.c_str(), static_cast<unsigned long long>(n));
  }
  const uint64_t reported_ok = shards > 0 ? ok_samples.load() : total_samples;
  std::printf(
      "RESULT samples_ok=%llu samples_total=%llu series=%zu requests=%llu seconds=%.3f "
      "samples_per_s=%.0f start_ms=%lld end_ms=%lld\n",
      static_cast<unsigned long long>(reported_ok),
      static_cast<unsigned long long>(stop ? reported_ok : total_samples), n_series,
      static_cast<unsigned long long>(shards > 0 ? ok_requests.load() : requests), secs,
      static_cast<double>(reported_ok) / secs, static_cast<long long>(start_ms),
      static_cast<long long>(end_ms));
  return final_errors.empty() ? 0 : 1;
}
