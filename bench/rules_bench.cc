// The rule evaluator's cost per 1,000 rules (issue 10): a real Storage in a
// temporary directory holds an hour of realistic series (request counters
// per job, instance, namespace and status code, and a gauge, every 15 s);
// one group of --rules recording rules (the kinds dashboards and HPAs
// precompute: per-job and per-namespace rates, error ratios, averages over
// time) is evaluated --rounds times, 15 s apart after the data, by the same
// rules::Group::EvalAt the server's scheduler calls (queries, appending the
// results, stale tracking). Prints CPU-seconds (the whole process: the
// engine, storage reads and the appends' WAL) and wall time per round.
//
// Usage: meridian-rules-bench [--rules 1000] [--jobs 50] [--instances 10]
//                             [--namespaces 20] [--rounds 5] [--sync-wal 1]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "query/engine.h"
#include "rules/group.h"
#include "rules/rule_file.h"
#include "storage/storage.h"

namespace {

using namespace meridian;

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int Flag(int argc, char** argv, const char* name, int def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; i += 2) {
    const std::string a = argv[i];
    if (a != "--rules" && a != "--jobs" && a != "--instances" && a != "--namespaces" &&
        a != "--rounds" && a != "--sync-wal") {
      std::fprintf(stderr,
                   "usage: %s [--rules N] [--jobs N] [--instances N] [--namespaces N] "
                   "[--rounds N] [--sync-wal 1|0]\n",
                   argv[0]);
      return 2;
    }
  }
  const int rules = Flag(argc, argv, "--rules", 1000);
  const int jobs = Flag(argc, argv, "--jobs", 50);
  const int instances = Flag(argc, argv, "--instances", 10);
  const int namespaces = Flag(argc, argv, "--namespaces", 20);
  const int rounds = Flag(argc, argv, "--rounds", 5);
  // As the server's --sync-wal (default true): every rule's append is fsynced.
  const bool sync_wal = Flag(argc, argv, "--sync-wal", 1) != 0;
  const char* codes[] = {"200", "404", "500"};

  char tmpl[] = "/tmp/meridian-rules-bench.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  StorageOptions so;
  so.dir = dir + "/data";
  so.sync_wal = sync_wal;
  auto storage = Storage::Open(so);
  if (!storage.ok()) {
    std::fprintf(stderr, "open: %s\n", storage.status().ToString().c_str());
    return 1;
  }
  const int64_t step = 15'000;
  const int64_t end = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count() /
                      step * step;
  const int64_t start = end - 3600'000;

  // One hour of data, written a series at a time in batches.
  size_t series = 0, samples = 0;
  const double w0 = WallSeconds();
  for (int j = 0; j < jobs; ++j) {
    AppendBatch batch;
    std::vector<std::vector<std::string>> strings;
    std::vector<std::vector<LabelView>> views;
    std::vector<std::vector<Sample>> data;
    for (int i = 0; i < instances; ++i) {
      const std::string ns = "ns-" + std::to_string((j * instances + i) % namespaces);
      for (int c = 0; c < 4; ++c) {
        const bool gauge = c == 3;
        strings.push_back({gauge ? "temperature_celsius" : "http_requests_total",
                           "job-" + std::to_string(j), "i-" + std::to_string(i), ns,
                           gauge ? "" : codes[c]});
        std::vector<Sample> s;
        double v = 0;
        for (int64_t t = start; t <= end; t += step) {
          v = gauge ? 40 + 20 * std::sin(static_cast<double>(t) / 6e5 + i)
                    : v + 1 + (t / step + i) % (c == 0 ? 50 : 3);
          s.push_back({t, v});
        }
        data.push_back(std::move(s));
      }
    }
    for (size_t k = 0; k < strings.size(); ++k) {
      const auto& st = strings[k];
      std::vector<LabelView> v = {
          {"__name__", st[0]}, {"instance", st[2]}, {"job", st[1]}, {"namespace", st[3]}};
      if (!st[4].empty()) v.push_back({"code", st[4]});
      views.push_back(std::move(v));
    }
    for (size_t k = 0; k < views.size(); ++k) {
      batch.series.push_back({views[k], data[k]});
      ++series;
      samples += data[k].size();
    }
    AppendResult res;
    if (auto st = (*storage)->Append("bench", batch, &res); !st.ok() || !res.errors.empty()) {
      std::fprintf(stderr, "append failed\n");
      return 1;
    }
  }
  const double write_s = WallSeconds() - w0;

  // The rules: four kinds in turn, over every job and namespace.
  std::string yaml = "groups:\n- name: bench\n  interval: 15s\n  rules:\n";
  for (int r = 0; r < rules; ++r) {
    const std::string job = "job-" + std::to_string(r % jobs);
    const std::string ns = "ns-" + std::to_string(r % namespaces);
    const std::string n = std::to_string(r);
    std::string expr;
    switch (r % 4) {
      case 0:
        expr = "sum by (namespace) (rate(http_requests_total{job=\"" + job + "\"}[5m]))";
        break;
      case 1:
        expr = "sum by (job, code) (rate(http_requests_total{namespace=\"" + ns + "\"}[5m]))";
        break;
      case 2:
        expr = "sum(rate(http_requests_total{job=\"" + job +
               "\",code=\"500\"}[5m])) / sum(rate("
               "http_requests_total{job=\"" +
               job + "\"}[5m]))";
        break;
      default:
        expr = "avg by (job) (avg_over_time(temperature_celsius{job=\"" + job + "\"}[5m]))";
    }
    yaml += "  - record: bench:rule_" + n + ":value\n    expr: '" + expr + "'\n";
  }
  auto groups = rules::ParseRuleFile(yaml);
  if (!groups.ok()) {
    std::fprintf(stderr, "rules: %s\n", groups.status().ToString().c_str());
    return 1;
  }
  promql::Engine engine{promql::EngineOptions{}};
  Storage* s = storage->get();
  rules::Group group((*groups)[0], "bench.yml", "bench", 15'000, s,
                     [s](std::string_view t) { return s->ForTenant(t); }, &engine);

  std::printf("data: %zu series, %zu samples (1 h every 15 s), written in %.1f s\n", series,
              samples, write_s);
  std::printf("group: %d recording rules, %d rounds, sync-wal %s\n", rules, rounds,
              sync_wal ? "true" : "false");
  std::vector<double> cpu, wall;
  for (int k = 0; k < rounds; ++k) {
    const double c0 = CpuSeconds(), t0 = WallSeconds();
    group.Eval(end + (k + 1) * step);
    cpu.push_back(CpuSeconds() - c0);
    wall.push_back(WallSeconds() - t0);
    std::printf("round %d: %.3f CPU-s, %.3f s wall, %lld samples written\n", k + 1, cpu.back(),
                wall.back(), static_cast<long long>(group.counters().last_samples.load()));
  }
  int failed = 0;
  for (const auto& r : group.Status().rules) failed += r.health != "ok";
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double per1k = 1000.0 / rules;
  std::printf(
      "per round (median): %.3f CPU-s, %.3f s wall; per 1,000 rules: %.3f CPU-s, %.3f s "
      "wall; rules failing: %d\n",
      median(cpu), median(wall), median(cpu) * per1k, median(wall) * per1k, failed);
  storage->reset();
  std::filesystem::remove_all(dir);
  return failed == 0 ? 0 : 1;
}
