// meridian-loadgen: a Prometheus-like remote-write load generator.
//
// Simulates scrape targets in four regions. Every target exposes the same
// ~100 series: counters (increasing by varying amounts), gauges (random
// walks) and classic histograms (cumulative `le` buckets + _sum + _count),
// each with a full label set of ~250 bytes. Every --scrapes round scrapes all
// targets (15 s apart, per-target offset + millisecond jitter) and emits one
// sample per series. Samples are batched like Prometheus's queue manager
// (--batch series entries of one sample each per request, full labels every
// time) and sharded by batch position over --concurrency connections, so each
// series' samples arrive in order.
//
// All requests are encoded (generated protobuf + snappy) before the clock
// starts; then they are POSTed with cpp-httplib, retrying 5xx/429/network
// errors with backoff like Prometheus (a connection stops at a request it
// gives up on). --duration S stops sending (and retrying) after S seconds;
// --writer-label true adds bench_writer="<connection>" to every series (each
// series is sent on one connection). Prints samples sent, requests, errors
// by status, wall-time throughput, one `ACKED writer=W requests=N` line per
// connection (its first N requests were acknowledged, the rest not); the
// last line is machine-readable:
//   RESULT samples_ok=... requests=... seconds=... samples_per_s=...
//
//   meridian-loadgen --url http://127.0.0.1:9097/api/v1/write --series 100000
//       --scrapes 20 --concurrency 4 --batch 2000
#include <httplib.h>
#include <snappy.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/flags.h"
#include "proto/remote.pb.h"
#include "proto/types.pb.h"

