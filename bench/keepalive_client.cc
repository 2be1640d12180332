// meridian-keepalive-client: request latency over keep-alive connections, as
// Grafana and Go's http.Client see it (persistent connections, TCP_NODELAY,
// one request at a time per connection).
//
// Opens --connections connections (one thread each); each sends --warmup
// untimed requests, then --requests timed ones, one after the other, of the
// GET target given by --path. Prints percentiles of the client-side time per
// request (send to last body byte); the last line is machine-readable:
//   RESULT n=... errors=... p50_ms=... p90_ms=... p99_ms=... max_ms=... rps=...
//
//   meridian-keepalive-client --url http://127.0.0.1:9097
//       --path '/api/v1/query?query=sum(up)' --connections 4 --requests 500
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Flags {
  std::string url = "http://127.0.0.1:9097";
  std::string path = "/api/v1/query?query=1";
  int connections = 4;
  int requests = 200;
  int warmup = 20;
  std::string ca_file;  // https: the CA to verify the server with
};

[[noreturn]] void Usage() {
  std::fprintf(stderr,
               "usage: meridian-keepalive-client --url URL --path TARGET [--connections N]\n"
               "                                 [--requests N] [--warmup N] [--ca-file PEM]\n");
  std::exit(2);
}

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--url")
      f.url = v;
    else if (a == "--path")
      f.path = v;
    else if (a == "--connections")
      f.connections = std::atoi(v.c_str());
    else if (a == "--requests")
      f.requests = std::atoi(v.c_str());
    else if (a == "--warmup")
      f.warmup = std::atoi(v.c_str());
    else if (a == "--ca-file")
      f.ca_file = v;
    else
      Usage();
  }
  if (argc % 2 == 0 || f.connections < 1 || f.requests < 1) Usage();

  std::mutex mu;
  std::vector<double> ms;
  std::atomic<int> errors{0};
  std::string first_error;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < f.connections; ++c) {
    threads.emplace_back([&] {
      httplib::Client cli(f.url);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);  // as Go's net.Dialer does by default
      cli.set_read_timeout(120);
      if (!f.ca_file.empty()) cli.set_ca_cert_path(f.ca_file.c_str());
      std::vector<double> mine;
      for (int i = 0; i < f.warmup + f.requests; ++i) {
        auto t = std::chrono::steady_clock::now();
        auto r = cli.Get(f.path);
        double d =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
        if (!r || r->status != 200) {
          errors.fetch_add(1);
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.empty()) {
            first_error = r ? std::to_string(r->status) + " " + r->body.substr(0, 200)
                            : httplib::to_string(r.error());
          }
          continue;
        }
        if (i >= f.warmup) mine.push_back(d);
      }
      std::lock_guard<std::mutex> lock(mu);
      ms.insert(ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(ms.begin(), ms.end());
  if (!first_error.empty()) std::fprintf(stderr, "first error: %s\n", first_error.c_str());
  std::printf("RESULT n=%zu errors=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f rps=%.0f\n",
              ms.size(), errors.load(), Percentile(ms, 0.5), Percentile(ms, 0.9),
              Percentile(ms, 0.99), ms.empty() ? 0.0 : ms.back(),
              static_cast<double>(ms.size()) / secs);
  return errors.load() == 0 ? 0 : 1;
}