namespace {

struct Flags {
  std::string url = "http://127.0.0.1:9097/api/v1/write";
  int64_t series = 100000;
  int scrapes = 20;
  int concurrency = 4;
  int batch = 2000;
  int64_t start_ms = 0;  // 0: now - scrapes * 15 s - 60 s
  std::string tenant;
  int retries = 10;
  uint64_t seed = 1;
  std::string ca_file;    // https: the CA to verify the server with
  double duration_s = 0;  // > 0: stop sending after this long
  bool writer_label = false;
  std::string region;  // only this region's targets (the same samples as without it)
};

void Usage() {
  std::fprintf(stderr,
               "usage: meridian-loadgen [--url URL] [--series N] [--scrapes N] [--concurrency N]\n"
               "                        [--batch N] [--start-ms MS] [--tenant T] [--retries N]\n"
               "                        [--seed N] [--ca-file PEM] [--duration S]\n"
               "                        [--writer-label true] [--region R]\n");
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  bench::FlagParser p(Usage);
  p.Add("--url", &f.url);
  p.Add("--series", &f.series);
  p.Add("--scrapes", &f.scrapes);
  p.Add("--concurrency", &f.concurrency);
  p.Add("--batch", &f.batch);
  p.Add("--start-ms", &f.start_ms);
  p.Add("--tenant", &f.tenant);
  p.Add("--retries", &f.retries);
  p.Add("--seed", &f.seed);
  p.Add("--region", &f.region);
  p.Add("--ca-file", &f.ca_file);
  p.Add("--duration", &f.duration_s);
  p.Add("--writer-label", &f.writer_label);
  p.Parse(argc, argv);
  if (f.series <= 0 || f.scrapes <= 0 || f.concurrency <= 0 || f.batch <= 0) Usage();
  return f;
}

constexpr const char* kRegions[] = {"us-west-2", "us-east-1", "eu-west-1", "ap-southeast-1"};
constexpr const char* kNamespaces[] = {"payments", "checkout", "search", "identity", "catalog"};
constexpr const char* kApps[] = {"api-gateway", "order-service", "inventory-service",
                                 "user-profile-service"};
constexpr double kBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

enum class Kind { kCounter, kGauge, kBucket, kSum, kCount };

// One series: its labels and how its value evolves.
struct Series {
  std::vector<std::pair<std::string, std::string>> labels;
  Kind kind;
  int bucket = 0;      // kBucket: index into kBuckets, 9 = +Inf
  int histogram = -1;  // kBucket/kSum/kCount: index of the histogram state
  double value = 0;
  int target = 0;
};

struct HistogramState {
  double counts[10] = {};  // cumulative per bucket; [9] = +Inf = count
  double sum = 0;
};

// The ~100 series of one target, appended to *out.
void AddTargetSeries(int target, std::vector<Series>* out, std::vector<HistogramState>* hist,
                     std::mt19937_64& rng) {
  const char* region = kRegions[target % 4];
  const int cluster = (target / 4) % 3;
  const char* ns = kNamespaces[(target / 12) % 5];
  const char* app = kApps[target % 4];
  char pod[96], instance[64], node[96], cluster_name[64];
  std::snprintf(cluster_name, sizeof cluster_name, "%s-prod-%c", region, 'a' + cluster);
  std::snprintf(pod, sizeof pod, "%s-%06x-%05d", app, static_cast<unsigned>(rng() & 0xffffff),
                target);
  std::snprintf(instance, sizeof instance, "10.%d.%d.%d:8080", 16 + target % 4,
                (target / 250) % 256, target % 250 + 2);
  std::snprintf(node, sizeof node, "ip-10-%d-%d-%d.%s.compute.internal", 16 + target % 4,
                (target / 250) % 256, target % 250 + 2, region);
  std::vector<std::pair<std::string, std::string>> base = {
      {"cluster", cluster_name},
      {"container", app},
      {"instance", instance},
      {"job", std::string("kubernetes-pods/") + app},
      {"namespace", ns},
      {"node", node},
      {"pod", pod},
      {"region", region},
  };
  auto add = [&](const std::string& name, std::vector<std::pair<std::string, std::string>> extra,
                 Kind kind) {
    Series s;
    s.labels = base;
    s.labels.emplace_back("__name__", name);
    for (auto& e : extra) s.labels.push_back(std::move(e));
    std::sort(s.labels.begin(), s.labels.end());
    s.kind = kind;
    s.target = target;
    s.value = kind == Kind::kGauge ? 100 + static_cast<double>(rng() % 1000) : 0;
    out->push_back(std::move(s));
  };
  const char* handlers[] = {"/api/v1/orders", "/api/v1/users", "/healthz"};
  for (const char* method : {"GET", "POST"}) {
    for (const char* code : {"200", "404", "500"}) {
      for (const char* h : handlers) {
        add("http_requests_total", {{"code", code}, {"handler", h}, {"method", method}},
            Kind::kCounter);
      }
    }
  }
  for (const char* h : handlers) {
    int idx = static_cast<int>(hist->size());
    hist->emplace_back();
    for (int b = 0; b < 10; ++b) {
      char le[16];
      if (b == 9)
        std::snprintf(le, sizeof le, "+Inf");
      else
        std::snprintf(le, sizeof le, "%g", kBuckets[b]);
      add("http_request_duration_seconds_bucket", {{"handler", h}, {"le", le}}, Kind::kBucket);
      out->back().bucket = b;
      out->back().histogram = idx;
    }
    add("http_request_duration_seconds_sum", {{"handler", h}}, Kind::kSum);
    out->back().histogram = idx;
    add("http_request_duration_seconds_count", {{"handler", h}}, Kind::kCount);
    out->back().histogram = idx;
  }
  for (int cpu = 0; cpu < 4; ++cpu) {
    for (const char* mode : {"idle", "user", "system", "iowait"}) {
      add("node_cpu_seconds_total", {{"cpu", std::to_string(cpu)}, {"mode", mode}}, Kind::kCounter);
    }
  }
  for (const char* g : {"process_resident_memory_bytes", "process_open_fds", "go_goroutines",
                        "go_memstats_heap_inuse_bytes", "node_memory_MemAvailable_bytes",
                        "node_load1", "node_filesystem_avail_bytes", "up"}) {
    add(g, {}, Kind::kGauge);
  }
  for (const char* c : {"process_cpu_seconds_total", "go_gc_duration_seconds_count",
                        "node_network_receive_bytes_total", "node_network_transmit_bytes_total"}) {
    add(c, {}, Kind::kCounter);
  }
}

// Advances every series by one scrape.
void Step(std::vector<Series>* series, std::vector<HistogramState>* hist, std::mt19937_64& rng) {
  for (HistogramState& h : *hist) {
    int n = static_cast<int>(rng() % 200);
    double inc[10] = {};
    for (int i = 0; i < n; ++i) {
      double latency = std::exponential_distribution<double>(8.0)(rng);
      h.sum += latency;
      for (int b = 0; b < 10; ++b) {
        if (b == 9 || latency <= kBuckets[b]) inc[b] += 1;
      }
    }
    for (int b = 0; b < 10; ++b) h.counts[b] += inc[b];
  }
  for (Series& s : *series) {
    switch (s.kind) {
      case Kind::kCounter:
        s.value += static_cast<double>(rng() % 1000) * (rng() % 4 == 0 ? 0.001 : 1.0);
        break;
      case Kind::kGauge:
        s.value = std::max(0.0, s.value + (static_cast<double>(rng() % 2001) - 1000) / 10.0);
        break;
      case Kind::kBucket:
        s.value = (*hist)[s.histogram].counts[s.bucket];
        break;
      case Kind::kSum:
        s.value = (*hist)[s.histogram].sum;
        break;
      case Kind::kCount:
        s.value = (*hist)[s.histogram].counts[9];
        break;
    }
  }
}

struct Request {
  std::string body;
  uint64_t samples;
};

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  std::mt19937_64 rng(flags.seed);

  // Series universe.
  std::vector<Series> series;
  std::vector<HistogramState> hist;
  series.reserve(static_cast<size_t>(flags.series) + 128);
  for (int target = 0; static_cast<int64_t>(series.size()) < flags.series; ++target) {
    AddTargetSeries(target, &series, &hist, rng);
  }
  series.resize(static_cast<size_t>(flags.series));
  if (flags.writer_label) {
    // Each series goes to one connection ("writer"): the label names it, so
    // what a writer had acknowledged can be checked per writer.
    if (flags.series % (static_cast<int64_t>(flags.batch) * flags.concurrency) != 0) {
      std::fprintf(stderr, "--writer-label needs --series a multiple of batch x concurrency\n");
      return 2;
    }
    for (size_t i = 0; i < series.size(); ++i) {
      series[i].labels.emplace_back("bench_writer",
                                    std::to_string((i / flags.batch) % flags.concurrency));
      std::sort(series[i].labels.begin(), series[i].labels.end());
    }
  }
  uint64_t label_bytes = 0;
  for (const Series& s : series) {
    for (const auto& [n, v] : s.labels) label_bytes += n.size() + v.size();
  }
  int targets = series.back().target + 1;
  std::vector<int64_t> offset_ms(targets);
  for (int64_t& o : offset_ms) o = static_cast<int64_t>(rng() % 15000);

  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t start_ms =
      flags.start_ms != 0 ? flags.start_ms : now_ms - flags.scrapes * 15000LL - 60000;

  // Encode everything before the clock starts. Requests of round r, batch b
  // go to shard b % concurrency, in round order.
  auto enc_start = std::chrono::steady_clock::now();
  const size_t per_round = (series.size() + flags.batch - 1) / flags.batch;
  std::vector<std::vector<Request>> shards(flags.concurrency);
  uint64_t raw_bytes = 0, body_bytes = 0, total_samples = 0;
  prometheus::WriteRequest wr;
  std::string raw, compressed;
  for (int round = 0; round < flags.scrapes; ++round) {
    Step(&series, &hist, rng);
    const int64_t round_ms = start_ms + round * 15000LL;
    for (size_t b = 0; b < per_round; ++b) {
      wr.Clear();
      size_t end = std::min(series.size(), (b + 1) * flags.batch);
      for (size_t i = b * flags.batch; i < end; ++i) {
        const Series& s = series[i];
        // Drawn for every series, so a --region run sends the very samples
        // a run without it sends for that region.
        const int64_t t = round_ms + offset_ms[s.target] + static_cast<int64_t>(rng() % 7) - 3;
        if (!flags.region.empty() && flags.region != kRegions[s.target % 4]) continue;
        prometheus::TimeSeries* ts = wr.add_timeseries();
        for (const auto& [n, v] : s.labels) {
          prometheus::Label* l = ts->add_labels();
          l->set_name(n);
          l->set_value(v);
        }
        prometheus::Sample* x = ts->add_samples();
        x->set_value(s.value);
        x->set_timestamp(t);
      }
      if (wr.timeseries_size() == 0) continue;
      wr.SerializeToString(&raw);
      // Compress into scratch: snappy sizes its output for the worst case
      // (~1.2x the input), and thousands of held requests must not keep
      // that slack (24 h of 10k series would hold 23 GB instead of 2).
      snappy::Compress(raw.data(), raw.size(), &compressed);
      Request req;
      req.body.assign(compressed);
      req.samples = static_cast<uint64_t>(wr.timeseries_size());
      raw_bytes += raw.size();
      body_bytes += req.body.size();
      total_samples += req.samples;
      shards[b % flags.concurrency].push_back(std::move(req));
    }
  }
  double enc_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - enc_start).count();
  std::printf("series=%zu targets=%d avg_label_bytes=%.0f scrapes=%d batch=%d concurrency=%d\n",
              series.size(), targets, static_cast<double>(label_bytes) / series.size(),
              flags.scrapes, flags.batch, flags.concurrency);
  std::printf(
      "encoded %llu requests, %llu samples, %.1f MB protobuf, %.1f MB snappy in %.1f s; "
      "timestamps %lld..%lld\n",
      static_cast<unsigned long long>(per_round * flags.scrapes),
      static_cast<unsigned long long>(total_samples), raw_bytes / 1e6, body_bytes / 1e6, enc_s,
      static_cast<long long>(start_ms),
      static_cast<long long>(start_ms + (flags.scrapes - 1) * 15000LL + 15000));
  std::fflush(stdout);

  // Send.
  std::string scheme_host = flags.url, path = "/";
  size_t slash = flags.url.find(
      '/', flags.url.find("://") == std::string::npos ? 0 : flags.url.find("://") + 3);
  if (slash != std::string::npos) {
    scheme_host = flags.url.substr(0, slash);
    path = flags.url.substr(slash);
  }
  httplib::Headers headers = {{"Content-Encoding", "snappy"},
                              {"X-Prometheus-Remote-Write-Version", "0.1.0"},
                              {"User-Agent", "meridian-loadgen/0.1"}};
  if (!flags.tenant.empty()) headers.emplace("THANOS-TENANT", flags.tenant);

  std::mutex mu;
  std::map<std::string, uint64_t> final_errors;  // by status, requests given up on
  std::map<std::string, uint64_t> retried;       // by status, transient answers
  std::atomic<uint64_t> ok_samples{0}, ok_requests{0}, sent_requests{0};
  // Per connection: requests acknowledged, in order (a connection stops at
  // its first request given up on, so these are a prefix of its rounds).
  std::vector<uint64_t> acked(flags.concurrency, 0);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(flags.duration_s * 1000));
  std::vector<double> latencies_ms;  // every attempt, guarded by mu
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < flags.concurrency; ++w) {
    workers.emplace_back([&, w] {
      httplib::Client cli(scheme_host);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);  // as Prometheus' Go client does
      cli.set_connection_timeout(10);
      cli.set_read_timeout(60);
      cli.set_write_timeout(60);
      if (!flags.ca_file.empty()) cli.set_ca_cert_path(flags.ca_file.c_str());
      for (const Request& req : shards[w]) {
        if (flags.duration_s > 0 && std::chrono::steady_clock::now() >= deadline) break;
        bool given_up = false;
        std::chrono::milliseconds backoff(30);
        for (int attempt = 0;; ++attempt) {
          sent_requests.fetch_add(1);
          auto t0 = std::chrono::steady_clock::now();
          auto res = cli.Post(path, headers, req.body, "application/x-protobuf");
          {
            std::lock_guard<std::mutex> lock(mu);
            latencies_ms.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count());
          }
          std::string status =
              res ? std::to_string(res->status) : "net:" + httplib::to_string(res.error());
          if (res && res->status / 100 == 2) {
            ok_samples.fetch_add(req.samples);
            ok_requests.fetch_add(1);
            ++acked[w];
            break;
          }
          bool retryable = !res || res->status / 100 == 5 || res->status == 429;
          std::lock_guard<std::mutex> lock(mu);
          const bool past_deadline =
              flags.duration_s > 0 && std::chrono::steady_clock::now() >= deadline;
          if (!retryable || attempt >= flags.retries || past_deadline) {
            ++final_errors[status];
            if (res && final_errors[status] <= 3) {
              std::fprintf(stderr, "request failed: %s: %s\n", status.c_str(),
                           res->body.substr(0, 300).c_str());
            }
            given_up = true;
            break;
          }
          ++retried[status];
          std::this_thread::sleep_for(backoff);
          backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        }
        if (given_up) break;
      }
    });
  }
  for (auto& t : workers) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::printf(
      "sent %llu requests (%llu ok), %llu samples accepted of %llu in %.2f s: "
      "%.0f samples/s, %.1f MB/s snappy\n",
      static_cast<unsigned long long>(sent_requests.load()),
      static_cast<unsigned long long>(ok_requests.load()),
      static_cast<unsigned long long>(ok_samples.load()),
      static_cast<unsigned long long>(total_samples), secs, ok_samples.load() / secs,
      body_bytes / 1e6 / secs);
  for (const auto& [status, n] : retried) {
    std::printf("retried: status %s x%llu\n", status.c_str(), static_cast<unsigned long long>(n));
  }
  for (const auto& [status, n] : final_errors) {
    std::printf("failed: status %s x%llu\n", status.c_str(), static_cast<unsigned long long>(n));
  }
  for (int w = 0; w < flags.concurrency; ++w) {
    std::printf("ACKED writer=%d requests=%llu\n", w, static_cast<unsigned long long>(acked[w]));
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double q) {
    if (latencies_ms.empty()) return 0.0;
    size_t i = static_cast<size_t>(q * static_cast<double>(latencies_ms.size() - 1) + 0.5);
    return latencies_ms[std::min(i, latencies_ms.size() - 1)];
  };
  std::printf(
      "RESULT samples_ok=%llu samples_total=%llu requests=%llu seconds=%.3f "
      "samples_per_s=%.0f p50_ms=%.2f p99_ms=%.2f\n",
      static_cast<unsigned long long>(ok_samples.load()),
      static_cast<unsigned long long>(total_samples),
      static_cast<unsigned long long>(ok_requests.load()), secs, ok_samples.load() / secs, pct(0.5),
      pct(0.99));
  return final_errors.empty() ? 0 : 1;
}
